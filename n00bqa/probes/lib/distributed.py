"""Real torch.distributed ranks on this machine: the launcher behind the ddp, fsdp and sharding probes.

`run_ranks(worker, opts, job)` starts `opts.nproc` rank processes (2-4), each a fresh Python
interpreter as torchrun's agent starts them (not multiprocessing's "spawn", which re-runs the
parent's `__main__` in every rank and so breaks any script without a `__main__` guard). Each rank
joins a process group on 127.0.0.1 at a port chosen at run time (gloo on the CPU; nccl with one GPU
per rank when `--backend nccl` and GPUs exist), runs `worker(rank_context, job)` and writes what it
returns to a file in a temporary folder; the parent reads the files and returns them in rank order.

What the launcher promises, because a probe must never hang or leave processes behind:

- every collective has a timeout (`--timeout`, handed to init_process_group as a timedelta), and the
  parent has a wall-clock watchdog over the whole run (`--deadline`);
- a rank that fails becomes one ProbeError line naming the rank and its error (the first rank to
  fail, by the clock: the others usually fail only because it left);
- a port that cannot be bound is skipped for another one (PORT_TRIES in all), and the probe says
  which ports it skipped; if none can be bound, one line says so;
- Ctrl-C reaches only the parent (each rank runs in its own session, SIGINT ignored), which then
  ends every rank; after any exit path - result, error, timeout, Ctrl-C - every rank's process group
  is terminated, waited for and if need be killed. A rank also exits by itself if its parent
  disappears or its deadline passes;
- each rank runs torch with one thread, and its stdout/stderr go to a log file, so the terminal
  shows the probe's result and nothing else.

Workers must be top-level functions of an importable module: a rank imports them by name.

Tests inject failures with the environment variable N00BQA_DIST_FAULT="RANK:KIND" (RANK a number
or "all"; KIND "raise", "hang" or "exit"), read by each rank right after it joins the group.
It exists only for the tests of process hygiene.

The small transformer block that ddp and fsdp train (and its single-process reference) lives here
too, so both probes train exactly the same model.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Report, Table, check_ranges

HOST = "127.0.0.1"  # loopback only: the ranks never listen on a network interface
PORT_TRIES = 3
FAULT_ENV = "N00BQA_DIST_FAULT"
STATE_LIMIT_BYTES = 1e9  # model state one rank may hold here (2 cores, shared): 1 GB
REFERENCE_LIMIT_BYTES = 4e9  # the single-process reference in the parent holds all of it
_POLL_S = 0.05
_LAST_PIDS: list[int] = []


# --- Options every distributed probe shares ------------------------------------------------------
@dataclass
class LaunchOptions:
    nproc: int = field(default=2, metadata={"help": "How many ranks (processes) to start: 2, 3 or 4."})
    backend: str = field(default="gloo", metadata={"help": "gloo (CPU, the default) or nccl (one CUDA GPU per "
                                                           "rank, on a machine that has them)."})
    port: int = field(default=0, metadata={"help": "Port on 127.0.0.1 for the ranks to meet at; 0 picks a free "
                                                   "one. A busy port is skipped for another."})
    timeout: float = field(default=30.0, metadata={"help": "Seconds any one collective (and joining the group) "
                                                           "may take before the rank gives up."})
    deadline: float = field(default=180.0, metadata={"help": "Seconds the whole run may take (a watchdog in the "
                                                             "parent) before every rank is ended."})


def check_launch(opts: LaunchOptions) -> None:
    """One line for each bad launch option, before anything is started."""
    if opts.nproc not in (2, 3, 4):
        raise ProbeError(f"--nproc must be 2, 3 or 4, got {opts.nproc} (each rank is a process on this machine)")
    if opts.backend not in ("gloo", "nccl"):
        raise ProbeError(f"--backend must be gloo or nccl, got {opts.backend!r}")
    if opts.backend == "nccl":
        import torch

        if not torch.cuda.is_available():
            raise ProbeError("--backend nccl needs CUDA GPUs and none is visible here; use --backend gloo")
    if opts.port != 0 and not 1024 <= opts.port <= 65535:
        raise ProbeError(f"--port must be 0 (pick a free one) or between 1024 and 65535, got {opts.port}")
    if not 1.0 <= opts.timeout <= 600.0:
        raise ProbeError(f"--timeout must be between 1 and 600 seconds, got {opts.timeout:g}")
    if not opts.timeout < opts.deadline <= 3600.0:
        raise ProbeError(f"--deadline must be more than --timeout ({opts.timeout:g} s) and at most 3600 s, "
                         f"got {opts.deadline:g}")


def check_state_fits(params: int, nproc: int, sharded: bool, option: str, value: int) -> None:
    """Refuse a model whose model state (16 bytes per parameter with Adam: weights, gradients and two
    moments, in fp32) would not fit one rank here, divided by the shard count if `sharded`, or whose
    single-process reference would not fit the parent. `option value` names what set its size."""
    per_rank = 16 * params / (nproc if sharded else 1)
    if per_rank > STATE_LIMIT_BYTES:
        split = f" / {nproc} ranks" if sharded else ", every rank holds all of it"
        fix = f"lower {option} or raise --nproc (up to 4)" if sharded and nproc < 4 else f"lower {option}"
        raise ProbeError(f"{option} {value} gives {params:,} parameters: {per_rank / 1e9:.1f} GB of model state "
                         f"per rank (16 bytes x {params:,}{split}), too large for --nproc {nproc} under this "
                         f"machine's {STATE_LIMIT_BYTES / 1e9:g} GB per rank; {fix}")
    if 16 * params > REFERENCE_LIMIT_BYTES:
        raise ProbeError(f"{option} {value} gives {params:,} parameters: the single-process reference alone "
                         f"needs {16 * params / 1e9:.1f} GB of model state, over this machine's "
                         f"{REFERENCE_LIMIT_BYTES / 1e9:g} GB; lower {option}")


# --- What a rank sees ----------------------------------------------------------------------------
@dataclass
class RankContext:
    """Handed to a worker inside its rank process (after the process group is up)."""

    rank: int
    world_size: int
    backend: str
    device: Any  # torch.device: cpu for gloo, cuda:<local index> for nccl
    timeout: float

    @property
    def device_type(self) -> str:
        return self.device.type


@dataclass
class Launch:
    """What `run_ranks` returns: each rank's result (in rank order) and how the run was set up."""

    results: list[Any]
    port: int
    busy_ports: list[int]
    pids: list[int]
    seconds: float


