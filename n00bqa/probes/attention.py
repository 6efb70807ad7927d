"""What does one attention head compute, step by step, and why divide by √d_k?

One head written out by hand, in the order of the paper's formula softmax(Q Kᵀ / √d_k) V:

1. project the token vectors x (T, d_model) into queries, keys and values with three matrices;
2. score every query against every key, Q Kᵀ (T, T), and divide by √d_k;
3. mask the future (position t may look at 0..t only) by setting those scores to -inf;
4. softmax each row into weights that sum to 1, and take the weighted sum of the values.

The probe checks that this equals `F.scaled_dot_product_attention` (one head) and
`nn.MultiheadAttention` with the same weights (every head by hand, concatenated, projected), that
the masked weights are exactly 0, and then measures why the scale is there: for queries and keys
with unit-variance components the score q·k has variance d_k, so without the scale a wide head's
softmax saturates (one weight near 1, entropy near 0, gradients near 0), and with it the spread of
the scores, the entropy and the gradient stay the same at every d_k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from n00bqa.probes.base import (Context, Prediction, Probe, Report, Table, check_heads_divide, check_ranges,
                                verdict)

TOLERANCE = 1e-5  # float32 attention by two routes agrees to about 1e-7; 1e-5 leaves room, a bug misses by 1e-1
SENTENCE = "the cat sat on the mat because it was warm"  # labels for the positions (the vectors are random)
D_KS = (8, 16, 64, 256, 512, 1024)  # head widths swept; 64 is the paper's head, 512 its d_model
SATURATED = 0.1  # a softmax is "saturated" when its entropy is below this fraction of ln T (uniform)
GRAD_FLOOR = 0.01  # a row "passes almost no gradient" when its softmax Jacobian norm is below this (scaled: ~0.18)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    d_model: int = field(default=64, metadata={"help": "Width of the token vectors."})
    n_head: int = field(default=4, metadata={"help": "Heads of nn.MultiheadAttention (must divide --d-model)."})
    seq_len: int = field(default=6, metadata={"help": f"Tokens in the worked example (at most {len(SENTENCE.split())})."})
    keys: int = field(default=64, metadata={"help": "Keys per query in the √d_k experiment (the softmax width T)."})
    queries: int = field(default=512, metadata={"help": "Queries sampled per d_k in the √d_k experiment."})


def check(opts: Options) -> None:
    words = len(SENTENCE.split())
    check_ranges(opts, {"seq_len": (2, words), "d_model": (1, 4096), "n_head": (1, 256), "keys": (2, 4096),
                        "queries": (8, 8192)})
    check_heads_divide(opts, "d_model")


# --- The head by hand -----------------------------------------------------------------------------
def one_head(x, w_q, w_k, w_v, causal: bool = True, scale: bool = True):
    """softmax(mask(Q Kᵀ / √d_k)) V, each step on its own line.

    Args:
        x: (T, d_model) token vectors; w_q, w_k: (d_model, d_k); w_v: (d_model, d_v).
    Returns:
        (out (T, d_v), weights (T, T)).
    """
    import torch

    q = x @ w_q  # (T, d_model) @ (d_model, d_k) -> (T, d_k): what each position is looking for
    k = x @ w_k  # (T, d_k): what each position offers to be found by
    v = x @ w_v  # (T, d_v): what each position hands over when found
    scores = q @ k.T  # (T, d_k) @ (d_k, T) -> (T, T): row t = query t against every key
    if scale:
        scores = scores / math.sqrt(k.shape[-1])  # keeps the scores' variance at 1 whatever d_k is
    if causal:
        T = x.shape[0]
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # (T, T): True above the diagonal
        scores = scores.masked_fill(future, float("-inf"))  # exp(-inf) = 0: no weight on later tokens
    weights = torch.softmax(scores, dim=-1)  # (T, T): each row is positive and sums to 1
    return weights @ v, weights  # (T, T) @ (T, d_v) -> (T, d_v): a weighted average of the values


def softmax_stats(scores) -> "Softmax":
    """How peaked a softmax over the last axis is, and how much gradient it still passes.

    Args:
        scores: (..., T) scores, one softmax per row.
    Returns:
        a Softmax record of means over the rows: the scores' variance, the entropy (nats), the
        largest weight, the Frobenius norm of the softmax Jacobian diag(p) - p pᵀ (how much the
        weights still move when the scores do), and the share of rows whose norm is below GRAD_FLOOR.
    """
    import torch

    log_p = torch.log_softmax(scores.double(), dim=-1)  # (..., T), finite even when saturated
    p = log_p.exp()
    entropy = -(p * log_p).sum(-1)  # (...,)
    s2, s3 = (p ** 2).sum(-1), (p ** 3).sum(-1)
    jacobian_norm = (s2 - 2 * s3 + s2 ** 2).clamp(min=0).sqrt()  # ||diag(p) - p pᵀ||_F, expanded
    return Softmax(score_var=float(scores.var()), entropy=float(entropy.mean()), max_weight=float(p.amax(-1).mean()),
                   softmax_grad=float(jacobian_norm.mean()),
                   no_grad_rows=float((jacobian_norm < GRAD_FLOOR).double().mean()))


def saturated(entropy: float, ln_keys: float) -> bool:
    return entropy < SATURATED * ln_keys


def starves(raw_norm: float, scaled_norm: float, raw_dead: float, scaled_dead: float) -> bool:
    """Saturation starves the gradient when, without ÷√d_k, the softmax Jacobian's mean norm is below the
    scaled one's AND a larger share of queries falls under GRAD_FLOOR: both measures must agree."""
    return raw_norm < scaled_norm and raw_dead > scaled_dead


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Softmax:
    """The scores of one d_k and their softmax, means over the sampled queries (see softmax_stats)."""
    score_var: float  # theory: d_k raw, 1 divided by √d_k
    entropy: float  # nats; uniform over the keys is ln keys
    max_weight: float
    softmax_grad: float  # mean ||diag(p) - p pᵀ||_F
    no_grad_rows: float  # share of rows with softmax_grad < GRAD_FLOOR


