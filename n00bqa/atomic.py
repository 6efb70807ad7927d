"""Atomic file writes: a reader (or a Ctrl-C, or kill -9) never sees a half-written file.

A write goes to a temporary file beside the target, is fsynced, then renamed over it. A rewritten
file keeps its permission bits; a new one gets the umask's, as `open()` would give it. Temporary
files that a killed process left behind are removed by the next write to the same folder, and a
write that the OS refuses (a read-only study root, a full disk) becomes one WriteError line
naming the path.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

from n00bqa.errors import WriteError

STALE_SECONDS = 600  # a temporary file this old belongs to no live write


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def clean_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove `.<name>.*.tmp` files that writes killed mid-way left in `folder`; return them."""
    removed = []
    now = time.time()
    try:
        candidates = list(folder.glob(".*.tmp"))
    except OSError:
        return removed
    for path in candidates:
        try:
            if now - path.stat().st_mtime > older_than:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path.parent)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = _umask_mode()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                             "and free space") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
