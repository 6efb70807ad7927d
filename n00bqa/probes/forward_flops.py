"""How many FLOPs does one token's forward pass cost in a real model, and where does the usual
"2 FLOPs per parameter" formula miss?

Each well-known architecture is built from its published configuration on PyTorch's `meta` device
and one forward pass is counted by `torch.utils.flop_counter.FlopCounterMode` (through
`lib.counting.count_flops`), at T = --seq-len where the model can read it, else at its position
table's rows; what it can read is measured, by running a tiny twin of it (same class and position
scheme) on the CPU at that length, not read from its config. Beside it stands the usual
formula, 2 FLOPs per matrix parameter + 4 × blocks × T × d_attn, and the gap between the two is
explained term by term (biases and norms are not matmuls; a pooler reads one token; DeBERTa's
disentangled attention). A FLOP is one multiply or one add: a multiply-accumulate (MAC) is 2 FLOPs.

(`flops` times matmuls and sets counted FLOPs against the clock; this probe compares whole models
with the formula.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

BUNDLED = "all-MiniLM-L6-v2"
FLOPS_GAP_NOTABLE = 0.02  # a formula within 2 % of the count is "close"; beyond, its gap is explained in full
# The longest a twin is run to see whether a model reads --seq-len (its attention is T × T; at 2048 a
# twin's forward takes seconds). Beyond it, a model that read READ_CHECK_MAX is counted at --seq-len, said so.
READ_CHECK_MAX = 2048


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face model folder (config.json) to count instead of the built-in architectures."})
    seq_len: int = field(default=1024, metadata={
        "help": "Sequence length for the forward FLOPs per token (a model that cannot read this many tokens, "
                "tried on a tiny twin, is counted at its position table's rows)."})


def check(opts: Options) -> None:
    check_ranges(opts, {"seq_len": (1, 1_048_576, "tokens")})
    if opts.model is not None:
        from n00bqa.probes.lib.models import resolve_model_dir

        resolve_model_dir(opts.model)


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class ModelFlops:
    """One model; its numbers become `<model>.<field>` metrics (`gpt2.forward_flops_per_token`)."""

    positions: int | None  # as its config states (a table's rows, or the length it was trained at)
    flops_seq_len: int  # T = --seq-len if the twin read it, else the position table's rows
    read_check_len: int  # the twin ran at min(--seq-len, READ_CHECK_MAX) tokens ...
    reads_seq_len: bool  # ... with finite outputs (True) or an error (False)
    forward_flops_per_token: float  # counted by FlopCounterMode, / T
    forward_macs_per_token: float
    forward_flops_formula: int
    forward_flops_gap: float  # counted - formula
    forward_flops_gap_fraction: float  # gap / counted
    forward_flops_unexplained: float  # gap - the sum of the explained terms
    encoder_flops_per_token: float | None = None  # encoder-decoders: per source token
    decoder_flops_per_token: float | None = None  # ... per target token, LM head included
    # report only
    read_error: str = ""  # the twin's error at read_check_len tokens
    causal: str = ""  # "yes" for a causal LM
    gap_terms: list[list[Any]] = field(default_factory=list)  # [label, FLOPs per token]


Numbers = dict[str, ModelFlops]  # model name -> its FLOPs; a dict, since a name holds hyphens ("llama-2-7b")


# --- 3. measure ---------------------------------------------------------------------------------
def attention_shape(config: Any) -> tuple[int, int]:
    """(attention blocks a token passes through, d_attn = heads × head size) from a config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None) or config.hidden_size // heads
    if getattr(config, "is_encoder_decoder", False):
        decoder_layers = getattr(config, "num_decoder_layers", None) or config.num_hidden_layers
        # encoder self-attention + decoder self-attention + decoder cross-attention
        return config.num_hidden_layers + 2 * decoder_layers, heads * head_dim
    return config.num_hidden_layers, heads * head_dim


