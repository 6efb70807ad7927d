"""The learner's review history: plain JSON lines in `<root>/reviews/<question id>.jsonl`.

It lives in the study root beside `questions/`, not in the git-ignored `.n00bqa/`, so it is
versioned with the questions. One line per review, appended, never rewritten:

    {"at": "2026-11-29T08:30:00+00:00", "kind": "predict", "rating": "good", "due": "...",
     "predictions": [{"probe", "metric", "prompt", "unit", "scoring", "predicted", "measured",
                      "relative_error", "error", "score"}], "answer": "the learner's own words"}

The log is the only truth: a question's FSRS card is rebuilt by replaying its ratings in time
order (n00bqa.study_loop.schedule), so two clones' logs merge by keeping both sides' lines (the
folder's `.gitattributes` asks git for exactly that, `merge=union`) and the schedule follows.
A line that is not a valid review (a bad merge, a hand edit) is named by file:line and skipped,
never fatal, and never lost: a review is appended (one O_APPEND write under the root's lock), so
every line already there stays as it was, good or bad.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from n00bqa.atomic import atomic_write_text
from n00bqa.questions import check_id
from n00bqa.study import Study
from n00bqa.study_loop.scoring import RATINGS

KINDS = ("predict", "recall")
GITATTRIBUTES = "# n00bqa: a review log only grows, so a merge keeps the lines of both sides\n*.jsonl merge=union\n"


@dataclass
class PredictionRecord:
    """One guess in a quiz and what the probe measured."""

    probe: str
    metric: str
    prompt: str
    unit: str
    scoring: str
    predicted: float | None  # None: the learner did not know ("?")
    measured: float
    relative_error: float | None
    error: float | None  # in the prediction's own scoring (relative, or orders of magnitude)
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "metric": self.metric, "prompt": self.prompt, "unit": self.unit,
                "scoring": self.scoring, "predicted": self.predicted, "measured": self.measured,
                "relative_error": _finite(self.relative_error), "error": _finite(self.error),
                "score": round(self.score, 4)}


@dataclass
class Review:
    """One line of a question's log."""

    question: str
    at: datetime
    kind: str  # "predict" or "recall"
    rating: str  # again | hard | good | easy
    predictions: list[PredictionRecord] = field(default_factory=list)
    answer: str = ""  # recall: the learner's own words
    due: datetime | None = None  # when the schedule brought it back, as computed then (for readers)
    line: int = 0  # where it is in its file (0: not yet written)

    @property
    def mean_score(self) -> float | None:
        return sum(p.score for p in self.predictions) / len(self.predictions) if self.predictions else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": _iso(self.at), "kind": self.kind, "rating": self.rating}
        if self.due is not None:
            data["due"] = _iso(self.due)
        if self.predictions:
            data["predictions"] = [p.to_dict() for p in self.predictions]
        if self.answer:
            data["answer"] = self.answer
        return data


@dataclass
class LogProblem:
    """A log line that was skipped; `message` names file:line, why, and that the line is kept."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return self.message


def log_path(study: Study, qid: str) -> Path:
    return study.reviews_dir / f"{check_id(qid)}.jsonl"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return round(value, 6)


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO time string like \"2026-11-29T08:30:00+00:00\"")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an ISO time like \"2026-11-29T08:30:00+00:00\"") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone; add +00:00")
    return moment.astimezone(timezone.utc)


def _number(value: Any, what: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value


def _no_constant(name: str) -> Any:
    """JSON's NaN and Infinity are no numbers a review can hold (and no strict JSON to print)."""
    raise ValueError(f"{name} is not a number a review can hold")


# Clocks differ a little between a learner's machines; a review dated further ahead than this was
# never made, and one later than the scheduler's calendar can hold breaks every date sum after it.
FUTURE_SLACK = timedelta(days=1)
LONGEST_INTERVAL = timedelta(days=36_500)


