"""The browser's only door to the library: thin calls, imported lazily, errors made one-line.

Nothing here decides anything: each function calls one library function and returns its data
(passages and answers as their `to_dict()` shapes). A part of the library that is not installed
yet becomes an N00bqaError naming it, so the browser can show it instead of a traceback.
No Textual imports here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from n00bqa.errors import N00bqaError

INDEX_BUILD_COMMAND = "n00bqa index build"


def _library(module: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise N00bqaError(f"{what} is not available in this install ({module!r} is missing); "
                              "update n00bqa (pip install -e .)") from None
        raise


def _function(module: str, name: str, what: str) -> Any:
    found = getattr(_library(module, what), name, None)
    if found is None:
        raise N00bqaError(f"{what} is not available in this install ({module}.{name} is missing); "
                          "update n00bqa (pip install -e .)")
    return found


def load_questions() -> tuple[list[Any], list[Any]]:
    """(questions, problems) exactly as `n00bqa.questions.load_questions` returns them."""
    from n00bqa.questions import load_questions as load

    return load()


def toggle_status(question: Any) -> Any:
    """Flip open <-> answered through `set_status`; returns the saved question."""
    from n00bqa.questions import STATUSES, set_status

    # STATUSES is ("open", "answered"): the other one of the two.
    other = [s for s in STATUSES if s != question.status]
    return set_status(question.id, other[0] if other else question.status)


def add_note(question: Any, note: str) -> Any:
    from n00bqa.questions import add_note as add

    return add(question.id, note)


def last_probe_result(probe_name: str) -> Any:
    """The probe's last cached run, or None (never runs anything)."""
    if not probe_name or probe_name == "none":
        return None
    return _function("n00bqa.probes.base", "last_result", "the probe cache")(probe_name)


def run_probe(probe_name: str, reporter: Any) -> Any:
    """Run the named probe with its default options; the result is cached as its last run."""
    if not probe_name or probe_name == "none":
        raise N00bqaError("this question has no probe to run (probe: none)")
    probe = _function("n00bqa.probes", "get_probe", "the probe registry")(probe_name)
    run = _function("n00bqa.probes.base", "run_probe", "the probe framework")
    return run(probe, probe.make_options(), seed=0, reporter=reporter, cache=True)


def search_passages(text: str, k: int = 5) -> list[dict[str, Any]]:
    """The top-k passages from the reading-list index, as `Passage.to_dict()` dicts."""
    search = _function("n00bqa.retrieval", "search", "the retrieval index")
    return [p.to_dict() for p in search(text, k=k)]


def build_index(reporter: Any) -> Any:
    """Build (or update) the retrieval index, reporting its progress."""
    build = _function("n00bqa.retrieval", "build_index", "the retrieval index")
    return build(reporter=reporter)


def ask(text: str, k: int = 5, reporter: Any = None) -> dict[str, Any]:
    """`n00bqa.ask.ask(text)` as its `--json` dict."""
    ask_text = _function("n00bqa.ask", "ask", "ask")
    return ask_text(text, k=k, run=False, reporter=reporter).to_dict()