def formula_flops_per_token(counts: Any, config: Any, seq_len: int) -> int:
    """The usual estimate of one token's forward FLOPs; one multiply-accumulate = 2 FLOPs.

    matmuls: 2 × every non-table parameter, + 2 × a tied output table (the LM head multiplies all of it).
    attention: per block, scores q·k over seq_len keys and the weighted sum of seq_len values, each
    seq_len × d_attn multiply-accumulates -> 4 × blocks × seq_len × d_attn.
    """
    blocks, d_attn = attention_shape(config)
    return 2 * (counts.dense + counts.tied_output) + 4 * blocks * seq_len * d_attn


def count_forward_flops(model: Any, seq_len: int) -> dict[str, float]:
    """FLOPs of one forward pass over a batch of 1 × seq_len, counted by FlopCounterMode on the meta device.

    An encoder-decoder reads seq_len source tokens and seq_len target tokens. Returns the total and,
    for an encoder-decoder, the encoder's and the decoder's (with its LM head) parts.

    Why meta: there, sdpa attention runs its plain-matmul path, which FlopCounterMode counts. On the CPU
    it runs a fused kernel that FlopCounterMode's registry lacks (torch 2.13), and the count would lose
    every attention FLOP (tests/probes/test_forward_flops.py shows both).
    """
    import torch

    from n00bqa.probes.lib.counting import count_flops

    ids = torch.zeros(1, seq_len, dtype=torch.long, device="meta")  # (1, T): values do not exist on meta
    inputs = {"input_ids": ids}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = ids
    # Without a mask DeBERTa looks into the ids for padding, with one GPT-2 and T5 check it is all ones:
    # either reads a value (.item()), which the meta device does not have. Try one, then the other.
    for attempt in (inputs, {**inputs, "attention_mask": torch.ones_like(ids)}):
        try:
            with torch.no_grad():
                counted = count_flops(lambda: model(**attempt))
            break
        except RuntimeError as exc:
            if "meta" not in str(exc):
                raise
    else:
        raise ProbeError(f"cannot run {type(model).__name__} on the meta device to count its FLOPs")
    cls = type(model).__name__
    return {"total": counted.total, "encoder": counted.module(f"{cls}.encoder"),
            "decoder": counted.module(f"{cls}.decoder") + counted.module(f"{cls}.lm_head")}


def formula_gap_terms(counts: Any, config: Any, seq_len: int) -> list[tuple[str, float]]:
    """What the formula gets wrong, term by term, in FLOPs per token (counted = formula + these terms).

    - 1-D weights (biases, norm scales) are charged 2 FLOPs each by the formula, but they are adds and
      scales, not matrix multiplies (FlopCounterMode counts matmuls, attention and convolutions);
    - a pooler (BERT) multiplies only the first token, not every token;
    - DeBERTa's rel_embeddings is charged as a matrix every token multiplies; instead each layer projects
      the whole table (2 × position_buckets rows) through the key and/or query projections, once per
      sequence, and scores every token against every relative distance (c2p: query · position keys,
      p2c: key · position queries).
    """
    T = seq_len
    terms = [("1-D weights: not matmuls", -2.0 * counts.one_d),
             ("pooler: token 0 only", -2.0 * counts.pooler_matrix * (1 - 1 / T))]
    read_whole = sum(t.params for t in counts.tables if not t.lookup)
    if getattr(config, "relative_attention", False) and read_whole:
        buckets = getattr(config, "position_buckets", -1)
        max_relative = getattr(config, "max_relative_positions", -1)
        span = buckets if buckets > 0 else (max_relative if max_relative > 0 else config.max_position_embeddings)
        rows = 2 * span  # the rel_embeddings rows attention uses
        kinds = len({"c2p", "p2c"} & set(getattr(config, "pos_att_type", []) or []))
        _, d_attn = attention_shape(config)
        layers = config.num_hidden_layers
        terms += [("rel table: not per token", -2.0 * read_whole),
                  ("rel table through Q/K", layers * kinds * 2.0 * rows * config.hidden_size * d_attn / T),
                  ("c2p/p2c scores", layers * kinds * 2.0 * rows * d_attn)]
    return [(label, value) for label, value in terms if value != 0]


