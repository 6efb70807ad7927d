"""The `n00bqa` command: one small module per command group, each with `register(app)`.

Commands parse, call one library function, and render (or print `--json`). Library errors
(N00bqaError) become one `Error: ...` line on stderr and exit code 1; N00BQA_DEBUG=1 re-raises.

The root group is lazy: `n00bqa questions` imports and builds only n00bqa.cli.questions' commands,
and `--help` reads each command's one-line help from its docstring without building any, so the
list commands start about as fast as typer itself. Help is plain click text (no boxes), so it
reads and copies the same at any width and in a pipe.
"""

from __future__ import annotations

import copy
import errno
import importlib
import inspect
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from n00bqa import __version__
from n00bqa.cli.common import fail
from n00bqa.cli import fastparams
from n00bqa.errors import N00bqaError


# No pydantic import for values typer need not convert (a str given a str, a default, a None).
fastparams.install()

# typer re-exports BadParameter but not its parent UsageError (it ships its own copy of click).
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class N00bqaGroup(TyperGroup):
    """Turns a user's mistake anywhere below into one line and a non-zero exit, never a traceback:
    a library error exits 1, a mistyped option or argument 2 (as click does), Ctrl-C 130."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    _rest: Optional[list] = None  # the arguments after the command's name, while it is resolved

    def get_command(self, ctx, name: str):
        module = COMMANDS.get(name)
        if module is None:
            return None
        return typer.main.get_group(_only(_registered(module), name, self._rest)).commands.get(name)

    def format_commands(self, ctx, formatter) -> None:
        rows = [(name, _short_help(name)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            from difflib import get_close_matches

            close = get_close_matches(name, COMMANDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the commands are: {', '.join(COMMANDS)}"
            raise _UsageError(f"no command {name!r}{hint}", ctx=ctx)
        self._rest = list(args[1:])
        try:
            return super().resolve_command(ctx, args)
        finally:
            self._rest = None

    def make_context(self, info_name, args, parent=None, **extra):
        """The root's own options (`--root`, `--version`) are parsed here, before invoke: a mistake
        in them is the same one line and exit 2 as any other usage error (not click's three lines)."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `n00bqa` alone: the help, exit 2 as click does
                typer.echo(exc.ctx.get_help() if exc.ctx is not None else "")
                raise typer.Exit(2) from None
            raise fail(f"{exc.format_message()} (see: {info_name or 'n00bqa'} --help)", code=2) from None

    def invoke(self, ctx):
        try:
            from n00bqa.settings import check_all

            check_all()  # a bad N00BQA_* setting is one line before any command starts
            return super().invoke(ctx)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `n00bqa probe` alone: its help, exit 2 as click does
                typer.echo(exc.ctx.get_help())
                raise typer.Exit(2) from None
            command = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            message = exc.format_message()
            see = "" if "(see:" in message else f" (see: {command} --help)"
            raise fail(f"{message}{see}", code=2) from None
        except N00bqaError as exc:
            if os.environ.get("N00BQA_DEBUG"):
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was left half-written", code=130) from None
        except OSError as exc:
            # what no command expects: a full disk (output to /dev/full), an I/O error; a closed pipe
            # (`| head`) is typer's to end quietly
            if exc.errno == errno.EPIPE or os.environ.get("N00BQA_DEBUG"):
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            raise fail(f"{exc.strerror or exc}{where}; stopped (N00BQA_DEBUG=1 shows where)") from None
        except Exception as exc:
            from n00bqa.__main__ import interrupted

            # Ctrl-C inside a C extension's import or a class body arrives wrapped (ImportError,
            # RuntimeError): the same interrupt, the same one line
            if interrupted(exc) and not os.environ.get("N00BQA_DEBUG"):
                raise fail("interrupted; nothing was left half-written", code=130) from None
            raise


# Each command's module (n00bqa/cli/<module>.py, whose register(app) adds it), in --help order.
COMMANDS = {
    "ask": "ask", "questions": "questions", "show": "questions", "probes": "probes", "probe": "probes",
    "search": "index", "index": "index", "corpus": "corpus", "browse": "browse", "init": "study",
    "where": "study", "quiz": "quiz_review", "review": "quiz_review", "progress": "progress",
}


@lru_cache(maxsize=None)
def _registered(module: str) -> typer.Typer:
    """A typer app holding just this module's commands (imports the module, builds nothing yet)."""
    sub = typer.Typer(rich_markup_mode=None, add_completion=False)
    importlib.import_module(f"n00bqa.cli.{module}").register(sub)
    _keep_examples_whole(sub)
    return sub


def keep_examples(text: str | None) -> str | None:
    """Help text whose example commands click prints as written: a paragraph of `n00bqa ...` lines
    gets click's `\b` mark, so it is not re-wrapped to the terminal's width (which broke a long
    example across two lines, so it could not be copied)."""
    if not text or "n00bqa " not in text:
        return text
    paragraphs = text.split("\n\n")
    for i, paragraph in enumerate(paragraphs):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if lines and all(line.strip().startswith("n00bqa ") for line in lines) and lines[0].strip() != "\b":
            indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            paragraphs[i] = f"{indent}\b\n{paragraph}"
    return "\n\n".join(paragraphs)


def _keep_examples_whole(sub: typer.Typer) -> None:
    for info in sub.registered_commands:
        if info.help:
            info.help = keep_examples(info.help)
        elif info.callback is not None and info.callback.__doc__:
            info.callback.__doc__ = keep_examples(inspect.cleandoc(info.callback.__doc__))
    for group in sub.registered_groups:
        inner = group.typer_instance
        if group.help:
            group.help = keep_examples(group.help)
        if inner is not None:
            if isinstance(inner.info.help, str):
                inner.info.help = keep_examples(inner.info.help)
            _keep_examples_whole(inner)


def _name(info) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _only(sub: typer.Typer, name: str, rest: Optional[list]) -> typer.Typer:
    """A copy of a module's typer app holding only command `name`: typer builds every command of an
    app it is given (parameters, annotations, help), ~1 ms each, and `show` needs one.

    For a group (`questions`), `rest` (the arguments after its name) narrows it further: only the
    subcommands named in `rest` are built, or none for `n00bqa questions` alone. Any other word
    there (a mistyped subcommand, an option's value) or a help flag, and the whole group is built,
    so what click says and does is exactly what it would say and do with every subcommand present.
    """
    one = copy.copy(sub)
    one.registered_commands = [info for info in sub.registered_commands if _name(info) == name]
    one.registered_groups = []
    for info in sub.registered_groups:
        if info.name != name:
            continue
        inner = info.typer_instance
        names = {_name(c) for c in inner.registered_commands}
        words = [a for a in rest if not a.startswith("-")] if rest is not None else None
        if words is not None and not inner.registered_groups and set(words) <= names \
                and not {"-h", "--help"} & set(rest):
            info = copy.copy(info)
            info.typer_instance = copy.copy(inner)
            info.typer_instance.registered_commands = [c for c in inner.registered_commands if _name(c) in words]
        one.registered_groups.append(info)
    return one


def _short_help(name: str) -> str:
    sub = _registered(COMMANDS[name])
    for info in sub.registered_commands:
        if info.name == name:
            text = info.help or inspect.getdoc(info.callback) or ""
            break
    else:
        info = next(i for i in sub.registered_groups if i.name == name)
        text = info.help or info.typer_instance.info.help or ""
    return text.strip().split("\n\n")[0].replace("\n", " ")


def _shell_name() -> str | None:
    """The shell `--show-completion` / `--install-completion` write for: typer asks shellingham, which
    reads the process tree and finds none when n00bqa runs under nohup, a CI runner or an IDE; then the
    login shell in $SHELL stands in (typer said "Shell  not supported." there)."""
    import shellingham

    try:
        return shellingham.detect_shell()[0]
    except shellingham.ShellDetectionFailure:
        return Path(os.environ.get("SHELL", "")).name.lower() or None


typer.completion._get_shell_name = _shell_name  # typer's own lookup, with the $SHELL fallback

app = typer.Typer(
    cls=N00bqaGroup,
    rich_markup_mode=None,
    epilog="Exit codes: 0 done; 2 usage error (a wrong command or option, a missing argument, a value of the "
           "wrong type or out of its range: nothing ran); 1 failed (the command line was right, but what it "
           "names or asks cannot be done: an unknown id or probe, an empty query...; the one 'Error:' line "
           "says why and what to do); 130 interrupted. Set N00BQA_DEBUG=1 for a traceback.",
    help="n00bqa: learn how Transformers work by asking, measuring and reading.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion: commands, options, ids, probe names
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"n00bqa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    root: Optional[Path] = typer.Option(
        None, "--root", metavar="PATH", help="Study root (the folder holding questions/ and corpus/). Default: N00BQA_ROOT, "
        "then the current folder and its parents, then the built-in questions (read-only).", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """The root is resolved lazily, once, by n00bqa.cli.common.get_study (so --help needs none)."""


def main() -> None:
    from n00bqa.cli import common

    common.FAST_EXIT = True  # the console script: a command may end without interpreter teardown
    for stream in (sys.stdout, sys.stderr):
        # a terminal or PYTHONIOENCODING that cannot write some character (`·`, `×`, a quote's
        # letters) gets a `?` for it, not a UnicodeEncodeError halfway through the output
        if getattr(stream, "errors", "strict") == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    app(prog_name="n00bqa")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
