"""`n00bqa browse`: the terminal browser (Textual). Built by `make_app`, tested with Pilot.

Importing this package imports Textual; the CLI does so only inside the `browse` command.
"""

from __future__ import annotations

from typing import Any


def make_app(question: str | None = None) -> Any:
    """The browser app, opened at question `question` (an id) or at the first question.

    Args:
        question: the id to select first; None selects the first question in the list.

    Returns:
        A `BrowseApp` (a textual App): call `.run()` in a terminal, or `.run_test()` under Pilot.
    """
    from n00bqa.tui.app import BrowseApp

    return BrowseApp(question=question)