@dataclass
class Scaling:
    unscaled: Softmax  # scores q·k as they are
    scaled: Softmax  # scores q·k / √d_k


@dataclass
class Numbers:
    d_k: int  # the worked head's width, d_model / n_head
    by_hand_vs_sdpa_max_abs_diff: float
    by_hand_vs_mha_max_abs_diff: float
    weights_vs_mha_max_abs_diff: float  # per-head weights by hand vs MHA's average_attn_weights=False
    future_weight_max: float  # largest weight above the diagonal: exactly 0
    row_sum_max_error: float  # largest |sum of a row of weights - 1|
    weights: list  # (T, T), for the table
    ln_keys: float  # entropy of a uniform softmax over `keys` positions
    sweep: dict[int, Scaling]  # d_k -> the scores raw and scaled
    saturation_threshold: float  # SATURATED * ln_keys: below it a softmax is "saturated"
    uniform_softmax_grad: float  # ||diag(p) - p pᵀ||_F for p uniform over the keys: √(keys-1)/keys
    tolerance: float = TOLERANCE
    saturation_fraction: float = SATURATED
    grad_floor: float = GRAD_FLOOR


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F

    advance = ctx.task("attention by hand, then the √d_k sweep", 3 + len(D_KS))
    T, d_model, h = opts.seq_len, opts.d_model, opts.n_head
    d_k = d_model // h
    x = torch.randn(T, d_model)  # (T, d_model): stand-ins for the embedded words of SENTENCE

    # --- one head by hand vs F.scaled_dot_product_attention -------------------------------------
    w_q, w_k, w_v = (torch.randn(d_model, d_k) / math.sqrt(d_model) for _ in range(3))  # (d_model, d_k) each
    out, weights = one_head(x, w_q, w_k, w_v)  # (T, d_k), (T, T)
    sdpa = F.scaled_dot_product_attention((x @ w_q)[None], (x @ w_k)[None], (x @ w_v)[None], is_causal=True)[0]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    advance(1)

    # --- every head by hand vs nn.MultiheadAttention with the same weights ----------------------
    mha = torch.nn.MultiheadAttention(d_model, h, bias=False, batch_first=True)
    with torch.no_grad():
        mha_out, mha_weights = mha(x[None], x[None], x[None], attn_mask=future, need_weights=True,
                                   average_attn_weights=False)  # (1, T, d_model), (1, h, T, T)
        W_q, W_k, W_v = mha.in_proj_weight.split(d_model)  # each (d_model, d_model), stored as out x in
        heads, head_weights = [], []
        for i in range(h):  # head i owns columns i*d_k .. (i+1)*d_k of the projections
            cols = slice(i * d_k, (i + 1) * d_k)
            o, w = one_head(x, W_q[cols].T, W_k[cols].T, W_v[cols].T)  # (T, d_k), (T, T)
            heads.append(o)
            head_weights.append(w)
        by_hand = torch.cat(heads, dim=-1) @ mha.out_proj.weight.T  # (T, h*d_k) @ (d_model, d_model) -> (T, d_model)
    advance(1)

    # --- why √d_k: unit-variance q and k, wider and wider heads -----------------------------------
    groups = max(1, opts.queries // 64)  # key sets; 64 queries share each set
    sweep = {}
    for dk in D_KS:
        q = torch.randn(groups, 64, dk)  # (G, 64, d_k): components mean 0, variance 1 (the paper's assumption)
        k = torch.randn(groups, opts.keys, dk)  # (G, T, d_k)
        raw = torch.einsum("gqd,gtd->gqt", q, k)  # (G, 64, T): q·k, a sum of d_k unit-variance products
        sweep[dk] = Scaling(unscaled=softmax_stats(raw), scaled=softmax_stats(raw / math.sqrt(dk)))
        advance(1)

    return Numbers(
        d_k=d_k,
        by_hand_vs_sdpa_max_abs_diff=float((out - sdpa).abs().max()),
        by_hand_vs_mha_max_abs_diff=float((by_hand - mha_out[0]).abs().max()),
        weights_vs_mha_max_abs_diff=float((torch.stack(head_weights) - mha_weights[0]).abs().max()),
        future_weight_max=float(weights[future].max()),
        row_sum_max_error=float((weights.sum(-1) - 1).abs().max()),
        weights=weights.tolist(),
        ln_keys=math.log(opts.keys),
        saturation_threshold=SATURATED * math.log(opts.keys),
        uniform_softmax_grad=math.sqrt(opts.keys - 1) / opts.keys,
        sweep=sweep,
    )


# --- 4. report ----------------------------------------------------------------------------------
def _gradient_sentence(wide: Scaling, floor: float, keys: int, uniform: float) -> str:
    """Whether saturation starves the gradient at d_k = 512: two measures, each a verdict, and a verdict
    on how many of them say so (both must)."""
    raw, scaled = wide.unscaled, wide.scaled
    side = verdict(raw.softmax_grad, scaled.softmax_grad, "above", "below", "scaled Jacobian norm")
    share = verdict(raw.no_grad_rows, scaled.no_grad_rows, "more", "no more", "scaled share of rows below the floor")
    saying = int(raw.softmax_grad < scaled.softmax_grad) + int(raw.no_grad_rows > scaled.no_grad_rows)
    sentence = (f"The softmax's Jacobian diag(p) - p·pᵀ is what the scores' gradient passes through. Unscaled at "
                f"d_k = 512 its norm averages {raw.softmax_grad:.3f} ({side} the scaled {scaled.softmax_grad:.3f}), "
                f"and {raw.no_grad_rows:.0%} of the queries get a norm below {floor}: {share} than scaled "
                f"({scaled.no_grad_rows:.0%}). ")
    both = verdict(saying, 1, "Both say saturation starves the gradient",
                   "They do NOT both say saturation starves the gradient", "measures that must agree, of 2")
    if saying > 1:
        return sentence + f"{both} ({saying} of 2 measures): those rows barely learn which key to look at."
    return sentence + (f"{both} here ({saying} of 2 measures): the scaled softmax over {keys} "
                       f"keys passes little too (scaled entropy {scaled.entropy:.3f} nats; a uniform softmax's "
                       f"Jacobian norm is √(T-1)/T = {uniform:.3f}): too flat and too sharp both pass little "
                       "gradient.")


def report(n: Numbers, opts: Options) -> Report:
    words = SENTENCE.split()[:opts.seq_len]
    T = opts.seq_len
    equal_sdpa = verdict(n.by_hand_vs_sdpa_max_abs_diff, n.tolerance, "NOT equal", "equal", "tolerance")
    equal_mha = verdict(max(n.by_hand_vs_mha_max_abs_diff, n.weights_vs_mha_max_abs_diff), n.tolerance,
                        "NOT equal", "equal", "tolerance")
    masked = verdict(n.future_weight_max, 0, "NOT exactly 0", "exactly 0", "exact")
    sums = verdict(n.row_sum_max_error, n.tolerance, "does NOT sum to 1", "sums to 1", "tolerance")
    narrow, paper, wide = n.sweep[8], n.sweep[64], n.sweep[512]
    sat_raw = verdict(wide.unscaled.entropy, n.saturation_threshold, "NOT saturated", "saturated",
                      "saturation entropy")
    sat_scaled = verdict(wide.scaled.entropy, n.saturation_threshold, "NOT saturated", "saturated",
                         "saturation entropy")
    findings = [
        f"One head by hand on {T} token vectors of width {opts.d_model}: Q, K, V = x·W_q, x·W_k, x·W_v "
        f"({T} x {n.d_k} each), scores Q·Kᵀ ({T} x {T}) divided by √{n.d_k}, the future set to -inf, a "
        f"softmax per row, then weights·V. It is {equal_sdpa} to "
        f"F.scaled_dot_product_attention(is_causal=True) within {n.tolerance:g} (largest difference "
        f"{n.by_hand_vs_sdpa_max_abs_diff:.2e}).",
        f"With nn.MultiheadAttention's own weights ({opts.n_head} heads of {n.d_k}, each head by hand on its "
        f"slice of in_proj_weight, concatenated, then out_proj) the output and every head's weights are "
        f"{equal_mha} to the module's within {n.tolerance:g} (largest "
        f"differences {n.by_hand_vs_mha_max_abs_diff:.2e} and {n.weights_vs_mha_max_abs_diff:.2e}).",
        f"The mask works by value, not by promise: the largest weight on a future token is {masked} "
        f"({n.future_weight_max}; exp(-inf) is 0), and every row {sums} within {n.tolerance:g} (largest "
        f"error {n.row_sum_max_error:.1e}).",
        f"Why √d_k: with unit-variance query and key components, q·k is a sum of d_k products, so its "
        f"variance grows with d_k: measured {narrow.unscaled.score_var:.1f} at d_k = 8, "
        f"{paper.unscaled.score_var:.1f} at 64 and {wide.unscaled.score_var:.1f} at 512. Divided by "
        f"√d_k it is {narrow.scaled.score_var:.3f}, {paper.scaled.score_var:.3f} and "
        f"{wide.scaled.score_var:.3f}.",
        f"Unscaled at d_k = 512 the softmax over {opts.keys} keys is "
        f"{sat_raw}: entropy {wide.unscaled.entropy:.3f} nats against "
        f"ln {opts.keys} = {n.ln_keys:.3f} for a uniform softmax (saturated means below "
        f"{n.saturation_fraction:.0%} of it, {n.saturation_threshold:.3f}); the top weight averages "
        f"{wide.unscaled.max_weight:.3f}. Scaled it is {sat_scaled}: "
        f"entropy {wide.scaled.entropy:.3f}, top weight {wide.scaled.max_weight:.3f} (scaled at d_k = 8 the "
        f"entropy is {narrow.scaled.entropy:.3f}).",
        _gradient_sentence(wide, n.grad_floor, opts.keys, n.uniform_softmax_grad),
    ]
    return Report(
        summary=(f"One causal head by hand is {equal_sdpa} to F.scaled_dot_product_attention (diff "
                 f"{n.by_hand_vs_sdpa_max_abs_diff:.1e}) and {equal_mha} to nn.MultiheadAttention (diff "
                 f"{n.by_hand_vs_mha_max_abs_diff:.1e}); without ÷√d_k a 512-wide head's softmax entropy falls "
                 f"to {wide.unscaled.entropy:.3f} of a possible {n.ln_keys:.3f} nats."),
        findings=findings,
        tables=[
            Table("The steps of one head, with shapes", ["step", "formula", "shape"], [
                ["project", "Q = x·W_q, K = x·W_k, V = x·W_v", f"({T}, {n.d_k})"],
                ["score", "S = Q·Kᵀ", f"({T}, {T})"],
                ["scale", f"S / √d_k = S / {math.sqrt(n.d_k):.3g}", f"({T}, {T})"],
                ["mask", "S[i, j] = -inf where j > i", f"({T}, {T})"],
                ["softmax", "A = softmax(S) per row", f"({T}, {T})"],
                ["mix", "out = A·V", f"({T}, {n.d_k})"],
            ]),
            # a matrix, not records: its columns are the words, and words repeat ("the")
            Table("Attention weights of the head by hand (row = query, column = key)", ["query", *words],
                  [[word, *(round(w, 3) for w in row)] for word, row in zip(words, n.weights)],
                  note="Random vectors stand in for the words: the arithmetic, not the meaning. Everything "
                       "right of the diagonal is exactly 0; each row sums to 1."),
            Table.of(f"√d_k: scores q·k over {opts.keys} keys, raw and ÷√d_k", n.sweep, {
                "d_k": "key",
                "var raw": lambda _, s: round(s.unscaled.score_var, 1),
                "var ÷√d_k": lambda _, s: round(s.scaled.score_var, 3),
                "H raw": lambda _, s: round(s.unscaled.entropy, 3),
                "H ÷√d_k": lambda _, s: round(s.scaled.entropy, 3),
            }, note=f"var = variance of the scores (theory: d_k raw, 1 scaled); H = softmax entropy in "
                    f"nats (uniform: ln {opts.keys} = {n.ln_keys:.3f}). Means over the sampled queries."),
            Table.of("Saturation: the top weight and the gradient the scores receive", n.sweep, {
                "d_k": "key",
                "max w raw": lambda _, s: round(s.unscaled.max_weight, 3),
                "max w ÷√d_k": lambda _, s: round(s.scaled.max_weight, 3),
                "|J| raw": lambda _, s: float(f"{s.unscaled.softmax_grad:.3g}"),
                "|J| ÷√d_k": lambda _, s: round(s.scaled.softmax_grad, 3),
                f"|J|<{n.grad_floor} raw": lambda _, s: round(s.unscaled.no_grad_rows, 3),
            }, note="max w = the largest weight of a row; |J| = Frobenius norm of the softmax Jacobian "
                    f"diag(p) - p·pᵀ, averaged; the last column is the share of rows below {n.grad_floor}."),
        ],
        model=f"one head of width {n.d_k}, and nn.MultiheadAttention({opts.d_model}, {opts.n_head}), random weights",
    )


# --- 5. The probe -------------------------------------------------------------------------------
# The metrics before the sweep nested (one field per d_k), so old review logs and predictions resolve.
RENAMED_METRICS = {
    f"{stat}_{case}_dk{dk}": f"sweep.{dk}.{case}.{stat}"
    for stat, d_ks in (("score_var", (8, 64, 512)), ("entropy", (8, 64, 512)), ("max_weight", (512,)),
                       ("softmax_grad", (512,)), ("no_grad_rows", (512,)))
    for case in ("unscaled", "scaled") for dk in d_ks
}
PROBE = Probe(
    name="attention",
    question="attention-by-hand",
    title="One attention head by hand = SDPA = nn.MultiheadAttention; the causal mask; why ÷√d_k (saturation measured)",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("Without dividing by √d_k, what is the variance of q·k at d_k = 512 (unit-variance "
                   "components)?", "sweep.512.unscaled.score_var", "", scoring="log10"),
        Prediction(f"Softmax entropy over 64 keys at d_k = 512 without the scale (uniform would be "
                   f"ln 64 = {math.log(64):.2f} nats)?", "sweep.512.unscaled.entropy", "nats"),
    ),
    renamed_metrics=RENAMED_METRICS,
)
