"""What every command module shares: consoles, the one-line error exit, JSON output."""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable

import typer

from n00bqa.study import Study


class _LazyConsole:
    """A rich Console made on first use: importing rich.console costs more than `--help` itself."""

    def __init__(self, **options: Any) -> None:
        self._options, self._console = options, None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)

    def reset(self) -> None:
        """Forget the Console, so the next use makes a new one (reading `COLUMNS` again)."""
        self._console = None

    # `with console:` (rich's Live and Progress do it) looks these up on the type, not via __getattr__
    def __enter__(self) -> Any:
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc: Any) -> None:
        self.__getattr__("__exit__")(*exc)


console: Any = _LazyConsole()
err_console: Any = _LazyConsole(stderr=True)


FAST_EXIT = False  # set by n00bqa.cli.main (the console script); tests run the app in-process


def exit_after_output() -> None:
    """End the console script now that everything is written: flush stdout and stderr, then
    os._exit(0), skipping the interpreter's teardown (freeing onnxruntime's session, numpy and the
    index: tens of milliseconds nobody waits for). Call it only when nothing is left to do: no
    thread, lock, temporary file or pager still open. In-process (tests, the browser) it returns."""
    if not FAST_EXIT:
        return
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can reach it anyway
            pass
    os._exit(0)


def get_study(write: bool = False) -> Study:
    """The study root of this invocation, resolved once (from `--root`, N00BQA_ROOT, the cwd...)
    at the edge and kept on the root click context; every command passes it down.

    Args:
        write: the command changes the study material; on the built-in (read-only) journey it
            stops at once with the one line that names `n00bqa init`.
    """
    root_ctx = _root_context()
    if root_ctx is None:  # shell completion runs outside any context: the root the cwd finds, quietly
        return Study.find(None)
    if not isinstance(root_ctx.obj, Study):
        root_ctx.obj = Study.find(root_ctx.params.get("root"))
        if write:
            root_ctx.obj.require_writable()
        if root_ctx.obj.builtin and not os.environ.get("_N00BQA_COMPLETE"):  # a shell completing: no note
            typer.echo("Note: no study root here, so this reads n00bqa's built-in questions (read-only); "
                       "make your own with: n00bqa init PATH", err=True)
    return root_ctx.obj


def _root_context():
    # typer vendors its own click (typer._click); its context stack is the one that is live.
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    return None if context is None else context.find_root()


ERROR_SAID = False  # an `Error: ...` line is out (n00bqa.__main__ then adds none of its own)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one `Error: ...` line on stderr; return the Exit to raise."""
    global ERROR_SAID
    typer.echo(f"Error: {message}", err=True)
    ERROR_SAID = True
    return typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"Warning: {message}", err=True)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (never rich-wrapped), so other tools can parse it: strict JSON, a number
    that is not finite (NaN, infinity) printed as null."""
    typer.echo(json.dumps(_finite_only(data), indent=2, ensure_ascii=False, default=str, allow_nan=False))


def _finite_only(data: Any) -> Any:
    if isinstance(data, float):
        return data if data == data and data not in (float("inf"), float("-inf")) else None
    if isinstance(data, dict):
        return {key: _finite_only(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_only(value) for value in data]
    return data


class RichReporter:
    """Progress bars on stderr (n00bqa.reporter.Reporter), shown only once the work has lasted `delay` seconds.

    With `lines=True` and stderr not a terminal (a log file, a pipe, a CI job), each task is one
    plain line when it starts instead ("index: Embedding passages (3,412)"): a bar there prints
    nothing (or a line per refresh), so a minutes-long build would look like a hang.
    """

    def __init__(self, delay: float = 1.0, lines: bool = False) -> None:
        self.lines = lines and not err_console.is_terminal
        if self.lines:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err_console, transient=True)
        self._timer = threading.Timer(delay, self.progress.start)
        self._timer.daemon = True

    def __enter__(self) -> "RichReporter":
        if not self.lines:
            self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.lines:
            return
        self._timer.cancel()
        self._timer.join()
        if self.progress.live.is_started:  # stopping a never-started Progress prints an empty line
            self.progress.stop()

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self.lines:
            typer.echo(f"{description} ({total:,})" if total > 1 else description, err=True)
            return lambda n=1: None
        task_id = self.progress.add_task(description, total=total or None)  # 0: unknown length
        return lambda n=1: self.progress.advance(task_id, n)


def pager_option() -> Any:
    """The `--pager/--no-pager` option of the commands whose output can be long (show, ask, probe)."""
    return typer.Option(True, "--pager/--no-pager", help="Page long output through $PAGER (on a terminal only).")


def print_paged(*renderables: Any, pager: bool = True) -> None:
    """Print to stdout, through $PAGER (default `less -R`) when stdout is a terminal and the output is
    taller than it; a pipe, a short output or `--no-pager` prints directly.

    Args:
        renderables: what `console.print` would take, printed one after another.
        pager: False for `--no-pager`.
    """
    if not pager or not console.is_terminal or os.environ.get("PAGER") == "cat":
        print_parts(console, renderables)
        return
    with console.capture() as capture:
        print_parts(console, renderables)
    text = capture.get()
    if text.count("\n") < console.size.height - 1:
        console.file.write(text)
        console.file.flush()
        return
    _run_pager(text)


def print_parts(out: Any, renderables: Any) -> None:
    """Print each renderable on `out` (a rich Console); a command (n00bqa.render.CommandLine) goes
    out whole on its own line, never wrapped or cropped, so it can be copied from a pipe."""
    for renderable in renderables:
        if type(renderable).__name__ == "CommandLine":
            out.print(str(renderable), soft_wrap=True, highlight=False, markup=False)
        else:
            out.print(renderable)


def _run_pager(text: str) -> None:
    """Hand `text` (with its colours) to $PAGER; with no usable pager, print it."""
    import shlex
    import subprocess

    env = dict(os.environ)
    try:
        command = shlex.split(os.environ.get("PAGER") or "less") or ["less"]  # PAGER='less "unclosed': ValueError
        if os.path.basename(command[0]) == "less":
            env.setdefault("LESS", "-R -F -X")  # colours kept; quits by itself if it fits after all
        subprocess.run(command, input=text, text=True, env=env, check=False)
    except (OSError, ValueError):  # no such pager, or one we cannot read: the output still goes out
        console.file.write(text)
        console.file.flush()
    except KeyboardInterrupt:  # q / Ctrl-C in the pager is the learner's way out, not an error
        pass
