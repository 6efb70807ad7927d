"""Every test gets its own study root: a copy of the frozen fixture root `tests/fixtures/study/`
in tmp_path.

No test reads or writes the learner's question files, corpus or index: those grow and change.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Iterator

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE_STUDY = Path(__file__).resolve().parent / "fixtures" / "study"

# Each pytest-xdist worker has a core to itself: torch (and the rank processes the probes start, which
# inherit this) use one thread each, so two workers on two cores do not fight over them. Set before
# any test imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# A suite started in the background by a shell without job control (`nohup pytest &`, a script's
# `cmd &`) inherits SIGINT ignored, and every process it starts would ignore Ctrl-C too: the tests
# that press Ctrl-C on a real `ask` or probe process need the disposition a terminal gives.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory) -> Iterator[Path]:
    """The session's `$XDG_CACHE_HOME`, set before any fixture of a narrower scope builds anything:
    what n00bqa keeps per user (the ONNX export every root shares, the built-in journey's state) is
    made once per test session, never in the tester's own ~/.cache."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        # pytest-xdist's workers start with COLUMNS=80 and LINES=24 set: a test sets the width it
        # checks, and otherwise sees what a plain `pytest` run sees (no fixed width)
        patch.delenv("COLUMNS", raising=False)
        patch.delenv("LINES", raising=False)
        # probe runs shared by the session's workers (tests/support/runs.py): the folder every worker
        # of this session sees (xdist's per-worker temp folders share a parent)
        base = tmp_path_factory.getbasetemp()
        runs = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-probe-runs"
        runs.mkdir(exist_ok=True)
        patch.setenv("N00BQA_TEST_RUNS", str(runs))
        yield cache


@pytest.fixture(autouse=True)
def shared_library_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own per-user cache of library vectors (n00bqa.retrieval.shared_vectors): what one
    test embeds must not make another test's build read instead of embed. The ONNX export stays
    shared by the session (`user_cache`)."""
    from n00bqa.retrieval import shared_vectors

    folder = tmp_path / "shared-library-vectors"
    monkeypatch.setattr(shared_vectors, "cache_root", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def fresh_consoles() -> Iterator[None]:
    """n00bqa's rich consoles are made once per process and read `COLUMNS` when made: each test gets
    new ones, so a width one test sets never reaches a later test (whatever order the tests run in)."""
    yield
    from n00bqa.cli import common

    common.console.reset()
    common.err_console.reset()


@pytest.fixture(autouse=True)
def study_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    shutil.copytree(FIXTURE_STUDY / "corpus", root / "corpus")
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
    from n00bqa.probes.lib.models import load_model, load_tokenizer

    return load_tokenizer(None), load_model(None)




@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (n00bqa.probes.lib.causal_lm), converted from the installed
    GGUF once per test session into the session's user cache, then loaded once."""
    from n00bqa.probes.lib.causal_lm import load_causal_lm

    return load_causal_lm(None)
