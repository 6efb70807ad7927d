"""Real torch.distributed ranks on this machine, on 127.0.0.1 only: the launcher behind the ddp,
fsdp and sharding probes.

`run_ranks(worker, opts, job)` starts `opts.nproc` rank processes (2-4), each a fresh Python
interpreter as torchrun's agent starts them (not multiprocessing's "spawn", which re-runs the
parent's `__main__` in every rank and so breaks any script without a `__main__` guard). Each rank
joins a process group (gloo on the CPU; nccl with one GPU per rank when `--backend nccl` and GPUs
exist), runs `worker(rank_context, job)` and writes what it returns to a file in a temporary
folder; the parent reads the files and returns them in rank order.

What the launcher promises, because a probe must never hang, listen on the network or leave
anything behind:

- loopback only: rank 0 binds the rendezvous socket (the TCPStore's) to 127.0.0.1 itself and hands
  it to the store, and gloo/nccl are told to use the loopback interface, so no rank listens on an
  address another machine can reach;
- every collective has a timeout (`--timeout`, handed to the store and to init_process_group), and
  the parent has a wall-clock watchdog over the whole run (`--deadline`);
- a rank that fails becomes one ProbeError line naming the rank and its error (the first rank to
  fail, by the clock: the others usually fail only because it left);
- a port that cannot be bound is skipped for another one (PORT_TRIES in all), and the probe says
  which ports it skipped; if none can be bound, one line says so;
- Ctrl-C reaches only the parent (each rank runs in its own session, SIGINT ignored), and SIGTERM
  to the parent is handled the same way (raised as `Terminated`, a KeyboardInterrupt); after any
  exit path - result, error, timeout, Ctrl-C, SIGTERM - every rank is terminated, waited for and if
  need be killed, and the temporary folder is removed;
- a rank dies with its parent even when the parent cannot clean up (SIGKILL): on Linux the kernel
  kills it (PR_SET_PDEATHSIG), and everywhere it watches a pipe from the parent and exits when the
  pipe closes. A folder such a parent leaves behind is removed by the next run (a folder is stale
  when no process holds the lock on its `lock` file);
- each rank runs torch with one thread, and its stdout/stderr go to a log file, so the terminal
  shows the probe's result and nothing else.

Workers must be top-level functions of an importable module: a rank imports them by name.

Tests inject failures with the environment variable N00BQA_DIST_FAULT="RANK:KIND" (RANK a number
or "all"; KIND "raise", "hang" or "exit"), read by each rank right after it joins the group (a
hanging rank first leaves a file `rankR.hanging` in the run's folder, so a test knows it got there).
It exists only for the tests of process hygiene.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pickle
import select
import shutil
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
from n00bqa.probes.base import Report, Table, check_ranges

HOST = "127.0.0.1"  # loopback only: the ranks never listen on a network interface
PORT_TRIES = 3
FAULT_ENV = "N00BQA_DIST_FAULT"
FOLDER_PREFIX = "n00bqa-ranks-"
# A folder with no lock file is a run just starting, or one of a launcher from before the lock
# (whose runs end within --deadline, at most 3600 s): stale only when older than any run can be.
STALE_UNLOCKED_S = 3700.0
STATE_LIMIT_BYTES = 1e9  # model state one rank may hold here (2 cores, shared): 1 GB
REFERENCE_LIMIT_BYTES = 4e9  # the single-process reference in the parent holds all of it
_POLL_S = 0.05
_LAST_PIDS: list[int] = []
_LAST_FOLDER: list[str] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM to the parent during a run: handled as Ctrl-C is (every rank ended, folder removed)."""


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
    if not 3.0 <= opts.timeout <= 600.0:  # below 3 s, ranks that start torch a second apart miss each other
        raise ProbeError(f"--timeout must be between 3 and 600 seconds, got {opts.timeout:g}")
    if not opts.timeout < opts.deadline <= 3600.0:
        raise ProbeError(f"--deadline must be more than --timeout ({opts.timeout:g} s) and at most 3600 s, "
                         f"got {opts.deadline:g}")
    # the same limits, declared for the verdict harness (it runs both ends of each)
    check_ranges(opts, {"nproc": (2, 4), "port": (0, 65535), "timeout": (3.0, 600.0),
                        "deadline": (opts.timeout + 1.0, 3600.0)})


