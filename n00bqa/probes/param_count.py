"""How large is a transformer model, where do its parameters sit, and how much memory do they take?

Builds well-known architectures from their published configurations on PyTorch's `meta` device
(shapes only: no memory, no download) and counts their parameters, each tensor once (a weight tied
to the LM head is one tensor under two names), by component (embeddings, attention, MLP, norms,
heads) and by kind: the lookup tables, read a row at a time, against the matrices, norms and biases
around them. Each count is set against the figure its authors published.

From the counts follows the memory for the weights (fp32/bf16/int8) and for training with Adam in
fp32 (weights + grads + two moments = 16 bytes per parameter, activations not included). The bundled
all-MiniLM-L6-v2 is counted from its real weights and cross-checked against its checkpoint's
safetensors header; `--model PATH` does the same for any local folder.

Which of these parameters get a gradient in only some rows is `grad-rows`; the forward FLOPs per
token they cost is `forward-flops`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, verdict
from n00bqa.probes.lib.counting import COMPONENTS

BUNDLED = "all-MiniLM-L6-v2"
SMOLLM2 = "SmolLM2-135M-Instruct"  # n00bqa.probes.lib.causal_lm.DEFAULT_NAME: the real decoder, when installed
GB = 1e9  # decimal gigabytes, as in vendors' memory figures
# Bytes per parameter: weights in fp32 / bf16 / int8, and Adam training in fp32 (weights 4 + gradients 4
# + first moment 4 + second moment 4).
BYTES = {"fp32": 4, "bf16": 2, "int8": 1, "adam_fp32": 16}

# Published parameter counts (model cards / papers). Exact where the source is exact.
PUBLISHED = {
    "gpt2": 124_439_808,
    "bert-base-uncased": 109_482_240,
    "t5-small": 60_506_624,
    "llama-2-7b": 6_738_415_616,
    BUNDLED: 22_713_216,
    SMOLLM2: 134_515_008,  # n00bqa.probes.lib.causal_lm.PUBLISHED_PARAMETERS, SmolLM2-135M's model card
}
# Published only as rounded figures.
PUBLISHED_APPROX = {"deberta-v3-base": (86, 98)}  # millions: backbone, embedding


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face model folder (config.json, optionally *.safetensors) to count instead of "
                "the built-in architectures; its count is cross-checked against the weights' safetensors header."})


def check(opts: Options) -> None:
    if opts.model is not None:
        from n00bqa.probes.lib.models import resolve_model_dir

        resolve_model_dir(opts.model)


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """The folder's safetensors headers against the count."""

    params: int  # the stored numbers that are the model's parameters, a tied copy once
    matches: bool  # params == the count, none missing, none reshaped
    tensors: int  # tensors stored
    numbers: int  # numbers stored, buffers included
    files: list[str] = field(default_factory=list)  # report only
    only_stored: list[str] = field(default_factory=list)  # "name [shape]": stored, not a parameter
    only_model: list[str] = field(default_factory=list)  # parameters the checkpoint lacks
    mismatched: list[str] = field(default_factory=list)


@dataclass
class LlamaFormula:
    """A Llama-architecture count from its config: V h (x2 untied) + L (q + k + v + o + 3 h I + 2 h) + h."""

    total: int
    table: int  # V x h, once when tied to the LM head
    table_share: float  # table / total
    kv_projections: int  # L x 2 x h x kv_heads x head_dim: k_proj and v_proj
    kv_projections_if_mha: int  # the same with one K/V head per query head
    heads: int
    kv_heads: int


@dataclass
class ModelSize:
    """One model; its numbers become `<model>.<field>` metrics (`gpt2.total`)."""

    total: int
    embedding: int  # in tables read by row lookup
    dense: int  # everything else
    embedding_fraction: float
    vocab_size: int
    hidden_size: int
    layers: int
    positions: int | None
    memory_gb: dict[str, float]  # BYTES kind -> decimal GB
    checkpoint: Checkpoint | None = None
    components: dict[str, int] = field(default_factory=dict)  # COMPONENTS -> parameters
    token_table: int = 0  # the largest table (the token ids')
    llama_formula: LlamaFormula | None = None  # Llama-architecture models: the count from the config alone
    # report only
    tables: list[list[Any]] = field(default_factory=list)  # [short name, shape, params, role]
    tied: list[list[str]] = field(default_factory=list)


