"""The built-in study: our questions (`questions/`), the reading list and our notes (`corpus/`).

In a checkout `questions` and `corpus` here are links to the project's own folders, which a learner
may add to; a wheel carries copies. What is built in is what `files.txt` lists, file by file: `n00bqa
init PATH` copies exactly those into a study root of the learner's own, and without any root the
read-only commands read only those (see n00bqa.study).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def builtin_files() -> tuple[str, ...]:
    """The built-in files, as paths relative to the study root (`questions/model-size.md`, ...)."""
    lines = (FOLDER / "files.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def builtin_questions() -> frozenset[str]:
    """The file names of the built-in questions (`model-size.md`, ...)."""
    return frozenset(Path(rel).name for rel in builtin_files() if rel.startswith("questions/"))