def port_note(busy_ports: list[int], port: int) -> str:
    """The one line a probe adds when ports were skipped ("" when the first port worked)."""
    if not busy_ports:
        return ""
    listed = ", ".join(str(p) for p in busy_ports)
    were = "was" if len(busy_ports) == 1 else "were"
    return f"Port{'s' if len(busy_ports) > 1 else ''} {listed} {were} busy, so the ranks met on port {port} instead."


def last_pids() -> list[int]:
    """The process ids of the ranks started last in this process (for tests of process hygiene)."""
    return list(_LAST_PIDS)


# --- The parent ----------------------------------------------------------------------------------
class _PortInUse(Exception):
    pass


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def run_ranks(worker: Callable[[RankContext, Any], Any], opts: LaunchOptions, job: Any,
              advance: Callable[[int], None] | None = None) -> Launch:
    """Run `worker(ctx, job)` on `opts.nproc` ranks and return their results, or raise ProbeError.

    Args:
        worker: a top-level function (each rank imports it by module and name) returning picklable data.
        opts: the launch options (already checked).
        job: picklable plain data (numbers, strings), the same for every rank.
        advance: progress callback, called with 1 per rank result and with 0 while waiting (a
            reporter may raise from it to cancel the run; the ranks are ended then too).
    """
    advance = advance or (lambda n=1: None)
    busy: list[int] = []
    start = time.monotonic()
    while len(busy) < PORT_TRIES:
        port = opts.port if (opts.port and not busy) else free_port()
        if not port_is_free(port):
            busy.append(port)
            continue
        try:
            results, pids = _launch_once(worker, opts, job, port, advance)
        except _PortInUse:  # another process took the port between our check and rank 0's bind
            busy.append(port)
            continue
        return Launch(results=results, port=port, busy_ports=busy, pids=pids,
                      seconds=round(time.monotonic() - start, 3))
    tried = ", ".join(str(p) for p in busy)
    raise ProbeError(f"could not bind a port on {HOST}: tried {len(busy)} ({tried}) and every one was in use; "
                     "free a port or pass --port P")


