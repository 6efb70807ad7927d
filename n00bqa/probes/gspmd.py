"""Which collectives does XLA's GSPMD partitioner insert for a sharded matmul, and are they the ones DTensor issues?

GSPMD is the partitioner inside XLA: `jax.jit` with `NamedSharding` annotations on a `Mesh` of
devices hands it a program written for one device, and it rewrites the program for each device,
inserting a collective wherever an annotation demands data another device holds. The probe runs
JAX in a child process that sees N host CPU devices (lib/jax_devices.py sets XLA_FLAGS in the
child only), compiles one matmul in each classic layout and reads the compiled HLO instruction by
instruction; then it leaves an output sharding unspecified to see what the partitioner
propagated, and runs a two-layer MLP the Megatron way and the FSDP way. Beside each layout it puts
what PyTorch's DTensor issues for the same layout on N real gloo processes (lib/launcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.bytes import comm_bytes_mode, ring_bytes
from n00bqa.probes.lib.jax_devices import collectives_in_hlo, full_bytes, require_jax, run_on_host_devices
from n00bqa.probes.lib.launcher import LaunchOptions, RankContext, check_launch, run_ranks, with_launch

TOLERANCE = 1e-4  # float32: a sharded sum adds the same products in another order than one device
# The layouts of x (rows x inner) @ w (inner x cols): which dimension of each is split over the mesh
# axis "d" (None: not split), as JAX's PartitionSpec and DTensor's placement spell it.
LAYOUTS = {
    "batch": ("x's rows", ("d", None), (None, None)),
    "column": ("w's columns", (None, None), (None, "d")),
    "row": ("the inner dim of both", (None, "d"), ("d", None)),
    "both": ("x's rows and w's columns", ("d", None), (None, "d")),
    "replicated": ("nothing", (None, None), (None, None)),
}


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    devices: int = field(default=2, metadata={"help": "Host CPU devices on the JAX mesh, and gloo ranks for "
                                                      "DTensor: 2, 3 or 4."})
    rows: int = field(default=16, metadata={"help": "Rows of x (the batch) in x @ w."})
    inner: int = field(default=32, metadata={"help": "Columns of x = rows of w (the contracting dimension)."})
    cols: int = field(default=24, metadata={"help": "Columns of w."})
    d_model: int = field(default=32, metadata={"help": "Width of the MLP (its hidden layer is 4 x d_model)."})
    propagation: str = field(default="gspmd", metadata={
        "help": "Which sharding propagation XLA runs before partitioning: gspmd (the paper's) or shardy "
                "(its successor, JAX's default since 0.7)."})
    timeout: float = field(default=120.0, metadata={"help": "Seconds the JAX child, and any one DTensor "
                                                            "collective, may take."})


def check(opts: Options) -> None:
    if opts.devices not in (2, 3, 4):
        raise ProbeError(f"--devices must be 2, 3 or 4, got {opts.devices}")
    check_ranges(opts, {"devices": (2, 4)})
    if opts.propagation not in ("gspmd", "shardy"):
        raise ProbeError(f"--propagation must be gspmd or shardy, got {opts.propagation!r}")
    # every device needs a share of each dimension: the low end is --devices
    low, why = opts.devices, "(the low end is --devices)"
    check_ranges(opts, {"rows": (low, 2048, why), "inner": (low, 2048, why), "cols": (low, 2048, why),
                        "d_model": (low, 1024, why),
                        "timeout": (10, 600, "seconds")})
    for name in ("rows", "inner", "cols", "d_model"):
        if getattr(opts, name) % opts.devices:
            raise ProbeError(f"--{name.replace('_', '-')} {getattr(opts, name)} does not split evenly over "
                             f"--devices {opts.devices}; use a multiple of {opts.devices}")


def _launch(opts: Options) -> LaunchOptions:
    launch = LaunchOptions(nproc=opts.devices, timeout=opts.timeout, deadline=opts.timeout + 180)
    check_launch(launch)
    return launch


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Side:
    """The collectives one framework issued for one program, as one device (rank) sees them."""

    collectives: int
    kinds: str  # "all-gather, all-reduce" in order, or "none"
    shapes: str  # the shape each works on, in the same order
    bytes_per_device: float  # lib/bytes.ring_bytes summed over them


@dataclass
class Layout:
    """One matmul layout, under JAX (compiled HLO) and DTensor (CommDebugMode on rank 0)."""

    jax_output: str  # the output sharding the partitioner propagated, as a placement
    jax_free: Side  # output left unspecified
    jax: Side  # replicated output requested
    jax_max_abs_diff: float  # sharded vs one device, worst of the two compiles
    dtensor_output: str  # the placement DTensor's matmul returns
    dtensor_free: Side  # the matmul alone
    dtensor: Side  # the matmul, then .full_tensor()
    dtensor_max_abs_diff: float  # vs torch on one process
    same_collectives: bool  # jax and dtensor, replicated output
    same_bytes: bool


@dataclass
class Mlp:
    """A two-layer MLP's forward pass, sharded, under both frameworks."""

    jax: Side
    jax_output: str
    jax_max_abs_diff: float
    dtensor: Side
    dtensor_max_abs_diff: float
    same_collectives: bool
    same_bytes: bool