def readable_length(name: str, config: Any, class_name: str | None, seq_len: int) -> tuple[int, int, str]:
    """(T to count at, the length the twin was run at, its error or ""): --seq-len if a tiny twin reads
    min(--seq-len, READ_CHECK_MAX) tokens; else the rows of its position table, which the twin must read."""
    from n00bqa.probes.lib.configs import model_positions, reads_length

    check_len = min(seq_len, READ_CHECK_MAX)
    error = reads_length(name, config, class_name, check_len)
    if error is None:
        return seq_len, check_len, ""
    rows = model_positions(config)
    if rows is None or rows >= check_len or reads_length(name, config, class_name, rows) is not None:
        raise ProbeError(f"{name} cannot read {check_len} tokens ({error}) and no shorter length is known; "
                         "try a smaller --seq-len")
    return rows, check_len, error


def measure_model(model: Any, config: Any, T: int, read: tuple[int, str] = (0, "")) -> ModelFlops:
    """Count one model's forward FLOPs (on meta) at T tokens, and set the formula beside.

    `read`: (the length a twin was run at, its error or "") from `readable_length`.
    """
    from n00bqa.probes.lib.configs import model_positions
    from n00bqa.probes.lib.counting import count_by_component

    counts = count_by_component(model)
    positions = model_positions(config)
    counted = count_forward_flops(model, T)
    formula = formula_flops_per_token(counts, config, T)
    per_token = counted["total"] / T
    terms = formula_gap_terms(counts, config, T)
    gap = per_token - formula
    name = type(model).__name__
    return ModelFlops(
        positions=positions, flops_seq_len=T, read_check_len=read[0] or T, reads_seq_len=not read[1],
        read_error=read[1], forward_flops_per_token=per_token, forward_macs_per_token=per_token / 2,
        forward_flops_formula=formula, forward_flops_gap=gap, forward_flops_gap_fraction=gap / per_token,
        forward_flops_unexplained=gap - sum(v for _, v in terms),
        encoder_flops_per_token=counted["encoder"] / T if config.is_encoder_decoder else None,
        decoder_flops_per_token=counted["decoder"] / T if config.is_encoder_decoder else None,
        causal="yes" if "CausalLM" in name or "LMHead" in name else "",
        gap_terms=[[label, value] for label, value in terms])


def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.configs import build_model, folder_config, published_architectures
    from n00bqa.probes.lib.models import resolve_model_dir

    if opts.model is None:
        _, minilm_config, _ = folder_config(None)
        models = [*published_architectures(), (BUNDLED, minilm_config, "BertModel")]
    else:
        folder, config, class_name = folder_config(opts.model)
        models = [(BUNDLED if folder == resolve_model_dir(None) else folder.name, config, class_name)]
    advance = ctx.task("Running a twin at --seq-len, counting forward FLOPs", len(models))
    numbers: Numbers = {}
    for name, config, class_name in models:
        T, check_len, error = readable_length(name, config, class_name, opts.seq_len)
        numbers[name] = measure_model(build_model(config, class_name), config, T, (check_len, error))
        advance()
    return numbers


# --- 4. report ----------------------------------------------------------------------------------
def _millions(flops: float) -> float | int:
    """MFLOPs for a table cell: one decimal, or a whole number from 1,000 up (so no digit is lost)."""
    value = flops / 1e6
    return round(value, 1) if value < 1000 else int(round(value))


def _names(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1] if items else "none"