def _launch_once(worker, opts: LaunchOptions, job: Any, port: int, advance) -> tuple[list[Any], list[int]]:
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="n00bqa-ranks-") as folder:
        spec = {"worker": (worker.__module__, worker.__qualname__, getattr(sys.modules.get(worker.__module__),
                                                                           "__file__", None)),
                "world_size": opts.nproc, "port": port, "backend": opts.backend, "timeout": opts.timeout,
                "deadline": opts.deadline, "job": job, "parent_pid": os.getpid()}
        (Path(folder) / "job.pkl").write_bytes(pickle.dumps(spec))
        # The ranks import what this process imports: its sys.path becomes theirs.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            for rank in range(opts.nproc):
                with open(os.path.join(folder, f"rank{rank}.log"), "wb") as log:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-c", _RANK_ENTRY, folder, str(rank)], env=env, stdin=subprocess.DEVNULL,
                        stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True))  # Ctrl-C in the terminal reaches only the parent
                _LAST_PIDS[:] = [p.pid for p in procs]
            return _collect(procs, Path(folder), opts, port, advance), [p.pid for p in procs]
        finally:
            _end_all(procs)


# A fresh interpreter per rank (as torchrun's agent starts them), not multiprocessing's spawn: spawn
# re-runs the parent's __main__ in every rank, which fails in any script without a __main__ guard.
_RANK_ENTRY = "import sys; from n00bqa.probes.lib.distributed import rank_entry; rank_entry(sys.argv[1], int(sys.argv[2]))"


def _collect(procs, folder: Path, opts: LaunchOptions, port: int, advance) -> list[Any]:
    """Wait for every rank's result file; raise on the first failure, a silent exit or the deadline."""
    deadline = time.monotonic() + opts.deadline
    results: dict[int, dict] = {}

    def read_new() -> None:
        for rank in range(len(procs)):
            path = folder / f"rank{rank}.result"
            if rank not in results and path.exists():
                results[rank] = pickle.loads(path.read_bytes())
                if "error" not in results[rank]:
                    advance(1)

    while True:
        read_new()
        if any("error" in r for r in results.values()):
            time.sleep(0.3)  # a rank that failed first may still be writing; the earliest names the cause
            read_new()
            first = min((r for r in results.values() if "error" in r), key=lambda r: r["time"])
            if first.get("port_in_use"):
                raise _PortInUse(port)
            hint = (f" (a peer did not answer within --timeout {opts.timeout:g} s)"
                    if "timed out" in first["error"].lower() else "")
            error = ProbeError(f"rank {first['rank']} of {len(procs)} failed: {first['error']}{hint}")
            error.add_note(first.get("traceback", ""))  # shown only with N00BQA_DEBUG=1
            raise error
        if len(results) == len(procs):
            return [results[rank]["result"] for rank in range(len(procs))]
        for rank, proc in enumerate(procs):
            if rank not in results and proc.poll() is not None and not (folder / f"rank{rank}.result").exists():
                code = proc.returncode
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                last = _last_line(folder / f"rank{rank}.log")
                raise ProbeError(f"rank {rank} of {len(procs)} {how} before reporting a result"
                                 + (f" ({last})" if last else ""))
        if time.monotonic() > deadline:
            missing = ", ".join(str(r) for r in range(len(procs)) if r not in results)
            raise ProbeError(f"no result from rank {missing} within --deadline {opts.deadline:g} s; every rank "
                             "was ended (raise --deadline on a busy machine)")
        advance(0)  # lets a cancelling reporter (the browser) stop the run here
        time.sleep(_POLL_S)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def _end_all(procs: list[subprocess.Popen]) -> None:
    """Terminate, wait for, and if need be kill every rank (its whole process group): nothing may
    outlive the probe."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --- A rank --------------------------------------------------------------------------------------
def _load_worker(module: str, qualname: str, path: str | None):
    try:
        mod = importlib.import_module(module)
    except ImportError:
        if not path:
            raise
        spec = importlib.util.spec_from_file_location(module, path)  # a learner's own probe file
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module] = mod
        spec.loader.exec_module(mod)
    return getattr(mod, qualname)


def rank_entry(folder: str, rank: int) -> None:
    """The body of every rank process: join the group, run the worker, write its result file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    spec = pickle.loads((Path(folder) / "job.pkl").read_bytes())
    threading.Thread(target=_guard, args=(spec["parent_pid"], time.monotonic() + spec["deadline"] + 10),
                     daemon=True).start()
    out = Path(folder) / f"rank{rank}.result"
    record: dict[str, Any] = {"rank": rank}
    dist = None
    try:
        import datetime

        import torch
        import torch.distributed as dist

        torch.set_num_threads(1)
        worker = _load_worker(*spec["worker"])
        if spec["backend"] == "nccl":
            device = torch.device("cuda", rank % torch.cuda.device_count())
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        dist.init_process_group(spec["backend"], init_method=f"tcp://{HOST}:{spec['port']}", rank=rank,
                                world_size=spec["world_size"], timeout=datetime.timedelta(seconds=spec["timeout"]))
        _inject_fault(rank)
        context = RankContext(rank, spec["world_size"], spec["backend"], device, spec["timeout"])
        record["result"] = worker(context, spec["job"])
    except BaseException as exc:  # everything a rank can raise becomes one line for the parent
        message = " ".join(str(exc).split()) or "(no message)"
        record.update(error=f"{type(exc).__name__}: {message[:300]}", traceback=traceback.format_exc(),
                      port_in_use="EADDRINUSE" in message or "address already in use" in message.lower())
    finally:
        with contextlib.suppress(Exception):
            if dist is not None and dist.is_initialized():
                dist.destroy_process_group()
    record["time"] = time.time()
    partial = out.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(record))
    os.replace(partial, out)  # the parent never sees a half-written result


