"""What does data-parallel training (DDP) send between workers each step, and is the result the same as one big batch?

Real DistributedDataParallel on N ranks (separate processes, gloo over 127.0.0.1; see
n00bqa/probes/lib/launcher.py), each training one small GPT block on its slice of the batch. A
communication hook stands in for DDP's own all-reduce (it does the same thing: divide by N, sum
across ranks) and records every bucket it is handed: its bytes, its tensors, and how many gradients
autograd was still computing when it went out (the overlap). Then the same block is trained on one
process with the full batch, and the weights are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.block import (
    BlockOptions,
    block_job,
    block_param_count,
    build_block,
    check_block,
    make_batch,
    max_abs_diff,
    max_weight_change,
    rank_slice,
    train_reference,
)
from n00bqa.probes.lib.bytes import ring_bytes
from n00bqa.probes.lib.launcher import RankContext, run_ranks, with_launch

# Averaging gradients across ranks adds them in another order than one process does; in float32
# that moves weights by ~1e-7 after a few Adam steps. 1e-5 is far below any real difference.
TOLERANCE = 1e-5


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options(BlockOptions):  # the launch, the block and its training (lib/block.py), and DDP's buckets
    bucket_cap_mb: float = field(default=0.05, metadata={"help": "DDP's bucket_cap_mb (MiB of gradients per "
                                                                 "all-reduce); DDP's own default is 25."})


def check(opts: Options) -> None:
    check_block(opts, sharded=False)  # every rank holds the whole model state
    check_ranges(opts, {"bucket_cap_mb": (0.001, 1024)})


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Bucket:
    """One all-reduce of the last step, as the hook saw it."""

    tensors: int
    bytes: int  # the flattened buffer: numel x 4
    pending_grads: int  # gradient tensors autograd had not finished when it went out
    first_tensor: str  # the name of its first parameter


@dataclass
class Numbers:
    nproc: int
    param_count: int  # counted in the parent's model
    param_tensors: int
    param_bytes: int  # sum of numel x 4 over the parameters
    allreduce_bytes_per_step: int  # sum of the bucket buffers the hook all-reduced in the last step
    allreduce_bytes_every_step_equal: bool  # every step sent the same bytes
    allreduce_bytes_step_spread: int  # the most bytes one step sent minus the fewest
    bucket_count: int  # all-reduces per step (one per bucket)
    bucket_cap_bytes: int  # bucket_cap_mb x 2^20
    buckets: list[Bucket]  # last step, in the order they were sent
    first_step_bucket_count: int  # before DDP rebuilt its buckets in gradient-ready order
    ring_bytes_sent_per_rank: float  # 2(N-1)/N x allreduce_bytes_per_step
    max_abs_diff_vs_single_process: float  # weights after the steps, rank 0 vs one process with the full batch
    max_abs_diff_between_ranks: float
    max_loss_diff_vs_single_process: float  # mean of the ranks' losses vs the full-batch loss, any step
    max_weight_change: float  # how far the single-process weights moved from their initial values
    tolerance: float
    port: int
    busy_ports: list[int]


# --- 3. measure ---------------------------------------------------------------------------------
def ddp_rank(rank: RankContext, job: dict) -> dict:
    """One rank: wrap the block in DDP, hook its all-reduce, train on this rank's slice of the batch."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model = build_block(job["d_model"], job["n_head"], job["seed"]).to(rank.device)
    names = {id(p): name for name, p in model.named_parameters()}
    n_tensors = len(names)
    ready = {"grads": 0}  # gradient tensors autograd has finished this step

    def count_ready(_param):
        ready["grads"] += 1

    for param in model.parameters():
        param.register_post_accumulate_grad_hook(count_ready)
    ddp = DistributedDataParallel(model, device_ids=[rank.device.index] if rank.device_type == "cuda" else None,
                                  bucket_cap_mb=job["bucket_cap_mb"])
    steps: list[list[dict]] = []  # per step, per bucket, in the order DDP handed them over

    def allreduce_hook(state, bucket):
        buffer = bucket.buffer()  # (n,) the bucket's gradients, flattened into one tensor
        tensors = bucket.parameters()
        steps[-1].append({"bytes": buffer.numel() * buffer.element_size(), "tensors": len(tensors),
                          "pending_grads": n_tensors - ready["grads"], "first_tensor": names[id(tensors[0])]})
        buffer.div_(rank.world_size)  # mean of the ranks' gradients, as DDP's default hook does
        return dist.all_reduce(buffer, async_op=True).get_future().then(lambda fut: fut.value()[0])

    ddp.register_comm_hook(None, allreduce_hook)
    x, y = make_batch(job["batch"], job["seq_len"], job["d_model"], job["seed"], rank.device)  # (B, T, C)
    x, y = rank_slice(x, rank.rank, rank.world_size), rank_slice(y, rank.rank, rank.world_size)  # (B/N, T, C)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=job["lr"])
    losses = []
    for _ in range(job["steps"]):
        optimizer.zero_grad(set_to_none=True)
        steps.append([])
        ready["grads"] = 0
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()  # the hook fires from inside backward, bucket by bucket
        optimizer.step()
        losses.append(loss.item())
    weights = {name: p.detach().cpu().numpy() for name, p in model.named_parameters()}
    return {"steps": steps, "losses": losses, "weights": weights}


