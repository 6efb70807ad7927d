"""Process hygiene for the distributed probes' tests (ddp, fsdp, sharding): no rank may outlive a run.

Two independent looks: the pids the launcher reports (`os.kill(pid, 0)` must fail), and /proc,
for any process of this machine whose command line is a rank's (`rank_entry`) and whose parent is
the given process; zombies count as left behind too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

RANK_MARK = b"rank_entry"  # in every rank's command line (n00bqa/probes/lib/launcher.py _RANK_ENTRY)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[1])


def rank_children(parent: int | None = None) -> list[int]:
    """Rank processes (alive or zombie) whose parent is `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[1] == parent and RANK_MARK in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    """Does `pid` still exist? A zombie does too (`kill(pid, 0)` succeeds): unreaped is left behind."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_no_ranks_left(pids: list[int], parent: int | None = None) -> None:
    assert pids, "the launcher reported no rank pids"
    still = [pid for pid in pids if alive(pid)]
    assert still == [], f"ranks still running (or unreaped): {still}"
    assert rank_children(parent) == []


def wait_for_ranks(parent: int, count: int, timeout: float = 90.0) -> list[int]:
    """Poll /proc until `parent` has `count` rank children; return their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rank_children(parent)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"process {parent} did not start {count} ranks within {timeout:g} s")
