"""`n00bqa init` (issue 25 items 2 and 3): it never replaces a learner's file, it makes the root
completely or leaves the folder exactly as found, and it copies the built-in study that
`n00bqa/builtin_study/files.txt` lists — the project's tracked files — never questions a learner
added to the checkout since."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_faults import read_only
from typer.testing import CliRunner

from n00bqa.builtin_study import builtin_files
from n00bqa.cli import app
from n00bqa.study import JOURNEY, Study

runner = CliRunner()
PROJECT = Path(__file__).resolve().parent.parent


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `folder`, by relative path."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    folder = tmp_path / "nowhere"
    folder.mkdir()
    monkeypatch.delenv("N00BQA_ROOT")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return folder


def test_the_builtin_list_is_the_projects_tracked_files():
    """Every tracked question, note and the reading list; not corpus/claims.yaml, the project's own
    upkeep (tests/test_claims.py), which is no part of a learner's study."""
    from n00bqa.builtin_study.__main__ import PATTERNS

    tracked = subprocess.run(["git", "ls-files", *PATTERNS], cwd=PROJECT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(builtin_files()) == sorted(tracked), "remake the list with: python -m n00bqa.builtin_study"
    for rel in builtin_files():
        assert (JOURNEY / rel).is_file(), rel


def test_init_over_a_learners_files_replaces_none_and_leaves_the_folder_as_found(nowhere):
    mine = nowhere / "mine"
    (mine / "corpus" / "notes").mkdir(parents=True)
    (mine / "corpus" / "notes" / "nanogpt.md").write_text("# My own nanoGPT notes\n")
    (mine / "corpus" / "reading-list.yaml").write_text("items: []  # mine\n")
    (mine / "todo.txt").write_text("read the paper\n")
    before = tree(mine)
    result = runner.invoke(app, ["init", str(mine)])
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "never replaces a file" in line and "[(" not in line
    assert tree(mine) == before


def test_init_beside_a_learners_other_files_keeps_them(nowhere):
    mine = nowhere / "mine"
    (mine / "corpus" / "notes").mkdir(parents=True)
    (mine / "corpus" / "notes" / "my-own.md").write_text("# Mine\n")
    result = runner.invoke(app, ["init", str(mine)])
    assert result.exit_code == 0, result.output
    assert (mine / "corpus" / "notes" / "my-own.md").read_text() == "# Mine\n"
    assert sorted(tree(mine)) == sorted({*builtin_files(), "questions", "corpus", "corpus/notes", "routing",
                                         "corpus/notes/my-own.md"})


@pytest.mark.parametrize("refused", ["corpus", "corpus/notes", "questions"])
def test_a_failed_init_leaves_nothing_and_runs_again(nowhere, refused):
    mine = nowhere / "mine"
    (mine / "corpus" / "notes").mkdir(parents=True)
    (mine / "questions").mkdir() if refused == "questions" else None
    (mine / "notes.txt").write_text("kept\n")
    if refused == "questions":  # a root already: init refuses it before anything is written
        before = tree(mine)
        result = runner.invoke(app, ["init", str(mine)])
        assert result.exit_code == 1 and "already a study root" in result.stderr and tree(mine) == before
        return
    before = tree(mine)
    with read_only(mine / refused):
        result = runner.invoke(app, ["init", str(mine)])
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot make a study root") and "Permission denied" in line and "[(" not in line
    assert tree(mine) == before  # no question file, no staging folder left
    again = runner.invoke(app, ["init", str(mine)])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (mine / "questions").glob("*.md")) == \
        sorted(Path(rel).name for rel in builtin_files() if rel.startswith("questions/"))


def test_a_failed_init_into_a_new_folder_removes_the_folder(nowhere):
    with read_only(nowhere / "new" / "deeper" / "corpus"):
        result = runner.invoke(app, ["init", "new/deeper"])
    assert result.exit_code == 1 and not (nowhere / "new").exists()


def test_questions_added_to_the_checkout_do_not_leak_into_init_or_the_builtin_list(nowhere, tmp_path, monkeypatch):
    """A question a README tour added to the checkout's questions/ is not built in. The checkout is
    a copy here (the built-in folder pointed at it), so the project's own questions/ is untouched."""
    import shutil

    import n00bqa.study

    checkout = tmp_path / "checkout"
    shutil.copytree(JOURNEY / "questions", checkout / "questions")
    shutil.copytree(JOURNEY / "corpus", checkout / "corpus")
    shutil.copytree(JOURNEY / "routing", checkout / "routing")
    text = (checkout / "questions" / "model-size.md").read_text().replace("id: model-size", "id: tour-added")
    (checkout / "questions" / "tour-added.md").write_text(text)
    (checkout / "corpus" / "added").mkdir()
    (checkout / "corpus" / "added" / "mine.md").write_text("# Mine\n")
    (checkout / "corpus" / "added.yaml").write_text("items:\n- {id: mine, file: added/mine.md, format: markdown}\n")
    monkeypatch.setattr(n00bqa.study, "JOURNEY", checkout)
    assert Study.find().builtin and Study.find().root == checkout
    result = runner.invoke(app, ["questions", "--json"])
    assert result.exit_code == 0 and "tour-added" not in result.stdout and '"model-size"' in result.stdout
    assert runner.invoke(app, ["show", "tour-added"]).exit_code == 1
    listed = runner.invoke(app, ["corpus", "list", "--json"])
    assert listed.exit_code == 0 and '"mine"' not in listed.stdout
    study, counts = n00bqa.study.init_root(nowhere / "fresh")
    assert not (study.root / "questions" / "tour-added.md").exists() and not (study.root / "corpus" / "added").exists()
    assert counts["questions"] == sum(rel.startswith("questions/") for rel in builtin_files())
