"""The browser's door to the library: one study root, its probes, and thin calls that return records.

Nothing here decides anything: each method calls one library function with the browser's study
root and returns what it returns (Question, ProbeResult, Passage, Answer, BuildReport). The
heavier parts of the library (retrieval, ask, running probes) are imported on first use, so the
browser opens fast. No Textual imports here.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Probe, ProbeResult
from n00bqa.questions import Problem, Question
from n00bqa.study import Study

INDEX_BUILD_COMMAND = "n00bqa index build"


class StudyData:
    """The browser's study root and the probes it may run.

    Args:
        study: the study root the browser shows.
        probes: the probes to run, by name or as a list; None finds each in the study's registry
            when it is first run (importing only that probe's module).
    """

    def __init__(self, study: Study, probes: Mapping[str, Probe] | Iterable[Probe] | None = None) -> None:
        self.study = study
        if probes is None:
            self.given: dict[str, Probe] | None = None
        elif isinstance(probes, Mapping):
            self.given = dict(probes)
        else:
            self.given = {probe.name: probe for probe in probes}

    def probe(self, name: str) -> Probe:
        if self.given is None:
            from n00bqa.probes import find_probe

            return find_probe(self.study, name)
        if name not in self.given:
            raise ProbeError(f"unknown probe {name!r}; this browser runs: {', '.join(self.given) or 'none'}")
        return self.given[name]

    # --- questions

    def load_questions(self) -> tuple[list[Question], list[Problem]]:
        from n00bqa.questions import load_questions

        return load_questions(self.study)

    def toggle_status(self, question: Question) -> Question:
        """Flip open <-> answered; returns the saved question."""
        from n00bqa.questions import STATUSES, set_status

        other = [s for s in STATUSES if s != question.status]  # STATUSES is ("open", "answered")
        return set_status(self.study, question.id, other[0] if other else question.status)

    def add_note(self, question: Question, note: str) -> Question:
        from n00bqa.questions import add_note

        return add_note(self.study, question.id, note)

    # --- probes

    def last_result(self, probe_name: str) -> ProbeResult | None:
        """The probe's last cached run (None if none, or if its source changed); never runs anything."""
        from n00bqa.probes.runs import last_result

        return last_result(self.study, probe_name)

    def run_probe(self, probe_name: str, reporter: Any) -> ProbeResult:
        """Run the probe with its default options; the result is cached as its last run."""
        from n00bqa.probes.runs import run_probe

        probe = self.probe(probe_name)
        return run_probe(self.study, probe, probe.make_options(), seed=0, reporter=reporter, cache=True)

    # --- reading and asking

    def search(self, text: str, k: int = 5) -> list[Any]:
        """The top-k passages (n00bqa.retrieval.Passage) from the study's index."""
        from n00bqa.retrieval import search

        return search(self.study, text, k=k)

    def build_index(self, reporter: Any) -> Any:
        """Build (or update) the index, reporting its progress; returns the BuildReport."""
        from n00bqa.retrieval import build_index

        return build_index(self.study, reporter=reporter)

    def ask(self, text: str, k: int = 5, reporter: Any = None) -> Any:
        """`n00bqa.ask.ask` on the study root: an Answer."""
        from n00bqa.ask import ask

        return ask(self.study, text, k=k, run=False, reporter=reporter)

    # --- the study loop (n00bqa.study_loop)

    def overview(self) -> Any:
        """What is due (most overdue first) and what is new: a study_loop Overview."""
        from n00bqa.study_loop.progress import overview

        return overview(self.study)

    def quiz_plan(self, question: Question) -> Any:
        """The question's predictions (empty: a recall quiz)."""
        from n00bqa.study_loop.quiz_steps import plan

        return plan(self.study, question)

    def quiz_reveal(self, asks: list[Any], guesses: list[Any], reporter: Any = None) -> list[Any]:
        """Measure (cached run, else run the probe) and score each guess."""
        from n00bqa.study_loop.quiz_steps import reveal_all

        return reveal_all(self.study, asks, guesses, reporter)

    def quiz_record_predictions(self, question: Question, outcomes: list[Any], rating: str) -> Any:
        from n00bqa.study_loop.quiz_steps import record_predictions

        return record_predictions(self.study, question, outcomes, rating=rating)

    def quiz_record_recall(self, question: Question, words: str, rating: str) -> Any:
        from n00bqa.study_loop.quiz_steps import record_recall

        return record_recall(self.study, question, words, rating)

    def add_question(self, text: str, reporter: Any = None) -> tuple[Question, Any, str | None]:
        """Add an open question and write its starting points into it (n00bqa questions add).

        Returns (question, starting points or None, why they are missing or None)."""
        from n00bqa.errors import N00bqaError
        from n00bqa.questions import add_question
        from n00bqa.study_loop.evidence import starting_points, write_starting_points

        question = add_question(self.study, text)
        try:
            points = starting_points(self.study, question.question, exclude=question.id, reporter=reporter)
        except N00bqaError as exc:
            return question, None, str(exc)
        return write_starting_points(self.study, question, points), points, None


def edit_in_editor(study: Study, question: Question) -> str:
    """Edit the question's file in $VISUAL/$EDITOR on a temporary copy; save it if it is still a valid
    question file. Returns one line for the browser to show: what was saved, or why not."""
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    from n00bqa.errors import N00bqaError
    from n00bqa.questions import replace_question_text

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
        original = question.path.read_text(encoding="utf-8")
    except (ValueError, OSError) as exc:
        return f"cannot edit {question.id}: {exc}; set EDITOR, e.g. EDITOR=nano"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / question.path.name
        path.write_text(original, encoding="utf-8")
        try:
            code = subprocess.call([*command, str(path)])
            edited = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            return f"{question.id} not saved: the editor {editor!r} failed ({exc})"
    if code != 0:
        return f"{question.id} not saved: the editor {editor!r} exited with code {code}"
    if edited == original:
        return f"No change to {question.path.name}"
    try:
        replace_question_text(study, question.id, edited)
    except N00bqaError as exc:
        return f"{question.id} not saved, the file keeps its last good text: {exc}"
    return f"Saved {question.path.name}"
