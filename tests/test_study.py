"""The study root: found once, the built-in journey when there is none (read-only), `init`, `where`,
and the journey shipped inside the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.errors import RootError
from n00bqa.study import JOURNEY, Study, init_root

runner = CliRunner()
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A folder with no study root in it or above it, and a private user cache."""
    folder = tmp_path / "nowhere"
    folder.mkdir()
    monkeypatch.delenv("N00BQA_ROOT")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return folder


def test_without_a_root_reads_the_builtin_journey_and_says_so(nowhere, tmp_path):
    study = Study.find()
    assert study.builtin and study.root == JOURNEY.resolve()
    assert study.state_path() == tmp_path / "cache" / "n00bqa" / f"builtin-{__import__('n00bqa').__version__}"
    result = runner.invoke(app, ["questions", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)
    assert "built-in questions (read-only)" in result.stderr and "n00bqa init PATH" in result.stderr


@pytest.mark.parametrize("args", [["questions", "add", "Why?"], ["questions", "note", "model-size", "x"],
                                  ["questions", "set-status", "model-size", "answered"], ["probe", "new", "mine"]])
def test_writing_commands_without_a_root_refuse_naming_init(nowhere, args):
    before = sorted(p.name for p in (JOURNEY / "questions").iterdir())
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "n00bqa init PATH" in lines[0]
    assert sorted(p.name for p in (JOURNEY / "questions").iterdir()) == before


def test_init_copies_the_journey_and_refuses_an_existing_root(nowhere):
    result = runner.invoke(app, ["init", "mine"])
    assert result.exit_code == 0, result.output
    root = nowhere / "mine"
    shipped = sorted(p.name for p in (JOURNEY / "questions").glob("*.md"))
    assert sorted(p.name for p in (root / "questions").glob("*.md")) == shipped
    assert (root / "corpus" / "reading-list.yaml").read_text() == (JOURNEY / "corpus" / "reading-list.yaml").read_text()
    assert f"{len(shipped)} questions" in " ".join(result.stdout.split()) and "cd " in result.stdout
    again = runner.invoke(app, ["init", "mine"])
    assert again.exit_code == 1 and "already a study root" in again.stderr
    with pytest.raises(RootError):
        init_root(root)
    assert runner.invoke(app, ["--root", str(root), "questions", "add", "Why?", "--id", "why",
                                 "--no-evidence"]).exit_code == 0


def test_init_empty_makes_a_root_with_nothing_in_it(nowhere):
    study, counts = init_root(nowhere / "blank", empty=True)
    assert counts == {"questions": 0, "notes": 0}
    assert not study.builtin and Study.find(study.root).root == study.root
    result = runner.invoke(app, ["--root", str(study.root), "questions", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_where_names_every_folder(study_root):
    data = json.loads(runner.invoke(app, ["where", "--json"]).stdout)
    assert data["root"] == str(study_root) and data["builtin"] is False
    assert data["index"] == str(study_root / ".n00bqa" / "index")
    assert data["user cache"] == os.path.join(os.environ["XDG_CACHE_HOME"], "n00bqa")  # the shared export
    text = runner.invoke(app, ["where"]).stdout
    assert str(study_root / ".n00bqa" / "probe-cache") in text and "(your own)" in text


def test_the_wheel_carries_the_journey(tmp_path):
    """A non-editable install has the questions, reading list and notes inside the package.

    Built from a copy of the tracked files, so the build leaves nothing in the checkout."""
    import shutil

    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name:
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (PROJECT / name).is_symlink():
                target.symlink_to((PROJECT / name).readlink())
            elif (PROJECT / name).is_file():
                shutil.copy2(PROJECT / name, target)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("n00bqa-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    # What the project ships (its tracked files), not what a learner has added to questions/ since.
    for path in (source / "questions").glob("*.md"):
        assert f"n00bqa/builtin_study/questions/{path.name}" in names
    for path in (source / "corpus" / "notes").glob("*.md"):
        assert f"n00bqa/builtin_study/corpus/notes/{path.name}" in names
    assert any(name.startswith("n00bqa/builtin_study/questions/") for name in names)
    assert "n00bqa/builtin_study/corpus/reading-list.yaml" in names
