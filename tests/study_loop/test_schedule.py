"""One FSRS card per question, rebuilt from its log: checked against the fsrs library's own answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import fsrs
import pytest

from n00bqa.probes.base import Prediction, ProbeResult
from n00bqa.questions import get_question
from n00bqa.study_loop import log, schedule
from n00bqa.study_loop.progress import overview
from n00bqa.study_loop.quiz_steps import Ask, record_predictions, record_recall, reveal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SEQUENCE = [("good", 0), ("good", 0.01), ("hard", 3), ("again", 12), ("good", 12.01), ("easy", 30)]  # (rating, day)


def fsrs_reference(ratings_at: list[tuple[str, datetime]]) -> fsrs.Card:
    """The card fsrs itself gives for these reviews, stepped by hand."""
    sched = fsrs.Scheduler(enable_fuzzing=False)
    card = fsrs.Card(card_id=1, due=ratings_at[0][1])
    names = {"again": fsrs.Rating.Again, "hard": fsrs.Rating.Hard, "good": fsrs.Rating.Good, "easy": fsrs.Rating.Easy}
    for rating, at in ratings_at:
        card, _ = sched.review_card(card, names[rating], review_datetime=at)
    return card


def test_replayed_log_gives_fsrs_own_card(study):
    reviews = []
    for rating, day in SEQUENCE:
        review = log.Review("model-size", T0 + timedelta(days=day), "recall", rating)
        log.append_review(study, review)
        reviews.append(review)
        ours = schedule.replay("model-size", log.read_log(study, "model-size")[0])
        theirs = fsrs_reference([(r.rating, r.at) for r in reviews])
        assert ours.due == theirs.due
        assert ours.state == theirs.state and ours.step == theirs.step
        assert ours.stability == pytest.approx(theirs.stability) and ours.difficulty == pytest.approx(theirs.difficulty)


def test_fsrs_first_answers_are_its_learning_steps(study):
    # fsrs 6's defaults: a new card rated Good waits for the second learning step (10 min), Again for the
    # first (1 min); Easy leaves learning at once, for days.
    for rating, expected in (("again", timedelta(minutes=1)), ("good", timedelta(minutes=10))):
        card = schedule.next_card("x", [], rating, T0)
        assert card.due - T0 == expected == fsrs_reference([(rating, T0)]).due - T0
    easy = schedule.next_card("x", [], "easy", T0)
    assert easy.due - T0 >= timedelta(days=1) and easy.state == fsrs.State.Review


def test_a_merged_log_in_any_line_order_gives_the_same_card(study):
    path = log.log_path(study, "model-size")
    for rating, day in SEQUENCE:
        log.append_review(study, log.Review("model-size", T0 + timedelta(days=day), "recall", rating))
    in_order = schedule.replay("model-size", log.read_log(study, "model-size")[0])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[3:] + lines[:3]) + "\n")  # what a union merge of two branches may give
    shuffled = schedule.replay("model-size", log.read_log(study, "model-size")[0])
    assert shuffled.due == in_order.due and shuffled.stability == in_order.stability
    assert (path.parent / ".gitattributes").read_text().endswith("*.jsonl merge=union\n")


def fake_run(value: float) -> ProbeResult:
    return ProbeResult("param-count", "model-size", "summary", [f"gpt2: {value:,.0f} parameters."], [],
                       {"gpt2.total": value}, {"measured_at": "2026-01-01T00:00:00+00:00"}, 0.1)


def test_a_far_off_prediction_schedules_sooner_than_a_close_one(study, tmp_path):
    from n00bqa.study import Study

    question = get_question(study, "model-size")
    ask = Ask("param-count", Prediction("How many parameters does GPT-2 small have?", "gpt2.total", "parameters"))
    measured = fake_run(124_439_808)
    close = record_predictions(study, question, [reveal(ask, 124e6, measured)], now=T0)
    other = tmp_path / "other"
    (other / "questions").mkdir(parents=True)
    (other / "questions" / "model-size.md").write_text(question.path.read_text())
    far = record_predictions(Study(other), question, [reveal(ask, 1e6, measured)], now=T0)
    assert close.rating == "easy" and far.rating == "again"
    assert far.due < close.due
    assert far.review.predictions[0].score < 0.01 and close.review.predictions[0].score > 0.99


def test_due_order_is_most_overdue_first_and_new_questions_wait(study):
    now = T0 + timedelta(days=60)
    for qid, day in (("task-heads", 20), ("model-size", 2), ("loss-and-benchmark", 10)):
        record_recall(study, get_question(study, qid), "", "good", now=T0 + timedelta(days=day))
    view = overview(study, now)
    due = [d.question.id for d in view.due]
    assert due == ["model-size", "loss-and-benchmark", "task-heads"]
    dues = [d.state.due for d in view.due]
    assert dues == sorted(dues) and all(d <= now for d in dues)
    assert {d.question.id for d in view.new}.isdisjoint(due) and len(view.new) == len(view.questions) - 3
    assert view.next_due is None  # everything scheduled is due by now
    assert overview(study, T0 + timedelta(days=20)).next_due.question.id == "task-heads"
