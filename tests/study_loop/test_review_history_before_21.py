"""Issue 21, item 6: a `reviews/` history written before the probe layer changed replays identically,
and `quiz` still finds the number of every prediction it logged, under the metric's new name.

The history (tests/fixtures/reviews_before_21/) was written by the quiz code of commit 9f8d663, and
`replayed_at_9f8d663.json` is what that code replayed it to; today's code must give the same cards
and the same progress numbers."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from n00bqa.probes import find_probe
from n00bqa.probes.base import Prediction, ProbeResult
from n00bqa.study_loop import log, schedule
from n00bqa.study_loop.progress import progress
from n00bqa.study_loop.quiz_steps import Ask, plan, reveal

HISTORY = Path(__file__).resolve().parent.parent / "fixtures" / "reviews_before_21"
THEN = json.loads((HISTORY / "replayed_at_9f8d663.json").read_text(encoding="utf-8"))


@pytest.fixture
def old_history(study):
    study.reviews_dir.mkdir(parents=True, exist_ok=True)
    for path in HISTORY.glob("*.jsonl"):
        shutil.copy(path, study.reviews_dir / path.name)
    return study


def test_every_line_still_reads(old_history):
    logs, problems = log.read_all(old_history)
    assert problems == []
    assert {qid: len(reviews) for qid, reviews in logs.items()} == {
        qid: card["reviews"] for qid, card in THEN["cards"].items()}
    names = {p.metric for reviews in logs.values() for r in reviews for p in r.predictions}
    assert {"mc_new_params", "qa_new_params"} <= names  # the old names, as the learner's files hold them


def test_the_schedule_replays_to_the_same_cards(old_history):
    logs, _ = log.read_all(old_history)
    for qid, then in THEN["cards"].items():
        card = schedule.replay(qid, logs[qid])
        assert log._iso(card.due) == then["due"], qid
        assert (card.stability, card.difficulty, int(card.state)) == (then["stability"], then["difficulty"],
                                                                      then["state"]), qid
        # and the due date logged with the last review is the one the replay gives
        assert max(logs[qid], key=lambda r: r.at).due == card.due


def test_progress_numbers_are_the_same(old_history):
    now = datetime.fromisoformat(THEN["now"])
    assert progress(old_history, now).to_dict() == THEN["progress"]


def test_each_logged_prediction_names_a_metric_the_probe_still_predicts(old_history):
    """Through Probe.renamed_metrics, each old name is the metric of one of the probe's predictions now,
    the one with the same question, so the quiz asks and scores the same number."""
    logs, _ = log.read_all(old_history)
    records = [p for reviews in logs.values() for r in reviews for p in r.predictions]
    assert records
    for record in records:
        probe = find_probe(None, record.probe)
        current = {p.prompt: p.metric for p in probe.predictions}
        assert probe.metric_name(record.metric) == current[record.prompt], (record.probe, record.metric)


def run_with(metrics: dict) -> ProbeResult:
    return ProbeResult("task-heads", "task-heads", "summary", [f"It adds {v} weights." for v in metrics.values()],
                       [], metrics, {}, 0.0)


def test_quiz_reveal_finds_the_metric_under_its_new_name(old_history):
    """A prediction naming the old metric is scored against the new one, and the other way round (a run
    cached before the rename); either way the record names the metric's current name."""
    probe = find_probe(old_history, "task-heads")
    [ask] = [a for a in plan(old_history, _question(old_history)).asks if a.prediction.metric.endswith("MultipleChoice.new_params")]
    assert ask.renamed == probe.renamed_metrics
    old = Ask("task-heads", Prediction(ask.prediction.prompt, "mc_new_params", "parameters"), ask.renamed)
    new_run = run_with({"heads.MultipleChoice.new_params": 385})
    old_run = run_with({"mc_new_params": 385})
    for a, result in ((old, new_run), (ask, new_run), (ask, old_run)):
        outcome = reveal(a, 385.0, result)
        assert outcome.record.measured == 385 and outcome.record.score == 1.0
        assert outcome.record.metric == "heads.MultipleChoice.new_params"
    with pytest.raises(Exception, match="measured no metric"):
        reveal(Ask("task-heads", Prediction("?", "mc_new_params", ""), {}), 1.0, new_run)


def _question(study):
    from n00bqa.questions import get_question

    return get_question(study, "task-heads")
