"""Shared by the study-loop tests (holds no tests): one real run per session of each of model-size's
probes (param-count, grad-rows, forward-flops), whose cached results each test's study root gets a
copy of, so `quiz model-size` reveals without rerunning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FIXTURE_STUDY

_shared: dict[str, Path] = {}


def param_count_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fixture-root copy whose probe cache holds param-count's default run (measured once, by the
    first `n00bqa quiz model-size --answer 124000000 --json`; its output is `first_quiz()`)."""
    if "root" in _shared:
        return _shared["root"]
    root = tmp_path_factory.getbasetemp() / "quiz-shared-root"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    shutil.copytree(FIXTURE_STUDY / "corpus", root / "corpus")
    # The first quiz on a root with no cached run: `quiz` runs the probe itself (and caches it).
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["--root", str(root), "quiz", "model-size", "--answer", "124000000", "--json"])
    assert result.exit_code == 0, result.output
    # model-size's other two probes (split out of param-count, issue 21) are cached too, so a quiz
    # that answers their predictions reveals without running them.
    for probe in ("grad-rows", "forward-flops"):
        run = CliRunner().invoke(app, ["--root", str(root), "probe", probe, "--json"])
        assert run.exit_code == 0, run.output
    _shared["first_quiz"] = result.stdout
    _shared["root"] = root
    return root


def copy_probe_cache(shared: Path, study_root: Path) -> None:
    shutil.copytree(shared / ".n00bqa" / "probe-cache", study_root / ".n00bqa" / "probe-cache")
    (study_root / ".n00bqa" / ".gitignore").write_text("*\n")


def first_quiz() -> str:
    """The stdout of the quiz that measured the shared root's param-count run."""
    return _shared["first_quiz"]
