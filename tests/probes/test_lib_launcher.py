"""n00bqa/probes/lib/launcher.py on real processes (issue 25, items 5 and 6).

- Loopback only: during a real ddp run, every socket the probe's processes listen on (read from
  /proc/net/tcp and tcp6, matched by inode) is on a loopback address, the rendezvous port among them.
- SIGTERM to the parent is handled as Ctrl-C: one line, exit 130, every rank ended, the ranks'
  folder removed. SIGKILL to the parent: the ranks die with it (well within 1 s), and the folder it
  could not remove is removed by the next run (its lock is free). Both at two points: while the
  ranks are still starting (importing torch), and after every rank joined the group.

Every subprocess gets its own TMPDIR, so the ranks' folders are looked for there and nowhere else.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.distributed import (
    is_loopback,
    listeners_of,
    rank_children,
    running,
    wait_for_ranks,
    wait_until_not_running,
)

from n00bqa.errors import ProbeError
from n00bqa.probes.lib import launcher

N = 2
ORPHAN_LIMIT_S = 1.0  # issue 25: no rank left running 1 s after its parent is killed


def _probe_process(tmp_path: Path, probe: str, fault: str = "", options: str = "") -> subprocess.Popen:
    """`python -m n00bqa probe PROBE` as a learner runs it, in its own session, with its own TMPDIR."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.pop(launcher.FAULT_ENV, None)
    if fault:
        env[launcher.FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-m", "n00bqa", "probe", probe, "--json", *options.split()], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rank_folders(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob(launcher.FOLDER_PREFIX + "*"))


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def _reach(point: str, proc: subprocess.Popen, tmp_path: Path) -> list[int]:
    """Wait until the run is at `point`; return the ranks' pids."""
    ranks = wait_for_ranks(proc.pid, N)
    if point == "joined":  # every rank is past init_process_group (its fault marker is written)
        _wait_for(lambda: len(list(tmp_path.glob(f"{launcher.FOLDER_PREFIX}*/rank*.hanging"))) == N, 120,
                  "every rank joining the group")
    return ranks


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- Loopback only ---------------------------------------------------------------------------------
def test_the_listener_check_tells_loopback_from_every_interface():
    """The check below would see a listener on every interface: it reads this process's own."""
    sockets = []
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen()
        sockets.append(s)
    try:
        seen = listeners_of([os.getpid()])
        for s, host in zip(sockets, ("0.0.0.0", "127.0.0.1", "::")):
            assert (host, s.getsockname()[1]) in seen
        assert [is_loopback(ipaddress.ip_address(h)) for h in ("0.0.0.0", "127.0.0.1", "::", "::1",
                                                               "::ffff:127.0.0.1", "10.0.0.1")] == \
            [False, True, False, True, True, False]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_a_ddp_run_listens_on_loopback_only(tmp_path):
    proc = _probe_process(tmp_path, "ddp")
    seen: set[tuple[str, int]] = set()
    looks = 0
    try:
        while proc.poll() is None:  # look at the parent and its ranks all through the run
            seen |= listeners_of([proc.pid, *rank_children(proc.pid)])
            looks += 1
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        _end(proc)
    assert proc.returncode == 0, err.decode()
    import json

    port = json.loads(out)["metrics"]["port"]
    assert looks > 20
    assert ("127.0.0.1", port) in seen  # the rendezvous store, seen while the ranks ran
    assert [(host, p) for host, p in seen if not is_loopback(ipaddress.ip_address(host))] == []
    assert _rank_folders(tmp_path) == []


# --- SIGTERM and SIGKILL ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("point", ["starting", "joined"])
def test_sigterm_is_handled_as_ctrl_c(tmp_path, point):
    proc = _probe_process(tmp_path, "sharding", fault="all:hang")
    try:
        ranks = _reach(point, proc, tmp_path)
        os.kill(proc.pid, signal.SIGTERM)  # only the parent, as `kill PID` or a service manager does
        _, err = proc.communicate(timeout=60)
    finally:
        _end(proc)
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["Error: interrupted; nothing was left half-written"]
    assert [pid for pid in ranks if running(pid)] == []  # the parent ended and reaped them before exiting
    assert _rank_folders(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["starting", "joined"])
def test_sigkill_takes_the_ranks_with_it_and_the_next_run_removes_the_folder(tmp_path, point):
    proc = _probe_process(tmp_path, "sharding", fault="all:hang")
    try:
        ranks = _reach(point, proc, tmp_path)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        seconds = wait_until_not_running(ranks, timeout=5.0)
    finally:
        _end(proc)
    print(f"{point}: ranks gone {seconds:.3f} s after their parent was killed")
    assert seconds < ORPHAN_LIMIT_S
    left = _rank_folders(tmp_path)
    assert len(left) == 1  # nobody could remove it: the parent was killed
    assert launcher.remove_stale_folders(str(tmp_path)) == [str(left[0])]
    assert _rank_folders(tmp_path) == []


# --- Stale folders -----------------------------------------------------------------------------------
def _folder(root: Path, name: str, lock: bool = True, age_s: float = 0.0) -> Path:
    folder = root / f"{launcher.FOLDER_PREFIX}{name}"
    folder.mkdir()
    (folder / "rank0.log").write_text("x")
    if lock:
        (folder / "lock").touch()
    if age_s:
        then = time.time() - age_s
        os.utime(folder, (then, then))
    return folder


def test_a_folder_is_stale_when_no_process_holds_its_lock(tmp_path):
    live = _folder(tmp_path, "live")
    held = os.open(live / "lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a running launcher holds it
    dead = _folder(tmp_path, "dead")
    starting = _folder(tmp_path, "starting", lock=False)  # a run between mkdtemp and its lock file
    old = _folder(tmp_path, "old", lock=False, age_s=2 * launcher.STALE_UNLOCKED_S)
    other = tmp_path / "someone-else"
    other.mkdir()
    try:
        removed = launcher.remove_stale_folders(str(tmp_path))
    finally:
        os.close(held)
    assert sorted(removed) == sorted([str(dead), str(old)])
    assert live.is_dir() and starting.is_dir() and other.is_dir()
    assert not dead.exists() and not old.exists()


def test_a_run_removes_stale_folders_before_it_starts(tmp_path, monkeypatch):
    import tempfile

    stale = _folder(tmp_path, "stale")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def no_launch(*args):
        raise ProbeError("stopped before any rank started")

    monkeypatch.setattr(launcher, "_launch_once", no_launch)
    with pytest.raises(ProbeError, match="stopped before"):
        launcher.run_ranks(print, launcher.LaunchOptions(), job=None)
    assert not stale.exists()
