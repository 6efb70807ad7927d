"""How the browser words an error: a library error is its one-line message, anything else a bug."""

from __future__ import annotations

from n00bqa.errors import N00bqaError, RetrievalIndexError
from n00bqa.tui.data import INDEX_BUILD_COMMAND


def error_text(exc: BaseException, index_hint: bool = False) -> str:
    """A library error is its message; anything else is a bug, named by its type. `index_hint`: a
    missing or unusable index also says how to build it (for the views that read the index)."""
    if index_hint and isinstance(exc, RetrievalIndexError):
        return f"{exc}\nPress i to build the index here, or run `{INDEX_BUILD_COMMAND}`."
    if isinstance(exc, N00bqaError):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (a bug in n00bqa; run with N00BQA_DEBUG=1 outside the browser to see more)"
