"""The `n00bqa` command: one small module per command group, each with `register(app)`.

Commands parse, call one library function, and render (or print `--json`). Library errors
(N00bqaError) become one `Error: ...` line on stderr and exit code 1; N00BQA_DEBUG=1 re-raises.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from n00bqa import __version__
from n00bqa.cli.common import fail
from n00bqa.errors import N00bqaError


# typer re-exports BadParameter but not its parent UsageError (it ships its own copy of click).
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class N00bqaGroup(TyperGroup):
    """Turns a user's mistake anywhere below into one line and a non-zero exit, never a traceback:
    a library error exits 1, a mistyped option or argument 2 (as click does), Ctrl-C 130."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            raise fail(f"{exc.format_message()} (see: {command} --help)", code=2) from None
        except N00bqaError as exc:
            if os.environ.get("N00BQA_DEBUG"):
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was left half-written", code=130) from None


app = typer.Typer(
    cls=N00bqaGroup,
    help="n00bqa: learn how Transformers work by asking, measuring and reading.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"n00bqa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    root: Optional[Path] = typer.Option(
        None, "--root", help="Study root (the folder holding questions/ and corpus/). Default: N00BQA_ROOT, "
        "then the current folder and its parents, then the project's own copy.", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """The root is resolved lazily, once, by n00bqa.cli.common.get_study (so --help needs none)."""


from n00bqa.cli import ask, browse, corpus, index, probes, questions  # noqa: E402

for _module in (ask, questions, probes, corpus, index, browse):
    _module.register(app)


def main() -> None:
    app(prog_name="n00bqa")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
