"""`n00bqa questions|show|--version` through typer's CliRunner, plus the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from n00bqa import __version__
from n00bqa.cli import app

runner = CliRunner()
# The fixture root's questions (tests/fixtures/study).
SEVEN = ["embedding-grad", "encoder-decoder", "hf-internals", "loss-and-benchmark", "model-size", "task-heads",
         "word-embedding"]


def run(*args: str):
    return runner.invoke(app, list(args))


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"n00bqa {__version__}"


def test_questions_table_lists_them_all():
    result = run("questions")
    assert result.exit_code == 0, result.output
    for qid in SEVEN:
        assert qid in result.stdout


def test_questions_json_shape_and_filters():
    result = run("questions", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert sorted(q["id"] for q in data) == SEVEN
    assert set(data[0]) == {"id", "question", "probes", "status", "chapter", "tags", "reading", "answer", "try", "notes",
                         "path"}
    tag = data[0]["tags"][0]
    tagged = json.loads(run("questions", "--json", "--tag", tag).stdout)
    assert tagged and all(tag in q["tags"] for q in tagged)
    assert json.loads(run("questions", "--json", "--status", "answered").stdout) == []


def test_show_renders_question_and_answer():
    result = run("show", "embedding-grad")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "How can PyTorch autograd compute the grad" in flat
    assert "Answer" in result.stdout
    data = json.loads(run("show", "embedding-grad", "--json").stdout)
    assert data["id"] == "embedding-grad" and data["probes"] == ["embedding-grad"]
    assert len(data["answer"].split()) >= 80


def test_add_set_status_note_round_trip(study_root: Path):
    result = run("questions", "add", "Why does attention scale by sqrt(d_k)?", "--id", "attention-scale",
                 "--tag", "attention", "--probe", "loss", "--no-evidence")  # evidence: tests/study_loop
    assert result.exit_code == 0, result.output
    path = study_root / "questions" / "attention-scale.md"
    assert path.is_file()
    assert run("questions", "add", "again", "--id", "attention-scale").exit_code == 1
    assert run("questions", "set-status", "attention-scale", "answered").exit_code == 0
    assert run("questions", "note", "attention-scale", "Softmax saturates otherwise.").exit_code == 0
    data = json.loads(run("show", "attention-scale", "--json").stdout)
    assert (data["status"], data["notes"], data["tags"]) == ("answered", "Softmax saturates otherwise.", ["attention"])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_input_gets_one_line_errors(study_root: Path):
    one_line_error(run("show", "nope"), "unknown question id 'nope'")
    one_line_error(run("questions", "set-status", "model-size", "done"), "'done'", "open, answered")
    one_line_error(run("questions", "--status", "done"), "'done'")
    one_line_error(run("questions", "add", "  "), "empty")
    one_line_error(run("questions", "note", "nope", "text"), "'nope'")
    one_line_error(run("--root", str(study_root / "missing"), "questions"), "missing", "questions/")


def test_broken_question_file_is_named_and_others_still_show(study_root: Path):
    broken = study_root / "questions" / "broken.md"
    broken.write_text("---\nid: broken\nquestion: [oops\nprobes: [loss]\nstatus: open\n---\n")
    result = run("questions")
    assert result.exit_code == 1
    for qid in SEVEN:
        assert qid in result.stdout
    assert f"{broken}:4: YAML error" in result.stderr
    assert "Traceback" not in result.output
    one_line_error(run("show", "broken"), f"{broken}:4")


def test_root_option_and_discovery_from_a_subfolder(study_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("N00BQA_ROOT")
    other = tmp_path / "other"
    shutil.copytree(study_root / "questions", other / "questions")
    (other / "questions" / "model-size.md").unlink()
    assert "model-size" not in run("--root", str(other), "questions").stdout
    nested = other / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    ids = [q["id"] for q in json.loads(run("questions", "--json").stdout)]
    assert "model-size" not in ids and len(ids) == 6


def test_installed_console_script(study_root: Path):
    exe = Path(sys.executable).parent / "n00bqa"
    script = str(exe) if exe.exists() else shutil.which("n00bqa")
    assert script, "the n00bqa console script is not installed (pip install -e .)"
    env = {**os.environ, "N00BQA_ROOT": str(study_root)}
    out = subprocess.run([script, "questions", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(q["id"] for q in json.loads(out.stdout)) == SEVEN
    bad = subprocess.run([script, "show", "nope"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: unknown question id 'nope'")
    assert "Traceback" not in bad.stderr


def test_set_replaces_probes_tags_and_chapter(study_root: Path):
    result = run("questions", "set", "model-size", "--probe", "param-count", "--probe", "embedding-grad",
                 "--tag", "size", "--chapter", "4")
    assert result.exit_code == 0, result.output
    data = json.loads(run("show", "model-size", "--json").stdout)
    assert (data["probes"], data["tags"], data["chapter"]) == (["param-count", "embedding-grad"], ["size"], 4)
    assert run("questions", "set", "model-size", "--probe", "none").exit_code == 0
    assert json.loads(run("show", "model-size", "--json").stdout)["probes"] == []
    one_line_error(run("questions", "set", "model-size", "--probe", "nope"), "unknown probe 'nope'")
    one_line_error(run("questions", "set", "model-size", "--chapter", "7"), "chapter 7")
    assert run("questions", "set", "model-size").exit_code == 2


def test_rm_needs_confirmation_without_a_terminal(study_root: Path):
    path = study_root / "questions" / "task-heads.md"
    one_line_error(run("questions", "rm", "task-heads"), "pass --yes")
    assert path.exists()
    assert run("questions", "rm", "task-heads", "--yes").exit_code == 0
    assert not path.exists()
    one_line_error(run("questions", "rm", "../task-heads", "--yes"), "lowercase words")


def _editor(tmp_path: Path, name: str, sed: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\nsed -i '{sed}' \"$1\"\n")
    script.chmod(0o755)
    return str(script)


def test_edit_saves_a_valid_edit_and_keeps_the_file_on_a_bad_one(study_root: Path, tmp_path: Path, monkeypatch):
    path = study_root / "questions" / "model-size.md"
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "good.sh", "s/^status: .*/status: answered/"))
    assert run("questions", "edit", "model-size").exit_code == 0
    assert "status: answered" in path.read_text()
    before = path.read_text()
    # A bad edit is named with its line, the editor reopens; closing it unchanged gives up.
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "bad.sh", "s/^status: .*/status: bogus/"))
    result = run("questions", "edit", "model-size")
    assert result.exit_code == 1
    assert "status 'bogus' must be one of" in result.stderr and "reopening the editor" in result.stderr
    assert path.read_text() == before
    monkeypatch.setenv("EDITOR", "true")  # saves nothing
    assert run("questions", "edit", "model-size").exit_code == 0 and path.read_text() == before


def test_unknown_tag_lists_the_known_ones_and_chapter_filters():
    result = run("questions", "--tag", "nope")
    assert result.exit_code == 2 and "the tags are:" in result.stderr and "embedding" in result.stderr
    ids = [q["id"] for q in json.loads(run("questions", "--json", "--chapter", "2").stdout)]
    assert ids == ["encoder-decoder", "word-embedding"]
    one_line_error(run("show", "model-sise"), "did you mean 'model-size'?")