def parse_review(qid: str, text: str, line: int = 0) -> Review:
    """One log line -> Review, or ValueError saying what is wrong with it."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    rating = data.get("rating")
    if rating not in RATINGS:
        raise ValueError(f"rating {rating!r} is not one of {', '.join(RATINGS)}")
    kind = data.get("kind", "recall")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if "question" in data and data["question"] != qid:
        raise ValueError(f"question {data['question']!r} differs from the file's {qid!r}")
    predictions = []
    for i, p in enumerate(data.get("predictions") or []):
        if not isinstance(p, dict) or not isinstance(p.get("metric"), str):
            raise ValueError(f"prediction {i + 1} is not an object with a metric")
        predictions.append(PredictionRecord(
            probe=str(p.get("probe", "")), metric=p["metric"], prompt=str(p.get("prompt", "")),
            unit=str(p.get("unit", "")), scoring=str(p.get("scoring", "relative")),
            predicted=_number(p.get("predicted"), f"prediction {i + 1}'s predicted", optional=True),
            measured=_number(p.get("measured"), f"prediction {i + 1}'s measured"),
            relative_error=_number(p.get("relative_error"), "relative_error", optional=True),
            error=_number(p.get("error"), "error", optional=True),
            score=_number(p.get("score"), f"prediction {i + 1}'s score")))
    at = _parse_time(data.get("at"), "at")
    if at > datetime.now(timezone.utc) + FUTURE_SLACK:
        raise ValueError(f"at {data.get('at')!r} is in the future; a review is dated when it was made")
    due = _parse_time(data["due"], "due") if data.get("due") else None
    if due is not None and not at - LONGEST_INTERVAL <= due <= at + LONGEST_INTERVAL:
        raise ValueError(f"due {data.get('due')!r} is more than 100 years from the review's date")
    answer = data.get("answer") or ""
    if not isinstance(answer, str):
        raise ValueError("answer must be a string")
    return Review(qid, at, kind, rating, predictions, answer, due, line)


def read_log(study: Study, qid: str) -> tuple[list[Review], list[LogProblem]]:
    """A question's reviews in file order, and the lines skipped (blank lines are neither)."""
    path = log_path(study, qid)
    return read_log_file(path, qid)


def read_log_file(path: Path, qid: str | None = None) -> tuple[list[Review], list[LogProblem]]:
    from n00bqa.guards import MAX_LOG_BYTES, Refused, read_regular

    qid = qid or path.stem
    try:
        text = read_regular(path, MAX_LOG_BYTES).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    except Refused as exc:
        return [], [LogProblem(path, 0, f"{path}: skipped, it {exc}; its reviews are left out")]
    except OSError as exc:
        return [], [LogProblem(path, 0, f"{path}: cannot be read ({type(exc).__name__}); its reviews are left out")]
    reviews, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            reviews.append(parse_review(qid, line, number))
        except ValueError as exc:
            problems.append(LogProblem(path, number, f"{path}:{number}: skipped, {exc}; the line is kept as it "
                                                     "is (fix or delete it by hand)"))
    return reviews, problems


def read_all(study: Study) -> tuple[dict[str, list[Review]], list[LogProblem]]:
    """Every question's reviews (by question id) and every skipped line, from `reviews/*.jsonl`."""
    folder = study.reviews_dir
    logs: dict[str, list[Review]] = {}
    problems: list[LogProblem] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            qid = check_id(path.stem)
        except Exception:  # noqa: BLE001 - a stray file name is a problem line, not a crash
            problems.append(LogProblem(path, 0, f"{path}: not named after a question id; left out"))
            continue
        reviews, bad = read_log_file(path, qid)
        logs[qid] = reviews
        problems += bad
    return logs, problems


def append_review(study: Study, review: Review) -> Path:
    """Add one review line to its question's log: a single O_APPEND write under the root's lock,
    so twenty quizzes at once keep twenty lines; every line already there stays byte for byte
    (bad ones too). Returns the log's path."""
    from n00bqa.locks import append_line, root_lock

    study.require_writable()
    path = log_path(study, review.question)
    line = json.dumps(review.to_dict(), ensure_ascii=False)
    with root_lock(study):
        review.line = append_line(path, line.encode("utf-8"))
        attributes = path.parent / ".gitattributes"
        if not attributes.exists():
            atomic_write_text(attributes, GITATTRIBUTES)
    return path
