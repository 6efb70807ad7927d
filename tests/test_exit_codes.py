"""One exit-code rule over every command (issue 26 item 12, written in the README): 2 when the
command line is wrong (nothing ran), 1 when it is right but what it names or asks cannot be done,
each with exactly one `Error:` line on stderr and no traceback."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from n00bqa.cli import COMMANDS, app

runner = CliRunner()


def _error(args: list[str], code: int) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, (args, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: "), (args, result.stderr)
    assert "Traceback" not in result.output and "Usage:" not in result.stderr
    return errors[0]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unknown_option_is_a_usage_error_for_every_command(command):
    line = _error([command, "--no-such-option"], 2)
    assert "--no-such-option" in line


ROOT_MISTAKES = [["--root"], ["--bogus", "questions"], ["no-such-command"], ["--root", "/", "qestions"]]


@pytest.mark.parametrize("args", ROOT_MISTAKES)
def test_root_option_and_command_mistakes_are_one_line_exit_2(args):
    _error(args, 2)


BAD_VALUES = [  # a value of the wrong type or outside its range: exit 2
    ["ask", "what is a token", "-k", "0"], ["ask", "what is a token", "-k", "101"],
    ["search", "token", "-k", "0"], ["search", "token", "-k", "101"],
    ["probe", "attention", "--seq-len", "0"], ["probe", "param-count", "--seed", "x"],
    ["questions", "add", "why?", "--chapter", "9"], ["questions", "set-status", "model-size", "maybe"],
    ["questions", "set", "model-size", "--chapter", "0"],
    ["quiz", "model-size", "--answer"], ["show"],
]


@pytest.mark.parametrize("args", BAD_VALUES)
def test_a_bad_value_is_a_usage_error(args):
    _error(args, 2)


UNKNOWN_NAMES = [  # the command line is right; what it names does not exist: exit 1
    ["show", "nope"], ["quiz", "nope"], ["probe", "nope"], ["questions", "set-status", "nope", "answered"],
    ["questions", "note", "nope", "a note"], ["questions", "edit", "nope"], ["questions", "rm", "nope", "--yes"],
    ["probe", "test", "nope"], ["show", "model-sise"],
    ["ask", ""], ["corpus", "add", "/no/such/file.md"],
]


@pytest.mark.parametrize("args", UNKNOWN_NAMES)
def test_an_unknown_id_or_refused_request_exits_1(args):
    _error(args, 1)


def test_the_rule_is_in_the_help_and_the_readme():
    from conftest import PROJECT

    readme = (PROJECT / "README.md").read_text()
    assert re.search(r"\| 2 \| the command line is wrong", readme) and re.search(r"\| 1 \| the command line is right",
                                                                                 readme)
    epilog = " ".join(runner.invoke(app, ["--help"]).stdout.split())
    assert "2 usage error" in epilog and "1 failed" in epilog and "130 interrupted" in epilog


def test_last_run_re_run_line_has_the_options_it_shows(study_root, tmp_path_factory):
    from support.study_loop import copy_probe_cache, param_count_root

    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    result = runner.invoke(app, ["probe", "param-count", "--last", "--no-pager"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(line.strip("│ ") for line in result.stdout.splitlines())
    ran_with = re.search(r"ran with: (.*?--seed \d+)", text).group(1)
    assert f"Re-run it with: n00bqa probe param-count {ran_with}" in text
    assert any(line.strip() == f"n00bqa probe param-count {ran_with}" for line in result.stdout.splitlines())
