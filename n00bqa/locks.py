"""Writers that share a study root take turns: one lock per root, appends that are appends, and
files created only if they are not there yet.

Two `n00bqa` processes may write the same root at once (a quiz in one terminal, a note in another,
a script running twenty). Every read-modify-write of a learner's file (a question's notes or
status, `corpus/added.yaml` and its copies) holds the root's lock, `<root>/.n00bqa/write.lock`;
a writer that has to wait says so on stderr in one line, and gives up with one line after
`N00BQA_LOCK_TIMEOUT` seconds (default 30). A review line is one `write` to a file opened with
O_APPEND, made under the same lock. A new question file is linked into place, which fails if the
name exists, so two `questions add --id same` never both succeed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from n00bqa.errors import QuestionError, WriteError
from n00bqa.settings import lock_timeout
from n00bqa.study import Study

LOCK_NAME = "write.lock"
NOTICE_AFTER = 0.25  # seconds: a wait shorter than this is not worth a line

_held: dict[str, int] = {}  # lock path -> depth, so a locked function may call another one
_guard = threading.Lock()


@contextmanager
def root_lock(study: Study) -> Iterator[None]:
    """Hold the study root's write lock (re-entrant within one process)."""
    from filelock import FileLock, Timeout

    try:
        path = str(study.state_dir() / LOCK_NAME)
    except WriteError:
        # a read-only root: nobody can write it, so there is nothing to take turns over; the write
        # that follows fails with its own line naming its path
        yield
        return
    with _guard:
        depth = _held.get(path, 0)
        _held[path] = depth + 1
    try:
        if depth:
            yield
            return
        lock = FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=NOTICE_AFTER)
        except Timeout:
            seconds = lock_timeout()
            print(f"Waiting for another n00bqa writing to {study.root} (at most {seconds:g} s; lock "
                  f"{path})", file=sys.stderr, flush=True)
            try:
                lock.acquire(timeout=seconds)
            except Timeout:
                raise WriteError(f"another n00bqa process kept {study.root} locked for {seconds:g} s; "
                                 f"let it finish and try again (if none is running, delete {path})") from None
        except OSError:  # the lock file cannot be made (a read-only .n00bqa/): as above
            yield
            return
        try:
            yield
        finally:
            lock.release()
    finally:
        with _guard:
            _held[path] -= 1
            if not _held[path]:
                del _held[path]


def append_line(path: Path, line: bytes) -> int:
    """Append `line` (one line, no newline in it) to `path` in a single O_APPEND write; returns the
    line's number. A file whose last line lost its newline (a hand edit) gets one first, so that
    line stays whole. Call it under the root's lock."""
    assert b"\n" not in line
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    try:
        with open(path, "rb") as f:  # the lines already there, counted as the reader numbers them
            old = f.read()
        prefix = b"\n" if old and not old.endswith(b"\n") else b""
        data = prefix + line + b"\n"
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(0, f"wrote {written} of {len(data)} bytes")
        os.fsync(fd)
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    finally:
        os.close(fd)
    return (old + prefix).count(b"\n") + 1


def create_new(path: Path, text: str, what: str) -> None:
    """Write a whole new file at `path`, or raise QuestionError if one is there (even one that
    appeared a moment ago): the text goes to a temporary file that is then hard-linked into place,
    and a link never replaces a name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        raise QuestionError(f"{what} already exists ({path}); pass another --id") from None
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
