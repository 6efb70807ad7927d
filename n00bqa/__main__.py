"""`n00bqa` and `python -m n00bqa`: the console script's entry point.

Ctrl-C is caught from the first instruction of the package (`n00bqa/__init__.py` installs a handler
for the console script that main() then hands back to Python), so even an interrupt while the CLI is
still being imported ends with one line and exit code 130, not a traceback. An interrupt that lands inside a C
extension's import or a class body reaches Python wrapped (`ImportError: initialization failed`,
`RuntimeError: Error calling __set_name__`); it is the same Ctrl-C and ends the same way.

Every way out waits first for a background ONNX session still being built
(n00bqa.retrieval.encoder.settle): ending the interpreter under it aborts the process (exit 134).
"""

from __future__ import annotations

import os
import signal
import sys

import n00bqa
from n00bqa import INTERRUPTED


def interrupted(exc: BaseException | None) -> bool:
    """True if `exc` is a Ctrl-C, or an exception raised while handling one (its cause or context)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def main() -> None:
    code: int | str | None = 0
    try:
        if signal.getsignal(signal.SIGINT) is n00bqa._interrupted_before_main:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is caught below
        from n00bqa.cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        code = exc.code
        if code == 130 and not _error_said():  # typer's own Ctrl-C exit (while parsing) says nothing
            sys.stderr.write(INTERRUPTED)
    except BaseException as exc:  # noqa: BLE001 - the last edge: nothing below may end in a traceback
        if not interrupted(exc) or os.environ.get("N00BQA_DEBUG"):
            _settle()
            raise
        sys.stderr.write(INTERRUPTED)
        code = 130
    _settle()
    _flush_or_drop()
    sys.exit(code)


def _flush_or_drop() -> None:
    """Flush stdout now; if it cannot take the rest (a full disk: `> /dev/full`), drop it, so the
    interpreter's own flush at exit adds no `Exception ignored` message after the one error line."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


def _error_said() -> bool:
    common = sys.modules.get("n00bqa.cli.common")
    return bool(common is not None and common.ERROR_SAID)


def _settle() -> None:
    encoder = sys.modules.get("n00bqa.retrieval.encoder")  # not imported: nothing to wait for
    if encoder is None:
        return
    try:
        encoder.settle()
    except BaseException:  # noqa: BLE001 - a second Ctrl-C while waiting: leave without teardown
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)


if __name__ == "__main__":
    main()