def measure(opts: Options, ctx: Context) -> Numbers:
    import numpy as np

    job = block_job(opts, ctx.seed, bucket_cap_mb=opts.bucket_cap_mb)
    launch = run_ranks(ddp_rank, opts, job, ctx.task(f"DDP on {opts.nproc} ranks", opts.nproc))
    reference, _, reference_losses = train_reference(opts, ctx)
    ranks = launch.results
    last = ranks[0]["steps"][-1]
    per_step = [sum(b["bytes"] for b in step) for step in ranks[0]["steps"]]
    params = dict(reference.named_parameters())
    diff_between = max(float(np.abs(r["weights"][name] - ranks[0]["weights"][name]).max())
                       for r in ranks[1:] for name in params)
    mean_losses = np.mean([r["losses"] for r in ranks], axis=0)  # (steps,)
    allreduce = per_step[-1]
    return Numbers(
        nproc=opts.nproc,
        param_count=sum(p.numel() for p in params.values()),
        param_tensors=len(params),
        param_bytes=sum(p.numel() * p.element_size() for p in params.values()),
        allreduce_bytes_per_step=allreduce,
        allreduce_bytes_every_step_equal=len(set(per_step)) == 1,
        allreduce_bytes_step_spread=max(per_step) - min(per_step),
        bucket_count=len(last),
        bucket_cap_bytes=int(opts.bucket_cap_mb * 2**20),
        buckets=[Bucket(**b) for b in last],
        first_step_bucket_count=len(ranks[0]["steps"][0]),
        ring_bytes_sent_per_rank=ring_bytes("all-reduce", allreduce, opts.nproc),
        max_abs_diff_vs_single_process=max_abs_diff(ranks[0]["weights"], reference),
        max_abs_diff_between_ranks=diff_between,
        max_loss_diff_vs_single_process=float(np.abs(mean_losses - np.array(reference_losses)).max()),
        max_weight_change=max_weight_change(reference, opts, ctx.seed),
        tolerance=TOLERANCE,
        port=launch.port,
        busy_ports=launch.busy_ports,
    )


