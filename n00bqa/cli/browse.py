"""`n00bqa browse`: the full-screen terminal browser over the questions, probes and passages."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from n00bqa.cli.common import fail, get_study


def _complete_id(incomplete: str) -> list[str]:
    from n00bqa.cli.questions import complete_id

    return complete_id(incomplete)


def browse(
    qid: Optional[str] = typer.Argument(None, metavar="ID", help="Open at this question (default: the first).",
                                        autocompletion=_complete_id),
) -> None:
    """Browse the questions, their answers, the probes' findings and the backing passages.

    Keys: r run the probes · a ask · s toggle answered/open · n add a note · o open a passage · i build the index · / search · space/b page the right pane · Tab move between panes · q quit. The mouse works too.

    Examples:

      n00bqa browse

      n00bqa browse model-size
    """
    study = get_study()
    if qid is not None:
        from n00bqa.questions import get_question

        get_question(study, qid)  # an unknown id is a one-line error before the screen opens
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise fail("n00bqa browse needs an interactive terminal; for plain output use: n00bqa questions / n00bqa show ID")
    from n00bqa.tui import make_app

    make_app(study, probes=None, question=qid).run()


def register(app: typer.Typer) -> None:
    app.command("browse")(browse)
