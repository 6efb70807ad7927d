"""What does the KV cache buy a real LLM while it generates: the same tokens, how many bytes, how much time?

A decoder generates one token per forward pass. Without a cache, each pass runs the whole context
again; with one, each layer keeps the keys and values of every earlier token and the new token's
pass computes only its own row, reading the stored K and V. This probe shows, on the real
SmolLM2-135M-Instruct (30 layers, 9 query heads sharing 3 K/V heads, head_dim 64):

1. greedy generation with and without the cache gives the same tokens (the cache is an
   optimisation, never a change of answer);
2. the cache transformers keeps during `generate` weighs 2 x layers x K/V heads x head_dim x
   tokens x 4 bytes (fp32): GQA keeps 3 K/V heads per layer, not 9;
3. per new token, the cached pass costs FLOPs linear in the context (each new query reads L keys)
   and the uncached pass quadratic (every token's query reads every key again), counted by
   FlopCounterMode on the same config on the `meta` device; and the wall time of both at a few
   context lengths, with their ratio.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

FP32 = 4  # bytes per number: the dequantized weights and the cache are fp32
RELATIVE_TOLERANCE = 1e-9  # FLOP counts are integers: "equal" means equal, the tolerance only absorbs float division
PROMPT = "What is the capital of France?"


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face causal-LM folder or a .gguf file instead of the bundled SmolLM2."})
    new_tokens: int = field(default=8, metadata={"help": "Tokens generated greedily, with and without the cache."})
    context: int = field(default=64, metadata={
        "help": "The longest context timed and counted; the probe also measures context/16 and context/4."})
    repeats: int = field(default=3, metadata={"help": "Timed passes per context length (the median is kept)."})


def check(opts: Options) -> None:
    check_ranges(opts, {"new_tokens": (1, 64, "tokens"), "context": (16, 1024, "tokens"), "repeats": (1, 10)})
    if opts.model is not None:
        from pathlib import Path

        from n00bqa.errors import ProbeError

        if not Path(opts.model).expanduser().exists():
            raise ProbeError(f"--model {opts.model!r} does not exist; give a local model folder or a .gguf file")


def context_lengths(context: int) -> list[int]:
    """context/16, context/4, context: three lengths, so the growth between them can be compared."""
    return [max(1, context // 16), max(2, context // 4), context]


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Greedy:
    prompt_tokens: int
    cached_ids: list[int]  # report only: the generated token ids
    uncached_ids: list[int]
    same_tokens: bool
    first_difference: int  # index of the first differing new token, -1 if none
    text: str  # report only: the decoded continuation


@dataclass
class CacheSize:
    layers: int
    heads: int  # query heads
    kv_heads: int
    head_dim: int
    cached_tokens: int  # prompt + new - 1: the last new token is never fed back
    key_shape: str  # layer 0: (batch, kv_heads, tokens, head_dim)
    measured_bytes: int  # sum over layers of keys.nbytes + values.nbytes
    formula_bytes: int  # 2 x layers x kv_heads x head_dim x tokens x 4
    equal: bool
    bytes_per_layer_per_token: float  # measured / layers / tokens
    bytes_per_token: float  # measured / tokens (all layers)
    bytes_per_token_if_mha: int  # 2 x layers x heads x head_dim x 4: one K/V per query head


@dataclass
class AtLength:
    """One context length L: the cost of producing token L+1."""

    cached_flops: int  # one pass of 1 token reading L cached tokens
    uncached_flops: int  # one pass over all L+1 tokens
    flop_ratio: float  # uncached / cached
    cached_seconds: float  # median wall time of that pass on the real model
    uncached_seconds: float
    time_ratio: float  # uncached / cached, of the medians
    ratio_low: float  # the lowest and highest uncached / cached over the repeats (paired passes):
    ratio_high: float  # how much the timing moves from one repeat to the next


@dataclass
class Numbers:
    greedy: Greedy
    cache: CacheSize
    lengths: dict[int, AtLength]  # context length L -> costs of the next token
    cached_slope: dict[str, float]  # "4-16" -> FLOPs per extra context token between those lengths
    uncached_slope: dict[str, float]
    attention_formula: int  # 4 x layers x heads x head_dim: QK^T and AV FLOPs per (query, key) pair
    cached_linear: bool  # the cached slopes are equal (to RELATIVE_TOLERANCE) and equal the formula
    cached_slope_max_rel_diff: float  # the largest |slope - formula| / formula: the test of cached_linear
    uncached_curvature: float  # (slope2 - slope1) / (L3 - L1): the coefficient of L^2
    uncached_quadratic: bool  # the curvature equals the formula (to RELATIVE_TOLERANCE)
    uncached_curvature_rel_diff: float  # |curvature - formula| / formula: the test of uncached_quadratic
    tolerance: float
    model: str  # report only: what was measured, in words


# --- 3. measure ---------------------------------------------------------------------------------
def greedy_both_ways(lm: Any, opts: Options) -> tuple[Greedy, Any]:
    """Generate greedily with the cache and without it; return both and the cache generate kept."""
    import torch

    tok = lm.tokenizer
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True) \
        if tok.chat_template else PROMPT
    ids = tok(text, return_tensors="pt").input_ids  # (1, P)
    runs = {}
    for use_cache in (True, False):
        with torch.no_grad():
            runs[use_cache] = lm.model.generate(
                ids, max_new_tokens=opts.new_tokens, min_new_tokens=opts.new_tokens, do_sample=False,
                use_cache=use_cache, return_dict_in_generate=True, pad_token_id=tok.eos_token_id)
    prompt = ids.shape[1]
    cached = runs[True].sequences[0, prompt:].tolist()  # (new_tokens,)
    uncached = runs[False].sequences[0, prompt:].tolist()
    differ = [i for i, (a, b) in enumerate(zip(cached, uncached)) if a != b]
    greedy = Greedy(prompt_tokens=prompt, cached_ids=cached, uncached_ids=uncached, same_tokens=cached == uncached,
                    first_difference=differ[0] if differ else -1,
                    text=tok.decode(cached, skip_special_tokens=True).strip())
    return greedy, runs[True].cache


def weigh_cache(cache: Any, config: Any, tokens: int) -> CacheSize:
    """The bytes of the DynamicCache transformers kept, beside 2 x layers x kv_heads x head_dim x tokens x 4."""
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    kv_heads = config.num_key_value_heads or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    measured = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)  # keys: (1, kv_heads, T, hd)
    cached = cache.layers[0].keys.shape[-2]
    formula = 2 * layers * kv_heads * head_dim * cached * FP32
    return CacheSize(layers=layers, heads=heads, kv_heads=kv_heads, head_dim=head_dim, cached_tokens=cached,
                     key_shape=" x ".join(map(str, cache.layers[0].keys.shape)), measured_bytes=measured,
                     formula_bytes=formula, equal=measured == formula and cached == tokens,
                     bytes_per_layer_per_token=measured / layers / cached, bytes_per_token=measured / cached,
                     bytes_per_token_if_mha=2 * layers * heads * head_dim * FP32)


def next_token_flops(config: Any, class_name: str, length: int) -> tuple[int, int]:
    """FLOPs of producing token L+1 with the cache (1 query, L cached keys) and without (L+1 tokens).

    Counted on the `meta` device (no memory, no time) with eager attention, so the QK^T and AV
    matmuls are counted (the CPU's fused attention kernel has no FLOP formula). Only the last
    position's logits are computed either way, as `generate` does (logits_to_keep=1).
    """
    import copy

    import torch

    from n00bqa.probes.lib.configs import build_model
    from n00bqa.probes.lib.counting import count_flops

    config = copy.deepcopy(config)
    config._attn_implementation = "eager"
    model = build_model(config, class_name)  # on meta: the real shapes, no weights
    ids = torch.zeros(1, length + 1, dtype=torch.long, device="meta")  # (1, L+1)
    with torch.no_grad():
        prefill = model(ids[:, :length], use_cache=True, logits_to_keep=1)  # fills a cache of L tokens
        cached = count_flops(lambda: model(ids[:, length:], cache=prefill.cache,
                                           use_cache=True, logits_to_keep=1))  # (1, 1) -> 1 logit row
        mask = torch.ones(1, length + 1, dtype=torch.long, device="meta")  # on meta, transformers needs it given
        uncached = count_flops(lambda: model(ids, attention_mask=mask, use_cache=False, logits_to_keep=1))  # (1, L+1)
    return cached.total, uncached.total


def next_token_seconds(lm: Any, length: int, repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of producing token L+1 on the real model, with the cache and without, one pair per repeat."""
    import torch

    ids = torch.randint(0, lm.model.config.vocab_size, (1, length + 1))  # (1, L+1): content does not change the cost
    cached, uncached = [], []
    with torch.no_grad():
        prefill = lm.model(ids[:, :length], use_cache=True, logits_to_keep=1)  # the cache of L tokens
        for _ in range(repeats):
            cache = prefill.cache
            if cache.get_seq_length() > length:  # drop the token the previous pass appended: each reads exactly L
                cache.crop(length - cache.get_seq_length())  # a negative count removes that many tokens
            start = time.perf_counter()
            lm.model(ids[:, length:], cache=cache, use_cache=True, logits_to_keep=1)  # (1, 1)
            cached.append(time.perf_counter() - start)
            start = time.perf_counter()
            lm.model(ids, use_cache=False, logits_to_keep=1)  # (1, L+1)
            uncached.append(time.perf_counter() - start)
    return cached, uncached


def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.causal_lm import load_causal_lm

    lengths = context_lengths(opts.context)
    advance = ctx.task("load the model, generate both ways, then count and time each context length",
                       2 + len(lengths))
    lm = load_causal_lm(opts.model, lambda message: ctx.task(message, 0))  # the first load converts the GGUF
    config = lm.model.config
    advance()
    greedy, cache = greedy_both_ways(lm, opts)
    size = weigh_cache(cache, config, greedy.prompt_tokens + opts.new_tokens - 1)
    advance()
    at: dict[int, AtLength] = {}
    for length in lengths:
        cached_flops, uncached_flops = next_token_flops(config, type(lm.model).__name__, length)
        cached, uncached = next_token_seconds(lm, length, opts.repeats)
        cached_s, uncached_s = statistics.median(cached), statistics.median(uncached)
        ratios = [u / c for c, u in zip(cached, uncached)]
        at[length] = AtLength(cached_flops=cached_flops, uncached_flops=uncached_flops,
                              flop_ratio=uncached_flops / cached_flops, cached_seconds=cached_s,
                              uncached_seconds=uncached_s, time_ratio=uncached_s / cached_s,
                              ratio_low=min(ratios), ratio_high=max(ratios))
        advance()
    # Linear vs quadratic, from the counts: the FLOPs each extra context token adds between lengths.
    pairs = list(zip(lengths, lengths[1:]))
    cached_slope = {f"{a}-{b}": (at[b].cached_flops - at[a].cached_flops) / (b - a) for a, b in pairs}
    uncached_slope = {f"{a}-{b}": (at[b].uncached_flops - at[a].uncached_flops) / (b - a) for a, b in pairs}
    attention = 4 * size.layers * size.heads * size.head_dim  # QK^T: 2 x hd, AV: 2 x hd, per head and layer
    first, second = uncached_slope.values()
    curvature = (second - first) / (lengths[2] - lengths[0])  # slope(a, b) = b_1 + c (a + b) for c L^2 + b_1 L + b_0
    linear_diff = max(abs(s - attention) / attention for s in cached_slope.values())
    curvature_diff = abs(curvature - attention) / attention
    return Numbers(
        greedy=greedy, cache=size, lengths=at, cached_slope=cached_slope, uncached_slope=uncached_slope,
        attention_formula=attention, cached_linear=linear_diff <= RELATIVE_TOLERANCE,
        cached_slope_max_rel_diff=linear_diff, uncached_curvature=curvature,
        uncached_quadratic=curvature_diff <= RELATIVE_TOLERANCE, uncached_curvature_rel_diff=curvature_diff,
        tolerance=RELATIVE_TOLERANCE, model=lm.description)


# --- 4. report ----------------------------------------------------------------------------------
def saving_sentence(short: AtLength, long: AtLength, lengths: list[int], repeats: int) -> str:
    """Whether the saving grows with the context, beyond the timing's own noise: only if every repeat's
    ratio at the longest context is above every repeat's ratio at the shortest (the ranges do not
    overlap). One repeat measures no noise, so it draws no conclusion."""
    if repeats < 2:
        return ("With one timed pass per length there is no measure of the timing's noise, so this run draws "
                "no conclusion about the trend; --repeats 3 or more does.")
    gap = long.ratio_low - short.ratio_high
    grows = verdict(gap, 0, "grows", "does NOT clearly grow", "lowest ratio at the longest context minus "
                    "highest at the shortest")
    return (f"Over the {repeats} repeats the ratio ranges over {short.ratio_low:.2f}-{short.ratio_high:.2f}x at "
            f"L = {lengths[0]} and {long.ratio_low:.2f}-{long.ratio_high:.2f}x at L = {lengths[-1]} "
            f"(a gap of {gap:+.2f}x between the ranges), so the saving {grows} with the context beyond "
            "that noise.")


def report(n: Numbers, opts: Options) -> Report:
    g, c = n.greedy, n.cache
    lengths = list(n.lengths)
    short, long = n.lengths[lengths[0]], n.lengths[lengths[-1]]
    findings = [f"Measured on {n.model}."]
    differing = sum(a != b for a, b in zip(g.cached_ids, g.uncached_ids)) + abs(len(g.cached_ids) - len(g.uncached_ids))
    same = verdict(differing, 0, "DIFFERENT", "the same", "tokens that differ")
    if differing == 0:
        findings.append(f"Greedy generation of {opts.new_tokens} tokens after a {g.prompt_tokens}-token prompt gives "
                        f"{same} tokens with the cache and without it: {g.text!r}.")
    else:
        findings.append(f"Greedy generation of {opts.new_tokens} tokens after a {g.prompt_tokens}-token prompt "
                        f"gives {same} tokens with and without the cache ({differing} of them), from new token "
                        f"{g.first_difference} on (a near-tie flipped by float rounding); with the cache: {g.text!r}.")
    equal = verdict(abs(c.measured_bytes - c.formula_bytes), 0, "NOT equal to", "equal to", "exact")
    findings.append(f"The cache generate kept holds {c.cached_tokens} tokens (prompt + new - 1: the last token is "
                    f"never fed back) in {c.measured_bytes:,} bytes, {equal} 2 x {c.layers} layers x "
                    f"{c.kv_heads} K/V heads x {c.head_dim} x {c.cached_tokens} tokens x 4 bytes = "
                    f"{c.formula_bytes:,}.")
    why = (f"GQA is why: {c.heads} query heads share {c.kv_heads} K/V heads; " if c.kv_heads < c.heads else
           f"every one of the {c.heads} query heads keeps its own K and V (no GQA); ")
    findings.append(f"Per token it costs {c.bytes_per_layer_per_token:,.0f} bytes per layer, {c.bytes_per_token:,.0f} "
                    f"over all {c.layers} layers. {why}"
                    f"one K and V per query head would take {c.bytes_per_token_if_mha:,} bytes per token "
                    f"({c.bytes_per_token_if_mha / c.bytes_per_token:g}x).")
    slopes = ", ".join(f"{s:,.0f}" for s in n.cached_slope.values())
    linear = verdict(n.cached_slope_max_rel_diff, n.tolerance, "are NOT linear", "grow linearly", "relative tolerance")
    findings.append(f"FLOPs of the next token with the cache {linear} in the context: each extra cached token adds "
                    f"{slopes} FLOPs between the lengths, against 4 x layers x heads x head_dim = "
                    f"{n.attention_formula:,} (one query against one more key: QK^T and AV): largest relative "
                    f"difference {n.cached_slope_max_rel_diff:.1e}, tolerance {n.tolerance:g}.")
    quad = verdict(n.uncached_curvature_rel_diff, n.tolerance, "NOT quadratically", "quadratically",
                   "relative tolerance")
    first, second = n.uncached_slope.values()
    findings.append(f"Without the cache they grow {quad}: the FLOPs per extra context token rise from "
                    f"{first:,.0f} to {second:,.0f}, a coefficient of L^2 of "
                    f"{n.uncached_curvature:,.0f} against the formula's {n.attention_formula:,} (relative "
                    f"difference {n.uncached_curvature_rel_diff:.1e}, tolerance {n.tolerance:g}), on top of the "
                    "whole model's weights per token.")
    findings.append(f"So the next token at a context of L = {lengths[0]} costs {short.flop_ratio:,.1f}x the FLOPs "
                    f"without the cache as with it, and at {lengths[-1]} tokens {long.flop_ratio:,.1f}x.")
    findings.append(f"In wall time on this machine (median of {opts.repeats}), the uncached pass takes "
                    f"{short.time_ratio:.1f}x the cached one at L = {lengths[0]} and {long.time_ratio:.1f}x at "
                    f"L = {lengths[-1]} ({short.cached_seconds * 1e3:.1f} vs {long.cached_seconds * 1e3:.1f} ms "
                    f"cached, {short.uncached_seconds * 1e3:.1f} vs {long.uncached_seconds * 1e3:.1f} ms "
                    f"uncached). {saving_sentence(short, long, lengths, opts.repeats)}")
    table = Table.of("The next token at context length L: cached vs uncached (FLOPs in millions, time in ms)",
                     n.lengths, {"L": "key", "cached MFLOP": lambda _, a: round(a.cached_flops / 1e6, 1),
                                 "uncached MFLOP": lambda _, a: round(a.uncached_flops / 1e6, 1),
                                 "x": lambda _, a: round(a.flop_ratio, 1),
                                 "cached ms": lambda _, a: round(a.cached_seconds * 1e3, 1),
                                 "uncached ms": lambda _, a: round(a.uncached_seconds * 1e3, 1)},
                     note="x: uncached / cached FLOPs. FLOPs: FlopCounterMode on the same config on the meta device, eager attention, only the "
                          "last position's logits (as generate computes them). Time: the real model, random tokens.")
    cache_table = Table("The cache generate kept (fp32)", ["what", "value"], [
        ["layer 0 keys: batch x K/V heads x tokens x head_dim", c.key_shape],
        ["measured bytes", c.measured_bytes], ["formula bytes", c.formula_bytes],
        ["bytes per layer per token", c.bytes_per_layer_per_token], ["bytes per token, one K/V per head",
                                                                     c.bytes_per_token_if_mha]])
    return Report(
        summary=f"With the cache, greedy tokens are {same}, the cache "
                f"costs {c.bytes_per_token:,.0f} bytes per token, and the next token at {lengths[-1]} tokens of "
                f"context takes {long.flop_ratio:,.1f}x fewer FLOPs than recomputing everything.",
        findings=findings, tables=[cache_table, table], model=n.model)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="generate",
    question="kv-cache",
    title="Generating with a real LLM: same tokens with the KV cache, its bytes, linear vs quadratic cost",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # on a busy 2-core machine two threads contend; one is faster here (see Probe.threads)
    predictions=(
        Prediction("How many bytes does SmolLM2's fp32 KV cache take per token (all 30 layers)?",
                   "cache.bytes_per_token", "bytes", scoring="log10"),
        Prediction("How many times more FLOPs does the next token take without the cache at 64 tokens?",
                   "lengths.64.flop_ratio", "x", scoring="log10"),
    ),
)