def _guard(parent_pid: int, give_up_at: float) -> None:
    """A rank's own safety net: exit if the parent is gone or the run's deadline has long passed."""
    while True:
        if os.getppid() != parent_pid or time.monotonic() > give_up_at:
            os._exit(70)
        time.sleep(0.5)


def _inject_fault(rank: int) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    who, _, kind = spec.partition(":")
    if who not in ("all", str(rank)):
        return
    if kind == "raise":
        raise RuntimeError(f"injected failure ({FAULT_ENV}={spec})")
    if kind == "hang":
        while True:
            time.sleep(1)
    if kind == "exit":
        os._exit(17)


# --- The model ddp and fsdp train ----------------------------------------------------------------
@dataclass
class BlockOptions(LaunchOptions):
    """The launch options plus the GPT block ddp and fsdp train and how they train it."""

    d_model: int = field(default=64, metadata={"help": "Width of the GPT block (must divide by --n-head)."})
    n_head: int = field(default=4, metadata={"help": "Attention heads."})
    seq_len: int = field(default=16, metadata={"help": "Tokens per sequence."})
    batch: int = field(default=12, metadata={"help": "Global batch (sequences), split evenly across the ranks."})
    steps: int = field(default=5, metadata={"help": "Adam steps to train."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})


def check_block(opts: BlockOptions, sharded: bool) -> None:
    """The launch checks, then one line for each bad block or training option; `sharded`: the model
    state is split across the ranks (fsdp) rather than held whole by each (ddp)."""
    check_launch(opts)
    if opts.n_head < 1 or not 8 <= opts.d_model <= 8192 or opts.d_model % opts.n_head:
        raise ProbeError(f"--d-model must be 8-8192 and divisible by --n-head {opts.n_head}, got {opts.d_model}")
    check_ranges(opts, {"seq_len": (1, 512)})
    if opts.batch < opts.nproc or opts.batch % opts.nproc:
        raise ProbeError(f"--batch {opts.batch} does not split evenly across --nproc {opts.nproc}; "
                         f"use a multiple of {opts.nproc}")
    check_ranges(opts, {"steps": (1, 50)})
    if not 0.0 < opts.lr <= 1.0:
        raise ProbeError(f"--lr must be in (0, 1], got {opts.lr:g}")
    check_state_fits(block_param_count(opts.d_model), opts.nproc, sharded, "--d-model", opts.d_model)


