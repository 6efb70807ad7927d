"""The CLI's start-up shortcuts change nothing but speed: the identity-first runtime param gives
exactly what typer's own coercion gives for every parameter of every command, and building one
command (or one subcommand) of a module parses and fails exactly as building them all does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click import Context
from typer._coercion import build_runtime_param
from typer.core import _TyperParameter
from typer.testing import CliRunner

from n00bqa.cli import COMMANDS, _registered, app, fastparams

runner = CliRunner()


def every_parameter():
    """(command path, parameter, its command) for every typer parameter of every command, all built."""
    found = []
    stack = [(name, typer.main.get_group(_registered(module)).commands[name]) for name, module in COMMANDS.items()]
    stack.append(("n00bqa", typer.main.get_command(app)))
    while stack:
        path, command = stack.pop()
        found += [(path, p, command) for p in command.params if isinstance(p, _TyperParameter)]
        stack += [(f"{path} {n}", c) for n, c in getattr(command, "commands", {}).items()]
    return found


def outcome(runtime, value, param, ctx):
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001 - the same failure, or the test fails
        return "error", type(exc).__name__, str(exc)


SAMPLES = [None, "", "x", "open", "5", "-3", "1.5", "abc", 0, 3, 5, 1000, -1, 2.5, True, False, (), ("a",), ["a", "b"],
           "0", "-0", "05", "+5", " 5", "5 ", "5.0", "5_0", "100", "101", "0", "1e3", "\u0665", "99999999999999999999"]


def test_identity_first_coerces_exactly_as_typer_does():
    assert fastparams.install()
    params = every_parameter()
    assert len(params) > 40
    shortcut = 0
    for path, param, command in params:
        ctx = Context(command)
        values = [*SAMPLES, param.default]
        for value in values:
            fast = fastparams._IdentityFirst(param, build_runtime_param)
            ours = outcome(fast, value, param, ctx)
            theirs = outcome(build_runtime_param(param.type_descriptor), value, param, ctx)
            assert ours == theirs, (path, param.name, value)
            shortcut += fast._default is None  # answered without building typer's runtime param
    assert shortcut > 100  # the shortcut is really taken (None, str given a str, int defaults)


def test_the_shortcut_is_installed_on_typer_parameters():
    param = typer.main.get_command(app).params[0]
    assert param._runtime_param is None or isinstance(param._runtime_param, fastparams._IdentityFirst)
    assert isinstance(param.get_runtime_param(), fastparams._IdentityFirst)


CHECK = ("import sys\nfrom n00bqa.cli import app\nsys.argv = ['n00bqa', *sys.argv[1:]]\n"  # not main(): it exits early
         "try:\n    app(prog_name='n00bqa')\nexcept SystemExit:\n    pass\n"
         "print('MODULES', sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n")


@pytest.mark.parametrize("args", [["questions"], ["questions", "--json"], ["show", "model-size"], ["--help"]])
def test_list_commands_import_no_pydantic_yaml_or_markdown(args, study_root: Path):
    done = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    modules = set(eval(line[8:]))  # noqa: S307 - our own child's list of names
    assert "pydantic" not in modules and "yaml" not in modules, args  # the fixture's front matter is simple
    assert "markdown_it" not in modules, args  # show renders our Markdown without it (n00bqa.markdown_lite)


@pytest.mark.parametrize("args", [
    ["questions"], ["questions", "ad"], ["questions", "add"], ["questions", "--status", "nope"],
    ["questions", "--chapter", "x"], ["questions", "--tag", "add"], ["questions", "note", "--help"], ["show"],
    ["show", "model-size", "--json"], ["questions", "check"], ["ask", "--help"],
])
def test_one_subcommand_built_parses_and_fails_as_all_built(args, monkeypatch):
    import n00bqa.cli as cli

    narrowed = runner.invoke(app, args, terminal_width=100)
    monkeypatch.setattr(cli, "_only", lambda sub, name, rest: sub)
    whole = runner.invoke(app, args, terminal_width=100)
    assert (narrowed.exit_code, narrowed.stdout, narrowed.stderr) == (whole.exit_code, whole.stdout, whole.stderr)


def test_group_help_still_lists_every_subcommand():
    result = runner.invoke(app, ["questions", "--help"])
    assert result.exit_code == 0
    for name in ("add", "set-status", "note", "set", "rm", "edit", "check"):
        assert name in result.stdout
    listing = runner.invoke(app, ["questions"])
    assert listing.exit_code == 0 and "model-size" in listing.stdout
