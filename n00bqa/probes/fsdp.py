"""How much memory does each GPU need with ZeRO / FSDP, and what does the sharding cost in communication?

PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`) on N real ranks over a CPU device mesh,
training the same GPT block as the ddp probe (n00bqa/probes/lib/launcher.py). Every parameter
becomes a DTensor sharded along dim 0; the probe reads each rank's local shards, gradients and Adam
state to measure what that rank really holds, counts the all-gathers and reduce-scatters of a
training step with CommDebugMode (and the bytes of each), and compares the trained weights with
the same block trained on one process with the full batch. This is ZeRO stage 3: parameters,
gradients and optimizer state all sharded.
"""

from __future__ import annotations

from dataclasses import dataclass

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, verdict
from n00bqa.probes.lib.block import (
    BlockOptions,
    block_job,
    build_block,
    check_block,
    make_batch,
    max_abs_diff,
    max_weight_change,
    rank_slice,
    train_reference,
)
from n00bqa.probes.lib.bytes import comm_bytes_mode, model_state_bytes, ring_bytes
from n00bqa.probes.lib.launcher import RankContext, run_ranks, with_launch

TOLERANCE = 1e-5  # as in the ddp probe: rounding of a different summation order, after a few Adam steps
# The sharded fraction of model state is 1/N plus what every rank keeps whole (Adam's 0-d step
# counters) and the padding of uneven shards: a few percent at most for this block.
FRACTION_TOLERANCE = 0.05
ZERO3_RATIO = 1.5  # ZeRO paper: stage 3 moves 1.5x the bytes of plain data parallelism
RATIO_TOLERANCE = 0.05


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options(BlockOptions):  # the launch, the block and its training: the ddp probe's options (lib/block.py)
    pass


def check(opts: Options) -> None:
    check_block(opts, sharded=True)  # each rank holds 1/N of the model state


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class RankState:
    """Model state one rank holds, in bytes, measured from its local tensors (lib/bytes.py)."""

    params: int
    grads: int
    optimizer: int  # Adam's two moments and its step counters
    total: int
    scalar_optimizer: int  # the part kept whole on every rank: Adam's 0-d step counters


@dataclass
class Numbers:
    nproc: int
    full_param_numel: int  # the unsharded model
    param_numel_by_rank: dict[str, int]  # parameters in each rank's local shards ("rank0", ...)
    shard_numel: dict[str, list[int]]  # per parameter: its local numel on each rank (report only)
    full_state_bytes: int  # params + grads + Adam state of the single-process run
    per_rank_state_bytes: int  # the largest rank's params + grads + Adam state, from its local tensors
    state_by_rank: dict[str, RankState]  # "rank0", ...
    unsharded_state_bytes: int  # what every rank keeps whole: Adam's 0-d step counters
    state_fraction: float  # per_rank_state_bytes / full_state_bytes
    one_over_n: float  # what a perfect split would give
    fraction_tolerance: float
    state_fraction_gap: float  # |state_fraction - 1/N|, against fraction_tolerance
    fsdp_units: int  # modules fully_shard was applied to
    allgather_count: int  # one training step (the last), all ranks alike
    forward_allgathers: int
    backward_allgathers: int
    reduce_scatter_count: int
    comm_bytes_sent_per_rank: float  # ring formula over every collective of the step
    ddp_bytes_sent_per_rank: float  # one all-reduce of the same gradients, ring formula
    comm_vs_ddp: float
    zero3_ratio: float
    ratio_tolerance: float
    comm_vs_zero3_gap: float  # |comm_vs_ddp - zero3_ratio|, against ratio_tolerance
    largest_unit_param_bytes: int  # the unsharded weights one rank holds while a unit runs
    max_abs_diff_vs_single_process: float
    max_weight_change: float  # how far the single-process weights moved from their initial values
    tolerance: float
    port: int
    busy_ports: list[int]