Numbers = dict[str, ModelSize]  # model name -> its size; a dict, since a name holds hyphens ("llama-2-7b")


# --- 3. measure ---------------------------------------------------------------------------------
def llama_formula(config: Any) -> LlamaFormula | None:
    """The parameter count of a Llama-architecture config, written out; None for other architectures."""
    if getattr(config, "model_type", "") != "llama":
        return None
    h, L, V, I = config.hidden_size, config.num_hidden_layers, config.vocab_size, config.intermediate_size
    H = config.num_attention_heads
    kv = config.num_key_value_heads or H
    hd = getattr(config, "head_dim", None) or h // H
    table = V * h
    kv_proj = L * 2 * h * kv * hd  # (h -> kv x hd) twice per layer
    per_layer = h * H * hd + 2 * h * kv * hd + H * hd * h + 3 * h * I + 2 * h  # q, k, v, o, gate/up/down, 2 norms
    total = table * (1 if config.tie_word_embeddings else 2) + L * per_layer + h  # + the final norm
    return LlamaFormula(total=total, table=table, table_share=table / total, kv_projections=kv_proj,
                        kv_projections_if_mha=L * 2 * h * H * hd, heads=H, kv_heads=kv)


def measure_model(model: Any, config: Any, checkpoint: Any | None = None) -> ModelSize:
    """Count one model (on meta, or with real weights) and, given a CheckpointCheck, set it beside."""
    from n00bqa.probes.lib.configs import model_positions
    from n00bqa.probes.lib.counting import count_by_component

    c = count_by_component(model)
    size = ModelSize(
        total=c.total, embedding=c.embedding, dense=c.dense, embedding_fraction=c.embedding_fraction,
        vocab_size=config.vocab_size, hidden_size=getattr(config, "d_model", None) or config.hidden_size,
        layers=config.num_hidden_layers, positions=model_positions(config),
        memory_gb={kind: b * c.total / GB for kind, b in BYTES.items()}, components=c.components,
        token_table=max(t.params for t in c.tables),
        tables=[[t.short, "×".join(map(str, t.shape)), t.params, t.role] for t in c.tables], tied=c.tied,
        llama_formula=llama_formula(config))
    if checkpoint is not None:
        size.checkpoint = Checkpoint(
            params=checkpoint.stored_params, matches=checkpoint.matches(c.total), tensors=checkpoint.stored_tensors,
            numbers=checkpoint.stored_total, files=checkpoint.files,
            only_stored=[f"{n} {s}" for n, s in checkpoint.only_stored.items()],
            only_model=checkpoint.only_model, mismatched=checkpoint.mismatched)
    return size


