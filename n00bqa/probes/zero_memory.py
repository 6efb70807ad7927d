"""How much memory does each GPU need with ZeRO / FSDP, and what does the sharding cost in communication?

The ZeRO paper's (Rajbhandari et al., SC20, arXiv 1910.02054) model-state accounting as a
calculator. Training a model of Ψ parameters with Adam keeps three model states on every
data-parallel GPU: the weights, the gradients and the optimizer state. In mixed precision that is
2 + 2 + K bytes per parameter, K = 12 for Adam's fp32 master weights, momentum and variance; in
plain fp32 it is 4 + 4 + K with K = 8 (no master copy needed). With N_d GPUs:

    plain data parallelism (stage 0)  (2 + 2 + K) Ψ           every GPU holds everything
    ZeRO-1, P_os                      (2 + 2) Ψ + K Ψ / N_d   optimizer state sharded
    ZeRO-2, P_os+g                    2 Ψ + (2 + K) Ψ / N_d   gradients sharded too
    ZeRO-3, P_os+g+p (FSDP)           (2 + 2 + K) Ψ / N_d     weights sharded too

and per step each GPU moves 2Ψ elements for stages 0-2 (an all-reduce is a reduce-scatter plus an
all-gather) and 3Ψ for stage 3 (weights all-gathered for forward and again for backward, gradients
reduce-scattered). Offloading follows DeepSpeed's estimators (`estimate_zero2_model_states_mem_needs`,
`estimate_zero3_model_states_mem_needs`): `--offload-optimizer` moves the optimizer state and the
gradient shard that feeds it to host memory, `--offload-param` (ZeRO-3 only) moves the weight
shard too, leaving the GPU only the largest layer it gathers. DeepSpeed's own estimate, with its
18-byte count and 1.5x host buffer, is printed beside ours.

No torch here: it is arithmetic, exact (fractions), and instant. The default options are the
paper's Figure 1 (7.5B parameters, 64 GPUs, K = 12); the `fsdp` probe measures the same
accounting on real processes, and a test holds the two together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

GB = 10**9  # decimal gigabytes, as the ZeRO paper and GPU vendors count them
STAGES = (0, 1, 2, 3)
STAGE_NAMES = {0: "plain DP", 1: "ZeRO-1 P_os", 2: "ZeRO-2 P_os+g", 3: "ZeRO-3 P_os+g+p"}
# Bytes per parameter of the weights and gradients the GPU computes with.
PRECISION_BYTES = {"mixed": (2, 2), "fp32": (4, 4)}
# The ZeRO paper's Figure 1, per-GPU model-state GB for Ψ = 7.5B, N_d = 64, K = 12 (as printed).
FIGURE_1 = {"params": 7_500_000_000, "gpus": 64, "k": 12, "gb": {0: 120.0, 1: 31.4, 2: 16.6, 3: 1.9}}
# DeepSpeed's estimators' defaults: host buffers 1.5x, ZeRO-3 with zero_init; 18 bytes per sharded parameter.
DEEPSPEED_BUFFER_FACTOR = Fraction(3, 2)
DEEPSPEED_SHARDED_BYTES = 18
SUFFIXES = {"K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    params: str = field(default="7.5B", metadata={
        "help": "Parameter count Ψ: 7.5e9, 7.5B, 350M, 124,439,808 (suffixes K, M, B or G, T)."})
    gpus: int = field(default=64, metadata={"help": "Data-parallel GPUs N_d the states are sharded over."})
    k: float = field(default=12.0, metadata={
        "help": "Optimizer-state bytes per parameter: 12 for mixed-precision Adam (fp32 master copy, "
                "momentum, variance), 8 for plain fp32 Adam, 4 for SGD with momentum in fp32."})
    precision: str = field(default="mixed", metadata={
        "help": "mixed: 2-byte weights and gradients (the paper); fp32: 4-byte weights and gradients "
                "(use --k 8 for Adam)."})
    offload_optimizer: bool = field(default=False, metadata={
        "help": "Keep the optimizer state (and the gradient shard it updates from) in host memory, "
                "as DeepSpeed's offload_optimizer: cpu (stages 1-3)."})
    offload_param: bool = field(default=False, metadata={
        "help": "ZeRO-3 only, with --offload-optimizer: keep the weight shard in host memory too "
                "(DeepSpeed's offload_param: cpu)."})
    largest_layer_params: str = field(default="0", metadata={
        "help": "Parameters of the largest layer ZeRO-3 gathers at once (its weights and gradients "
                "stay on the GPU while in use); 0 leaves it out, as the paper does."})
    gpus_per_node: int = field(default=8, metadata={
        "help": "GPUs per machine, for DeepSpeed's host-memory estimate (per machine)."})


def parse_count(text: str, flag: str) -> int:
    """`7.5B`, `7.5e9`, `350M`, `124,439,808` -> an exact whole number of parameters."""
    raw = str(text).strip().replace(",", "").replace("_", "")
    match = re.fullmatch(r"([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([KkMmBbGgTt]?)", raw)
    if not match:
        raise ProbeError(f"{flag} {text!r} is not a count; write e.g. 7.5e9, 7.5B, 350M or 124439808")
    try:
        value = Decimal(match.group(1)) * SUFFIXES.get(match.group(2).upper(), 1)
    except InvalidOperation:
        raise ProbeError(f"{flag} {text!r} is not a count; write e.g. 7.5e9, 7.5B, 350M or 124439808") from None
    if value != value.to_integral_value():
        raise ProbeError(f"{flag} {text!r} is {value} parameters, not a whole number; give more digits or "
                         "a smaller suffix")
    return int(value)


def check(opts: Options) -> None:
    params = parse_count(opts.params, "--params")
    if not 1 <= params <= 10**15:
        raise ProbeError(f"--params {opts.params!r} must be between 1 and 1e15 parameters")
    check_ranges(opts, {"gpus": (1, 1_000_000),
                        "k": (0, 64, "bytes per parameter (12 for mixed-precision Adam, 8 for fp32 Adam)"),
                        "gpus_per_node": (1, 1_000_000)})
    if opts.precision not in PRECISION_BYTES:
        raise ProbeError(f"--precision {opts.precision!r} must be one of: {', '.join(PRECISION_BYTES)}")
    if opts.offload_param and not opts.offload_optimizer:
        raise ProbeError("--offload-param needs --offload-optimizer too (DeepSpeed offloads the weights only "
                         "together with the optimizer state)")
    largest = parse_count(opts.largest_layer_params, "--largest-layer-params")
    if largest > params:
        raise ProbeError(f"--largest-layer-params {opts.largest_layer_params!r} is more than --params "
                         f"{opts.params!r}; a layer cannot hold more parameters than the model")
    if opts.gpus_per_node < 1 or opts.gpus % min(opts.gpus, opts.gpus_per_node):
        raise ProbeError(f"--gpus {opts.gpus} does not fill machines of --gpus-per-node {opts.gpus_per_node}; "
                         f"pass a --gpus-per-node that divides {opts.gpus}")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Stage:  # one ZeRO stage, per GPU: its model-state memory and its traffic per training step
    bytes: float  # model states on the GPU, exact
    gb: float  # the same in decimal GB
    host_gb: float  # what --offload-* moved to host memory (0 without offload)
    reduction: float  # plain DP's bytes / this stage's: how many times less memory
    comm_elements: int  # the paper's volume, sent + received
    comm_bytes: int  # the same volume in bytes
    ring_bytes_sent: float  # what a ring collective really sends: comm_bytes x (N-1)/N


@dataclass
class Numbers:
    params: int  # Ψ
    gpus: int  # N_d
    precision: str  # mixed | fp32
    weight_bytes: int  # per parameter, as the GPU computes with them
    grad_bytes: int
    k: float  # optimizer-state bytes per parameter
    bytes_per_param: float  # weight + grad + K: the unsharded model state per parameter
    largest_layer_params: int
    stages: dict[int, Stage]  # 0 (plain DP) .. 3 (ZeRO-3)
    stage3_comm_ratio: float  # stage 3 / plain DP volume
    ring_fraction: float  # (N_d - 1) / N_d: what a ring collective really sends of the paper's volume
    deepspeed: dict  # DeepSpeed's estimators: zero2/zero3 GPU and per-machine host GB
    paper_settings: bool  # the options are the paper's Figure 1 settings
    offload_optimizer: bool
    offload_param: bool


# --- 3. measure: the accounting ------------------------------------------------------------------
def model_state_bytes(params: int, gpus: int, weight: int, grad: int, k: Fraction, largest_layer: int = 0,
                      offload_optimizer: bool = False, offload_param: bool = False) -> dict[int, tuple]:
    """Per-GPU model-state bytes for stages 0-3, as (on the GPU, moved to host), exact fractions.

    Args:
        params: Ψ, the parameter count. gpus: N_d.
        weight, grad: bytes per parameter of the weights and gradients; k: optimizer-state bytes.
        largest_layer: parameters ZeRO-3 gathers at once (weights + gradients of one layer in use).
        offload_optimizer / offload_param: DeepSpeed's CPU offload of the optimizer state (with the
            gradient shard it consumes) and, for ZeRO-3, of the weight shard.
    """
    psi, n = Fraction(params), Fraction(gpus)
    working = (weight + grad) * Fraction(largest_layer)  # the gathered layer ZeRO-3 computes with
    stages = {0: ((weight + grad + k) * psi, Fraction(0))}  # offload needs ZeRO: nothing moves in stage 0
    # Stage 1 shards only the optimizer state; the full gradient stays on every GPU.
    optimizer_shard = k * psi / n
    stages[1] = ((weight + grad) * psi, optimizer_shard) if offload_optimizer else \
        ((weight + grad) * psi + optimizer_shard, Fraction(0))
    # Stage 2 reduce-scatters gradients: each GPU keeps the gradient shard its optimizer slice needs.
    update_shard = (grad + k) * psi / n
    stages[2] = (weight * psi, update_shard) if offload_optimizer else (weight * psi + update_shard, Fraction(0))
    # Stage 3 shards the weights too; a layer is gathered only while it is used.
    weight_shard = weight * psi / n
    if offload_param:
        stages[3] = (working, weight_shard + update_shard)
    elif offload_optimizer:
        stages[3] = (weight_shard + working, update_shard)
    else:
        stages[3] = (weight_shard + update_shard + working, Fraction(0))
    return stages


def communication_elements(params: int) -> dict[int, int]:
    """Elements each GPU sends+receives per step (the paper's section 7 volume, before the ring's (N-1)/N).

    Stages 0-2: a reduce-scatter of the gradients and an all-gather of the weights, Ψ each (plain DP's
    all-reduce is exactly that pair). Stage 3: the weights are all-gathered twice (forward, then again
    for backward, because they were freed) plus the gradients' reduce-scatter.
    """
    return {0: 2 * params, 1: 2 * params, 2: 2 * params, 3: 3 * params}


def communication_bytes(params: int, weight: int, grad: int) -> dict[int, int]:
    """The same volume in bytes: gradient traffic at the gradients' width, weight traffic at the weights'."""
    return {0: 2 * params * grad, 1: params * (grad + weight), 2: params * (grad + weight),
            3: params * (grad + 2 * weight)}


def deepspeed_estimates(params: int, largest_layer: int, gpus: int, gpus_per_node: int,
                        offload_optimizer: bool, offload_param: bool) -> dict[str, Fraction]:
    """DeepSpeed's own model-state estimators (mixed precision, its defaults), in bytes.

    Our reading of deepspeed/runtime/zero/stage_1_and_2.py and stage3.py: the sharded part counts
    18 bytes per parameter (2 fp16 + 4 fp32 gradients, 4 fp32 master weights, 8 Adam moments) where
    the paper counts 2 + K; ZeRO-3 adds 4 bytes per parameter of the largest layer (fp16 weights and
    gradients while gathered); host memory is per machine, with a 1.5x buffer, and zero_init on.
    """
    psi, n = Fraction(params), gpus
    per_node = min(gpus, gpus_per_node)
    nodes = gpus // per_node
    buffer = DEEPSPEED_BUFFER_FACTOR
    if offload_optimizer:
        zero2_gpu = 2 * psi
        zero2_host = psi * max(4 * n, 16) * buffer
    else:
        zero2_gpu = 2 * psi + (DEEPSPEED_SHARDED_BYTES * params) // n  # DeepSpeed truncates the shard to whole bytes
        zero2_host = psi * 4 * per_node * buffer  # each process loads the model once
    largest = 4 * Fraction(largest_layer)
    if offload_param:
        zero3_gpu, zero3_host = largest, psi * 18 * buffer / nodes
    elif offload_optimizer:
        zero3_gpu, zero3_host = largest + (2 * params) // n, psi * 16 * buffer / nodes
    else:
        zero3_gpu, zero3_host = largest + (DEEPSPEED_SHARDED_BYTES * params) // n, Fraction(largest_layer) * 4 * per_node * buffer
    return {"zero2_gpu": zero2_gpu, "zero2_host": zero2_host, "zero3_gpu": zero3_gpu, "zero3_host": zero3_host}


def measure(opts: Options, ctx: Context) -> Numbers:
    advance = ctx.task("ZeRO model-state accounting", 1)
    params = parse_count(opts.params, "--params")
    largest = parse_count(opts.largest_layer_params, "--largest-layer-params")
    weight, grad = PRECISION_BYTES[opts.precision]
    k = Fraction(opts.k).limit_denominator(1000)  # --k 12 is exactly 12; 0.1 stays 1/10
    on_gpu = model_state_bytes(params, opts.gpus, weight, grad, k, largest, opts.offload_optimizer,
                               opts.offload_param)  # stage -> (GPU bytes, host bytes)
    elements = communication_elements(params)
    comm = communication_bytes(params, weight, grad)
    ring = Fraction(opts.gpus - 1, opts.gpus)
    plain_dp = on_gpu[0][0]
    stages = {s: Stage(bytes=float(gpu), gb=float(gpu / GB), host_gb=float(host / GB),
                       reduction=float(plain_dp / gpu) if gpu else float("inf"),
                       comm_elements=elements[s], comm_bytes=comm[s], ring_bytes_sent=float(comm[s] * ring))
              for s, (gpu, host) in on_gpu.items()}
    ds = deepspeed_estimates(params, largest, opts.gpus, opts.gpus_per_node, opts.offload_optimizer,
                             opts.offload_param)
    advance()
    paper_settings = (params, opts.gpus, k, opts.precision, opts.offload_optimizer, largest) == (
        FIGURE_1["params"], FIGURE_1["gpus"], FIGURE_1["k"], "mixed", False, 0)
    return Numbers(
        params=params, gpus=opts.gpus, precision=opts.precision, weight_bytes=weight, grad_bytes=grad, k=float(k),
        bytes_per_param=float(weight + grad + k), largest_layer_params=largest, stages=stages,
        stage3_comm_ratio=elements[3] / elements[0], ring_fraction=float(ring),
        deepspeed={**{f"{key}_gb": float(value / GB) for key, value in ds.items()},
                   "sharded_bytes_per_param": DEEPSPEED_SHARDED_BYTES, "host_buffer_factor": float(DEEPSPEED_BUFFER_FACTOR)},
        paper_settings=paper_settings, offload_optimizer=opts.offload_optimizer, offload_param=opts.offload_param,
    )


# --- 4. report ----------------------------------------------------------------------------------
def matches_figure_1(n: Numbers) -> list[bool]:
    """Each stage's GB rounded to the paper's one decimal equals Figure 1's printed value."""
    return [round(n.stages[s].gb, 1) == FIGURE_1["gb"][s] for s in STAGES]


