"""Checksums for n00bqa's own state files, checked cheaply: hash a file only when it changed.

Every state file that decides an answer (the ONNX export, the question vectors, the index's data
files) has the sha256 of its bytes recorded when it was written. A reader must not trust a file
whose bytes differ from that record: a same-size overwrite loads fine and answers wrongly.

Hashing the 90 MB export on every `ask` would cost ~0.3 s, so each folder keeps a small stamp file,
`verified.json`: per file, the sha256 it was last found to have and the file's (inode, size,
mtime, ctime) at that moment. While the stamp still matches the file and the recorded sha256, the
file is trusted without reading it; any change (an in-place write changes mtime and ctime; a
replacement changes the inode; `touch -r` cannot reset ctime) makes the next reader hash it once
and refresh the stamp. A folder that cannot be written (a read-only root) keeps its stamps in this
process only, so there each process hashes once.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

STAMPS = "verified.json"

# (folder, name) -> (stamp, sha256) verified in this process
_memo: dict[tuple[str, str], tuple[list[int], str]] = {}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read_stamps(folder: Path) -> dict:
    try:
        data = json.loads((folder / STAMPS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamps(folder: Path, stamps: dict) -> None:
    """Best effort: a stamp file that cannot be written only means hashing again next time."""
    from n00bqa.atomic import atomic_write_text
    from n00bqa.errors import WriteError

    try:
        atomic_write_text(folder / STAMPS, json.dumps(stamps, indent=0, sort_keys=True))
    except WriteError:
        pass


def record(folder: Path, names_and_digests: dict[str, str]) -> None:
    """Note that these files (names relative to `folder`) were just written with these sha256s."""
    folder = Path(folder)
    stamps = _read_stamps(folder)
    for name, digest in names_and_digests.items():
        stamp = _stamp(folder / name)
        if stamp is None:
            continue
        stamps[name] = {"sha256": digest, "stamp": stamp}
        _memo[(str(folder), name)] = (stamp, digest)
    # stamps of files that are gone (an old index generation) are dropped
    stamps = {name: entry for name, entry in stamps.items() if (folder / name).exists()}
    _write_stamps(folder, stamps)


def matches(folder: Path, name: str, digest: str) -> bool:
    """True when `folder/name` exists and its bytes hash to `digest` (hashing only if it changed).

    Args:
        folder: the state folder holding the file and its `verified.json`.
        name: the file's path relative to `folder` ("model.onnx", "gen-x/chunks.json").
        digest: the sha256 recorded when the file was written.
    """
    folder = Path(folder)
    path = folder / name
    stamp = _stamp(path)
    if stamp is None or not isinstance(digest, str):
        return False
    memo = _memo.get((str(folder), name))
    if memo is not None and memo == (stamp, digest):
        return True
    entry = _read_stamps(folder).get(name)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256") == digest:
        _memo[(str(folder), name)] = (stamp, digest)
        return True
    try:
        actual = sha256_file(path)
    except OSError:
        return False
    if actual != digest:
        _memo.pop((str(folder), name), None)
        return False
    if _stamp(path) == stamp:  # unchanged while we read it
        _memo[(str(folder), name)] = (stamp, digest)
        if os.access(folder, os.W_OK):
            stamps = _read_stamps(folder)
            stamps[name] = {"sha256": digest, "stamp": stamp}
            _write_stamps(folder, stamps)
    return True


def forget() -> None:
    """Drop this process's memory of verified files (tests)."""
    _memo.clear()
