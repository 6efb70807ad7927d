"""`n00bqa questions check`: every file loads, every probe and reading id exists, every `## Try`
command parses with the CLI's own parser (typer's click) down to its last subcommand, so a
renamed probe option or a mistyped command is caught without running anything. On the fixture
root; the learner runs the same command on their own list."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.cli.questions import parse_error, try_commands
from n00bqa.questions import load_questions

runner = CliRunner()


def test_every_fixture_question_has_try_commands_for_its_probes_and_id(study):
    for question in load_questions(study)[0]:
        lines = try_commands(question)
        for probe in question.probes:
            assert f"n00bqa probe {probe}" in lines
        assert f"n00bqa show {question.id}" in lines
        assert any(line.startswith("n00bqa ask ") for line in lines)


def test_check_passes_on_the_fixture_root():
    result = runner.invoke(app, ["questions", "check"])
    assert result.exit_code == 0, result.output
    assert "all consistent" in result.stdout


@pytest.mark.parametrize("line, fragment", [
    ("n00bqa probe loss --no-such-option 1", "No such option"),
    ("n00bqa probe no-such-probe", "unknown probe 'no-such-probe'"),
    ("n00bqa index", "names a group"),
    ("n00bqa show 'unclosed", "quotation"),
])
def test_the_parser_catches_a_wrong_command(line, fragment):
    assert fragment in parse_error(line)


def test_valid_lines_parse():
    for line in ("n00bqa probe loss --train-steps 0", "n00bqa show model-size --json", 'n00bqa ask "why?" -k 3',
                 "n00bqa questions", "n00bqa index build"):
        assert parse_error(line) == "", line


def test_check_names_each_problem_and_exits_1(study_root):
    path = study_root / "questions" / "model-size.md"
    text = path.read_text()
    text = text.replace('probes: ["param-count", ', 'probes: ["param-count", "nope", ')
    text = text.replace('reading: ["nanogpt"', 'reading: ["no-such-item", "nanogpt"')
    path.write_text(text.replace("## Try\n", "## Try\n\nn00bqa probe param-count --bogus 1\n"))
    result = runner.invoke(app, ["questions", "check"])
    assert result.exit_code == 1
    assert "unknown probe 'nope'" in result.stderr
    assert "reading 'no-such-item' is not in" in result.stderr
    assert "No such option: --bogus" in result.stderr


def test_check_with_root_from_outside_reads_that_roots_probes(study_root, tmp_path, monkeypatch):
    # issue 26 item 6: `n00bqa --root R questions check` from outside R said "no study root here" and
    # parsed R's Try commands against the built-in probes only
    assert runner.invoke(app, ["probe", "new", "my-count"]).exit_code == 0
    path = study_root / "questions" / "model-size.md"
    path.write_text(path.read_text().replace("## Try\n\n```\n", "## Try\n\n```\nn00bqa probe my-count\n", 1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("N00BQA_ROOT")
    result = runner.invoke(app, ["--root", str(study_root), "questions", "check"])
    assert result.exit_code == 0, result.output
    assert "no study root here" not in result.stderr and "all consistent" in result.stdout


def test_probe_new_refuses_a_name_discovery_would_skip_as_a_test(study_root):
    for name in ("test-x", "test"):
        result = runner.invoke(app, ["probe", "new", name])
        assert result.exit_code == 1 and "x-test" in result.stderr or "my-test" in result.stderr, result.output
        assert not (study_root / "probes" / f"{name.replace('-', '_')}.py").exists()
    assert runner.invoke(app, ["probe", "new", "x-test"]).exit_code == 0
    assert runner.invoke(app, ["probe", "x-test", "--help"]).exit_code == 0  # discovered