def block_job(opts: BlockOptions, seed: int, **extra: Any) -> dict:
    """What every rank needs to build and train the block (plain data), plus a probe's `extra`."""
    return {"d_model": opts.d_model, "n_head": opts.n_head, "seq_len": opts.seq_len, "batch": opts.batch,
            "steps": opts.steps, "lr": opts.lr, "seed": seed, **extra}


def block_param_count(d_model: int) -> int:
    """Parameters of `build_block(d_model, ...)`, by closed form: 12 d^2 + 10 d.

    ln_1, ln_2: 2d each; attn.c_attn: 3d^2 (no bias); attn.c_proj: d^2 + d; mlp.c_fc: 4d^2 + 4d;
    mlp.c_proj: 4d^2 + d.
    """
    return 12 * d_model * d_model + 10 * d_model


def build_block(d_model: int, n_head: int, seed: int):
    """One pre-LayerNorm GPT block (nanoGPT's names), initialised from `seed` the same way everywhere."""
    import torch

    torch.manual_seed(seed)
    return _block_class()(d_model, n_head)


@functools.lru_cache(maxsize=1)
def _block_class():
    from torch import nn
    from torch.nn import functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.n_head = n_head
            # q, k, v for every head at once. No bias: the key bias's true gradient is exactly zero
            # (softmax ignores a constant added to every score), and Adam would turn the rounding
            # noise of that zero into full-size steps that differ from run to run.
            self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)
            self.c_proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, 3C) -> 3 x (B, T, C)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
            return self.c_proj(y)

    class MLP(nn.Module):
        def __init__(self, d_model: int):
            super().__init__()
            self.c_fc = nn.Linear(d_model, 4 * d_model)
            self.c_proj = nn.Linear(4 * d_model, d_model)

        def forward(self, x):
            return self.c_proj(F.gelu(self.c_fc(x)))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)

    class Block(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d_model)
            self.attn = CausalSelfAttention(d_model, n_head)
            self.ln_2 = nn.LayerNorm(d_model)
            self.mlp = MLP(d_model)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))  # (B, T, C)
            return x + self.mlp(self.ln_2(x))  # (B, T, C)

    return Block


def make_batch(global_batch: int, seq_len: int, d_model: int, seed: int, device: Any = "cpu"):
    """The full batch (inputs and regression targets), the same on every rank and in the parent."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(global_batch, seq_len, d_model, generator=gen)  # (B, T, C)
    y = torch.randn(global_batch, seq_len, d_model, generator=gen)  # (B, T, C)
    return x.to(device), y.to(device)


def rank_slice(tensor, rank: int, world_size: int):
    """This rank's contiguous share of the batch dimension: rows [rank*b, (rank+1)*b)."""
    per_rank = tensor.shape[0] // world_size
    return tensor[rank * per_rank:(rank + 1) * per_rank]


def train_single_process(d_model: int, n_head: int, global_batch: int, seq_len: int, steps: int, lr: float,
                         seed: int):
    """The reference: the same block trained with Adam on one process, full batch, no communication.

    Returns:
        (model, optimizer, losses): the trained model, its optimizer (with its state) and the loss
        of every step.
    """
    import torch

    model = build_block(d_model, n_head, seed)
    x, y = make_batch(global_batch, seq_len, d_model, seed)  # (B, T, C) each
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, optimizer, losses


def train_reference(opts: BlockOptions, ctx: Context):
    """`train_single_process` for these options, as a progress step of its own."""
    advance = ctx.task("the same block on one process, full batch", 1)
    trained = train_single_process(opts.d_model, opts.n_head, opts.batch, opts.seq_len, opts.steps, opts.lr,
                                   ctx.seed)
    advance()
    return trained


def max_abs_diff(weights: dict[str, Any], model) -> float:
    """The largest |rank's weight - model's weight| over every entry (`weights`: name -> numpy array)."""
    import numpy as np

    return max(float(np.abs(weights[name] - p.detach().cpu().numpy()).max()) for name, p in model.named_parameters())


