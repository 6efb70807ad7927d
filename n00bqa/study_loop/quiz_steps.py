"""One quiz: predict, measure, reveal, rate, log. No terminal I/O (the CLI and the browser ask).

A question with predictions (declared by its probes) is quizzed by prediction: the learner guesses
each number, the probe's run with its default options reveals it (the cached run while it matches
the probe's current source, else a fresh run), each guess is scored, and the mean score is the
FSRS rating. A question without predictions is quizzed by recall: the learner answers in their own
words, reads our answer, and rates themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from n00bqa.errors import N00bqaError, ProbeError, ReviewError
from n00bqa.probes.base import Prediction, ProbeResult, _printed_matches, numbers_in
from n00bqa.questions import Question
from n00bqa.study import Study
from n00bqa.study_loop import log, schedule, scoring


@dataclass
class Ask:
    """One number to guess: a prediction of one of the question's probes."""

    probe: str
    prediction: Prediction
    # the probe's renamed_metrics (old name -> new): a prediction or a cached run from before a
    # rename still finds its number
    renamed: dict[str, str] = field(default_factory=dict)

    def metric_in(self, metrics: dict[str, Any]) -> str | None:
        """The name `metrics` holds this prediction's number under: its current name (through the
        probe's renames), else an old name that was renamed to it; None if neither is there."""
        current = self.renamed.get(self.prediction.metric, self.prediction.metric)
        names = [current, *(old for old, new in self.renamed.items() if new == current)]
        return next((name for name in names if name in metrics), None)

    def to_dict(self) -> dict[str, Any]:
        p = self.prediction
        return {"probe": self.probe, "prompt": p.prompt, "metric": p.metric, "unit": p.unit, "scoring": p.scoring}


@dataclass
class Plan:
    """What a quiz of one question asks: its predictions (empty: a recall quiz)."""

    question: Question
    asks: list[Ask]
    warnings: list[str] = field(default_factory=list)  # probes that could not be loaded

    @property
    def kind(self) -> str:
        return "predict" if self.asks else "recall"


@dataclass
class Outcome:
    """One guess revealed: the logged record plus the finding that explains the value."""

    record: log.PredictionRecord
    finding: str
    measured_at: str
    fresh: bool  # the probe was run for this quiz (not read from the cache)

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {"prompt": r.prompt, "metric": r.metric, "predicted": r.predicted, "measured": r.measured,
                "relative_error": log._finite(r.relative_error), "score": round(r.score, 4),
                "probe": r.probe, "unit": r.unit, "scoring": r.scoring, "error": log._finite(r.error),
                "finding": self.finding, "measured_at": self.measured_at, "fresh": self.fresh}


@dataclass
class QuizResult:
    """A finished quiz: what was logged and when the question comes back."""

    question: Question
    kind: str
    rating: str
    outcomes: list[Outcome]
    review: log.Review
    due: datetime
    path: Path  # the log it was appended to

    @property
    def mean_score(self) -> float | None:
        return self.review.mean_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": {"id": self.question.id, "question": self.question.question, "chapter": self.question.chapter},
            "kind": self.kind,
            "predictions": [o.to_dict() for o in self.outcomes],
            "answer": self.review.answer,
            "mean_score": None if self.mean_score is None else round(self.mean_score, 4),
            "rating": self.rating,
            "due": log._iso(self.due),
            "log": str(self.path),
        }


def plan(study: Study, question: Question) -> Plan:
    """The predictions of each of the question's probes, in the question's order of probes."""
    from n00bqa.probes import find_probe

    asks: list[Ask] = []
    warnings: list[str] = []
    for name in question.probes:
        try:
            probe = find_probe(study, name)
        except ProbeError as exc:
            warnings.append(f"probe {name!r} is left out of the quiz: {exc}")
            continue
        asks += [Ask(probe.name, p, dict(probe.renamed_metrics)) for p in probe.predictions]
    return Plan(question, asks, warnings)


def measurement(study: Study, probe_name: str, reporter: Any = None) -> tuple[ProbeResult, bool]:
    """The probe's run with its default options and seed 0: cached while it matches the probe's
    current source, else run now (and cached). Returns (result, run_now)."""
    from n00bqa.probes import find_probe
    from n00bqa.probes.runs import cached_result, run_probe

    probe = find_probe(study, probe_name)
    opts = probe.make_options()
    cached = cached_result(study, probe, opts, seed=0)
    if cached is not None:
        return cached, False
    return run_probe(study, probe, opts, seed=0, reporter=reporter, cache=not study.builtin), True


def explaining_finding(result: ProbeResult, value: float, metric: str = "") -> str:
    """What states the revealed number: the finding that prints `value` and names what the metric
    measures (its record, e.g. `llama-2-7b` of `llama-2-7b.kv_bytes_per_token_bf16`); else a table row
    that holds both, read out cell by cell; else any finding that prints the value; else a table row
    that holds it; else the summary.

    A finding about another record may print a number that matches at some scale (`0.5 MiB` for
    524,288 bytes), so a finding that does not name the metric's record comes after a row that does."""
    label = _words(metric.rsplit(".", 1)[0]) if "." in metric else ""
    printing = [f for f in result.findings if _prints(f, value)]
    rows = [(table, row) for table in result.tables for row in table.rows
            if any(_prints(str(cell), value) for cell in row if not isinstance(cell, bool))]
    if label:
        named = [f for f in printing if label in _words(f)]
        if named:
            return named[0]
        named_rows = [(t, r) for t, r in rows if any(label == _words(str(c)) for c in r)]
        if named_rows:
            return _row_sentence(*named_rows[0])
    if printing:
        return printing[0]
    if rows:
        return _row_sentence(*rows[0])
    return result.summary