def same_traffic(n: Numbers) -> bool:
    """ZeRO-1 and ZeRO-2 move exactly what plain data parallelism moves."""
    return traffic_difference(n) == 0


def traffic_difference(n: Numbers) -> int:
    """Elements per step by which ZeRO-1 or ZeRO-2 differs most from plain data parallelism (0: the same)."""
    return max(abs(n.stages[s].comm_elements - n.stages[0].comm_elements) for s in (1, 2))


def less(stage: Stage, digits: int, name: str) -> str:
    """"3.82x less" memory than plain DP ("1x, no less" on one GPU), or, when offload leaves nothing on the
    GPU, says so."""
    if not stage.bytes:
        return "nothing left on the GPU"
    return f"{stage.reduction:.{digits}g}x" + verdict(stage.reduction, 1, " less", ", no less",
                                                     f"plain DP / {name} bytes")


def report(n: Numbers, opts: Options) -> Report:
    w, g = n.weight_bytes, n.grad_bytes
    plain, z1, z2, z3 = (n.stages[s] for s in STAGES)
    width = "2-byte (mixed precision)" if n.precision == "mixed" else "4-byte fp32"
    findings = [
        f"Model states cost {w} + {g} + {n.k:g} = {n.bytes_per_param:g} bytes per parameter ({width} "
        f"weights and gradients, K = {n.k:g} for the optimizer), so plain data parallelism needs "
        f"{plain.gb:,.4g} GB on every one of the {n.gpus} GPUs for {n.params:,} parameters.",
        f"ZeRO-1 shards the optimizer state: {z1.gb:,.4g} GB per GPU ({less(z1, 3, 'ZeRO-1')}). "
        f"ZeRO-2 also shards the gradients: {z2.gb:,.4g} GB ({less(z2, 3, 'ZeRO-2')}). ZeRO-3 (FSDP's "
        f"full sharding) also shards the weights: {z3.gb:,.4g} GB ({less(z3, 4, 'ZeRO-3')}).",
    ]
    if n.paper_settings:
        ok = matches_figure_1(n)
        match = verdict(len(ok) - sum(ok), 0, "do NOT match", "match", "stages that differ")
        findings.append(
            f"These are the ZeRO paper's Figure 1 settings; rounded to its one decimal our per-GPU figures "
            f"{match} the printed {FIGURE_1['gb'][0]:g}, {FIGURE_1['gb'][1]:g}, {FIGURE_1['gb'][2]:g} and "
            f"{FIGURE_1['gb'][3]:g} GB ({sum(ok)} of 4 stages equal, {len(ok) - sum(ok)} differ).")
    off = traffic_difference(n)
    same = verdict(off, 0, "NOT the same", "the same", "elements apart")
    findings.append(
        f"Communication per step per GPU: {plain.comm_elements:,} elements for plain DP, "
        f"{same} {z2.comm_elements:,} for ZeRO-1 and ZeRO-2 ({off:,} elements apart; a "
        f"reduce-scatter plus an all-gather is an all-reduce), and {z3.comm_elements:,} for ZeRO-3, "
        f"{n.stage3_comm_ratio:g}x, because the weights are gathered again for backward. In bytes that is "
        f"{plain.comm_bytes / GB:,.4g} GB and {z3.comm_bytes / GB:,.4g} GB; a ring sends "
        f"{n.ring_fraction:.4g} of it, (N-1)/N.")
    if n.offload_optimizer:
        findings.append(
            f"With the optimizer offloaded, host memory takes {z2.host_gb:,.4g} GB per GPU in ZeRO-2 and "
            f"{z3.host_gb:,.4g} GB in ZeRO-3, and the update runs on the CPU; the GPU keeps "
            f"{z2.gb:,.4g} and {z3.gb:,.4g} GB.")
    ds = n.deepspeed
    findings.append(
        f"DeepSpeed's estimators (mixed precision, whatever --precision says) give {ds['zero2_gpu_gb']:,.4g} GB per GPU for ZeRO-2 and "
        f"{ds['zero3_gpu_gb']:,.4g} GB for ZeRO-3, with {ds['zero2_host_gb']:,.4g} and "
        f"{ds['zero3_host_gb']:,.4g} GB of host memory per machine: they count {ds['sharded_bytes_per_param']} bytes "
        f"per parameter in the sharded part (an fp32 copy of the gradients as well) and host buffers at "
        f"{ds['host_buffer_factor']:g}x.")
    return Report(
        summary=f"{n.params:,} parameters on {n.gpus} GPUs: {plain.gb:,.4g} GB per GPU with plain data "
                f"parallelism, {z3.gb:,.4g} GB with ZeRO-3, for {n.stage3_comm_ratio:g}x the communication.",
        findings=findings,
        tables=[
            Table.of("Per-GPU model states (GB = 1e9 bytes) and traffic per step", n.stages, {
                "stage": lambda s, _: STAGE_NAMES[s],
                "GPU GB": lambda _, st: round(st.gb, 4),
                "paper": lambda s, _: f"{FIGURE_1['gb'][s]:g}" if n.paper_settings else "-",
                "host GB": lambda _, st: round(st.host_gb, 4),
                "comm elems": "comm_elements",
                "comm GB": lambda _, st: round(st.comm_bytes / GB, 4),
            }, note="paper: the ZeRO paper's Figure 1, shown only for its settings"),
            Table("The accounting (Ψ parameters, N GPUs, K optimizer bytes)", ["stage", "bytes per GPU"], [
                ["plain DP", f"({w}+{g}+K)Ψ"],
                ["ZeRO-1", f"({w}+{g})Ψ + KΨ/N"],
                ["ZeRO-2", f"{w}Ψ + ({g}+K)Ψ/N"],
                ["ZeRO-3", f"({w}+{g}+K)Ψ/N"],
            ], note="offload moves the K (and, from ZeRO-2, the gradient) shard to host memory"),
        ],
        model=f"{n.params:,} parameters (arithmetic)",
    )


# --- 5. The probe -------------------------------------------------------------------------------
# Before issue 21 each stage was unrolled into its own fields (stage2_gb); now they are a record per stage.
RENAMED = {f"stage{s}_{name}": f"stages.{s}.{name}" for s in STAGES for name in (
    "bytes", "gb", "host_gb", "reduction", "comm_elements", "comm_bytes", "ring_bytes_sent")} | {"figure_1": "paper_settings"}

PROBE = Probe(
    name="zero-memory",
    question="zero-fsdp",
    title="ZeRO's model-state accounting: per-GPU GB for plain DP and stages 1-3, and the traffic each costs",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("How many GB of model states does each GPU hold for a 7.5B model with plain data "
                   "parallelism and mixed-precision Adam?", "stages.0.gb", "GB"),
        Prediction("And with ZeRO-3 over 64 GPUs?", "stages.3.gb", "GB"),
        Prediction("How many times the plain-DP communication does ZeRO-3 send per step?", "stage3_comm_ratio",
                   "x"),
    ),
    renamed_metrics=RENAMED,
)