def check_state_fits(params: int, nproc: int, sharded: bool, option: str, value: int) -> None:
    """Refuse a model whose model state (16 bytes per parameter with Adam: weights, gradients and two
    moments, in fp32) would not fit one rank here, divided by the shard count if `sharded`, or whose
    single-process reference would not fit the parent. `option value` names what set its size."""
    per_rank = _state_per_rank(params, nproc, sharded)
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


def _state_per_rank(params: int, nproc: int, sharded: bool) -> float:
    """Bytes of model state one rank holds (16 per parameter with Adam), split `nproc` ways if sharded."""
    return 16 * params / (nproc if sharded else 1)


def state_fits(params: int, nproc: int, sharded: bool) -> bool:
    """Whether check_state_fits accepts `params`: a rank's share and the parent's whole reference fit."""
    return _state_per_rank(params, nproc, sharded) <= STATE_LIMIT_BYTES and 16 * params <= REFERENCE_LIMIT_BYTES


def largest_fitting_width(params_of: Callable[[int], int], nproc: int, sharded: bool, step: int = 64,
                          top: int = 8192) -> int:
    """The largest width, a multiple of `step` up to `top`, whose model state fits (state_fits): the
    high end a probe declares for its width, so the harness's high end is one the probe runs."""
    width = top
    while width > step and not state_fits(params_of(width), nproc, sharded):
        width -= step
    return width


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



def last_folder() -> str:
    """The temporary folder of the last run started in this process (for tests: it must be gone)."""
    return _LAST_FOLDER[0] if _LAST_FOLDER else ""


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
    remove_stale_folders()
    with _sigterm_as_interrupt():
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


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the ranks run, SIGTERM raises `Terminated` in the parent (only the main thread can set
    a handler; elsewhere the ranks' parent-death watch still ends them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:  # None: a handler set outside Python, which cannot be put back; the default then
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def remove_stale_folders(root: str | None = None) -> list[str]:
    """Remove the rank folders of runs that are over (their parent was killed before it could clean
    up): those whose `lock` file no process holds, or with no lock file and older than
    STALE_UNLOCKED_S. Returns the folders removed."""
    import fcntl

    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        lock = folder / "lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime > STALE_UNLOCKED_S:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(str(folder))
            continue
        except OSError:
            continue  # another user's folder, or not ours to judge
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live run holds it
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
        finally:
            os.close(fd)
    return removed


def _loopback_interface() -> str | None:
    """The loopback interface's name ("lo" on Linux, "lo0" on macOS), for gloo and nccl."""
    with contextlib.suppress(OSError):
        names = [name for _, name in socket.if_nameindex()]
        return next((n for n in ("lo", "lo0") if n in names), None)
    return None


def _launch_once(worker, opts: LaunchOptions, job: Any, port: int, advance) -> tuple[list[Any], list[int]]:
    import fcntl

    procs: list[subprocess.Popen] = []
    lock_fd = watch_r = watch_w = -1
    folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX)
    _LAST_FOLDER[:] = [folder]
    try:
        lock_fd = os.open(os.path.join(folder, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # held until this run is over: the folder is not stale
        spec = {"worker": (worker.__module__, worker.__qualname__, getattr(sys.modules.get(worker.__module__),
                                                                           "__file__", None)),
                "world_size": opts.nproc, "port": port, "backend": opts.backend, "timeout": opts.timeout,
                "deadline": opts.deadline, "job": job, "parent_pid": os.getpid()}
        (Path(folder) / "job.pkl").write_bytes(pickle.dumps(spec))
        # The ranks import what this process imports: its sys.path becomes theirs.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        loopback = _loopback_interface()
        if loopback:  # gloo's and nccl's own sockets on loopback, not the host name's address
            env.update(GLOO_SOCKET_IFNAME=loopback, NCCL_SOCKET_IFNAME=loopback)
        # Each rank holds the read end; when this process ends (however), the write end closes and
        # the ranks see end-of-file.
        watch_r, watch_w = os.pipe()
        for rank in range(opts.nproc):
            with open(os.path.join(folder, f"rank{rank}.log"), "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", _RANK_ENTRY, folder, str(rank), str(watch_r)], env=env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(watch_r,),
                    start_new_session=True))  # Ctrl-C in the terminal reaches only the parent
            _LAST_PIDS[:] = [p.pid for p in procs]
        return _collect(procs, Path(folder), opts, port, advance), [p.pid for p in procs]
    finally:
        with _signals_held():  # a second Ctrl-C or SIGTERM waits until the cleanup is done
            _clean_up(procs, folder, lock_fd, watch_r, watch_w)


