"""How does GSPMD (or tensor parallelism) split one matrix multiply across devices, and what must they exchange?

DTensor on a CPU device mesh of N real ranks (n00bqa/probes/lib/launcher.py) is PyTorch's face of
GSPMD's annotations: a tensor is Shard(dim), Replicate() or Partial() (a pending sum) over the
mesh, and changing that annotation is a collective. The probe counts, with CommDebugMode, the
collectives each redistribution issues and the bytes each rank holds before and after; then it
splits the GPT block's MLP Megatron-style (c_fc column-parallel, c_proj row-parallel, with
`parallelize_module`) and compares its output and input gradient with the same MLP on one process.
Beside DTensor's choice of collective stands the backend's own: all-to-all called directly on the
same ranks, to tell what the backend can do from what DTensor chooses to issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.block import build_block, make_batch
from n00bqa.probes.lib.bytes import comm_bytes_mode, ring_bytes
from n00bqa.probes.lib.launcher import (
    LaunchOptions,
    RankContext,
    check_launch,
    check_state_fits,
    largest_fitting_width,
    run_ranks,
    with_launch,
)

TOLERANCE = 1e-5  # float32: the row-parallel sum adds N partial products in another order than one matmul


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options(LaunchOptions):
    rows: int = field(default=256, metadata={"help": "Rows of the matrix that is redistributed."})
    cols: int = field(default=64, metadata={"help": "Columns of that matrix."})
    d_model: int = field(default=64, metadata={"help": "Width of the MLP (its hidden layer is 4 x d_model)."})
    batch: int = field(default=4, metadata={"help": "Sequences pushed through the MLP."})
    seq_len: int = field(default=16, metadata={"help": "Tokens per sequence."})


def check(opts: Options) -> None:
    check_launch(opts)
    # every rank needs a row (and a column) of the matrix: the low end is --nproc
    check_ranges(opts, {"rows": (opts.nproc, 4096, "(the low end is --nproc)"),
                        "cols": (opts.nproc, 4096, "(the low end is --nproc)")})
    if (4 * opts.d_model) % opts.nproc:
        raise ProbeError(f"--d-model {opts.d_model}: the MLP's {4 * opts.d_model} hidden units do not split evenly "
                         f"across --nproc {opts.nproc} (tensor parallelism needs equal shards); use a --d-model "
                         f"divisible by {opts.nproc}")
    check_ranges(opts, {"batch": (1, 256), "seq_len": (1, 512)})
    check_state_fits(8 * opts.d_model * opts.d_model + 5 * opts.d_model, opts.nproc, True, "--d-model",
                     opts.d_model)
    check_ranges(opts, {"d_model": (8, largest_fitting_width(lambda d: 8 * d * d + 5 * d, opts.nproc, True, top=2048),
                                    "(at most 2048, and the model state must fit a rank here)")})


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Held:
    """Bytes of the matrix one rank holds before and after the all-gather, measured on that rank."""

    shard: int  # its Shard(0) piece
    gathered: int  # the Replicate tensor it ends with
    received: int  # gathered - shard


@dataclass
class Move:
    """One placement change of the matrix, as rank 0 saw it (CommDebugMode)."""

    kind: str  # the collective it calls for: all-gather, all-reduce, none, all-to-all
    of_kind: int  # collectives of that kind it issued
    collectives: int  # of any kind
    issued: str  # what DTensor used ("all-gather" for Shard(0) -> Shard(1) on a CPU mesh: its own fallback)
    ring_bytes_per_rank: float  # ring formula over the measured collective(s)


# The placement changes, in the order measured, with the collective each calls for.
MOVES = {"shard_to_replicate": ("Shard(0) -> Replicate", "all-gather"),
         "partial_to_replicate": ("Partial -> Replicate", "all-reduce"),
         "replicate_to_shard": ("Replicate -> Shard(0)", "none"),
         "shard0_to_shard1": ("Shard(0) -> Shard(1)", "all-to-all")}


@dataclass
class Numbers:
    nproc: int
    matrix_bytes: int  # rows x cols x 4, the whole tensor
    held_by_rank: list[Held]
    moves: dict[str, Move]  # keyed as MOVES
    shard_to_replicate_equal: bool  # the gathered tensor is the original, exactly
    shard_to_replicate_max_abs_diff: float  # largest |gathered - original| over every rank (0: exact)
    allgather_ring_bytes_per_rank: float  # (N-1)/N x matrix_bytes
    partial_sum: float  # each rank held rank+1 everywhere; the sum it reads after
    partial_sum_expected: float  # N(N+1)/2
    allreduce_ring_bytes_per_rank: float  # 2(N-1)/N x matrix_bytes
    hidden_units: int  # 4 x d_model
    fc_local_shape: list[int]  # c_fc.weight on rank 0: (4d/N, d), column-parallel
    proj_local_shape: list[int]  # c_proj.weight on rank 0: (d, 4d/N), row-parallel
    hidden_local_shape: list[int]  # the activation between them on rank 0: (B, T, 4d/N)
    tp_mlp_allreduces: int  # forward
    tp_mlp_forward_collectives: int
    tp_mlp_backward_allreduces: int
    tp_mlp_backward_collectives: int
    tp_mlp_max_abs_diff: float  # output vs the same MLP on one process
    tp_input_grad_max_abs_diff: float
    tp_allreduce_bytes: int  # the forward all-reduce's tensor, as measured (B x T x d x 4)
    tp_allreduce_ring_bytes_per_rank: float
    tp_backward_ring_bytes_per_rank: float
    mlp_weight_bytes: int
    tolerance: float
    port: int
    busy_ports: list[int]
    mesh_device: str = "cpu"  # the device mesh's device type, which DTensor's choice depends on
    # the backend's own all-to-all, called directly on every rank: name -> ran and delivered every block
    raw_all_to_all: dict[str, bool] = field(default_factory=dict)
    raw_all_to_all_errors: dict[str, str] = field(default_factory=dict)  # report only: name -> its error


# --- 3. measure ---------------------------------------------------------------------------------
def _counts(calls: list[tuple[str, int, int]], kind: str) -> int:
    return sum(k == kind for k, _, _ in calls)


def _move(calls: list[tuple[str, int, int]], kind: str, n: int) -> Move:
    return Move(kind=kind, of_kind=_counts(calls, kind), collectives=len(calls),
                issued=", ".join(k for k, _, _ in calls) or "none",
                ring_bytes_per_rank=sum(ring_bytes(k, big, n) for k, _, big in calls))


def sharding_rank(rank: RankContext, job: dict) -> dict:
    """One rank: redistribute DTensors between placements, then run a tensor-parallel MLP."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    n, me = rank.world_size, rank.rank
    mesh = init_device_mesh(rank.device_type, (n,))
    out: dict = {}
    full = torch.arange(job["rows"] * job["cols"], dtype=torch.float32, device=rank.device)
    full = full.reshape(job["rows"], job["cols"])  # (rows, cols), the same values on every rank

    # Shard(0) -> Replicate: every rank needs every other rank's rows.
    piece = full.chunk(n, dim=0)[me]  # (~rows/N, cols): built locally, no communication
    sharded = DTensor.from_local(piece, mesh, [Shard(0)], shape=full.shape, stride=full.stride())
    mode = comm_bytes_mode()
    with mode:
        gathered = sharded.redistribute(mesh, [Replicate()]).to_local()  # (rows, cols)
    out["shard_to_replicate"] = {"calls": mode.calls, "before": piece.numel() * 4, "after": gathered.numel() * 4,
                     "equal": bool(torch.equal(gathered, full)),
                     "max_abs_diff": float((gathered - full).abs().max())}

    # Partial -> Replicate: each rank holds a term of a sum (rank + 1 everywhere).
    term = torch.full((job["rows"], job["cols"]), float(me + 1), device=rank.device)  # (rows, cols)
    pending = DTensor.from_local(term, mesh, [Partial()])
    mode = comm_bytes_mode()
    with mode:
        summed = pending.redistribute(mesh, [Replicate()]).to_local()  # (rows, cols)
    out["partial_to_replicate"] = {"calls": mode.calls, "value": float(summed[0, 0])}

    # Replicate -> Shard(0): every rank already has its rows; it only slices.
    replicated = DTensor.from_local(full, mesh, [Replicate()])
    mode = comm_bytes_mode()
    with mode:
        replicated.redistribute(mesh, [Shard(0)]).to_local()
    out["replicate_to_shard"] = {"calls": mode.calls}

    # Shard(0) -> Shard(1): rows to columns, every rank trades a block with every other.
    mode = comm_bytes_mode()
    with mode:
        sharded.redistribute(mesh, [Shard(1)]).to_local()
    out["shard0_to_shard1"] = {"calls": mode.calls}

    # The backend's own all-to-all, called directly: rank r sends block j (value r*N + j) to rank j,
    # so rank r must receive block j = j*N + r from each rank j.
    import torch.distributed as dist

    send = torch.arange(n, dtype=torch.float32, device=rank.device) + me * n  # (N,): block j goes to rank j
    expect = torch.arange(n, dtype=torch.float32, device=rank.device) * n + me  # (N,)
    raw = {}
    for name in ("all_to_all_single", "all_to_all"):
        recv = torch.full_like(send, -1.0)  # (N,)
        try:
            if name == "all_to_all_single":
                dist.all_to_all_single(recv, send)
            else:
                dist.all_to_all(list(recv.chunk(n)), list(send.chunk(n)))  # N views of recv, one per sender
            raw[name] = "" if torch.equal(recv, expect) else f"wrong blocks {recv.tolist()}"
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            raw[name] = str(exc).splitlines()[0] or type(exc).__name__
    out["raw_all_to_all"] = raw
    out["mesh_device"] = mesh.device_type

    # The MLP, Megatron-style: c_fc split by output columns, c_proj by input rows.
    mlp = build_block(job["d_model"], 1, job["seed"]).mlp.to(rank.device)  # the GPT block's MLP
    parallelize_module(mlp, mesh, {"c_fc": ColwiseParallel(), "c_proj": RowwiseParallel()})
    hidden = {}
    mlp.c_fc.register_forward_hook(lambda module, args, output: hidden.update(shape=list(output.shape)))
    x = make_batch(job["batch"], job["seq_len"], job["d_model"], job["seed"], rank.device)[0]  # (B, T, C)
    x.requires_grad_(True)
    forward, backward = comm_bytes_mode(), comm_bytes_mode()
    with forward:
        y = mlp(x)  # (B, T, C), replicated: the row-parallel partial sums are all-reduced
    with backward:
        y.sum().backward()
    out["mlp"] = {"forward": forward.calls, "backward": backward.calls, "hidden": hidden["shape"],
                  "fc": list(mlp.c_fc.weight.to_local().shape), "proj": list(mlp.c_proj.weight.to_local().shape),
                  "y": y.detach().cpu().numpy(), "x_grad": x.grad.cpu().numpy()}
    return out