def _reading_sentence(numbers: Numbers, seq_len: int) -> str:
    """What each model read, as its twin's forward showed (the verdict is the twin's error or its absence)."""
    check_len = min(seq_len, READ_CHECK_MAX)
    read = [n for n, c in numbers.items() if c.reads_seq_len]
    failed = [n for n, c in numbers.items() if not c.reads_seq_len]
    sentence = (f"What each model can read was measured, not taken from its config: a tiny twin (same class and "
                f"position scheme, small widths, random weights) ran a {check_len}-token forward on the CPU.")
    if read:
        sentence += f" {_names(read)} gave finite outputs"
        trained = [f"{n} {numbers[n].positions}" for n in read
                   if numbers[n].positions is not None and numbers[n].positions < check_len]
        if trained:
            sentence += (" although their configs state fewer positions (" + ", ".join(trained) + "): those are "
                         "lengths they were trained at, not a table's rows")
        sentence += "."
    by_error: dict[tuple[str, int], list[str]] = {}
    for n in failed:  # models that failed the same way, at the same table size, in one clause
        by_error.setdefault((numbers[n].read_error.split(". ")[0], numbers[n].flops_seq_len), []).append(n)
    for (why, rows), names in by_error.items():
        sentence += (f" {_names(names)} failed ({why}), so {'each is' if len(names) > 1 else 'it is'} counted at "
                     f"its {rows}-row position table, where its twin runs.")
    if seq_len > READ_CHECK_MAX and read:
        sentence += (f" Twins run at most {READ_CHECK_MAX} tokens here: that those that read {READ_CHECK_MAX} also "
                     f"read {seq_len} is assumed, not run.")
    return sentence


