"""Which rows of each model's lookup tables get a gradient in a training step, and so which share of
its parameters is updated sparsely?

A lookup table's forward pass reads only the rows its batch uses, but that alone does not make its
gradient sparse: a table tied to the output layer (GPT-2's `wte`, T5's `shared`) is multiplied in
full by the LM head, and the softmax gives every row a gradient every step. So for each architecture
one backward pass runs on a *tiny twin* (the same model class, tying and position settings, small
widths), the rows of each table with a non-zero gradient are counted, each table is classed
row-sparse or dense from that count, and the classes are applied to the full-size counts (built on
the meta device): `<model>.sparse_grad_params`, `.dense_grad_params`. MiniLM's pass runs on its real
weights. Position and distance tables get a second pass, one sequence as long as the model's
positions, to show where their sparsity comes from.

(`embedding-grad` looks at one table's gradient in detail; this probe classes every table of six models.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, verdict

BUNDLED = "all-MiniLM-L6-v2"
# BERT as it was pretrained: BertForMaskedLM, whose MLM decoder is tied to the word table. The bare
# BertModel row ("bert-base-uncased") is BERT under a task head that does not read that table.
BERT_MLM = "bert-base-mlm"  # bert-base-uncased under BertForMaskedLM (a short name: tables fit 80 columns)
GRAD_BATCH, GRAD_SEQ_LEN = 2, 8  # the short batch of the gradient pass: 16 tokens
MAX_GRAD_PASS_PARAMS = 2_000_000_000  # a --model twin larger than this is not run (memory on a laptop)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face model folder (config.json) to measure instead of the built-in "
                "architectures; its twin is the same model with one layer."})


def check(opts: Options) -> None:
    if opts.model is not None:
        from n00bqa.probes.lib.models import resolve_model_dir

        resolve_model_dir(opts.model)


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class TableRows:
    """One nn.Embedding: its size at full scale and the rows of its twin that got gradient."""

    short: str  # its module's own name ("wte", "enc rel_bias")
    name: str
    shape: list[int]  # at full size
    params: int  # at full size
    role: str  # what indexes its rows: "token id", "position", ...
    lookup: bool  # read by row lookup (False: projected whole, like DeBERTa's rel_embeddings)
    twin_rows: int  # rows of the twin's table
    grad_rows: int  # twin rows with non-zero gradient after the short batch
    tied: bool  # the twin's output layer multiplies this very tensor (checked by identity, not assumed)
    grad_rows_full: int | None  # ... after one sequence as long as the model's positions
    sparse_grad: bool  # row_sparse(grad_rows, twin_rows)


@dataclass
class ModelRows:
    """One model; its numbers become `<model>.<field>` metrics (`gpt2.sparse_grad_params`)."""

    total: int
    sparse_grad_params: int  # in the tables classed row-sparse, at full size
    dense_grad_params: int  # everything else
    sparse_grad_fraction: float
    grad_batch_distinct_ids: int
    grad_full_seq_len: int | None  # None: no position or distance table, no second pass
    tables: list[TableRows] = field(default_factory=list)  # report only


Numbers = dict[str, ModelRows]  # model name -> its rows; a dict, since a name holds hyphens ("llama-2-7b")


# --- 3. measure ---------------------------------------------------------------------------------
def gradient_rows(model: Any, input_ids: Any, decoder_input_ids: Any | None = None) -> dict[str, int]:
    """One backward pass; for each nn.Embedding (by its first name), how many rows got non-zero gradient.

    Args:
        model: a model on the CPU, with real (or random) weights.
        input_ids: (B, T) token ids. Causal LMs and seq2seq models are given labels (their own loss,
            so a tied output layer sends gradient the way training does); bare encoders are given the
            mean square of every output (it reaches every output position).
        decoder_input_ids: (B, T) target-side ids for an encoder-decoder.
    """
    import inspect

    import torch
    from transformers.utils import logging as hf_logging

    inputs = {"input_ids": input_ids}
    if decoder_input_ids is not None:
        inputs["decoder_input_ids"] = decoder_input_ids
    if "labels" in inspect.signature(model.forward).parameters:
        # HF shifts the labels inside a causal LM; a seq2seq model predicts its decoder inputs' ids
        inputs["labels"] = decoder_input_ids if decoder_input_ids is not None else input_ids
    model.zero_grad(set_to_none=True)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the twins' configs name no loss_type; transformers says so on every call
    try:
        out = model(**inputs)
    finally:
        hf_logging.set_verbosity(verbosity)
    loss = out.loss if getattr(out, "loss", None) is not None else sum(
        t.float().pow(2).mean() for t in out.values() if torch.is_tensor(t) and t.is_floating_point())
    loss.backward()
    rows: dict[str, int] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        owner = model.get_submodule(name.rpartition(".")[0])
        if not isinstance(owner, torch.nn.Embedding) or id(param) in seen:
            continue
        seen.add(id(param))
        grad = param.grad
        rows[name] = 0 if grad is None else int((grad != 0).any(dim=1).sum())  # (V, d) -> rows with any non-zero
    model.zero_grad(set_to_none=True)
    return rows


def row_sparse(grad_rows: int, rows: int) -> bool:
    """The class of a table's gradient: row-sparse if some rows got none, dense if every row got some."""
    return grad_rows < rows