# --- 3. measure ---------------------------------------------------------------------------------
def fsdp_rank(rank: RankContext, job: dict) -> dict:
    """One rank: shard the block with fully_shard (attn, mlp, then the root), train, measure."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    mesh = init_device_mesh(rank.device_type, (rank.world_size,))  # 1-D: every rank a data-parallel shard
    model = build_block(job["d_model"], job["n_head"], job["seed"]).to(rank.device)
    unit_bytes = {name: sum(p.numel() * p.element_size() for p in getattr(model, name).parameters())
                  for name in ("attn", "mlp")}
    for unit in (model.attn, model.mlp):
        fully_shard(unit, mesh=mesh)  # each its own all-gather group
    fully_shard(model, mesh=mesh)  # the root: the LayerNorms
    shard_numel = {name: p.to_local().numel() for name, p in model.named_parameters()}  # DTensor -> local
    x, y = make_batch(job["batch"], job["seq_len"], job["d_model"], job["seed"], rank.device)  # (B, T, C)
    x, y = rank_slice(x, rank.rank, rank.world_size), rank_slice(y, rank.rank, rank.world_size)  # (B/N, T, C)
    optimizer = torch.optim.Adam(model.parameters(), lr=job["lr"])  # over the DTensor shards
    for _ in range(job["steps"]):
        optimizer.zero_grad(set_to_none=True)
        forward, backward = comm_bytes_mode(), comm_bytes_mode()
        with forward:
            loss = torch.nn.functional.mse_loss(model(x), y)
        with backward:
            loss.backward()
        optimizer.step()
    state = model_state_bytes(model, optimizer)  # local shards of params, grads and Adam's moments
    weights = {name: p.full_tensor().detach().cpu().numpy() for name, p in model.named_parameters()}
    return {"shard_numel": shard_numel, "state": state, "forward": forward.calls, "backward": backward.calls,
            "units": sum(isinstance(m, FSDPModule) for m in model.modules()), "unit_bytes": unit_bytes,
            "weights": weights}


def measure(opts: Options, ctx: Context) -> Numbers:
    advance = ctx.task(f"FSDP2 on {opts.nproc} ranks", opts.nproc)
    launch = run_ranks(fsdp_rank, opts, block_job(opts, ctx.seed), advance)
    reference, optimizer, _ = train_reference(opts, ctx)
    ranks = launch.results
    params = dict(reference.named_parameters())
    full = model_state_bytes(reference, optimizer)
    by_rank = {f"rank{r}": sum(res["shard_numel"].values()) for r, res in enumerate(ranks)}
    states = {f"rank{r}": RankState(**res["state"]) for r, res in enumerate(ranks)}
    per_rank = max(s.total for s in states.values())
    calls = ranks[0]["forward"] + ranks[0]["backward"]
    comm = sum(ring_bytes(kind, big, opts.nproc) for kind, _, big in calls)
    grad_bytes = sum(p.numel() * p.element_size() for p in params.values())
    ddp = ring_bytes("all-reduce", grad_bytes, opts.nproc)
    return Numbers(
        nproc=opts.nproc,
        full_param_numel=sum(p.numel() for p in params.values()),
        param_numel_by_rank=by_rank,
        shard_numel={name: [res["shard_numel"][name] for res in ranks] for name in params},
        full_state_bytes=full["total"],
        per_rank_state_bytes=per_rank,
        state_by_rank=states,
        unsharded_state_bytes=states["rank0"].scalar_optimizer,
        state_fraction=per_rank / full["total"],
        one_over_n=1 / opts.nproc,
        fraction_tolerance=FRACTION_TOLERANCE,
        state_fraction_gap=abs(per_rank / full["total"] - 1 / opts.nproc),
        fsdp_units=ranks[0]["units"],
        allgather_count=sum(kind == "all-gather" for kind, _, _ in calls),
        forward_allgathers=sum(kind == "all-gather" for kind, _, _ in ranks[0]["forward"]),
        backward_allgathers=sum(kind == "all-gather" for kind, _, _ in ranks[0]["backward"]),
        reduce_scatter_count=sum(kind == "reduce-scatter" for kind, _, _ in calls),
        comm_bytes_sent_per_rank=comm,
        ddp_bytes_sent_per_rank=ddp,
        comm_vs_ddp=comm / ddp,
        zero3_ratio=ZERO3_RATIO,
        ratio_tolerance=RATIO_TOLERANCE,
        comm_vs_zero3_gap=abs(comm / ddp - ZERO3_RATIO),
        largest_unit_param_bytes=max(ranks[0]["unit_bytes"].values()),
        max_abs_diff_vs_single_process=max_abs_diff(ranks[0]["weights"], reference),
        max_weight_change=max_weight_change(reference, opts, ctx.seed),
        tolerance=TOLERANCE,
        port=launch.port,
        busy_ports=launch.busy_ports,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    equal = verdict(n.max_abs_diff_vs_single_process, n.tolerance, "NOT equal within", "equal within", "tolerance")
    # "each rank holds 1/N of the model state": |fraction - 1/N| against the tolerance
    share = (f"which {verdict(n.state_fraction_gap, n.fraction_tolerance, 'does NOT follow', 'follows', 'fraction')} "
             f"1/N = {n.one_over_n:.3f} within {n.fraction_tolerance:g} (off by {n.state_fraction_gap:.2g})")
    rank0 = n.state_by_rank["rank0"]
    ratio_words = verdict(n.comm_vs_zero3_gap, n.ratio_tolerance, "NOT close to", "close to", "ratio")
    uneven = [name for name, sizes in n.shard_numel.items() if len(set(sizes)) > 1]
    pieces = verdict(len(uneven), 0, f"{len(uneven)} parameters have a dim 0 that {n.nproc} does not divide",
                     f"Every dim 0 divides by {n.nproc}", "uneven parameters")
    shards = ", ".join(f"rank {r} holds {v:,}" for r, v in enumerate(n.param_numel_by_rank.values()))
    findings = [
        f"fully_shard split every parameter along dim 0 into {n.nproc} pieces: of the {n.full_param_numel:,} "
        f"parameters {shards}. "
        + pieces + (", so the last ranks get shorter pieces (torch.chunk sizes)." if uneven else
                    ", so the pieces are equal."),
        f"Measured from its local tensors, rank 0 holds {rank0.total:,} bytes of model state: "
        f"{rank0.params:,} of weights, {rank0.grads:,} of gradients and {rank0.optimizer:,} of Adam "
        f"state. The most any rank holds is {n.per_rank_state_bytes:,} bytes against {n.full_state_bytes:,} on "
        f"one process: a fraction of {n.state_fraction:.3f}, {share}; the {n.unsharded_state_bytes:,} bytes "
        f"of Adam's step counters are kept whole on every rank.",
        f"One training step issued {n.allgather_count} all-gathers and {n.reduce_scatter_count} reduce-scatters "
        f"over {n.fsdp_units} FSDP units: {n.forward_allgathers} all-gathers before forward (one per unit), "
        f"{n.backward_allgathers} again in backward (the units freed their full weights after forward; the "
        f"root keeps its own), and one reduce-scatter per unit that leaves each rank only its slice of the "
        f"summed gradients.",
        f"By the ring formula each rank sends {n.comm_bytes_sent_per_rank:,.0f} bytes per step, against "
        f"{n.ddp_bytes_sent_per_rank:,.0f} for DDP's one all-reduce of the same gradients: {n.comm_vs_ddp:.3f} "
        f"times as much, {ratio_words} the ZeRO paper's {n.zero3_ratio:g} for stage 3 (off by "
        f"{n.comm_vs_zero3_gap:.3f}; close: within {n.ratio_tolerance:g}): an all-reduce is a reduce-scatter plus an all-gather, and FSDP adds a "
        f"second all-gather of the weights for backward.",
        f"The price in memory is a moment of the full weights: while a unit runs, its unsharded parameters "
        f"({n.largest_unit_param_bytes:,} bytes for the larger unit) sit on every rank, then are freed.",
        f"After {opts.steps} Adam steps the gathered weights and those of one process trained on the full "
        f"batch of {opts.batch} are {equal} {n.tolerance:g} (largest difference "
        f"{n.max_abs_diff_vs_single_process:.2g}, while training moved them by up to {n.max_weight_change:.2g}): "
        f"sharding changes where the state lives, not the maths.",
    ]
    state = Table.of("Model state per rank (bytes, measured)", n.state_by_rank,
                     {"rank": lambda key, _: key.removeprefix("rank"), "weights": "params", "grads": "grads",
                      "Adam": "optimizer", "total": "total"})
    state.rows.append(["1 process", "", "", "", n.full_state_bytes])
    shards = Table.of("Local numel of each parameter", n.shard_numel,
                      {"parameter": "key", **{f"rank {r}": (lambda _, sizes, r=r: sizes[r]) for r in range(n.nproc)}})
    return with_launch(Report(
        summary=f"FSDP2 on {n.nproc} ranks: each rank holds {n.per_rank_state_bytes:,} of the "
                f"{n.full_state_bytes:,} bytes of model state and a step costs {n.allgather_count} all-gathers "
                f"and {n.reduce_scatter_count} reduce-scatters.",
        findings=findings,
        tables=[state, shards],
        model=f"GPT block d_model={opts.d_model}, {n.full_param_numel:,} parameters",
    ), opts, n.port, n.busy_ports)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="fsdp",
    question="zero-fsdp",
    title="FSDP2 on real ranks: each rank's shards and model-state bytes, collectives per step, equality",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    renamed_metrics={"rank0_param_numel": "param_numel_by_rank.rank0", "rank1_param_numel": "param_numel_by_rank.rank1",
                     "rank0_weight_bytes": "state_by_rank.rank0.params", "rank0_grad_bytes": "state_by_rank.rank0.grads",
                     "rank0_adam_bytes": "state_by_rank.rank0.optimizer"},
    predictions=(
        Prediction("With 2 ranks, how many parameters of the default block sit in rank 0's shards?",
                   "param_numel_by_rank.rank0", "parameters"),
        Prediction("How many all-gathers does one FSDP2 training step issue for 3 units?", "allgather_count",
                   "all-gathers"),
    ),
)
