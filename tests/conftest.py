"""Every test gets its own study root: a copy of the frozen fixture root `tests/fixtures/study/`
in tmp_path.

No test reads or writes the learner's question files, corpus or index: those grow and change.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "study"


@pytest.fixture(autouse=True)
def study_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    shutil.copytree(FIXTURE_ROOT / "questions", root / "questions")
    shutil.copytree(FIXTURE_ROOT / "corpus", root / "corpus")
    monkeypatch.setenv("N00BQA_ROOT", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


@pytest.fixture
def study(study_root: Path):
    """The test's study root as the `Study` the library takes."""
    from n00bqa.study import Study

    return Study(study_root)


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 (tokenizer, model), loaded once per test session."""
    from n00bqa.probes.models import load_model, load_tokenizer

    return load_tokenizer(None), load_model(None)


@contextmanager
def root_env(root: Path) -> Iterator[Path]:
    """Point N00BQA_ROOT at `root` for a block: session fixtures that build an index or an ONNX
    export once cannot use monkeypatch, which is per test."""
    saved = os.environ.get("N00BQA_ROOT")
    os.environ["N00BQA_ROOT"] = str(root)
    try:
        yield root
    finally:
        if saved is None:
            os.environ.pop("N00BQA_ROOT", None)
        else:
            os.environ["N00BQA_ROOT"] = saved