def measure_model(name: str, full: Any, twin: Any, seed: int) -> ModelRows:
    """Rows with gradient per table of `twin`: a short batch (GRAD_BATCH × GRAD_SEQ_LEN), then, if the
    model has tables indexed by position or distance, one sequence as long as its positions made of
    the same ids (so only those tables can gain rows); the classes applied to `full`'s tables."""
    import torch

    from n00bqa.probes.lib.configs import model_positions
    from n00bqa.probes.lib.counting import count_by_component

    counts = count_by_component(full)
    config = twin.config
    generator = torch.Generator().manual_seed(seed)
    # id 0 is padding_idx in BERT-style tables (its row never gets gradient): draw from 1..V-1
    ids = torch.randint(1, config.vocab_size, (GRAD_BATCH, GRAD_SEQ_LEN), generator=generator)  # (B, T)
    dec = (torch.randint(1, config.vocab_size, (GRAD_BATCH, GRAD_SEQ_LEN), generator=generator)
           if config.is_encoder_decoder else None)
    short = gradient_rows(twin, ids, dec)
    distinct = torch.cat([ids.flatten(), dec.flatten()] if dec is not None else [ids.flatten()]).unique()
    full_rows, full_len = {}, None
    if any(t.role != "token id" for t in counts.tables):
        full_len = model_positions(config) or 512
        tiled = ids.flatten().repeat(full_len // ids.numel() + 1)[:full_len].unsqueeze(0)  # (1, T_full)
        tiled_dec = dec.flatten().repeat(full_len // dec.numel() + 1)[:full_len].unsqueeze(0) if dec is not None else None
        full_rows = gradient_rows(twin, tiled, tiled_dec)

    twin_params = dict(twin.named_parameters(remove_duplicate=False))
    head = twin.get_output_embeddings() if hasattr(twin, "get_output_embeddings") else None
    head_weight = getattr(head, "weight", None)
    tables = []
    for t in counts.tables:
        if t.name not in short:
            raise ProbeError(f"{name}: its twin has no table {t.name!r}; the twin must be the same class")
        twin_rows = int(twin_params[t.name].shape[0])
        tables.append(TableRows(
            short=t.short, name=t.name, shape=t.shape, params=t.params, role=t.role, lookup=t.lookup,
            twin_rows=twin_rows, grad_rows=short[t.name], tied=twin_params[t.name] is head_weight,
            grad_rows_full=full_rows[t.name] if full_rows and t.role != "token id" else None,
            sparse_grad=row_sparse(short[t.name], twin_rows)))
    sparse = sum(t.params for t in tables if t.sparse_grad)
    return ModelRows(total=counts.total, sparse_grad_params=sparse, dense_grad_params=counts.total - sparse,
                     sparse_grad_fraction=sparse / counts.total, grad_batch_distinct_ids=len(distinct),
                     grad_full_seq_len=full_len, tables=tables)


def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.configs import build_model, folder_config, published_architectures, twin_config
    from n00bqa.probes.lib.counting import count_parameters
    from n00bqa.probes.lib.models import load_model, resolve_model_dir

    numbers: Numbers = {}
    if opts.model is None:
        # The architectures: the full size on meta, its tiny twin on the CPU.
        archs = published_architectures()
        advance = ctx.task("One backward pass per model", len(archs) + 1)
        for name, config, class_name in archs:
            twin = build_model(twin_config(name, config), class_name, "cpu")
            numbers[name] = measure_model(name, build_model(config, class_name), twin, ctx.seed)
            advance()
            if name == "bert-base-uncased":  # the same config under its pretraining head
                twin = build_model(twin_config(name, config), "BertForMaskedLM", "cpu")
                numbers[BERT_MLM] = measure_model(BERT_MLM, build_model(config, "BertForMaskedLM"), twin, ctx.seed)
        # The bundled MiniLM: its pass runs on a private copy of the real model (the cached one stays untouched).
        import copy

        minilm = load_model(None)
        numbers[BUNDLED] = measure_model(BUNDLED, build_model(minilm.config, "BertModel"),
                                                copy.deepcopy(minilm), ctx.seed)
        advance()
        return numbers

    # A learner's folder: its config on the meta device; its twin is the same model with one layer.
    advance = ctx.task("One backward pass", 1)
    folder, config, class_name = folder_config(opts.model)
    full = build_model(config, class_name)
    label = BUNDLED if folder == resolve_model_dir(None) else folder.name
    total = count_parameters(full)
    if total > MAX_GRAD_PASS_PARAMS:
        raise ProbeError(f"{label} holds {total:,} parameters, more than the {MAX_GRAD_PASS_PARAMS:,} this "
                         "probe runs a backward pass on; param-count still counts it")
    numbers[label] = measure_model(label, full, build_model(twin_config(label, config), class_name, "cpu"), ctx.seed)
    advance()
    return numbers


# --- 4. report ----------------------------------------------------------------------------------
def _names(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1] if items else "none"


def gradient_class(t: TableRows, sparse: str = "row-sparse", dense: str = "dense") -> str:
    """The word for a table's class (row_sparse, recorded): the twin has more rows than got gradient."""
    return verdict(t.twin_rows, t.grad_rows, sparse, dense, "rows with gradient")


def _bert_heads_sentence(bare: ModelRows, mlm: ModelRows) -> str:
    """Under which head BERT's word table is row-sparse: each clause is the measured class."""
    def word(m: ModelRows) -> TableRows:
        return next(t for t in m.tables if t.role == "token id")

    b, p = word(bare), word(mlm)
    return (f"Whether BERT's word table is row-sparse depends on the head: as pretrained ({BERT_MLM}, "
            f"BertForMaskedLM, whose decoder is tied to it) {p.grad_rows} of {p.twin_rows} rows got gradient, "
            f"so it is {gradient_class(p)} ({100 * mlm.sparse_grad_fraction:.1f}% of the parameters row-sparse); "
            f"as a bare BertModel, as under a classification head that never reads the table, {b.grad_rows} of "
            f"{b.twin_rows} rows, so it is {gradient_class(b)} ({100 * bare.sparse_grad_fraction:.1f}%).")


def report(models: Numbers, opts: Options) -> Report:
    findings = []
    rows = [(name, t) for name, m in models.items() for t in m.tables]
    tied = [(name, t) for name, t in rows if t.tied]
    if tied:
        every = verdict(sum(t.twin_rows - t.grad_rows for _, t in tied), 0, "do NOT all get", "get",
                        "rows without gradient in the tied tables")
        findings.append(
            f"Tables tied to the output layer (the LM head's weight is the same tensor) {every} gradient in every "
            "row: " + "; ".join(f"{name}'s {t.short} {t.grad_rows} of {t.twin_rows} rows from a batch of "
                                f"{models[name].grad_batch_distinct_ids} distinct ids" for name, t in tied)
            + ". The lookup touches only the ids used, but the LM head multiplies the whole table and the softmax "
              "gives every logit a gradient, so "
            + _names([f"{name}'s {t.params:,}-parameter {t.short} is {gradient_class(t)}" for name, t in tied])
            + ".")
    untied = [(name, t) for name, t in rows if not t.tied and t.role == "token id"]
    if untied:
        beyond = sum(max(0, t.grad_rows - models[name].grad_batch_distinct_ids) for name, t in untied)
        only = verdict(beyond, 0, "also in rows the batch did not use", "only in the rows of the ids the batch uses",
                       "rows with gradient beyond the batch's distinct ids")
        findings.append(
            f"Untied token tables (no output layer shares them) get gradient {only}: "
            + "; ".join(f"{name}'s {t.short} {t.grad_rows} of {t.twin_rows} rows "
                        f"({models[name].grad_batch_distinct_ids} distinct ids, {gradient_class(t)})"
                        for name, t in untied)
            + ". In a causal LM a token seen only at the last position gets none: that position predicts no label.")
    positional = [(name, t) for name, t in rows if t.role in ("position", "rel. bucket", "rel. distance")]
    if positional:
        short = [(name, t) for name, t in positional if t.sparse_grad]
        filled = [(name, t) for name, t in short if t.grad_rows_full is not None and t.grad_rows_full > t.grad_rows]
        not_filled = len(short) - len(filled)  # row-sparse at T=GRAD_SEQ_LEN and no more rows at full length
        every = "Each of them gains rows"
        gained = verdict(not_filled, 0, f"{not_filled} of the {len(short)} gain no rows", every, "tables gaining no rows")
        findings.append(
            f"Position and relative-distance tables are row-sparse when the batch is short (T={GRAD_SEQ_LEN}): "
            + "; ".join(f"{name}'s {t.short} {t.grad_rows} of {t.twin_rows} rows, {t.grad_rows_full} at "
                        f"T={models[name].grad_full_seq_len}" for name, t in positional if t.grad_rows_full is not None)
            + f". {gained} at full length"
            + (": their sparsity comes from the short batch, not from the table, and full-length training reaches "
               "(nearly) every row." if gained == every else
               ": " + _names([f"{name}'s {t.short}" for name, t in short if (name, t) not in filled]) + "."))
    for name, t in rows:
        if not t.lookup:
            word = gradient_class(t)
            findings.append(f"{name}'s {t.short} ({t.name}) is not read by lookup: every layer projects all "
                            f"{t.shape[0]} rows (forward-flops counts it); its gradient is {word}: {t.grad_rows} "
                            f"of {t.twin_rows} rows at T={GRAD_SEQ_LEN}"
                            + (", because attention then gathers only the relative distances present."
                               if word == "row-sparse" else "."))
    if "bert-base-uncased" in models and BERT_MLM in models:
        findings.append(_bert_heads_sentence(models["bert-base-uncased"], models[BERT_MLM]))
    segment = [(name, t) for name, t in rows if t.role == "token type"]
    if segment:
        findings.append("Token-type tables: " + "; ".join(f"{name}'s {t.grad_rows} of {t.twin_rows} rows"
                                                          for name, t in segment)
                        + ": every token here is segment 0; a batch of sentence pairs reaches both rows.")
    findings.append(
        "Applied to the full-size models, the row-sparse share of the parameters is "
        + ", ".join(f"{name} {100 * m.sparse_grad_fraction:.1f}%" for name, m in models.items())
        + "; the rest, matrices and tied tables, gets a dense gradient every step.")

    tables = [
        Table.of("Parameters with a row-sparse vs a dense gradient", models,
                 {"model": "key", "sparse grad": "sparse_grad_params", "dense grad": "dense_grad_params",
                  "sparse %": lambda _, m: round(100 * m.sparse_grad_fraction, 2)},
                 note="sparse grad: the lookup tables whose tiny twin got gradient in only some rows from a "
                      f"{GRAD_BATCH} × {GRAD_SEQ_LEN}-token batch; dense grad: everything else (matrices, norms, "
                      "biases, tables tied to the output layer). The two add up to the total."),
        Table.of("Embedding tables at full size", rows,
                 {"model": lambda _, r: r[0], "table": lambda _, r: r[1].short,
                  "shape": lambda _, r: "×".join(map(str, r[1].shape)), "params": lambda _, r: r[1].params,
                  "gradient": lambda _, r: gradient_class(r[1], "sparse")},
                 note="Tied tables are listed once. gradient: measured on the tiny twin (next table)."),
        Table.of("Rows with non-zero gradient after one backward pass on a tiny twin", rows,
                 {"model": lambda _, r: r[0], "table": lambda _, r: r[1].short, "rows": lambda _, r: r[1].twin_rows,
                  f"T={GRAD_SEQ_LEN}": lambda _, r: r[1].grad_rows,
                  "full T": lambda _, r: "-" if r[1].grad_rows_full is None else models[r[0]].grad_full_seq_len,
                  "at full T": lambda _, r: "-" if r[1].grad_rows_full is None else r[1].grad_rows_full},
                 note="Twins: the same class, tying and position settings, a small vocabulary and small widths "
                      f"(MiniLM: its real weights). T={GRAD_SEQ_LEN}: a batch of {GRAD_BATCH} × {GRAD_SEQ_LEN} "
                      "random ids. full T: one sequence as long as the model's positions, made of the same ids. "
                      "A causal LM's last position predicts no label, so it sends no gradient."),
    ]
    summary = ("One backward pass on a tiny twin of each model shows which lookup tables get gradient only in the "
               "rows a batch uses (untied token tables; position and distance tables while the batch is shorter than "
               "them) and which get it in every row (tables tied to the output layer).")
    return Report(summary=summary, findings=findings, tables=tables,
                  model=opts.model or f"tiny twins of the published configs + {BUNDLED}")


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="grad-rows",
    question="model-size",
    title="Which rows of each model's lookup tables get a gradient: row-sparse vs dense, from tiny twins",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # tiny twins and one small real MiniLM (see Probe.threads)
    predictions=(
        Prediction("How many of gpt2's parameters get a gradient in only some rows each step (its word table is "
                   "tied to the output layer)?", "gpt2.sparse_grad_params", "parameters", scoring="log10"),
    ),
)