def max_weight_change(model, opts: BlockOptions, seed: int) -> float:
    """How far training moved `model`'s weights from the block's initial ones: the scale a
    difference between two trained copies is measured against."""
    initial = build_block(opts.d_model, opts.n_head, seed)
    return max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(model.parameters(), initial.parameters()))


def equal_within(diff: float, tolerance: float) -> bool:
    """The verdict behind "the same as one process": the largest difference is within tolerance."""
    return diff <= tolerance


def with_launch(report: Report, opts: LaunchOptions, port: int, busy_ports: list[int]) -> Report:
    """`report` with how the ranks were started added last: a finding for skipped ports (if any) and
    the launch table, the same for every distributed probe."""
    if busy_ports:
        report.findings.append(port_note(busy_ports, port))
    report.tables.append(Table("Launch", ["setting", "value"], [
        ["ranks", opts.nproc], ["backend", opts.backend], ["port", str(port)],
        ["busy ports skipped", ", ".join(map(str, busy_ports)) or "none"],
        ["collective timeout s", opts.timeout],
    ]))
    return report


def tensor_bytes(tensor) -> int:
    """Bytes a tensor's own storage holds on this rank (a DTensor counts its local shard only)."""
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def model_state_bytes(model, optimizer) -> dict[str, int]:
    """Parameters, gradients and optimizer state this process holds, measured from its tensors."""
    import torch

    params = sum(tensor_bytes(p) for p in model.parameters())
    grads = sum(tensor_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    states = [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    optim = sum(tensor_bytes(v) for v in states)
    # Under FSDP every optimizer tensor is a DTensor shard except Adam's 0-d step counters, kept whole.
    whole = sum(tensor_bytes(v) for v in states if v.ndim == 0)
    return {"params": params, "grads": grads, "optimizer": optim, "total": params + grads + optim,
            "scalar_optimizer": whole}


def comm_bytes_mode():
    """A CommDebugMode that also records, for every collective, the bytes of its smallest and
    largest tensor, inputs and outputs (the local shard and the full tensor for all-gather and
    reduce-scatter; the same size twice for all-reduce and all-to-all)."""
    import torch
    from torch.distributed.tensor.debug import CommDebugMode
    from torch.distributed.tensor.debug._comm_mode import c10d_collective_ops
    from torch.utils._pytree import tree_leaves

    class CommBytesMode(CommDebugMode):
        def __init__(self):
            super().__init__()
            self.calls: list[tuple[str, int, int]] = []  # (op name, smallest tensor bytes, largest tensor bytes)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = super().__torch_dispatch__(func, types, args, kwargs)
            packet = func._overloadpacket
            if packet in self.comm_registry or packet in c10d_collective_ops:
                # c10d ops take their output as an argument; functional ones return it.
                sizes = [t.numel() * t.element_size() for t in tree_leaves((args, kwargs or {}, out))
                         if isinstance(t, torch.Tensor)]
                if sizes:
                    self.calls.append((collective_kind(str(packet)), min(sizes), max(sizes)))
            return out

    return CommBytesMode()


def collective_kind(op_name: str) -> str:
    """`c10d._allgather_base_` / `_c10d_functional.all_gather_into_tensor` -> "all-gather", and so on."""
    name = op_name.lower().replace("_", "")
    for needle, kind in (("reducescatter", "reduce-scatter"), ("allgather", "all-gather"),
                         ("allreduce", "all-reduce"), ("alltoall", "all-to-all"), ("broadcast", "broadcast")):
        if needle in name:
            return kind
    return op_name


def ring_bytes(kind: str, full_bytes: int, world_size: int) -> float:
    """Bytes one rank sends in a ring implementation of a collective over `full_bytes`.

    all-gather and reduce-scatter: (N-1)/N x bytes; all-reduce (a reduce-scatter then an
    all-gather): 2(N-1)/N x bytes; all-to-all: (N-1)/N of the rank's own tensor.
    """
    fraction = (world_size - 1) / world_size
    return (2 if kind == "all-reduce" else 1) * fraction * full_bytes