def measure(opts: Options, ctx: Context) -> Numbers:
    import numpy as np
    import torch

    job = {"rows": opts.rows, "cols": opts.cols, "d_model": opts.d_model, "batch": opts.batch,
           "seq_len": opts.seq_len, "seed": ctx.seed}
    launch = run_ranks(sharding_rank, opts, job, ctx.task(f"DTensor on {opts.nproc} ranks", opts.nproc))
    advance = ctx.task("the same MLP on one process", 1)
    mlp = build_block(opts.d_model, 1, ctx.seed).mlp
    x = make_batch(opts.batch, opts.seq_len, opts.d_model, ctx.seed)[0].requires_grad_(True)  # (B, T, C)
    y = mlp(x)  # (B, T, C)
    y.sum().backward()
    advance()
    ranks = launch.results
    r0 = ranks[0]
    n, matrix = opts.nproc, opts.rows * opts.cols * 4
    tp_bytes = max((big for k, _, big in r0["mlp"]["forward"] if k == "all-reduce"), default=0)
    return Numbers(
        nproc=n,
        matrix_bytes=matrix,
        held_by_rank=[Held(shard=r["shard_to_replicate"]["before"], gathered=r["shard_to_replicate"]["after"],
                           received=r["shard_to_replicate"]["after"] - r["shard_to_replicate"]["before"])
                      for r in ranks],
        moves={key: _move(r0[key]["calls"], kind, n) for key, (_, kind) in MOVES.items()},
        shard_to_replicate_equal=all(r["shard_to_replicate"]["equal"] for r in ranks),
        shard_to_replicate_max_abs_diff=max(r["shard_to_replicate"]["max_abs_diff"] for r in ranks),
        allgather_ring_bytes_per_rank=ring_bytes("all-gather", matrix, n),
        partial_sum=r0["partial_to_replicate"]["value"],
        partial_sum_expected=n * (n + 1) / 2,
        allreduce_ring_bytes_per_rank=ring_bytes("all-reduce", matrix, n),
        hidden_units=4 * opts.d_model,
        fc_local_shape=r0["mlp"]["fc"],
        proj_local_shape=r0["mlp"]["proj"],
        hidden_local_shape=r0["mlp"]["hidden"],
        tp_mlp_allreduces=_counts(r0["mlp"]["forward"], "all-reduce"),
        tp_mlp_forward_collectives=len(r0["mlp"]["forward"]),
        tp_mlp_backward_allreduces=_counts(r0["mlp"]["backward"], "all-reduce"),
        tp_mlp_backward_collectives=len(r0["mlp"]["backward"]),
        tp_mlp_max_abs_diff=max(float(np.abs(r["mlp"]["y"] - y.detach().numpy()).max()) for r in ranks),
        tp_input_grad_max_abs_diff=max(float(np.abs(r["mlp"]["x_grad"] - x.grad.numpy()).max()) for r in ranks),
        tp_allreduce_bytes=tp_bytes,
        tp_allreduce_ring_bytes_per_rank=sum(ring_bytes(k, big, n) for k, _, big in r0["mlp"]["forward"]),
        tp_backward_ring_bytes_per_rank=sum(ring_bytes(k, big, n) for k, _, big in r0["mlp"]["backward"]),
        mlp_weight_bytes=sum(p.numel() * p.element_size() for p in mlp.parameters() if isinstance(p, torch.Tensor)),
        tolerance=TOLERANCE,
        port=launch.port,
        busy_ports=launch.busy_ports,
        mesh_device=r0["mesh_device"],
        raw_all_to_all={name: all(not r["raw_all_to_all"][name] for r in ranks) for name in r0["raw_all_to_all"]},
        raw_all_to_all_errors={name: next((r["raw_all_to_all"][name] for r in ranks if r["raw_all_to_all"][name]), "")
                               for name in r0["raw_all_to_all"]},
    )


