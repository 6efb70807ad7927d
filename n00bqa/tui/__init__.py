"""`n00bqa browse`: the terminal browser (Textual). Built by `make_app`, tested with Pilot.

Importing this package imports Textual; the CLI does so only inside the `browse` command.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def make_app(study: Any, probes: Mapping[str, Any] | Iterable[Any] | None = None, question: str | None = None) -> Any:
    """The browser app over one study root, opened at question `question` or at the first question.

    Args:
        study: the study root (n00bqa.study.Study) whose questions, probes and reading list it shows.
        probes: the probes `r` may run (a list, or a name -> Probe mapping); None: the study's
            registry, each probe imported only when it is first run.
        question: the id to select first; None selects the first question in the list.

    Returns:
        A `BrowseApp` (a textual App): call `.run()` in a terminal, or `.run_test()` under Pilot.
    """
    from n00bqa.tui.app import BrowseApp
    from n00bqa.tui.data import StudyData

    return BrowseApp(StudyData(study, probes), question=question)