@contextlib.contextmanager
def _signals_held():
    held = {signal.SIGINT, signal.SIGTERM}
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _clean_up(procs: list[subprocess.Popen], folder: str, lock_fd: int, watch_r: int, watch_w: int) -> None:
    """End every rank, remove the folder, then release its lock (in that order: a folder whose lock
    is free is stale to any later run)."""
    for fd in (watch_w, watch_r):  # closing the write end tells any rank we lost track of to exit
        if fd >= 0:
            os.close(fd)
    _end_all(procs)
    shutil.rmtree(folder, ignore_errors=True)
    if lock_fd >= 0:
        os.close(lock_fd)


# A fresh interpreter per rank (as torchrun's agent starts them), not multiprocessing's spawn: spawn
# re-runs the parent's __main__ in every rank, which fails in any script without a __main__ guard.
_RANK_ENTRY = ("import sys; from n00bqa.probes.lib.launcher import rank_entry; "
               "rank_entry(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))")


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


def rank_entry(folder: str, rank: int, watch_fd: int) -> None:
    """The body of every rank process: die with the parent, join the group on 127.0.0.1, run the
    worker, write its result file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    spec = pickle.loads((Path(folder) / "job.pkl").read_bytes())
    _die_with_parent(spec["parent_pid"])
    threading.Thread(target=_guard, args=(watch_fd, spec["parent_pid"], time.monotonic() + spec["deadline"] + 10),
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
        timeout = datetime.timedelta(seconds=spec["timeout"])
        store = _loopback_store(rank, spec["port"], spec["world_size"], timeout)
        dist.init_process_group(spec["backend"], store=store, rank=rank, world_size=spec["world_size"],
                                timeout=timeout)
        _inject_fault(rank, Path(folder))
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


def _loopback_store(rank: int, port: int, world_size: int, timeout):
    """The rendezvous store, listening on 127.0.0.1 only. TCPStore's own server binds every
    interface, so rank 0 binds the socket itself and hands it over (`master_listen_fd`)."""
    import torch.distributed as dist

    if rank != 0:
        return dist.TCPStore(HOST, port, world_size, False, timeout)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is not "busy"
        listener.bind((HOST, port))  # EADDRINUSE here -> the parent tries another port
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    return dist.TCPStore(HOST, port, world_size, True, timeout, master_listen_fd=listener.detach())


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, ask the kernel to SIGKILL this rank when its parent dies (PR_SET_PDEATHSIG); then
    check the parent is still the one that started us (it may have died before the request)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(70)


def _guard(watch_fd: int, parent_pid: int, give_up_at: float) -> None:
    """A rank's own safety net: exit when the parent's pipe closes (the parent is gone, whatever
    killed it), the parent changed, or the run's deadline has long passed."""
    while True:
        readable, _, _ = select.select([watch_fd], [], [], 0.2)
        if readable and not os.read(watch_fd, 1):  # end of file: no writer left
            os._exit(70)
        if os.getppid() != parent_pid or time.monotonic() > give_up_at:
            os._exit(70)


def _inject_fault(rank: int, folder: Path) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    who, _, kind = spec.partition(":")
    if who not in ("all", str(rank)):
        return
    if kind == "raise":
        raise RuntimeError(f"injected failure ({FAULT_ENV}={spec})")
    if kind == "hang":
        (folder / f"rank{rank}.hanging").touch()  # tests wait for these: every rank has joined the group
        while True:
            time.sleep(1)
    if kind == "exit":
        os._exit(17)


# --- What every distributed probe's report ends with -----------------------------------------------
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

