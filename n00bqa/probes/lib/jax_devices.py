"""JAX on N host CPU devices, in a child process: the runner behind the gspmd probe.

XLA makes one CPU look like N devices when `XLA_FLAGS=--xla_force_host_platform_device_count=N`
is set before JAX is first imported, and the count cannot change afterwards. So the JAX part of a
probe never runs in the learner's process: `run_on_host_devices(worker, job, devices, timeout)`
starts a fresh interpreter (`python -m n00bqa.probes.lib.jax_devices`) whose environment alone
carries that flag, runs `worker(job)` there (a top-level function named "module:function" that
imports jax itself) and hands back what it returns, as JSON. The parent's `os.environ` is never
touched, and nothing in n00bqa imports jax at module level: only a child does.

What the runner promises, as lib/launcher.py does for torch ranks:

- a wall-clock timeout; the child's output goes to a log file, whose last line becomes the one-line
  ProbeError when the child fails;
- the child runs in its own session (Ctrl-C reaches only the parent), and after any exit path -
  result, error, timeout, Ctrl-C, SIGTERM (raised as `Terminated`) - it is terminated, waited for
  and if need be killed, and the temporary folder removed;
- a child whose parent died anyway (SIGKILL) dies too: PR_SET_PDEATHSIG on Linux, and everywhere a
  thread that exits when the pipe from the parent closes.

`collectives_in_hlo(text)` reads a compiled module's HLO text (`jitted.lower(...).compile().as_text()`)
instruction by instruction and lists the collectives XLA inserted, with their shapes and bytes.
It is plain Python, so the tests check it without JAX.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n00bqa.errors import ProbeError

INSTALL_HINT = "pip install 'n00bqa[jax]'"
DEVICE_FLAG = "--xla_force_host_platform_device_count"
_LAST_PIDS: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM to the parent while the child runs: handled as Ctrl-C is (child ended, folder removed)."""


# --- Is JAX there? (without importing it) ------------------------------------------------------------
def jax_available() -> bool:
    """True when `import jax` would find a package; JAX itself is not imported."""
    try:
        return importlib.util.find_spec("jax") is not None
    except (ImportError, ValueError):
        return False


def require_jax(what: str) -> None:
    """Raise the one-line ProbeError naming the extra to install when JAX is missing."""
    if not jax_available():
        raise ProbeError(f"{what} needs JAX, which is not installed here; install it with: {INSTALL_HINT}")