def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.configs import build_model, folder_config, published_architectures
    from n00bqa.probes.lib.counting import count_by_component
    from n00bqa.probes.lib.models import load_model, resolve_model_dir
    from n00bqa.probes.lib.safetensors import cross_check

    numbers: Numbers = {}
    if opts.model is None:
        # The architectures: their published configs, built on the meta device.
        archs = published_architectures()
        advance = ctx.task("Counting models", len(archs) + 1)  # then SmolLM2, if installed
        for name, config, class_name in archs:
            numbers[name] = measure_model(build_model(config, class_name), config)
            advance()
        # The bundled MiniLM with its real weights, checked against its own checkpoint.
        minilm = load_model(None)
        c = count_by_component(minilm)
        numbers[BUNDLED] = measure_model(minilm, minilm.config, cross_check(
            resolve_model_dir(None), c.shapes, c.tied, minilm.base_model_prefix))
        advance()
        # The real SmolLM2-135M-Instruct, when its package is installed: its converted checkpoint's
        # headers against its config built on meta (no weights loaded; the first use converts the GGUF).
        from n00bqa.errors import ProbeError
        from n00bqa.probes.lib.causal_lm import bundled_gguf, prepared_folder

        try:
            folder = prepared_folder(bundled_gguf(), lambda message: ctx.task(message, 0))
        except ProbeError:
            return numbers  # not installed: every other count still stands
        _, config, class_name = folder_config(str(folder))
        model = build_model(config, class_name)
        c = count_by_component(model)
        numbers[SMOLLM2] = measure_model(model, config, cross_check(folder, c.shapes, c.tied, model.base_model_prefix))
        return numbers

    # A learner's folder: its config on the meta device, checked against its weights' headers.
    advance = ctx.task("Counting the model", 1)
    folder, config, class_name = folder_config(opts.model)
    model = build_model(config, class_name)
    c = count_by_component(model)
    label = BUNDLED if folder == resolve_model_dir(None) else folder.name
    numbers[label] = measure_model(model, config, cross_check(folder, c.shapes, c.tied, model.base_model_prefix))
    advance()
    return numbers


