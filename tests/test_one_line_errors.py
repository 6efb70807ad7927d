"""One line, never a traceback (issue 26 items 4 and 5): bad URLs, an editor that deletes or mangles
the file or cannot be read, a PAGER that cannot be read, a bad N00BQA_ONNX_THREADS, an ASCII-only
output encoding, output to a full disk, a learner probe that raises; and `--json` output that stays
strict JSON whatever a learner's probe prints or measures."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app

runner = CliRunner()


def _exe() -> str:
    exe = Path(sys.executable).parent / "n00bqa"
    return str(exe) if exe.exists() else shutil.which("n00bqa")


def _one_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("url", ["http://exa mple.com/", "http://example.com/\x01a", "https://example.com/a\tb",
                                 "http://example.com/\x7f"])
def test_corpus_add_refuses_a_url_with_spaces_or_control_characters(url):
    line = _one_line(runner.invoke(app, ["corpus", "add", url]))
    assert "not a valid URL" in line and "%20" in line


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("body, words", [
    ('rm "$1"', "removed the file"),
    ("printf 'x\\377\\376' > \"$1\"", "not UTF-8"),
])
def test_questions_edit_survives_an_editor_that_deletes_or_mangles(tmp_path, study_root, body, words):
    before = (study_root / "questions" / "model-size.md").read_text()
    result = runner.invoke(app, ["questions", "edit", "model-size"], env={"EDITOR": _editor(tmp_path, body),
                                                                       "VISUAL": ""})
    assert words in _one_line(result)
    assert (study_root / "questions" / "model-size.md").read_text() == before  # nothing was saved


def test_questions_edit_with_an_unreadable_editor_command(study_root):
    line = _one_line(runner.invoke(app, ["questions", "edit", "model-size"],
                                   env={"EDITOR": 'vi "unclosed', "VISUAL": ""}))
    assert "'vi \"unclosed'" in line and "EDITOR=nano" in line


def test_an_unreadable_pager_still_prints(monkeypatch, capsys):
    from n00bqa.cli import common

    monkeypatch.setenv("PAGER", 'less "unclosed')
    common._run_pager("the whole output\n")
    assert "the whole output" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "100000"])
def test_a_bad_onnx_threads_value_is_one_line(monkeypatch, value):
    from n00bqa.errors import N00bqaError
    from n00bqa.settings import onnx_threads

    monkeypatch.setenv("N00BQA_ONNX_THREADS", value)
    with pytest.raises(N00bqaError, match="N00BQA_ONNX_THREADS"):
        onnx_threads()
    monkeypatch.setenv("N00BQA_ONNX_THREADS", "3")
    assert onnx_threads() == 3


def test_an_ascii_only_output_gets_question_marks_not_a_traceback(study_root):
    env = {**os.environ, "N00BQA_ROOT": str(study_root), "PYTHONIOENCODING": "ascii", "COLUMNS": "80"}
    out = subprocess.run([_exe(), "show", "model-size", "--no-pager"], env=env, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr and b"model-size" in out.stdout
    out.stdout.decode("ascii")  # all of it written, in the encoding asked for


@pytest.mark.parametrize("args", [["questions"], ["questions", "--json"], ["show", "model-size", "--no-pager"]])
def test_output_to_a_full_disk_is_one_line(study_root, args):
    env = {**os.environ, "N00BQA_ROOT": str(study_root)}
    env.pop("N00BQA_DEBUG", None)
    with open("/dev/full", "w") as full:
        out = subprocess.run([_exe(), *args], env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.splitlines() == ["Error: No space left on device; stopped (N00BQA_DEBUG=1 shows where)"]


# --- a learner's probe that raises, prints or measures NaN -----------------------------------------


def _learner_probe(study_root: Path, name: str, edit) -> Path:
    result = runner.invoke(app, ["probe", "new", name])
    assert result.exit_code == 0, result.output
    path = study_root / "probes" / f"{name.replace('-', '_')}.py"
    path.write_text(edit(path.read_text()))
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("step", ["measure", "report"])
def test_a_learner_probe_that_raises_names_its_own_line(study_root, step):
    signature = {"measure": "def measure(opts: Options, ctx: Context) -> Numbers:",
                 "report": "def report(n: Numbers, opts: Options) -> Report:"}[step]
    raising = f'{signature}\n    raise RuntimeError("the learner\'s bug")'
    path = _learner_probe(study_root, "boom", lambda source: source.replace(signature, raising, 1))
    line = _one_line(runner.invoke(app, ["probe", "boom"]))
    where = _line_of(path, "the learner's bug")
    assert f"probes/boom.py:{where}: RuntimeError: the learner's bug" in line, line
    assert f"failed in {step}" in line and "N00BQA_DEBUG=1" in line


def test_json_stays_strict_whatever_a_learner_probe_prints_or_measures(study_root):
    def edit(source: str) -> str:
        signature = "def report(n: Numbers, opts: Options) -> Report:"
        return source.replace(signature, f'{signature}\n    print("debugging print")\n'
                              "    n.max_abs_diff = float('nan')\n    n.tolerance = float('inf')", 1)

    _learner_probe(study_root, "noisy", edit)
    result = runner.invoke(app, ["probe", "noisy", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_constant=lambda word: pytest.fail(f"non-strict JSON: {word}"))
    assert "debugging print" not in result.stdout and "debugging print" in result.stderr
    cells = json.dumps(data)
    assert not re.search(r"\bNaN\b|Infinity", cells)
    assert data["probe"] == "noisy"


def test_probe_new_hints_commands_the_first_install_can_run(study_root):
    # issue 26 item 13: the hint ran the tests with pytest, which only the test extra installs
    result = runner.invoke(app, ["probe", "new", "my-count"], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "n00bqa probe my-count" in lines and "n00bqa probe test my-count" in lines
    assert "python -m pytest" not in result.stdout
    tested = runner.invoke(app, ["probe", "test", "my-count"])
    assert tested.exit_code == 0, tested.output
    assert re.search(r"^3 passed, 0 failed, 0 skipped$", tested.stdout, flags=re.M), tested.stdout
    # a failing test is named with its line, and the exit code says so
    test_file = study_root / "probes" / "test_my_count.py"
    test_file.write_text(test_file.read_text().replace("assert unexplained_numbers(result) == []",
                                                       "assert unexplained_numbers(result) == ['x']"))
    failed = runner.invoke(app, ["probe", "test", "my-count"])
    assert failed.exit_code == 1 and "FAILED  test_every_number_in_a_finding_is_measured" in failed.stdout
    missing = runner.invoke(app, ["probe", "test", "no-such"])
    assert missing.exit_code == 1 and "probe new" in missing.stderr