def child_environment(devices: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) for the child: XLA_FLAGS asks for `devices` host
    devices (any earlier device count in it replaced, other flags kept) and JAX uses the CPU."""
    env = dict(os.environ if base is None else base)
    kept = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_FLAG)]
    env["XLA_FLAGS"] = " ".join(kept + [f"{DEVICE_FLAG}={devices}"])
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("PYTHONSTARTUP", None)
    return env


def last_pids() -> list[int]:
    """The process id of the child started last (for tests: it must be gone)."""
    return list(_LAST_PIDS)


# --- The parent ------------------------------------------------------------------------------------
def run_on_host_devices(worker: str, job: Any, devices: int, timeout: float) -> Any:
    """Run `worker(job)` in a child that sees `devices` host CPU devices; return its JSON result.

    Args:
        worker: "package.module:function", a top-level function that imports jax inside itself.
        job: JSON-serialisable data handed to the worker.
        devices: how many host devices XLA creates in the child (XLA_FLAGS, set in its env only).
        timeout: seconds the child may take in all before it is ended and a ProbeError raised.
    """
    module, _, function = worker.partition(":")
    if not module or not function:
        raise ProbeError(f"worker must be 'module:function', got {worker!r}")
    folder = Path(tempfile.mkdtemp(prefix="n00bqa-jax-"))
    try:
        (folder / "job.json").write_text(json.dumps({"worker": worker, "job": job}))
        with _sigterm_as_interrupt():
            return _run_child(folder, devices, timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_child(folder: Path, devices: int, timeout: float) -> Any:
    log = open(folder / "child.log", "wb")
    watch_r, watch_w = os.pipe()
    proc = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "n00bqa.probes.lib.jax_devices", str(folder), str(os.getpid())],
            stdin=watch_r, stdout=log, stderr=subprocess.STDOUT, env=child_environment(devices),
            start_new_session=True)
        _LAST_PIDS[:] = [proc.pid]
        os.close(watch_r)
        watch_r = -1
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ProbeError(f"the JAX child process took longer than {timeout:g} s and was ended; "
                             "raise --timeout or lower the sizes") from None
        if code != 0:
            log.flush()
            error = folder / "error.txt"
            line = error.read_text() if error.exists() else _last_line(folder / "child.log")
            raise ProbeError(f"the JAX child process failed: {line}")
        return json.loads((folder / "result.json").read_text())
    finally:
        if proc is not None:
            _end(proc)
        for fd in (watch_r, watch_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        log.close()


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the child runs, SIGTERM raises `Terminated` in the parent (main thread only; elsewhere
    the child's parent-death watch still ends it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- The child -------------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this child when the parent dies (Linux), and exit when its pipe from the parent closes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(70)

    def watch() -> None:
        while os.read(0, 1):  # the parent never writes: this returns b"" when its end closes
            pass
        os._exit(70)

    threading.Thread(target=watch, daemon=True).start()


def child_main(folder: str, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = json.loads((Path(folder) / "job.json").read_text())
    module, _, function = spec["worker"].partition(":")
    try:
        result = getattr(importlib.import_module(module), function)(spec["job"])
    except Exception as error:  # the parent shows this one line; the log keeps the traceback
        message = str(error).strip().splitlines()
        (Path(folder) / "error.txt").write_text(f"{type(error).__name__}: {message[0] if message else ''}")
        raise
    (Path(folder) / "result.json").write_text(json.dumps(result))


# --- Reading the compiled HLO ------------------------------------------------------------------------
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4,
               "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16}
# "  ROOT %all-reduce.3 = f32[8,32]{1,0} all-reduce(%fusion), channel_id=1, ..." -> name, shape, opcode
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<shape>.+?)\s+(?P<op>[a-z][a-z\-]*)\(")
_ARRAY = re.compile(r"(?P<dtype>[a-z]+\d*)\[(?P<dims>[\d,]*)\]")


@dataclass
class Collective:
    """One collective instruction of a compiled HLO module, as one device runs it."""

    kind: str  # all-reduce, all-gather, reduce-scatter, all-to-all, collective-permute
    name: str  # the instruction's name in the HLO
    shape: list[int]  # its result on one device (the first array of a tuple result)
    dtype: str
    bytes: int  # of that result (all arrays of a tuple)


def collectives_in_hlo(text: str) -> list[Collective]:
    """Every collective instruction in `text`, in order. An asynchronous pair (`all-gather-start` /
    `all-gather-done`) counts once, at its start; the shape is then read from the done's result."""
    found: list[Collective] = []
    for line in text.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        op = match["op"]
        kind = op[: -len("-start")] if op.endswith("-start") else op
        if kind not in COLLECTIVES:
            continue
        arrays = [(a["dtype"], [int(d) for d in a["dims"].split(",") if d]) for a in _ARRAY.finditer(match["shape"])]
        if not arrays:
            continue
        if op.endswith("-start") and len(arrays) > 1:
            arrays = arrays[-1:]  # (operand, result, ...) of an async start: keep the result
        total = 0
        for dtype, dims in arrays:
            size = DTYPE_BYTES.get(dtype, 4)
            for d in dims:
                size *= d
            total += size
        found.append(Collective(kind=kind, name=match["name"], shape=arrays[0][1], dtype=arrays[0][0], bytes=total))
    return found


def full_bytes(collective: Collective, devices: int) -> int:
    """The bytes of the whole tensor a collective works on, the size lib/bytes.ring_bytes prices: an
    all-gather's result, a reduce-scatter's input (its result x N), the all-reduced or exchanged
    tensor itself (all-reduce, all-to-all, collective-permute)."""
    return collective.bytes * devices if collective.kind == "reduce-scatter" else collective.bytes


if __name__ == "__main__":
    child_main(sys.argv[1], int(sys.argv[2]))
