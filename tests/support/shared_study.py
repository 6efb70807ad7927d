"""A study root built once per session, shared by the ask, routing, encoder and browser tests
(imported by them; holds no tests itself).

Building the ONNX export and the index costs seconds, so it happens once per test session in a
study root of its own: a copy of the frozen fixture root (tests/fixtures/study), its reading list cut
to the notes (no library sources, to keep the build short). Each test's own study root then links
to that export and index.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURE_STUDY

_shared: dict[str, Path] = {}


def notes_only_reading_list(corpus: Path) -> None:
    """Keep only the reading list's own notes (fast to index); drop installed-library sources."""
    path = corpus / "reading-list.yaml"
    data = yaml.safe_load(path.read_text())
    data["items"] = [item for item in data["items"] if item.get("kind") == "note"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study root with the ONNX export, the index and the question vectors built (once)."""
    if "root" in _shared:
        return _shared["root"]
    root = tmp_path_factory.getbasetemp() / "ask-shared-root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    shutil.copytree(FIXTURE_STUDY / "corpus", root / "corpus")
    notes_only_reading_list(root / "corpus")
    from n00bqa.ask import ensure_ready
    from n00bqa.ask.routing import route
    from n00bqa.study import Study

    study = Study(root)
    ensure_ready(study)
    route(study, "warm up the question vectors")
    _shared["root"] = root
    return root


def link_state(study_root: Path, shared: Path, copy_index: bool = False) -> None:
    """Give a test's study root the shared export and index (symlinked; the index copied if asked)."""
    state = study_root / ".n00bqa"
    state.mkdir(exist_ok=True)
    (state / ".gitignore").write_text("*\n")
    os.symlink(shared / ".n00bqa" / "onnx", state / "onnx")
    if copy_index:
        shutil.copytree(shared / ".n00bqa" / "index", state / "index", symlinks=False)
    else:
        os.symlink(shared / ".n00bqa" / "index", state / "index")
    shutil.copytree(shared / ".n00bqa" / "routing", state / "routing")
    shutil.copy(shared / "corpus" / "reading-list.yaml", study_root / "corpus" / "reading-list.yaml")


def tiny_root(root: Path, notes: dict[str, str], library_at: int | None = None) -> None:
    """A study root of the fixture questions, `notes` ({id: Markdown}) as its own notes, and one
    installed-library source (torch's nn/modules/sparse.py) at position `library_at` of the reading
    list (default: last)."""
    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    folder = root / "corpus" / "notes"
    folder.mkdir(parents=True)
    items = []
    for note_id, text in notes.items():
        (folder / f"{note_id}.md").write_text(text)
        items.append({"id": note_id, "kind": "note", "title": note_id.title(), "note": f"notes/{note_id}.md"})
    items.insert(len(items) if library_at is None else library_at,
                 {"id": "torch-embedding", "kind": "library", "package": "torch", "path": "nn/modules/sparse.py",
                  "title": "torch nn/modules/sparse.py"})
    (root / "corpus" / "reading-list.yaml").write_text(yaml.safe_dump({"items": items}, sort_keys=False))