# --- 4. report ----------------------------------------------------------------------------------
def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def report(n: Numbers, opts: Options) -> Report:
    off_by = n.allreduce_bytes_per_step - n.param_bytes
    bytes_verdict = verdict(abs(off_by), 0, f"NOT the parameters' {n.param_bytes:,} bytes (off by {off_by:+,})",
                            "exactly the bytes of the parameters: one fp32 gradient per weight", "exact")
    steady = (verdict(n.allreduce_bytes_step_spread, 0, "NOT the same in every step", "the same in every step",
                      "exact") + f" (the steps' spread: {n.allreduce_bytes_step_spread:,} bytes)")
    equal = verdict(n.max_abs_diff_vs_single_process, n.tolerance, "NOT equal within", "equal within", "tolerance")
    sizes = ", ".join(f"{b.bytes:,}" for b in n.buckets)
    overlapped = sum(1 for b in n.buckets if b.pending_grads > 0)
    early = verdict(overlapped, 0, "overlap", "no overlap", "buckets sent early")
    overlap = (f"{overlapped} of the {n.bucket_count} buckets went out while autograd was still computing "
               f"other gradients (bucket 0 with {n.buckets[0].pending_grads} of the {n.param_tensors} gradient "
               f"tensors still to come): that is the overlap of communication with backward."
               if early == "overlap" else
               f"No bucket went out before the last gradient was computed ({_plural(n.bucket_count, 'bucket')} "
               f"in all): no overlap at this bucket size; a smaller --bucket-cap-mb starts sending sooner.")
    findings = [
        f"Each step the hook all-reduced {_plural(n.bucket_count, 'bucket')} totalling "
        f"{n.allreduce_bytes_per_step:,} bytes, {steady}: {bytes_verdict} ({n.param_count:,} parameters x 4 "
        f"bytes = {n.param_bytes:,}). A step sends gradients only (the weights are broadcast once, when DDP "
        f"wraps the model); the optimizer then runs on every rank alike.",
        f"A ring all-reduce of {n.allreduce_bytes_per_step:,} bytes over {n.nproc} ranks has each rank send "
        f"2(N-1)/N of it, {n.ring_bytes_sent_per_rank:,.0f} bytes, and receive as many: a reduce-scatter of the "
        f"sums, then an all-gather of them. That stays under twice the gradient bytes however many ranks there "
        f"are (gloo picks its own algorithm; the ring is the bandwidth-optimal one).",
        f"With --bucket-cap-mb {opts.bucket_cap_mb:g} ({n.bucket_cap_bytes:,} bytes) DDP packed the "
        f"{n.param_tensors} gradient tensors into {_plural(n.bucket_count, 'bucket')} of {sizes} bytes, sent "
        f"last layer first, the order backward produces them (the first step, before DDP had seen that order, used "
        f"{_plural(n.first_step_bucket_count, 'bucket')}; DDP rebuilds them after it).",
        overlap,
        f"After {opts.steps} Adam steps the weights on rank 0 and those of one process trained on the full "
        f"batch of {opts.batch} are {equal} {n.tolerance:g} (largest difference "
        f"{n.max_abs_diff_vs_single_process:.2g}, while training moved them by up to "
        f"{n.max_weight_change:.2g}); the ranks differ from each other by at most "
        f"{n.max_abs_diff_between_ranks:.2g} and the mean of their losses from the full-batch loss by "
        f"{n.max_loss_diff_vs_single_process:.2g}. The mean of equal slices' mean gradients is the full "
        f"batch's mean gradient.",
    ]
    buckets = Table.of("Buckets in the last step, in the order sent", n.buckets,
                       {"bucket": "key", "tensors": "tensors", "bytes": "bytes", "grads pending": "pending_grads",
                        "first tensor": "first_tensor"},
                       note="grads pending: gradient tensors autograd had not finished when the bucket went out")
    traffic = Table("What crosses per step", ["quantity", "bytes"], [
        ["parameters (fp32)", n.param_bytes],
        ["all-reduced (hook)", n.allreduce_bytes_per_step],
        ["ring: sent per rank", round(n.ring_bytes_sent_per_rank)],
    ])
    return with_launch(Report(
        summary=f"DDP on {n.nproc} ranks all-reduces {n.allreduce_bytes_per_step:,} bytes of gradients per step "
                f"in {_plural(n.bucket_count, 'bucket')} and ends {equal} {n.tolerance:g} of one full-batch process.",
        findings=findings,
        tables=[traffic, buckets],
        model=f"GPT block d_model={opts.d_model}, {n.param_count:,} parameters",
    ), opts, n.port, n.busy_ports)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="ddp",
    question="data-parallel",
    title="DDP on real ranks: bytes all-reduced per step, buckets and overlap, ring traffic, equality with one big batch",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction(f"How many bytes does DDP all-reduce per step for the default "
                   f"{block_param_count(Options.d_model):,}-parameter block?",
                   "allreduce_bytes_per_step", "bytes"),
        Prediction("With 2 ranks, how many bytes does each rank send in a ring all-reduce of those gradients?",
                   "ring_bytes_sent_per_rank", "bytes"),
    ),
)
