"""How many FLOPs does it take to train a transformer, and how close does my hardware get to its peak?

Training costs about 6 FLOPs per parameter per token: a matrix multiply of N weights does 2·N
FLOPs per token going forward (a multiply and an add per weight), and backward does it twice
(the gradient for the input and the gradient for the weights). Attention adds its own two
(T x T) products per layer, 12·L·T·d per token over forward and backward. This probe:

1. counts the forward+backward FLOPs of a tiny GPT (lib/gpt.py, the model the nanogpt probe trains)
   with torch's FlopCounterMode and compares them with 6·N·T + 12·L·T·d·T, N = the matrix weights (every
   Linear, the tied output layer included; lookups and LayerNorm scales do no multiplies);
2. measures this CPU's matrix-multiply peak and the training step's model FLOPs utilisation (MFU);
3. scales up with C ≈ 6·N·D to the Chinchilla paper's compute-optimal table (Hoffmann et al. 2022,
   Table 3) and reproduces its FLOPs column from its parameters and tokens.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_heads_divide, check_ranges, verdict
from n00bqa.probes.lib.models import GPTShape

# Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", Table 3 (Approach 1):
# parameters, FLOPs, tokens, as printed.
CHINCHILLA_TABLE_3 = (
    ("400M", 400e6, 1.92e19, 8.0e9),
    ("1B", 1e9, 1.21e20, 20.2e9),
    ("10B", 10e9, 1.23e22, 205.1e9),
    ("67B", 67e9, 5.76e23, 1.5e12),
    ("175B", 175e9, 3.85e24, 3.7e12),
    ("280B", 280e9, 9.90e24, 5.9e12),
    ("520B", 520e9, 3.43e25, 11.0e12),
    ("1T", 1e12, 1.27e26, 21.2e12),
    ("10T", 10e12, 1.30e28, 216.2e12),
)
# The table's third column measures budgets in "Gopher units": Gopher's training compute as Rae et al.
# (2021) reported it. Appendix F: the paper's own count gives 6.3e23 for Gopher instead.
GOPHER_FLOPS = 5.76e23
ROW_TOLERANCE = 0.01  # 6·N·D "reproduces" a row when within 1 % (the table prints 3 significant digits)
SECONDS_PER_YEAR = 365.25 * 24 * 3600
# GPT-3 175B (Brown et al. 2020, Table 2.1): 96 layers, width 12,288, context 2,048; GPT-2's 50,257 tokens.
GPT3 = dict(n_layer=96, n_embd=12288, seq_len=2048, vocab_size=50257)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options(GPTShape):  # lib/gpt.py's model (nanogpt trains it): n_layer, n_head, n_embd, wider here
    n_embd: int = field(default=128, metadata={"help": "Width d of the residual stream."})
    seq_len: int = field(default=128, metadata={"help": "Sequence length T."})
    batch_size: int = field(default=8, metadata={"help": "Sequences per step."})
    vocab_size: int = field(default=512, metadata={"help": "Vocabulary V (the output layer is a V x d matrix)."})
    matmul_size: int = field(default=1024, metadata={"help": "n of the n x n matrix multiply timed for the peak."})
    repeats: int = field(default=8, metadata={"help": "Timed repeats of the matmul and of the training step."})


def check(opts: Options) -> None:
    check_ranges(opts, {"n_layer": (1, 48), "n_head": (1, 64), "n_embd": (1, 2048), "seq_len": (2, 2048),
                        "batch_size": (1, 1024), "vocab_size": (2, 300000), "matmul_size": (16, 4096),
                        "repeats": (1, 100)})
    check_heads_divide(opts, "n_embd")


# --- The formula ----------------------------------------------------------------------------------
def matrix_params(n_layer: int, n_embd: int, vocab_size: int) -> int:
    """N: the weights that sit in matrix multiplies. Per block q, k, v and the output projection
    (4·d²) and the MLP (8·d²); plus the V x d output layer (tied to the token table)."""
    return n_layer * 12 * n_embd ** 2 + vocab_size * n_embd


def training_flops(n_matrix: int, n_layer: int, n_embd: int, seq_len: int, tokens: int) -> dict[str, int]:
    """Forward + backward FLOPs for `tokens` tokens in sequences of `seq_len`.

    6·N per token for the weights (2 forward, 4 backward); attention's Q·Kᵀ and A·V are each
    2·T·d per token per layer forward, ×3 with backward: 12·L·T·d per token (the PaLM appendix
    formula nanoGPT's estimate_mfu uses; it counts the full T x T, masked half included).
    """
    weights = 6 * n_matrix * tokens
    attention = 12 * n_layer * seq_len * n_embd * tokens
    return {"six_n_t": weights, "attention": attention, "total": weights + attention}


def within(ratio: float, tolerance: float = ROW_TOLERANCE) -> bool:
    return abs(ratio - 1) <= tolerance


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Numbers:
    matrix_params: int  # N
    params: int  # every parameter, tied once (adds the position table and LayerNorm scales)
    tokens_per_step: int  # B·T
    counted_flops: int  # FlopCounterMode, forward + backward
    formula_flops: int  # 6·N·tokens + attention term
    six_n_t_flops: int
    attention_flops: int
    counted_over_formula: float
    counted_over_six_n_t: float
    attention_share: float  # attention term / formula
    attention_crossover_len: float  # T at which 12·L·T·d equals 6·N: N / (2·L·d)
    seq_len_over_crossover: float  # T / that length
    gpt3: dict  # GPT-3 175B's shape and its attention share by the same formula
    flops_by_op: dict[str, int]  # aten op ("mm", "bmm") -> FLOPs counted, largest first
    sdpa_counted_flops: int  # the same model with F.scaled_dot_product_attention, counted
    cpu_sdpa_has_formula: bool  # does FlopCounterMode know the CPU fused attention kernel?
    matmul_size: int
    matmul_peak_gflops: float  # best of the repeats
    matmul_median_gflops: float
    step_seconds: float  # median training step (forward, backward, AdamW)
    achieved_gflops: float  # counted FLOPs / step time
    mfu: float  # achieved / peak
    chinchilla: dict  # per row: params, tokens, published_flops, flops_6nd, ratio, tokens_per_param, cpu_years
    chinchilla_rows: int
    chinchilla_rows_within: int
    row_tolerance: float


# --- 3. measure ---------------------------------------------------------------------------------
def forward_backward(model, x, y) -> None:
    """One training step's arithmetic: the loss forward, then its gradients backward."""
    _, loss = model(x, y)  # (B, T) ids and targets -> a scalar loss
    loss.backward()


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F

    from n00bqa.probes.lib.counting import count_flops
    from n00bqa.probes.lib.gpt import GPT, config_for

    advance = ctx.task("counting, timing, scaling", 4)
    B, T = opts.batch_size, opts.seq_len
    config = config_for(opts, T, opts.vocab_size, flash=False)  # the softmax written out: countable on a CPU
    model = GPT(config)
    x = torch.randint(opts.vocab_size, (B, T))  # (B, T) token ids
    y = torch.randint(opts.vocab_size, (B, T))  # (B, T) targets

    # --- count: FlopCounterMode against the formula -----------------------------------------------
    counted = count_flops(lambda: forward_backward(model, x, y))
    model.zero_grad(set_to_none=True)
    n_matrix = matrix_params(opts.n_layer, opts.n_embd, opts.vocab_size)
    formula = training_flops(n_matrix, opts.n_layer, opts.n_embd, T, B * T)
    # The same weights with F.scaled_dot_product_attention: on a CPU it runs one fused kernel.
    fused = GPT(config_for(opts, T, opts.vocab_size, flash=True))
    fused.load_state_dict(model.state_dict())
    sdpa_counted = count_flops(lambda: forward_backward(fused, x, y)).total
    hs = opts.n_embd // opts.n_head
    q = torch.randn(B, opts.n_head, T, hs)  # (B, nh, T, hs), and k = v = q: the fused call alone
    has_formula = count_flops(lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True)).total > 0
    advance(1)

    # --- this CPU's peak: the best of several n x n float32 matmuls -------------------------------
    n = opts.matmul_size
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: first call pays for allocation and kernel selection
    rates = []
    for _ in range(opts.repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * n ** 3 / (time.perf_counter() - start) / 1e9)  # n² outputs, n multiply-adds each
    peak = max(rates)
    advance(1)

    # --- one training step, timed: forward, backward, AdamW --------------------------------------
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(opts.repeats + 2):
        start = time.perf_counter()
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= 2:  # the first two steps allocate AdamW's state
            times.append(time.perf_counter() - start)
    step_seconds = statistics.median(times)
    achieved = counted.total / step_seconds / 1e9
    advance(1)

    # --- scale up: C ≈ 6·N·D against Chinchilla's Table 3 ---------------------------------------
    chinchilla = {}
    for name, params, published, tokens in CHINCHILLA_TABLE_3:
        flops_6nd = 6 * params * tokens
        chinchilla[name] = {
            "params": params, "tokens": tokens, "published_flops": published, "flops_6nd": flops_6nd,
            "ratio": flops_6nd / published, "gap": flops_6nd / published - 1,
            "gopher_units": published / GOPHER_FLOPS, "tokens_per_param": tokens / params,
            "implied_tokens": published / (6 * params),  # what the FLOPs column says D is
            "cpu_years": published / (achieved * 1e9) / SECONDS_PER_YEAR,  # at this step's speed
        }
    advance(1)

    gpt3 = training_flops(matrix_params(GPT3["n_layer"], GPT3["n_embd"], GPT3["vocab_size"]), GPT3["n_layer"],
                          GPT3["n_embd"], GPT3["seq_len"], tokens=1)
    gpt3_crossover = matrix_params(GPT3["n_layer"], GPT3["n_embd"], GPT3["vocab_size"]) / (
        2 * GPT3["n_layer"] * GPT3["n_embd"])  # T at which GPT-3's attention term equals its 6·N
    return Numbers(
        matrix_params=n_matrix, params=model.get_num_params(non_embedding=False), tokens_per_step=B * T,
        counted_flops=counted.total, formula_flops=formula["total"], six_n_t_flops=formula["six_n_t"],
        attention_flops=formula["attention"], counted_over_formula=counted.total / formula["total"],
        counted_over_six_n_t=counted.total / formula["six_n_t"], attention_share=formula["attention"] / formula["total"],
        attention_crossover_len=n_matrix / (2 * opts.n_layer * opts.n_embd),
        seq_len_over_crossover=T / (n_matrix / (2 * opts.n_layer * opts.n_embd)),
        gpt3={**GPT3, "attention_share": gpt3["attention"] / gpt3["total"],
              "attention_crossover_len": gpt3_crossover, "seq_len_over_crossover": GPT3["seq_len"] / gpt3_crossover},
        flops_by_op=dict(sorted(counted.by_op.items(), key=lambda kv: -kv[1])), sdpa_counted_flops=sdpa_counted, cpu_sdpa_has_formula=has_formula,
        matmul_size=n, matmul_peak_gflops=peak, matmul_median_gflops=statistics.median(rates),
        step_seconds=step_seconds, achieved_gflops=achieved, mfu=achieved / peak,
        chinchilla=chinchilla, chinchilla_rows=len(chinchilla),
        chinchilla_rows_within=sum(within(row["ratio"]) for row in chinchilla.values()), row_tolerance=ROW_TOLERANCE,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    exact = verdict(abs(n.counted_flops - n.formula_flops), 0, "NOT exactly equal", "exactly equal", "FLOPs apart")
    under = verdict(n.counted_over_six_n_t, 1, "undercounts", "does not undercount", "counted / 6NT")
    missing = n.counted_flops - n.sdpa_counted_flops
    vanish = verdict(missing, 0, "vanish", "are all counted", "attention FLOPs missing")
    # each Chinchilla row: 6·N·D within the tolerance of the printed FLOPs, or the exception
    rows = {name: verdict(abs(row["gap"]), n.row_tolerance, "the exception", "within", f"{name} row's gap")
            for name, row in n.chinchilla.items()}
    off = {name: row for name, row in n.chinchilla.items() if rows[name] == "the exception"}
    first = n.chinchilla["400M"]
    findings = [
        f"A tiny GPT ({opts.n_layer} layers, width {opts.n_embd}, vocabulary {opts.vocab_size}) has "
        f"N = {n.matrix_params:,} weights in matrix multiplies (of {n.params:,} parameters). One forward "
        f"and backward pass over {opts.batch_size} x {opts.seq_len} = {n.tokens_per_step:,} tokens: "
        f"FlopCounterMode counts {n.counted_flops:,} FLOPs; 6·N·tokens plus the attention term "
        f"12·L·T·d·tokens gives {n.formula_flops:,}: ratio {n.counted_over_formula:.6f} ({exact}).",
        f"The attention term is {n.attention_share:.1%} of it here. Per token it is 12·L·T·d against 6·N for the "
        f"weights, so it would equal them at T = N / (2·L·d) = {n.attention_crossover_len:,.0f}; T = "
        f"{opts.seq_len} is {n.seq_len_over_crossover:.2f} of that. 6·N·tokens alone "
        f"({n.six_n_t_flops:,}) {under} by that much (counted / 6NT = {n.counted_over_six_n_t:.4f}). At "
        f"GPT-3 175B's shape ({n.gpt3['n_layer']} layers, width {n.gpt3['n_embd']:,}, context "
        f"{n.gpt3['seq_len']:,}) the same formula gives attention {n.gpt3['attention_share']:.1%}: its "
        f"crossover is T = {n.gpt3['attention_crossover_len']:,.0f}, so its context is "
        f"{n.gpt3['seq_len_over_crossover']:.2f} of it. Width pushes the crossover out (N "
        "grows as d², the attention term as d), which is why C ≈ 6·N·D is the rule of thumb.",
        f"With F.scaled_dot_product_attention instead, FlopCounterMode counts {n.sdpa_counted_flops:,} of the "
        f"{n.counted_flops:,}: the attention FLOPs {vanish} ({missing:,} missing), and it has "
        f"{'a' if n.cpu_sdpa_has_formula else 'no'} formula for the CPU's fused kernel "
        "(aten._scaled_dot_product_flash_attention_for_cpu). So this probe counts the model with the "
        "softmax written out; the arithmetic is the same.",
        f"This CPU's peak, one thread: the best of {opts.repeats} float32 {n.matmul_size} x "
        f"{n.matmul_size} matmuls runs at {n.matmul_peak_gflops:.1f} GFLOP/s (median "
        f"{n.matmul_median_gflops:.1f}). A training step of the tiny GPT (forward, backward, AdamW) takes "
        f"{n.step_seconds * 1e3:.1f} ms: {n.achieved_gflops:.2f} GFLOP/s of model FLOPs, an MFU of "
        f"{n.mfu:.1%}. MFU credits only the model's matmul FLOPs: softmax, LayerNorm, GELU and AdamW's "
        "update take time but count nothing.",
        f"Scaled up with C ≈ 6·N·D, the Chinchilla paper's compute-optimal table (Hoffmann et al. 2022, "
        f"Table 3): {n.chinchilla_rows_within} of its {n.chinchilla_rows} rows come out within "
        f"{n.row_tolerance:.0%} of the FLOPs it prints, at about 20 tokens per parameter "
        f"({first['tokens_per_param']:.1f} for the 400M row)."
        + "".join(f" The {name} row is {rows[name]}: 6·N·D = {row['flops_6nd']:.3g} against the printed "
                  f"{row['published_flops']:.3g} ({row['gap']:+.1%}); its FLOPs imply "
                  f"{row['implied_tokens'] / 1e12:.2f}T tokens, not the printed {row['tokens'] / 1e12:.1f}T."
                  + (" Its FLOPs are exactly one Gopher unit: Gopher's training budget as Rae et al. (2021) "
                     "reported it."
                     if row["gopher_units"] == 1 else "")
                  for name, row in off.items()),
        f"At this training step's {n.achieved_gflops:.2f} GFLOP/s, the smallest row (400M parameters on "
        f"8.0B tokens, {first['published_flops']:.3g} FLOPs) would take this CPU "
        f"{first['cpu_years']:,.0f} years.",
    ]
    return Report(
        summary=(f"Training FLOPs = 6·N·tokens + 12·L·T·d·tokens: FlopCounterMode / formula = "
                 f"{n.counted_over_formula:.4f} on a tiny GPT; this CPU reaches {n.matmul_peak_gflops:.1f} GFLOP/s "
                 f"on a big matmul and {n.mfu:.1%} MFU training; 6·N·D reproduces "
                 f"{n.chinchilla_rows_within} of Chinchilla's {n.chinchilla_rows} rows within {n.row_tolerance:.0%}."),
        findings=findings,
        tables=[
            Table(f"One forward + backward over {n.tokens_per_step:,} tokens: the formula's terms and the count",
                  ["term", "formula", "FLOPs"], [
                      ["weights", "6·N·tokens", n.six_n_t_flops],
                      ["attention", "12·L·T·d·tokens", n.attention_flops],
                      ["total", "sum of the two", n.formula_flops],
                      ["counted", "FlopCounterMode", n.counted_flops],
                  ], note=f"N = {n.matrix_params:,} matrix weights: 12·d² per block (q, k, v, output 4·d²; "
                          "MLP 8·d²) plus the V x d output layer."),
            Table.of("FLOPs by operation, one forward + backward (FlopCounterMode)", n.flops_by_op, {
                "op": "key", "FLOPs": lambda _, flops: flops, "share": lambda _, flops: round(flops / n.counted_flops, 4),
            }, note="mm: the Linear layers and the tied output layer; bmm: attention's Q·Kᵀ "
                    "and A·V, per head. Forward and backward both included."),
            Table.of("Chinchilla, Table 3 (Approach 1), against C = 6·N·D", n.chinchilla, {
                "params": "key",
                "tokens": lambda _, row: f"{row['tokens']:.3g}",
                "FLOPs printed": lambda _, row: f"{row['published_flops']:.3g}",
                "6·N·D": lambda _, row: f"{row['flops_6nd']:.3g}",
                "ratio": lambda _, row: round(row["ratio"], 3),
                "D/N": lambda _, row: round(row["tokens_per_param"], 1),
            }, note="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models; 'ratio' = "
                    "6·N·D / printed FLOPs."),
        ],
        model=f"tiny GPT ({opts.n_layer} layers, width {opts.n_embd}, T {opts.seq_len}), random weights",
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="flops",
    question="training-flops",
    title="Training FLOPs: FlopCounterMode vs 6·N·T + attention, this CPU's matmul peak and MFU, Chinchilla's table",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # the peak and the step are both measured on one thread, so the MFU compares like with like
    predictions=(
        Prediction("What fraction of this CPU's matmul peak does a tiny GPT's training step reach (MFU)?",
                   "mfu", "", scoring="log10"),
        Prediction("By how much does 6·N·T undercount a tiny GPT's training FLOPs at T = 128, d = 128 "
                   "(counted / 6NT)?", "counted_over_six_n_t", "x"),
    ),
)
