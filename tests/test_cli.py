"""The CLI's edge: one exit-code scheme, one line per mistake, 'did you mean', examples in every
help, and Ctrl-C handled from the entry point's first instruction."""

from __future__ import annotations

import builtins
import re

import pytest
from typer.testing import CliRunner

from n00bqa.cli import COMMANDS, app

runner = CliRunner()


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args, code, fragment", [
    (["qestions"], 2, "did you mean 'questions'?"),
    (["probe", "param-cont"], 1, "did you mean 'param-count'?"),
    (["questions", "--bogus"], 2, "No such option: --bogus"),
    (["show", "nope"], 1, "unknown question id 'nope'"),
    (["show", "../outside/model-size"], 1, "lowercase words joined by '-'"),
])
def test_exit_codes_and_one_line_per_mistake(args, code, fragment):
    result = runner.invoke(app, args)
    assert result.exit_code == code
    line = one_line(result)
    assert fragment in line and line.count("(see:") <= 1


def test_help_lists_every_command_with_the_exit_codes():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout
    assert "Exit codes: 0" in result.stdout and "130 interrupted" in result.stdout
    assert "<bool>" not in result.stdout  # flags take no value, so they show none


@pytest.mark.parametrize("args", [["ask"], ["questions"], ["questions", "add"], ["questions", "set-status"],
                                  ["questions", "note"], ["show"], ["probes"], ["probe", "new"], ["search"],
                                  ["browse"]])
def test_every_command_help_has_an_example(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout and "n00bqa " in result.stdout.split("Example", 1)[1]


def _every_command(group, path=(), parent=None):
    with group.context_class(group, info_name=path[-1] if path else "n00bqa", parent=parent) as ctx:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            yield (*path, name)
            if hasattr(command, "list_commands"):  # a group: the probes' too
                yield from _every_command(command, (*path, name), ctx)


def test_every_option_names_its_value_not_its_type():
    """`--tag TAG`, `-k N`, `--lr X`, `--model PATH`: never `<list[str]>` or `<int>`, in every
    command's help and every probe's (their options are made from the options dataclasses)."""
    import typer.main

    commands = list(_every_command(typer.main.get_command(app)))
    assert ("probe", "param-count") in commands and ("questions", "add") in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        options = result.stdout.split("Options:", 1)[-1]
        assert re.findall(r"^ +-\S.*?<[^>]+>", options, flags=re.M) == [], path


def test_ctrl_c_while_the_cli_is_still_importing_is_one_line(monkeypatch, capsys):
    import n00bqa.__main__ as entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "n00bqa.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "Error: interrupted; nothing was left half-written\n"