def _prints(text: str, value: float) -> bool:
    """Does `text` print `value` (at any scale it is shown)?"""
    for printed in numbers_in(text):
        plain = printed.replace(",", "")
        if plain.replace(".", "").isdigit() and float(plain) <= 10 and abs(value) > 10:
            continue  # a small count ("2 tables") is no sign of a large value
        if _printed_matches(printed, float(value)):
            return True
    return False


def _words(text: str) -> str:
    """Letters and digits only, lower case: `Llama-2-7B` and `llama-2-7b` read the same."""
    return "".join(c for c in text.lower() if c.isalnum())


def _row_sentence(table: Any, row: list[Any]) -> str:
    """A table row read out: `Title: column value, column value, ...` (the run's own cells)."""
    cells = ", ".join(f"{column} {cell}" for column, cell in zip(table.columns, row))
    return f"{table.title}: {cells}."


def reveal(ask: Ask, predicted: float | None, result: ProbeResult, fresh: bool = False) -> Outcome:
    """Score one guess against the run's metric."""
    p = ask.prediction
    found = ask.metric_in(result.metrics)
    if found is None:
        raise ProbeError(f"probe {ask.probe!r} measured no metric {p.metric!r} for its prediction "
                         f"{p.prompt!r}; its metrics are: {', '.join(sorted(result.metrics)[:12])}, ... "
                         "(fix the probe's predictions)")
    measured = result.metrics[found]
    metric = ask.renamed.get(p.metric, p.metric)  # logged under its current name
    measured = float(measured) if isinstance(measured, bool) else measured
    if predicted is None:
        rel = err = None
    else:
        rel = scoring.relative_error(predicted, measured)
        err = scoring.error(predicted, measured, p.scoring)
    score = scoring.score(predicted, measured, p.scoring)
    record = log.PredictionRecord(ask.probe, metric, p.prompt, p.unit, p.scoring, predicted, measured,
                                  rel, err, score)
    return Outcome(record, explaining_finding(result, measured, p.metric), result.measured_at, fresh)


def parse_guess(text: str) -> float | None:
    """A guess as typed: a number (see scoring.parse_number) or `?` for "I don't know" (None).
    Anything else raises ReviewError quoting it and the forms that work."""
    if text.strip() == scoring.DONT_KNOW:
        return None
    value = scoring.parse_number(text)
    if value is None:
        raise ReviewError(f"{text.strip()!r} is not a number; write it like 124000000, 124,000,000, 124e6, 124M "
                          f"or 1.2B (or {scoring.DONT_KNOW} if you have no idea)")
    return value


def _record(study: Study, question: Question, kind: str, rating: str, outcomes: list[Outcome], answer: str,
            now: datetime | None) -> QuizResult:
    if rating not in scoring.RATINGS:
        raise ReviewError(f"rating {rating!r} is not one of: {', '.join(scoring.RATINGS)}")
    now = now or schedule.now_utc()
    reviews, _ = log.read_log(study, question.id)
    card = schedule.next_card(question.id, reviews, rating, now)
    review = log.Review(question.id, now, kind, rating, [o.record for o in outcomes], answer.strip(), card.due)
    path = log.append_review(study, review)
    return QuizResult(question, kind, rating, outcomes, review, card.due, path)


def record_predictions(study: Study, question: Question, outcomes: list[Outcome], rating: str | None = None,
                       now: datetime | None = None) -> QuizResult:
    """Log a prediction quiz; the rating is the mean score's (scoring.rating_for_score) unless given."""
    if not outcomes:
        raise ReviewError(f"no prediction was made for {question.id!r}; give at least one answer")
    mean = sum(o.record.score for o in outcomes) / len(outcomes)
    return _record(study, question, "predict", rating or scoring.rating_for_score(mean), outcomes, "", now)


def record_recall(study: Study, question: Question, answer: str, rating: str, now: datetime | None = None) -> QuizResult:
    """Log a recall quiz: the learner's own words and their self-rating."""
    return _record(study, question, "recall", rating, [], answer, now)


def run_quiz(study: Study, question: Question, guesses: list[float | None], reporter: Any = None,
             now: datetime | None = None, rating: str | None = None) -> QuizResult:
    """A whole prediction quiz for scripts: the guesses fill the question's predictions in order
    (fewer guesses quiz only the first ones); each probe is measured once."""
    the_plan = plan(study, question)
    if not the_plan.asks:
        raise ReviewError(f"question {question.id!r} has no predictions (its probes declare none); "
                          "quiz it by recall: give --rating again|hard|good|easy")
    if len(guesses) > len(the_plan.asks):
        raise ReviewError(f"{len(guesses)} answers for {len(the_plan.asks)} predictions of {question.id!r}; "
                          "give at most one answer per prediction")
    outcomes = reveal_all(study, the_plan.asks[: len(guesses)], guesses, reporter)
    return record_predictions(study, question, outcomes, rating=rating, now=now)


def reveal_all(study: Study, asks: list[Ask], guesses: list[float | None], reporter: Any = None) -> list[Outcome]:
    """Measure each probe once (cached or run) and score each guess."""
    results: dict[str, tuple[ProbeResult, bool]] = {}
    outcomes = []
    for ask, guess in zip(asks, guesses):
        if ask.probe not in results:
            results[ask.probe] = measurement(study, ask.probe, reporter)
        result, fresh = results[ask.probe]
        outcomes.append(reveal(ask, guess, result, fresh))
    return outcomes


def has_predictions(study: Study, question: Question) -> bool:
    try:
        return bool(plan(study, question).asks)
    except N00bqaError:
        return False


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