# --- 4. report ----------------------------------------------------------------------------------
def count_words(count: int, kind: str) -> str:
    """"exactly one all-gather", "2 all-gathers", "no collective": the words say the measured count."""
    if count == 0:
        return f"no {kind}"
    return f"exactly one {kind}" if count == 1 else f"{count} {kind}s"


def _shape(shape: list[int]) -> str:
    return " x ".join(str(s) for s in shape)


def _transpose_sentence(transpose: Move, n: Numbers, backend: str) -> str:
    """What DTensor issued for Shard(0) -> Shard(1), set against what the backend itself ran."""
    ok = [f"dist.{name}" for name, good in n.raw_all_to_all.items() if good]
    bad = [f"dist.{name} failed ({n.raw_all_to_all_errors[name]})" for name, good in n.raw_all_to_all.items()
           if not good]
    raw = (f"Called directly on the same {backend} ranks ({len(bad)} of {len(n.raw_all_to_all)} calls failed), "
           + "; ".join(([" and ".join(ok) + " ran and delivered every rank's blocks"] if ok else []) + bad) + ".")
    if transpose.of_kind:
        return f"an all-to-all, each rank trading (N-1)/N of its shard. {raw}"
    # the backend is not the reason only when none of its own all-to-alls failed
    why = verdict(len(bad), 0, "DTensor does not try it in any case: ",
                  "So the all-gather is DTensor's choice, not a gap in the backend: ", "failed all-to-all calls")
    return (f"DTensor gathered the whole tensor and kept its slice. {raw} {why}"
            f"its code (read, not run here) falls back to all-gather + chunk whenever the mesh's device is "
            f"'{n.mesh_device}' (its comment says the CPU group lacks all-to-all), and calls all-to-all on a "
            f"GPU mesh.")