@dataclass
class Numbers:
    devices: int
    jax_version: str
    shardy: bool  # jax_use_shardy_partitioner, as read back in the child
    layouts: dict[str, Layout]  # keyed as LAYOUTS
    constrained_output: str  # the row layout with with_sharding_constraint(y, rows split)
    constrained: Side
    constrained_max_abs_diff: float
    constrained_dynamic_slices: int  # dynamic-slice instructions in that program: each device cutting its rows
    mlps: dict[str, Mlp]  # "megatron", "fsdp"
    fsdp_unconstrained: Side  # the FSDP layout without the gather constraint: the partitioner's own pick
    fsdp_unconstrained_output: str
    tolerance: float
    port: int
    busy_ports: list[int]


# --- 3. measure ---------------------------------------------------------------------------------
def _data(job: dict):
    """x (rows, inner), w (inner, cols), mlp_x (rows, d), w1 (d, 4d), w2 (4d, d): the same on every side."""
    import numpy as np

    rng = np.random.default_rng(job["seed"])
    d = job["d_model"]
    shapes = [(job["rows"], job["inner"]), (job["inner"], job["cols"]), (job["rows"], d), (d, 4 * d), (4 * d, d)]
    return [(rng.standard_normal(s) / np.sqrt(s[-1])).astype(np.float32) for s in shapes]


def _placement(spec) -> str:
    """JAX's PartitionSpec as DTensor spells it on a 1-D mesh: P('d', None) -> Shard(0)."""
    split = [i for i, axis in enumerate(tuple(spec)) if axis is not None]
    return f"Shard({split[0]})" if split else "Replicate()"


def jax_worker(job: dict) -> dict:
    """In the child (N host devices): compile each program, read its HLO, run it, compare with one device."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    n = job["devices"]
    jax.config.update("jax_use_shardy_partitioner", job["propagation"] == "shardy")
    mesh = Mesh(np.array(jax.devices()[:n]), ("d",))
    one = jax.devices()[0]

    def shard(*spec):
        return NamedSharding(mesh, P(*spec))

    def compiled(fn, args, specs, out=None, plain=None):
        """Compile `fn` with these shardings; `plain` is the program without its sharding constraints."""
        jitted = jax.jit(fn, in_shardings=tuple(shard(*s) for s in specs),
                         out_shardings=None if out is None else shard(*out))
        exe = jitted.lower(*args).compile()  # GSPMD has run: this is each device's program
        result = np.asarray(exe(*[jax.device_put(a, shard(*s)) for a, s in zip(args, specs)]))
        reference = np.asarray(jax.jit(plain or fn)(*[jax.device_put(a, one) for a in args]))  # one device
        calls = [(c.kind, c.shape, full_bytes(c, n)) for c in collectives_in_hlo(exe.as_text())]
        return {"calls": calls, "output": _placement(exe.output_shardings.spec),
                "slices": exe.as_text().count(" dynamic-slice("),
                "diff": float(np.abs(result - reference).max())}

    x, w, mx, w1, w2 = _data(job)
    out: dict = {"version": jax.__version__, "layouts": {},
                 "shardy": bool(jax.config.jax_use_shardy_partitioner)}
    for name, (_, xs, ws) in LAYOUTS.items():
        out["layouts"][name] = {"free": compiled(lambda a, b: a @ b, (x, w), (xs, ws)),
                                "replicated": compiled(lambda a, b: a @ b, (x, w), (xs, ws), out=(None, None))}

    rows_split = shard("d", None)
    out["constrained"] = compiled(lambda a, b: jax.lax.with_sharding_constraint(a @ b, rows_split), (x, w),
                                  LAYOUTS["row"][1:], plain=lambda a, b: a @ b)

    def mlp(a, b, c):
        return jax.nn.gelu(a @ b) @ c  # (rows, d) @ (d, 4d) -> (rows, 4d) @ (4d, d) -> (rows, d)

    def fsdp_mlp(a, b, c):
        gathered = shard(None, None)  # "gather the weights before use": each layer's full weight
        return mlp(a, jax.lax.with_sharding_constraint(b, gathered), jax.lax.with_sharding_constraint(c, gathered))

    out["megatron"] = compiled(mlp, (mx, w1, w2), ((None, None), (None, "d"), ("d", None)))
    fsdp_specs = (("d", None), ("d", None), ("d", None))  # batch split, each weight split by its rows
    out["fsdp"] = compiled(fsdp_mlp, (mx, w1, w2), fsdp_specs, plain=mlp)
    out["fsdp_unconstrained"] = compiled(mlp, (mx, w1, w2), fsdp_specs)
    return out


def _spelled(placement) -> str:
    """A DTensor placement written out as JAX's side is: Shard(0), Replicate(), Partial()."""
    if placement.is_shard():
        return f"Shard({placement.dim})"
    return "Replicate()" if placement.is_replicate() else "Partial()"


