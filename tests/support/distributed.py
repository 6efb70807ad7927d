"""Process hygiene for the distributed probes' tests (ddp, fsdp, sharding, the launcher): no rank may
outlive a run, and no rank may listen beyond loopback.

Two independent looks at the ranks: the pids the launcher reports (`os.kill(pid, 0)` must fail), and
/proc, for any process of this machine whose command line is a rank's (`rank_entry`) and whose parent
is the given process; zombies count as left behind too. Listening sockets are read from
/proc/net/tcp and /proc/net/tcp6 and matched to processes by socket inode (/proc/PID/fd).
"""

from __future__ import annotations

import contextlib
import ipaddress
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


def running(pid: int) -> bool:
    """Is `pid` a live process (not gone, not a zombie)? For ranks whose parent was killed: they are
    reaped by whoever adopts them, which is out of the probe's hands; a zombie runs nothing."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def wait_until_not_running(pids: list[int], timeout: float) -> float:
    """Seconds until none of `pids` runs, or `timeout` if some still do then."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not any(running(pid) for pid in pids):
            return time.monotonic() - start
        time.sleep(0.02)
    return timeout


# --- Who listens where: /proc/net/tcp and tcp6 ----------------------------------------------------
def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp* writes an address as the hex of its 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def listening_sockets() -> dict[int, tuple[str, int]]:
    """Every TCP socket in LISTEN state on this machine: inode -> (address, port)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], int(fields[9])
                if state == "0A":  # TCP_LISTEN
                    host, port = local.split(":")
                    found[inode] = (str(_address(host)), int(port, 16))
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` has open (from /proc/PID/fd)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def listeners_of(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every socket one of `pids` listens on right now."""
    listening = listening_sockets()
    return {listening[inode] for pid in pids for inode in socket_inodes(pid) if inode in listening}