def report(n: Numbers, opts: Options) -> Report:
    largest = max(n.tp_mlp_max_abs_diff, n.tp_input_grad_max_abs_diff)
    same = verdict(largest, n.tolerance, "NOT equal within", "equal within", "tolerance")
    sum_diff = abs(n.partial_sum - n.partial_sum_expected)
    right_sum = verdict(sum_diff, 0, "NOT the sum", "the sum", "exact")
    exact = verdict(n.shard_to_replicate_max_abs_diff, 0, "NOT the original", "exactly the original", "exact")
    received = ", ".join(f"{h.received:,}" for h in n.held_by_rank)
    other = n.tp_mlp_forward_collectives - n.tp_mlp_allreduces
    gather, reduce, slice_, transpose = (n.moves[key] for key in MOVES)
    # bytes per rank to resolve a Partial, per byte of the all-gather (ring formula over the measured calls)
    dearer = reduce.ring_bytes_per_rank / gather.ring_bytes_per_rank if gather.ring_bytes_per_rank else 0.0
    expensive = verdict(dearer, 1, "the more expensive", "NOT the more expensive", "all-gather's bytes")
    # the weights stay put when the forward pass issued nothing besides the output's all-reduce
    stays = verdict(other, 0, "may need communication", "needs no communication", "other forward collectives")
    weights = verdict(other, 0, "may move", "never move", "other forward collectives")
    findings = [
        f"Shard(0) -> Replicate over {n.nproc} ranks took {count_words(gather.of_kind, 'all-gather')} "
        f"({gather.collectives} collective in all) and gave back {exact} "
        f"{opts.rows} x {opts.cols} tensor (largest difference {n.shard_to_replicate_max_abs_diff:g}). Each rank "
        f"received the rows it lacked: {received} bytes of the "
        f"{n.matrix_bytes:,} (ring: (N-1)/N x bytes = {n.allgather_ring_bytes_per_rank:,.0f} sent per rank).",
        f"Partial -> Replicate took {count_words(reduce.of_kind, 'all-reduce')} "
        f"({reduce.collectives} collective in all): each rank held rank + 1 and reads "
        f"{n.partial_sum:g}, {right_sum} N(N+1)/2 = {n.partial_sum_expected:g} (difference {sum_diff:g}). A ring "
        f"all-reduce of the {n.matrix_bytes:,} bytes costs each rank 2(N-1)/N of them, "
        f"{reduce.ring_bytes_per_rank:,.0f} bytes, {dearer:.3g} x the all-gather's "
        f"{gather.ring_bytes_per_rank:,.0f}: a Partial is {expensive} placement to resolve.",
        f"Replicate -> Shard(0) took {count_words(slice_.collectives, 'collective')} (each rank "
        f"slices what it has). Shard(0) -> Shard(1) took {transpose.collectives} collective "
        f"({transpose.issued}, {transpose.ring_bytes_per_rank:,.0f} bytes sent per rank): "
        + _transpose_sentence(transpose, n, opts.backend)
        + " GSPMD's partitioner inserts collectives of these kinds between annotations.",
        f"In the tensor-parallel MLP rank 0 holds c_fc.weight {_shape(n.fc_local_shape)} (column-parallel: its "
        f"share of the {n.hidden_units} hidden units) and c_proj.weight {_shape(n.proj_local_shape)} "
        f"(row-parallel: the same hidden units as inputs), so the hidden activation stays split, "
        f"{_shape(n.hidden_local_shape)} per rank, and {stays}.",
        f"The forward pass issued {count_words(n.tp_mlp_allreduces, 'all-reduce')} and {other} other "
        f"collectives: c_proj's per-rank products are partial sums of the output, {n.tp_allreduce_bytes:,} bytes "
        f"(B x T x d x 4), costing each rank {n.tp_allreduce_ring_bytes_per_rank:,.0f} bytes by the ring formula. "
        f"The {n.mlp_weight_bytes:,} bytes of weights {weights}.",
        f"Output and input gradient are {same} {n.tolerance:g} of the same MLP on one process (largest "
        f"differences {n.tp_mlp_max_abs_diff:.2g} and {n.tp_input_grad_max_abs_diff:.2g}). Backward issued "
        f"{count_words(n.tp_mlp_backward_allreduces, 'all-reduce')} ({n.tp_mlp_backward_collectives} collective "
        f"in all), for the input's gradient; each weight's gradient is computed where its shard lives.",
    ]
    moves = Table.of("Redistributions (counted on rank 0)", n.moves,
                     {"from -> to": lambda key, _: MOVES[key][0], "collectives": "collectives", "kind": "issued",
                      "bytes / rank": lambda _, move: round(move.ring_bytes_per_rank)},
                     note="bytes / rank: what one rank sends in a ring implementation")
    moves.rows += [
        ["TP MLP forward", n.tp_mlp_forward_collectives, "all-reduce", round(n.tp_allreduce_ring_bytes_per_rank)],
        ["TP MLP backward", n.tp_mlp_backward_collectives, "all-reduce", round(n.tp_backward_ring_bytes_per_rank)],
    ]
    held = Table.of("Bytes each rank holds of the matrix", n.held_by_rank,
                    {"rank": "key", "Shard(0)": "shard", "after all-gather": "gathered", "received": "received"})
    mlp_shapes = Table("Tensor-parallel MLP on rank 0", ["tensor", "local shape", "full shape"], [
        ["c_fc.weight", _shape(n.fc_local_shape), f"{n.hidden_units} x {opts.d_model}"],
        ["c_proj.weight", _shape(n.proj_local_shape), f"{opts.d_model} x {n.hidden_units}"],
        ["hidden activation", _shape(n.hidden_local_shape), f"{opts.batch} x {opts.seq_len} x {n.hidden_units}"],
    ])
    return with_launch(Report(
        summary=f"On {n.nproc} ranks Shard -> Replicate is {count_words(gather.of_kind, 'all-gather')}, "
                f"Partial -> Replicate {count_words(reduce.of_kind, 'all-reduce')}, and a "
                f"column- then row-parallel MLP needs {count_words(n.tp_mlp_allreduces, 'all-reduce')} forward.",
        findings=findings,
        tables=[moves, mlp_shapes, held],
        model=f"{opts.rows} x {opts.cols} matrix; GPT MLP d_model={opts.d_model}",
    ), opts, n.port, n.busy_ports)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="sharding",
    question="tensor-parallel",
    title="DTensor on real ranks: the collective behind each placement change, and a tensor-parallel MLP",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    renamed_metrics={"shard_to_replicate_allgathers": "moves.shard_to_replicate.of_kind",
                     "shard_to_replicate_collectives": "moves.shard_to_replicate.collectives",
                     "partial_to_replicate_allreduces": "moves.partial_to_replicate.of_kind",
                     "partial_to_replicate_collectives": "moves.partial_to_replicate.collectives",
                     "replicate_to_shard_collectives": "moves.replicate_to_shard.collectives",
                     "shard0_to_shard1_alltoalls": "moves.shard0_to_shard1.of_kind",
                     "shard0_to_shard1_collectives": "moves.shard0_to_shard1.collectives",
                     "shard0_to_shard1_bytes_per_rank": "moves.shard0_to_shard1.ring_bytes_per_rank"},
    predictions=(
        Prediction("How many all-reduces does a column-parallel then row-parallel MLP need in its forward pass?",
                   "tp_mlp_allreduces", "all-reduces"),
        Prediction("With 2 ranks, how many bytes does each rank receive when a 256 x 64 fp32 matrix sharded by "
                   "rows is all-gathered?", "allgather_ring_bytes_per_rank", "bytes"),
    ),
)