def dtensor_rank(rank: RankContext, job: dict) -> dict:
    """One gloo rank: the same layouts and MLPs with DTensor, collectives counted by CommDebugMode."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    mesh = init_device_mesh(rank.device_type, (rank.world_size,))

    def placed(array, spec):
        split = [i for i, axis in enumerate(spec) if axis is not None]
        return distribute_tensor(torch.from_numpy(array), mesh, [Shard(split[0]) if split else Replicate()])

    x, w, mx, w1, w2 = _data(job)
    out: dict = {"layouts": {}}
    for name, (_, xs, ws) in LAYOUTS.items():
        a, b = placed(x, xs), placed(w, ws)
        free, whole = comm_bytes_mode(), comm_bytes_mode()
        with free:
            y = a @ b  # DTensor picks a strategy from the placements; the result may be Partial
        with whole:
            full = y.full_tensor()  # (rows, cols) on every rank
        out["layouts"][name] = {"free": free.calls, "whole": free.calls + whole.calls,
                                "output": _spelled(y.placements[0]),
                                "diff": float((full - torch.from_numpy(x @ w)).abs().max())}

    def gelu(t):
        return F.gelu(t, approximate="tanh")  # jax.nn.gelu's default is the tanh form

    reference = torch.from_numpy(np.asarray(gelu(torch.from_numpy(mx @ w1)).numpy() @ w2))
    # Megatron: w1 split by columns, w2 by rows; the row-parallel product is a Partial, summed at the end.
    a, b, c = placed(mx, (None, None)), placed(w1, (None, "d")), placed(w2, ("d", None))
    mode = comm_bytes_mode()
    with mode:
        y = (gelu(a @ b) @ c).full_tensor()
    out["megatron"] = {"calls": mode.calls, "diff": float((y - reference).abs().max())}
    # FSDP: batch and weights split by rows; each weight gathered before use.
    a, b, c = placed(mx, ("d", None)), placed(w1, ("d", None)), placed(w2, ("d", None))
    mode = comm_bytes_mode()
    with mode:
        h = gelu(a @ b.redistribute(mesh, [Replicate()]))  # (rows/N, 4d) on each rank
        y = h @ c.redistribute(mesh, [Replicate()])  # (rows/N, d), still Shard(0)
    full = y.full_tensor()
    out["fsdp"] = {"calls": mode.calls, "diff": float((full - reference).abs().max())}
    return out


def _shape(shape) -> str:
    return "x".join(str(s) for s in shape) or "scalar"


def _jax_side(calls: list, n: int) -> Side:
    return Side(collectives=len(calls), kinds=", ".join(k for k, _, _ in calls) or "none",
                shapes=", ".join(_shape(s) for _, s, _ in calls) or "-",
                bytes_per_device=sum(ring_bytes(k, big, n) for k, _, big in calls))


def _dtensor_side(calls: list, n: int) -> Side:
    return Side(collectives=len(calls), kinds=", ".join(k for k, _, _ in calls) or "none",
                shapes=", ".join(f"{big // 4:,} floats" for _, _, big in calls) or "-",
                bytes_per_device=sum(ring_bytes(k, big, n) for k, _, big in calls))


def _same(a: Side, b: Side) -> tuple[bool, bool]:
    return sorted(a.kinds.split(", ")) == sorted(b.kinds.split(", ")), abs(a.bytes_per_device - b.bytes_per_device) < 0.5


def measure(opts: Options, ctx: Context) -> Numbers:
    require_jax("the gspmd probe")  # a missing extra is no usage error (exit 1, not 2): checked here, not in check
    job = {"devices": opts.devices, "rows": opts.rows, "inner": opts.inner, "cols": opts.cols,
           "d_model": opts.d_model, "seed": ctx.seed,
           "propagation": opts.propagation}
    advance = ctx.task(f"JAX on {opts.devices} host devices (a child process)", 1)
    jx = run_on_host_devices(f"{__name__}:jax_worker", job, opts.devices, opts.timeout)
    advance()
    launch = run_ranks(dtensor_rank, _launch(opts), job, ctx.task(f"DTensor on {opts.devices} gloo ranks",
                                                                  opts.devices))
    dt = launch.results[0]
    n = opts.devices
    layouts = {}
    for name in LAYOUTS:
        j, d = jx["layouts"][name], dt["layouts"][name]
        jax_whole, dtensor_whole = _jax_side(j["replicated"]["calls"], n), _dtensor_side(d["whole"], n)
        same_kinds, same_bytes = _same(jax_whole, dtensor_whole)
        layouts[name] = Layout(
            jax_output=j["free"]["output"], jax_free=_jax_side(j["free"]["calls"], n), jax=jax_whole,
            jax_max_abs_diff=max(j["free"]["diff"], j["replicated"]["diff"]),
            dtensor_output=d["output"], dtensor_free=_dtensor_side(d["free"], n), dtensor=dtensor_whole,
            dtensor_max_abs_diff=max(r["layouts"][name]["diff"] for r in launch.results),
            same_collectives=same_kinds, same_bytes=same_bytes)
    mlps = {}
    for name in ("megatron", "fsdp"):
        js, ds = _jax_side(jx[name]["calls"], n), _dtensor_side(dt[name]["calls"], n)
        same_kinds, same_bytes = _same(js, ds)
        mlps[name] = Mlp(jax=js, jax_output=jx[name]["output"], jax_max_abs_diff=jx[name]["diff"], dtensor=ds,
                         dtensor_max_abs_diff=max(r[name]["diff"] for r in launch.results),
                         same_collectives=same_kinds, same_bytes=same_bytes)
    return Numbers(
        devices=n, jax_version=jx["version"], shardy=jx["shardy"], layouts=layouts,
        constrained_dynamic_slices=jx["constrained"]["slices"],
        constrained_output=jx["constrained"]["output"], constrained=_jax_side(jx["constrained"]["calls"], n),
        constrained_max_abs_diff=jx["constrained"]["diff"], mlps=mlps,
        fsdp_unconstrained=_jax_side(jx["fsdp_unconstrained"]["calls"], n),
        fsdp_unconstrained_output=jx["fsdp_unconstrained"]["output"],
        tolerance=TOLERANCE, port=launch.port, busy_ports=launch.busy_ports)


# --- 4. report ----------------------------------------------------------------------------------
def count_words(count: int, kind: str) -> str:
    """"exactly one all-reduce", "2 all-gathers", "no collective": the words say the measured count."""
    if count == 0:
        return f"no {kind}"
    return f"exactly one {kind}" if count == 1 else f"{count} {kind}s"


def _of_kind(side: Side, kind: str) -> int:
    return sum(k == kind for k in side.kinds.split(", "))


def kinds_apart(a: Side, b: Side) -> int:
    """Collectives in one side's list and not the other's, counted by kind (0: the same collectives)."""
    from collections import Counter

    ka, kb = Counter(a.kinds.split(", ")), Counter(b.kinds.split(", "))
    return sum(((ka - kb) + (kb - ka)).values())


def _agreement(m: "Mlp") -> str:
    """ "the same collectives (0 apart) and the same bytes (1,536 vs 1,536)": two verdicts, their numbers shown."""
    apart = kinds_apart(m.jax, m.dtensor)
    kinds = verdict(apart, 0, "different", "the same", "collectives apart")
    # ring bytes are fractions of a byte when N does not divide them: half a byte apart is the same bytes
    size = verdict(abs(m.jax.bytes_per_device - m.dtensor.bytes_per_device), 0.5, "different", "the same",
                   "bytes apart")
    return (f"{kinds} collectives ({apart} apart) and {size} bytes ({m.jax.bytes_per_device:,.0f} vs "
            f"{m.dtensor.bytes_per_device:,.0f})")


def _compact(kinds: str) -> str:
    """"all-gather, all-gather, all-reduce" -> "all-gather x2, all-reduce": fits a table cell."""
    runs: list[list] = []
    for kind in kinds.split(", "):
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    return ", ".join(k if c == 1 else f"{k} x{c}" for k, c in runs)


def _listed(words: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def _propagation(n: Numbers) -> str:
    return "Shardy propagation" if n.shardy else "GSPMD propagation"


def report(n: Numbers, opts: Options) -> Report:
    worst = max([lay.jax_max_abs_diff for lay in n.layouts.values()] + [n.constrained_max_abs_diff]
                + [m.jax_max_abs_diff for m in n.mlps.values()])
    worst_dt = max([lay.dtensor_max_abs_diff for lay in n.layouts.values()]
                   + [m.dtensor_max_abs_diff for m in n.mlps.values()])
    equal = verdict(worst, n.tolerance, "NOT equal within", "equal within", "tolerance")
    equal_dt = verdict(worst_dt, n.tolerance, "NOT equal within", "equal within", "tolerance")
    row, both = n.layouts["row"], n.layouts["both"]
    meg, fsdp = n.mlps["megatron"], n.mlps["fsdp"]
    quiet = [key for key, lay in n.layouts.items() if lay.jax_free.collectives == 0]
    agree = sum(lay.same_collectives for lay in n.layouts.values())
    agree_bytes = sum(lay.same_bytes for lay in n.layouts.values())
    findings = [
        f"Splitting the inner (contracting) dimension of both operands makes each device's product a partial "
        f"sum: the partitioner inserted {row.jax_free.kinds} on {row.jax_free.shapes} "
        f"({row.jax_free.bytes_per_device:,.0f} bytes sent per device by the ring formula) and propagated an "
        f"output of {row.jax_output}. DTensor's matmul returns a {row.dtensor_output} and issues "
        f"{count_words(row.dtensor_free.collectives, 'collective')} until the full tensor is asked for.",
        f"Left free, the {_listed(quiet) or 'no'} layouts issued no collective and kept outputs of "
        f"{', '.join(n.layouts[k].jax_output for k in quiet) or 'none'}. With x's rows and w's columns both "
        f"split, JAX issued {both.jax_free.kinds} on {both.jax_free.shapes} and kept {both.jax_output}; "
        f"DTensor issued {both.dtensor_free.kinds} and returned {both.dtensor_output}.",
        f"with_sharding_constraint asking for the row layout's output split by rows changed the propagated "
        f"output from {row.jax_output} to {n.constrained_output}; the collectives "
        + (f"stayed {n.constrained.kinds} on {n.constrained.shapes} ({n.constrained.bytes_per_device:,.0f} bytes "
           f"per device), followed by {count_words(n.constrained_dynamic_slices, 'dynamic-slice')}: this backend "
           "sums the whole output and "
           + verdict(n.constrained_dynamic_slices, 0, "each device cuts out its rows.",
                     "no instruction cuts out a device's rows.", "dynamic-slices")
           if n.constrained.kinds == row.jax_free.kinds else
           f"went from {row.jax_free.kinds} to {n.constrained.kinds} on {n.constrained.shapes} "
           f"({n.constrained.bytes_per_device:,.0f} bytes per device)."),
        f"Asked for a replicated output, JAX and DTensor issued the same collectives in {agree} of the "
        f"{len(n.layouts)} layouts and the same ring bytes in {agree_bytes} (table 1).",
        f"The Megatron MLP (w1 split by columns, w2 by rows) compiled to "
        f"{count_words(_of_kind(meg.jax, 'all-reduce'), 'all-reduce')} in the forward pass "
        f"({meg.jax.collectives} collective in all, on {meg.jax.shapes}); DTensor issued {meg.dtensor.kinds}: "
        f"{_agreement(meg)}.",
        f"The FSDP layout (batch and both weights split by rows, each weight constrained to be whole before "
        f"use) compiled to {count_words(_of_kind(fsdp.jax, 'all-gather'), 'all-gather')} ({fsdp.jax.shapes}) and "
        f"an output of {fsdp.jax_output}; DTensor issued {fsdp.dtensor.kinds}: {_agreement(fsdp)}. Without the "
        f"constraint the partitioner chose "
        f"{n.fsdp_unconstrained.kinds} ({n.fsdp_unconstrained.bytes_per_device:,.0f} bytes per device, vs "
        f"{fsdp.jax.bytes_per_device:,.0f}) and an output of {n.fsdp_unconstrained_output}.",
        f"Every sharded JAX result is {equal} {n.tolerance:g} of the same program on one device (largest "
        f"difference {worst:.2g}); every DTensor result is {equal_dt} {n.tolerance:g} of torch on one process "
        f"(largest {worst_dt:.2g}).",
    ]
    both_sides = Table.of(
        "x @ w with a replicated output: collectives per device", n.layouts,
        {"layout": "key", "JAX (GSPMD)": lambda _, lay: _compact(lay.jax.kinds),
         "bytes": lambda _, lay: round(lay.jax.bytes_per_device),
         "DTensor (gloo)": lambda _, lay: _compact(lay.dtensor.kinds),
         "bytes ": lambda _, lay: round(lay.dtensor.bytes_per_device)},
        note="bytes: what one device sends by the ring formula (lib/bytes.ring_bytes)")
    free = Table.of(
        "x @ w with the output left unspecified", n.layouts,
        {"layout": "key", "JAX output": "jax_output", "JAX issued": lambda _, lay: _compact(lay.jax_free.kinds),
         "DTensor output": "dtensor_output", "DTensor issued": lambda _, lay: _compact(lay.dtensor_free.kinds)},
        note="split over the devices: " + "; ".join(f"{key}, {label}" for key, (label, _, _) in LAYOUTS.items()))
    shapes = Table.of(
        "HLO collectives (one device's program)", {**{k: v.jax_free for k, v in n.layouts.items()},
                                                   "row + constraint": n.constrained,
                                                   **{f"{k} MLP": m.jax for k, m in n.mlps.items()},
                                                   "fsdp, no constraint": n.fsdp_unconstrained},
        {"program": "key", "collectives": lambda _, side: _compact(side.kinds), "on shapes": "shapes",
         "bytes": lambda _, side: round(side.bytes_per_device)})
    mlp_table = Table.of(
        "Two-layer MLP forward", n.mlps,
        {"layout": "key", "JAX": lambda _, m: _compact(m.jax.kinds), "bytes": lambda _, m: round(m.jax.bytes_per_device),
         "DTensor": lambda _, m: _compact(m.dtensor.kinds), "bytes ": lambda _, m: round(m.dtensor.bytes_per_device)})
    return with_launch(Report(
        summary=f"On {n.devices} host devices XLA ({_propagation(n)}) turned a contracting-dim split into {row.jax_free.kinds}, "
                f"and a Megatron MLP into {count_words(_of_kind(meg.jax, 'all-reduce'), 'all-reduce')}; "
                f"JAX and DTensor agreed on the collectives in {agree} of {len(n.layouts)} layouts.",
        findings=findings,
        tables=[both_sides, free, shapes, mlp_table],
        model=f"jax {n.jax_version}, {_propagation(n)}: x {opts.rows}x{opts.inner} @ w {opts.inner}x{opts.cols}; "
              f"MLP d_model={opts.d_model}",
    ), _launch(opts), n.port, n.busy_ports)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="gspmd",
    question="tensor-parallel",
    title="XLA's GSPMD partitioner (JAX, host devices): the collectives per matmul layout, beside DTensor",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("jax.jit of a Megatron MLP (w1 split by columns, w2 by rows): how many collectives does "
                   "the compiled forward pass hold?", "mlps.megatron.jax.collectives", "collectives"),
        Prediction("x (16 x 32) @ w (32 x 24) in fp32 with the inner dimension split over 2 devices: how many "
                   "bytes does each device send in the all-reduce (ring)?", "layouts.row.jax_free.bytes_per_device",
                   "bytes"),
    ),
)
