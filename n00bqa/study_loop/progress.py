"""What is due, and how the learner is doing: per chapter of the notes and over time.

`overview(study)` reads the question list and every review log once and gives the due list (most
overdue first), the new questions (never reviewed, in chapter order), and every skipped log line.
`progress(study)` adds, per chapter, questions answered / open / due / new, the reviews and
predictions made and their mean error, and the prediction error quiz by quiz over time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from n00bqa.questions import Problem, Question, load_questions
from n00bqa.study import Study
from n00bqa.study_loop import log, schedule

CHAPTERS = {1: "Kaggle / HF fine-tuning", 2: "Attention is all you need", 3: "nanoGPT", 4: "Transformer variants",
            5: "Training infrastructure"}
SHORT_TITLES = {1: "fine-tuning", 2: "attention", 3: "nanoGPT", 4: "variants", 5: "infra"}


@dataclass
class DueItem:
    question: Question
    state: schedule.CardState
    now: datetime

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {"id": self.question.id, "question": self.question.question, "chapter": self.question.chapter,
                "state": s.state_name(), "due": log._iso(s.due) if s.due else None,
                "overdue_seconds": None if s.due is None else round(s.overdue_seconds(self.now)),
                "reviews": s.reviews, "last_review": log._iso(s.last_review) if s.last_review else None}


@dataclass
class Overview:
    now: datetime
    questions: list[Question]
    states: dict[str, schedule.CardState]
    logs: dict[str, list[log.Review]]
    log_problems: list[log.LogProblem] = field(default_factory=list)
    question_problems: list[Problem] = field(default_factory=list)

    @property
    def due(self) -> list[DueItem]:
        """Questions due now, most overdue first."""
        by_id = {q.id: q for q in self.questions}
        return [DueItem(by_id[s.qid], s, self.now) for s in schedule.due_order(self.states.values(), self.now)]

    @property
    def new(self) -> list[DueItem]:
        """Questions never reviewed, in the order of the notes (chapter, then id)."""
        fresh = [q for q in self.questions if self.states[q.id].new]
        fresh.sort(key=lambda q: (q.chapter or 99, q.id))
        return [DueItem(q, self.states[q.id], self.now) for q in fresh]

    @property
    def next_due(self) -> DueItem | None:
        """The scheduled question that comes back first after now."""
        later = [s for s in self.states.values() if s.due is not None and s.due > self.now]
        if not later:
            return None
        first = min(later, key=lambda s: (s.due, s.qid))
        return DueItem(next(q for q in self.questions if q.id == first.qid), first, self.now)

    def to_dict(self) -> dict[str, Any]:
        nxt = self.next_due
        return {"now": log._iso(self.now), "due": [d.to_dict() for d in self.due],
                "new": [d.to_dict() for d in self.new], "next": nxt.to_dict() if nxt else None,
                "problems": [str(p) for p in (*self.question_problems, *self.log_problems)]}


def overview(study: Study, now: datetime | None = None) -> Overview:
    now = now or schedule.now_utc()
    questions, problems = load_questions(study)
    logs, log_problems = log.read_all(study)
    known = {q.id for q in questions}
    # A log whose question was removed is kept on disk and left out here.
    logs = {qid: reviews for qid, reviews in logs.items() if qid in known}
    states = schedule.card_states(logs, [q.id for q in questions])
    return Overview(now, questions, states, logs, log_problems, problems)


@dataclass
class ChapterProgress:
    chapter: int | None
    title: str
    questions: int = 0
    answered: int = 0
    open: int = 0
    due: int = 0
    new: int = 0
    reviews: int = 0
    predictions: int = 0
    mean_score: float | None = None  # over every prediction made
    mean_log10_error: float | None = None  # orders of magnitude off, over every numeric guess

    @property
    def short_title(self) -> str:
        return SHORT_TITLES.get(self.chapter, "none") if self.chapter else "none"

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class ErrorPoint:
    """One prediction quiz: when, which question, its mean score and its mean error in orders of magnitude."""

    at: datetime
    question: str
    predictions: int
    mean_score: float
    mean_log10_error: float | None  # None: no numeric guess (all "?")

    def to_dict(self) -> dict[str, Any]:
        return {"at": log._iso(self.at), "question": self.question, "predictions": self.predictions,
                "mean_score": round(self.mean_score, 4),
                "mean_log10_error": None if self.mean_log10_error is None else round(self.mean_log10_error, 4)}


@dataclass
class Progress:
    overview: Overview
    chapters: list[ChapterProgress]
    error_over_time: list[ErrorPoint]

    def to_dict(self) -> dict[str, Any]:
        return {"now": log._iso(self.overview.now), "chapters": [c.to_dict() for c in self.chapters],
                "error_over_time": [p.to_dict() for p in self.error_over_time],
                "problems": self.overview.to_dict()["problems"]}


def orders_off(record: log.PredictionRecord) -> float | None:
    """How many orders of magnitude a guess was off (the one error all predictions share), capped at 3."""
    if record.predicted is None:
        return None
    from n00bqa.study_loop.scoring import log10_error

    return min(3.0, log10_error(record.predicted, record.measured))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def progress(study: Study, now: datetime | None = None) -> Progress:
    view = overview(study, now)
    due_ids = {d.question.id for d in view.due}
    chapters: dict[int | None, ChapterProgress] = {n: ChapterProgress(n, title) for n, title in CHAPTERS.items()}
    scores: dict[int | None, list[float]] = {}
    errors: dict[int | None, list[float]] = {}
    points: list[ErrorPoint] = []
    for q in view.questions:
        row = chapters.setdefault(q.chapter, ChapterProgress(q.chapter, "no chapter"))
        row.questions += 1
        row.answered += q.status == "answered"
        row.open += q.status == "open"
        row.due += q.id in due_ids
        row.new += view.states[q.id].new
        reviews = view.logs.get(q.id, [])
        row.reviews += len(reviews)
        for review in reviews:
            if not review.predictions:
                continue
            row.predictions += len(review.predictions)
            scores.setdefault(q.chapter, []).extend(p.score for p in review.predictions)
            offs = [o for p in review.predictions if (o := orders_off(p)) is not None and math.isfinite(o)]
            errors.setdefault(q.chapter, []).extend(offs)
            points.append(ErrorPoint(review.at, q.id, len(review.predictions), review.mean_score, _mean(offs)))
    for chapter, row in chapters.items():
        row.mean_score = _mean(scores.get(chapter, []))
        row.mean_log10_error = _mean(errors.get(chapter, []))
    ordered = sorted(chapters.values(), key=lambda c: (c.chapter is None, c.chapter or 0))
    points.sort(key=lambda p: (p.at, p.question))
    return Progress(view, ordered, points)