# --- 4. report ----------------------------------------------------------------------------------
def human(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def report(numbers: Numbers, opts: Options) -> Report:
    findings: list[str] = []
    for name, c in numbers.items():
        sentence = (f"{name}: {c.total:,} parameters ({human(c.total)}); {c.embedding:,} "
                    f"({100 * c.embedding_fraction:.1f}%) sit in lookup tables and {c.dense:,} in the matrices, "
                    "norms and biases around them.")
        if name in PUBLISHED_APPROX:
            backbone_m, embedding_m = PUBLISHED_APPROX[name]
            sentence += (f" Its model card gives {backbone_m}M backbone + {embedding_m}M embedding parameters; "
                         f"measured: {c.total - c.token_table:,} outside the token table + {c.token_table:,} in it.")
        if name in PUBLISHED:
            word = verdict(abs(c.total - PUBLISHED[name]), 0, f"differs by {c.total - PUBLISHED[name]:+,} from", "matches",
                           "exact")
            sentence += f" The count {word} the published {PUBLISHED[name]:,}."
        findings.append(sentence)
        if c.tied:
            groups = "; ".join(" = ".join(names) for names in c.tied)
            findings.append(f"{name} ties weights (one tensor under several names, counted once): {groups}.")
        if c.checkpoint is not None:
            findings.append(_cross_check_sentence(name, c.total, c.checkpoint))

    for name, c in numbers.items():
        f = c.llama_formula
        if f is not None and name == SMOLLM2:
            findings.append(
                f"{name} from its config alone: V x h (the token table, tied to the LM head, so once) + layers x "
                f"(q, k, v, o, the gated MLP, 2 norms) + the final norm = {f.total:,}, "
                + verdict(abs(f.total - c.total), 0, f"NOT the count above ({c.total:,} counted)", "the count above",
                          "exact")
                + f". The table "
                f"holds {f.table:,} ({100 * f.table_share:.1f}%): a small model's vocabulary weighs. GQA: "
                f"{f.heads} query heads share {f.kv_heads} K/V heads, so k_proj and v_proj hold {f.kv_projections:,}"
                f" parameters, not the {f.kv_projections_if_mha:,} of one K/V per head.")

    # The comparisons a learner asks about.
    if opts.model is None:
        deb, llama = numbers["deberta-v3-base"], numbers["llama-2-7b"]
        findings.append(f"deberta-v3-base's {deb.vocab_size:,}-token vocabulary alone holds {deb.embedding:,} "
                        f"parameters, {100 * deb.embedding_fraction:.1f}% of the model, against "
                        f"{100 * llama.embedding_fraction:.1f}% for llama-2-7b, whose {llama.layers} layers of "
                        f"{llama.hidden_size}-wide matrices dwarf its {llama.vocab_size:,}-row table: the share is "
                        "vocabulary × width against depth × width².")
        gb = llama.memory_gb
        findings.append(f"llama-2-7b needs {gb['fp32']:.1f} GB for fp32 weights, {gb['bf16']:.1f} GB in "
                        f"bf16, {gb['int8']:.1f} GB in int8, and {gb['adam_fp32']:.1f} GB to train with Adam in "
                        "fp32 before any activation is stored.")

    published = []
    for name, c in numbers.items():
        if name in PUBLISHED:
            published.append([name, "total", PUBLISHED[name], c.total])
        if name in PUBLISHED_APPROX:
            backbone_m, embedding_m = PUBLISHED_APPROX[name]
            published.append([name, "backbone (M)", backbone_m, round((c.total - c.token_table) / 1e6, 2)])
            published.append([name, "embedding (M)", embedding_m, round(c.token_table / 1e6, 2)])
    tables = [
        Table("Counted vs published", ["model", "what", "published", "counted"], published,
              note="Published figures from the model cards and papers; deberta-v3-base's card gives "
                   "rounded millions."),
        Table.of("Parameters by component, in millions", numbers,
                 {"model": "key", **{k: (lambda _, c, k=k: round(c.components[k] / 1e6, 3)) for k in COMPONENTS}},
                 note="attention: Q/K/V/output projections; mlp: the feed-forward layers; heads: pooler or an "
                      "untied LM head; other: anything not recognised."),
        Table("Embedding tables at full size", ["model", "table", "shape", "params", "indexed by"],
              [[name, *t] for name, c in numbers.items() for t in c.tables],
              note="Tied tables are listed once (the findings name their other names)."),
        Table.of("Memory in GB (1e9 bytes): weights in fp32 / bf16 / int8, and Adam training in fp32", numbers,
                 {"model": "key", **{label: (lambda _, c, k=k: round(c.memory_gb[k], 3))
                                     for label, k in (("fp32", "fp32"), ("bf16", "bf16"), ("int8", "int8"),
                                                      ("Adam train", "adam_fp32"))}},
                 note="Training with Adam in fp32 = weights 4 + gradients 4 + first moment 4 + second moment 4 "
                      "= 16 bytes per parameter; activations not included."),
    ]
    n_models = len(numbers)
    summary = (f"Counted {n_models} model{'s' if n_models > 1 else ''}, each tensor once (a tied weight once), by "
               "component and by kind: lookup tables against the matrices around them; from the count, the memory "
               "for the weights and for training with Adam.")
    return Report(summary=summary, findings=findings, tables=tables,
                  model=opts.model or f"published configs + {BUNDLED}")


def _cross_check_sentence(name: str, total: int, c: Checkpoint) -> str:
    parts = [f"{name}: the checkpoint header ({', '.join(c.files)}) lists {c.tensors} tensors holding "
             f"{c.numbers:,} numbers; the model's own parameters among them add up to {c.params:,}"]
    parts[-1] += ", " + verdict(abs(c.params - total), 0, f"which does NOT match the {total:,} counted",
                                "which matches the count", "exact")
    if c.only_stored:
        parts.append(f"stored but not a parameter: {', '.join(c.only_stored[:4])}"
                     + (" ..." if len(c.only_stored) > 4 else "") + " (e.g. a buffer saved with the weights)")
    if c.only_model:
        parts.append(f"parameters absent from the checkpoint: {', '.join(c.only_model[:4])}"
                     + (" ..." if len(c.only_model) > 4 else ""))
    if c.mismatched:
        parts.append(f"shapes differ for: {', '.join(c.mismatched[:4])}")
    return "; ".join(parts) + "."


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="param-count",
    question="model-size",
    title="Parameters of GPT-2, BERT, T5, Llama-2-7B, DeBERTa-v3 and MiniLM: by component, published, memory",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # meta-device models and one small real MiniLM (see Probe.threads)
    predictions=(Prediction("How many parameters does GPT-2 small (gpt2) have?", "gpt2.total", "parameters"),),
    renamed_metrics={f"{name}.checkpoint_{key}": f"{name}.checkpoint.{key}"
                     for name in (BUNDLED,) for key in ("params", "matches", "tensors", "numbers")},
)
