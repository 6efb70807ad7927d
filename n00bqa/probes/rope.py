"""What does RoPE do to queries and keys?

Rotary position embedding (Su et al. 2021) adds no position vector. It rotates each query and key
before their dot product: the head's 64 numbers are split into 32 pairs, and pair i at position p
is turned by the angle p x f_i, with f_i = theta^(-2i / head_dim). A rotation keeps a vector's
length, and rotating q by p_q f_i and k by p_k f_i turns their dot product by (p_q - p_k) f_i only:
a score depends on how far apart the tokens are, never on where they sit.

This probe takes the real layer-0 queries and keys of SmolLM2-135M-Instruct (theta from its config)
on a sentence, rotates them by hand in float64, and measures: that the frequencies are the model's
own; that the rotation keeps every norm; that shifting both positions by the same offset leaves
every score unchanged within a stated tolerance, while shifting the keys alone changes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

FREQUENCY_TOLERANCE = 1e-6  # relative: the model keeps inv_freq in fp32, ~6e-8 from float64
TOLERANCE = 1e-9  # float64 relative: the angles p x f_i lose ~1e-16 x p of their value in rounding
SENTENCE = ("A rotary embedding turns each pair of numbers in a query or a key by an angle that grows with "
            "the token's position, so two tokens meet at an angle set by their distance. ")


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face causal-LM folder or a .gguf file instead of the bundled SmolLM2."})
    offset: int = field(default=1000, metadata={"help": "Positions added when shifting (both, or the keys alone)."})
    tokens: int = field(default=32, metadata={"help": "Tokens of the sentence whose queries and keys are rotated."})


def check(opts: Options) -> None:
    check_ranges(opts, {"offset": (1, 100_000, "positions"), "tokens": (2, 256)})
    if opts.model is not None:
        from pathlib import Path

        from n00bqa.errors import ProbeError

        if not Path(opts.model).expanduser().exists():
            raise ProbeError(f"--model {opts.model!r} does not exist; give a local model folder or a .gguf file")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Pair:
    frequency: float  # f_i, radians per token
    period: float  # 2 pi / f_i, tokens for a full turn


@dataclass
class Numbers:
    theta: float
    head_dim: int
    pairs_per_head: int  # head_dim / 2
    heads: int
    kv_heads: int
    tokens: int
    frequency_max_rel_diff: float  # theta^(-2i/d) against the model's own inv_freq
    cos_max_abs_diff: float  # our cos/sin against the model's rotary embedding (fp32)
    norm_max_rel_change: float  # | |R q| - |q| | / |q|, largest over queries and keys
    score_scale: float  # the largest |score| at positions 0..T-1
    both_shifted_max_rel_change: float  # max |S(p + o, p + o) - S(p, p)| / score_scale
    keys_shifted_max_rel_change: float  # max |S(p, p + o) - S(p, p)| / score_scale
    tolerance: float
    frequency_tolerance: float  # FREQUENCY_TOLERANCE
    frequencies_match: bool
    norms_kept: bool
    both_shift_unchanged: bool
    keys_shift_changes: bool
    pairs: dict[int, Pair]  # pair index i -> f_i and its period, a few of the head_dim / 2
    model: str  # report only


# --- 3. measure ---------------------------------------------------------------------------------
def rope_theta(config: Any) -> float:
    """theta from the config (transformers 5 keeps it in rope_parameters; older releases as rope_theta)."""
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta") or getattr(config, "rope_theta"))


def layer0_queries_keys(lm: Any, tokens: int) -> tuple[Any, Any]:
    """The layer-0 queries (1, heads, T, d) and keys (1, kv_heads, T, d) before any rotation."""
    import torch

    ids = lm.tokenizer((SENTENCE * (1 + tokens // 8)), return_tensors="pt").input_ids[:, :tokens]  # (1, T)
    model = lm.model.model
    attn = model.layers[0].self_attn
    d = attn.head_dim
    with torch.no_grad():
        x = model.layers[0].input_layernorm(model.embed_tokens(ids))  # (1, T, hidden)
        q = attn.q_proj(x).view(1, ids.shape[1], -1, d).transpose(1, 2)  # (1, T, heads*d) -> (1, heads, T, d)
        k = attn.k_proj(x).view(1, ids.shape[1], -1, d).transpose(1, 2)  # (1, kv_heads, T, d)
    return q.double(), k.double()


def rotate(x: Any, positions: Any, frequency: Any) -> Any:
    """Turn pair i of every vector by position x f_i. Llama pairs number i with number i + d/2."""
    import torch

    angles = positions[:, None].double() * frequency[None, :]  # (T, d/2)
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)  # (T, d): each pair's two halves share the angle
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1)
    first, second = x.chunk(2, dim=-1)  # (..., T, d/2) each
    turned = torch.cat([-second, first], dim=-1)  # (a, b) -> (-b, a): a quarter turn of each pair
    return x * cos + turned * sin  # (a cos - b sin, b cos + a sin)


def scores(q: Any, k: Any, q_positions: Any, k_positions: Any, frequency: Any) -> Any:
    """Attention scores q.k / sqrt(d) of rotated queries and keys: (heads, T, T)."""
    group = q.shape[1] // k.shape[1]  # GQA: each K/V head serves `group` query heads
    k = k.repeat_interleave(group, dim=1)  # (1, kv_heads, T, d) -> (1, heads, T, d)
    qr, kr = rotate(q, q_positions, frequency), rotate(k, k_positions, frequency)
    return (qr @ kr.transpose(-1, -2))[0] / math.sqrt(q.shape[-1])  # (heads, T, d) @ (heads, d, T) -> (heads, T, T)


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch

    from n00bqa.probes.lib.causal_lm import load_causal_lm

    advance = ctx.task("load the model, then rotate layer 0's queries and keys", 2)
    lm = load_causal_lm(opts.model, lambda message: ctx.task(message, 0))
    config = lm.model.config
    theta = rope_theta(config)
    q, k = layer0_queries_keys(lm, opts.tokens)  # (1, 9, T, 64), (1, 3, T, 64)
    d, T = q.shape[-1], q.shape[2]
    advance()
    frequency = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,): f_i = theta^(-2i/d)
    model_frequency = lm.model.model.rotary_emb.inv_freq.double()  # the buffer the model rotates with
    # Our cos against the model's own rotary embedding at the shifted positions (fp32 there).
    positions = torch.arange(T) + opts.offset  # (T,)
    model_cos, _ = lm.model.model.rotary_emb(q.float(), positions[None, :])  # (1, T, d)
    angles = positions[:, None].double() * frequency[None, :]
    our_cos = torch.cat([angles.cos(), angles.cos()], dim=-1)  # (T, d)

    base = torch.arange(T)
    rotated_q, rotated_k = rotate(q, base, frequency), rotate(k, base, frequency)
    norm_change = max(((rotated_q.norm(dim=-1) - q.norm(dim=-1)).abs() / q.norm(dim=-1)).max().item(),
                      ((rotated_k.norm(dim=-1) - k.norm(dim=-1)).abs() / k.norm(dim=-1)).max().item())
    s = scores(q, k, base, base, frequency)  # (heads, T, T)
    both = scores(q, k, base + opts.offset, base + opts.offset, frequency)
    keys_only = scores(q, k, base, base + opts.offset, frequency)
    scale = s.abs().max().item()
    both_change = (both - s).abs().max().item() / scale
    keys_change = (keys_only - s).abs().max().item() / scale
    frequency_diff = ((frequency - model_frequency).abs() / frequency).max().item()
    advance()
    shown = sorted({0, d // 8, d // 4, 3 * d // 8, d // 2 - 1})  # a few pairs, fastest to slowest
    return Numbers(
        theta=theta, head_dim=d, pairs_per_head=d // 2, heads=q.shape[1], kv_heads=k.shape[1], tokens=T,
        frequency_max_rel_diff=frequency_diff,
        cos_max_abs_diff=(our_cos - model_cos[0].double()).abs().max().item(),
        norm_max_rel_change=norm_change, score_scale=scale, both_shifted_max_rel_change=both_change,
        keys_shifted_max_rel_change=keys_change, tolerance=TOLERANCE, frequency_tolerance=FREQUENCY_TOLERANCE,
        frequencies_match=frequency_diff <= FREQUENCY_TOLERANCE,
        norms_kept=norm_change <= TOLERANCE, both_shift_unchanged=both_change <= TOLERANCE,
        keys_shift_changes=keys_change > TOLERANCE,
        pairs={i: Pair(frequency[i].item(), 2 * math.pi / frequency[i].item()) for i in shown},
        model=lm.description)


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    slow, fast = n.pairs[max(n.pairs)], n.pairs[0]
    match = verdict(n.frequency_max_rel_diff, n.frequency_tolerance, "do NOT match", "match", "frequency tolerance")
    kept = verdict(n.norm_max_rel_change, n.tolerance, "does NOT keep", "keeps", "tolerance")
    same = verdict(n.both_shifted_max_rel_change, n.tolerance, "CHANGED", "unchanged", "tolerance")
    changes = verdict(n.keys_shifted_max_rel_change, n.tolerance, "changes them", "does NOT change them", "tolerance")
    findings = [
        f"Measured on {n.model}: layer 0's queries ({n.heads} heads) and keys ({n.kv_heads} K/V heads, "
        f"each shared by {n.heads // n.kv_heads} query heads) of {n.tokens} tokens, rotated by hand in float64.",
        f"Each head's {n.head_dim} numbers form {n.pairs_per_head} pairs; pair i turns by f_i = theta^(-2i/"
        f"{n.head_dim}) per token with theta = {n.theta:,.0f}: from {fast.frequency:g} radian per token (a full "
        f"turn every {fast.period:.2f} tokens) down to {slow.frequency:.3g} (every {slow.period:,.0f} tokens). "
        f"These {match} the model's own inv_freq (largest relative difference {n.frequency_max_rel_diff:.2g}, "
        f"tolerance {n.frequency_tolerance:g}: it keeps them in fp32); our "
        f"cos differs from its rotary embedding's by at most {n.cos_max_abs_diff:.2g} (it computes in fp32).",
        f"The rotation {kept} every vector's length: the largest relative change of a norm is "
        f"{n.norm_max_rel_change:.2g} (tolerance {n.tolerance:g}).",
        f"Shifting every query and key by {opts.offset:,} positions leaves all {n.heads} x {n.tokens} x {n.tokens} "
        f"scores {same}: the largest change is {n.both_shifted_max_rel_change:.2g} of the largest score "
        f"({n.score_scale:.3g}), against a tolerance of {n.tolerance:g}"
        + (". Only the distance counts." if same == "unchanged" else "."),
        f"Shifting the keys alone by {opts.offset:,} {changes}: the largest change is "
        f"{n.keys_shifted_max_rel_change:.2g} of the largest score (tolerance {n.tolerance:g}), every distance "
        f"having moved by {opts.offset:,}.",
    ]
    table = Table.of(f"A few of the {n.pairs_per_head} rotation frequencies (theta = {n.theta:,.0f})", n.pairs,
                     {"pair i": "key", "f_i rad/token": lambda _, p: float(f"{p.frequency:.3g}"),
                      "period tokens": lambda _, p: round(p.period, 2)},
                     note="f_i = theta^(-2i/d): fast pairs tell neighbours apart, slow ones barely turn over "
                          "the whole context.")
    return Report(
        summary=f"RoPE turns {n.pairs_per_head} pairs of each query and key by position x f_i; the rotation {kept} "
                f"lengths and a shared shift leaves scores {same}.",
        findings=findings, tables=[table], model=n.model)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="rope",
    question="rope",
    title="RoPE on a real LLM's layer-0 queries and keys: norms kept, scores depend on distance only",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # on a busy 2-core machine two threads contend; one is faster here (see Probe.threads)
    predictions=(
        Prediction("SmolLM2's slowest RoPE pair makes a full turn every how many tokens?",
                   "pairs.31.period", "tokens", scoring="log10"),
    ),
)