def report(numbers: Numbers, opts: Options) -> Report:
    findings = []
    lengths = ", ".join(f"{n} {c.flops_seq_len}" for n, c in numbers.items())
    findings.append(f"FLOPs are counted by torch's FlopCounterMode over one forward pass on the meta device (where "
                    "attention runs as plain matmuls, which it counts; on the CPU the flops probe finds torch's fused "
                    "attention kernel missing from its registry, and the attention FLOPs lost), at T = --seq-len "
                    f"{opts.seq_len} where the model reads it, else its position table's rows: {lengths}.")
    findings.append(_reading_sentence(numbers, opts.seq_len))
    first_name, first = next(iter(numbers.items()))
    findings.append(f"A FLOP is one multiply or one add, so a multiply-accumulate (MAC) is 2 FLOPs, as FlopCounterMode "
                    f"and the formula both count: {first_name} costs {first.forward_flops_per_token / 1e6:,.1f} MFLOPs "
                    f"= {first.forward_macs_per_token / 1e6:,.1f} M MACs per token at T={first.flops_seq_len}.")
    # each model: the formula is close when its gap is under FLOPS_GAP_NOTABLE of the count (gap % in the table)
    nearness = {n: verdict(abs(c.forward_flops_gap_fraction), FLOPS_GAP_NOTABLE, "or more", "under",
                           f"{n}'s gap fraction") for n, c in numbers.items()}
    close = [n for n in numbers if nearness[n] == "under"]
    far = [n for n in numbers if n not in close]
    if close:
        worst = max(abs(numbers[n].forward_flops_gap_fraction) for n in close)
        poolers = [n for n in close if any(label.startswith("pooler") for label, _ in numbers[n].gap_terms)]
        findings.append(
            f"The formula 2 × (non-table parameters + a tied output table) + 4 × blocks × T × d_attn is within "
            f"{100 * worst:.2f}% of the count ({nearness[close[0]]} {100 * FLOPS_GAP_NOTABLE:.0f}%) for "
            f"{_names(close)}: it "
            "charges 2 FLOPs to every bias and norm weight, which are additions and scalings, not matrix multiplies"
            + (f", and it charges {_names(poolers)}'s pooler for every token, though the pooler reads only the "
               "first" if poolers else "") + ".")
    for n in far:
        c = numbers[n]
        terms = "; ".join(f"{label} {value / 1e6:+,.1f}M" for label, value in c.gap_terms)
        findings.append(
            f"{n}: counted {c.forward_flops_per_token / 1e6:,.1f} MFLOPs per token at T={c.flops_seq_len}, the "
            f"formula {c.forward_flops_formula / 1e6:,.1f} (gap {100 * c.forward_flops_gap_fraction:+.1f}% of the "
            f"count, {100 * FLOPS_GAP_NOTABLE:.0f}% {nearness[n]}). Term by term: {terms}."
            + (" The formula does not see DeBERTa's disentangled attention: every layer projects the whole "
               "relative-position table through the query and key projections (a cost per sequence, so per token "
               "it shrinks as T grows) and scores each token against every relative distance (c2p, p2c)."
               if any(label.startswith("c2p") for label, _ in c.gap_terms) else ""))
    unexplained = [n for n, c in numbers.items() if c.forward_flops_unexplained != 0]
    largest = max(abs(c.forward_flops_unexplained) for c in numbers.values())
    add_up = verdict(largest, 0, "do NOT add up to the gap", "add up to the gap exactly", "FLOPs unexplained")
    findings.append(f"For every model the terms {add_up} (nothing unexplained: {largest:,.0f} FLOPs)."
                    if not unexplained else
                    f"The terms {add_up}. Left unexplained: "
                    + ", ".join(f"{n} {numbers[n].forward_flops_unexplained:,.0f} FLOPs" for n in unexplained)
                    + " per token.")
    for n, c in numbers.items():
        if c.encoder_flops_per_token is not None:
            findings.append(
                f"{n} is an encoder-decoder, so 'per token' here means one source token through the encoder "
                f"({c.encoder_flops_per_token / 1e6:,.1f} MFLOPs) plus one target token through the decoder and "
                f"its LM head ({c.decoder_flops_per_token / 1e6:,.1f} MFLOPs), with source and target both "
                f"{c.flops_seq_len} tokens long: {c.forward_flops_per_token / 1e6:,.1f} MFLOPs per pair. Counted "
                "per token read or written, it is half that.")
    causal = [n for n, c in numbers.items() if c.causal]
    if causal:
        findings.append(f"For the causal {_names(causal)} the count includes all T × T attention scores: transformers "
                        "computes them and then masks the future; a kernel that skips the masked half saves about "
                        "half of the attention FLOPs.")

    terms = [[name, label, round(value / 1e6, 3)] for name, c in numbers.items() for label, value in c.gap_terms]
    terms += [[name, "unexplained", round(c.forward_flops_unexplained / 1e6, 3)]
              for name, c in numbers.items() if c.forward_flops_unexplained != 0]
    tables = [
        Table.of("Forward MFLOPs per token: counted (FlopCounterMode) vs formula", numbers,
                 {"model": "key", "T": "flops_seq_len", "counted": lambda _, c: _millions(c.forward_flops_per_token),
                  "formula": lambda _, c: _millions(c.forward_flops_formula),
                  "gap %": lambda _, c: round(100 * c.forward_flops_gap_fraction, 3)},
                 note="1 FLOP = one multiply or one add; a multiply-accumulate = 2 FLOPs. T = --seq-len if a "
                      "tiny twin of the model reads it, else its position table's rows. formula: 2 × (non-table parameters + a tied output table) + 4 × blocks "
                      "× T × d_attn. An encoder-decoder reads T source and T target tokens."),
        Table("The formula's gap, term by term (MFLOPs per token)", ["model", "term", "MFLOPs"], terms,
              note="counted = formula + these terms; 'unexplained' is listed only when it is not 0."),
    ]
    summary = ("Forward FLOPs per token, counted by FlopCounterMode on the meta device, set beside the "
               "2-per-parameter formula, with the gap explained term by term.")
    return Report(summary=summary, findings=findings, tables=tables,
                  model=opts.model or f"published configs + {BUNDLED}")


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="forward-flops",
    question="model-size",
    title="Forward FLOPs per token of GPT-2, BERT, T5, Llama-2-7B, DeBERTa-v3, MiniLM: counted vs the formula",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # meta-device models only (see Probe.threads)
    predictions=(
        Prediction("How many FLOPs does one token's forward pass through gpt2 cost at T=1024?",
                   "gpt2.forward_flops_per_token", "FLOPs", scoring="log10"),
    ),
)
