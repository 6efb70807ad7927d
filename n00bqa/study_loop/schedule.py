"""When each question comes back: one FSRS card per question, rebuilt from its review log.

The scheduling is the `fsrs` package's (FSRS-6, its default parameters and desired retention 0.9),
never re-implemented here: a card is `fsrs.Card` replayed through `Scheduler.review_card` with each
logged rating at its logged time, oldest first. Fuzzing is off, so the same log always gives the
same due time on every machine (a merged log included). A question never reviewed is *new*: not
due, but what `quiz` takes when nothing is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from n00bqa.study_loop.log import Review
from n00bqa.study_loop.scoring import RATINGS


def scheduler() -> Any:
    """The FSRS scheduler every card goes through (deterministic: no fuzz)."""
    from fsrs import Scheduler

    return Scheduler(enable_fuzzing=False)


def card_id(qid: str) -> int:
    """A stable card id per question (FSRS's default is the creation time, which a replay cannot know)."""
    return int(hashlib.sha256(qid.encode()).hexdigest()[:12], 16)


def fsrs_rating(rating: str) -> Any:
    from fsrs import Rating

    return Rating(RATINGS.index(rating) + 1)


def replay(qid: str, reviews: Iterable[Review], sched: Any = None) -> Any:
    """The question's fsrs.Card after every review in `reviews`, applied in time order; None if none."""
    from fsrs import Card

    ordered = sorted(reviews, key=lambda r: (r.at, r.line))
    if not ordered:
        return None
    sched = sched or scheduler()
    card = Card(card_id=card_id(qid), due=ordered[0].at)
    for review in ordered:
        card, _ = sched.review_card(card, fsrs_rating(review.rating), review_datetime=review.at)
    return card


def next_card(qid: str, reviews: Iterable[Review], rating: str, at: datetime, sched: Any = None) -> Any:
    """The card after the logged reviews plus one more with `rating` at `at` (what a quiz will log)."""
    from fsrs import Card

    sched = sched or scheduler()
    card = replay(qid, reviews, sched) or Card(card_id=card_id(qid), due=at)
    card, _ = sched.review_card(card, fsrs_rating(rating), review_datetime=at)
    return card


@dataclass
class CardState:
    """Where one question stands: its card (None: new), when it is due, how many reviews."""

    qid: str
    card: Any
    reviews: int
    last_review: datetime | None

    @property
    def new(self) -> bool:
        return self.card is None

    @property
    def due(self) -> datetime | None:
        return None if self.card is None else self.card.due

    def is_due(self, now: datetime) -> bool:
        return self.card is not None and self.card.due <= now

    def overdue_seconds(self, now: datetime) -> float | None:
        return None if self.card is None else (now - self.card.due).total_seconds()

    def state_name(self) -> str:
        return "new" if self.card is None else self.card.state.name.lower()  # learning, review, relearning


def card_states(logs: dict[str, list[Review]], qids: Iterable[str]) -> dict[str, CardState]:
    """Each question's CardState, from the logs read by n00bqa.study_loop.log.read_all."""
    sched = scheduler()
    states = {}
    for qid in qids:
        reviews = logs.get(qid, [])
        card = replay(qid, reviews, sched)
        last = max((r.at for r in reviews), default=None)
        states[qid] = CardState(qid, card, len(reviews), last)
    return states


def due_order(states: Iterable[CardState], now: datetime) -> list[CardState]:
    """The questions due at `now`, most overdue first (ties by id)."""
    due = [s for s in states if s.is_due(now)]
    return sorted(due, key=lambda s: (s.due, s.qid))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def relative_time(moment: datetime, now: datetime) -> str:
    """`in 10 minutes`, `in 3 days`, `2 hours ago`: how far `moment` is from `now`, in the largest unit."""
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    for unit, length in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600),
                         ("minute", 60)):
        if size >= length:
            count = round(size / length)
            break
    else:
        return "now"
    words = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"in {words}" if seconds > 0 else f"{words} ago"
