"""Review lines whose values no review can hold (issue 25 item 9): dated 9999 or in the future, a NaN or
infinite score, a due date centuries off. Each is named (`reviews/x.jsonl:3: ...`), skipped and kept;
`review`, `progress` and `quiz` still work and agree; `progress --json` is strict JSON."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app

runner = CliRunner()
GOOD = [{"at": "2026-03-01T12:00:00+00:00", "kind": "recall", "rating": "good"},
        {"at": "2026-03-02T12:00:00+00:00", "kind": "recall", "rating": "hard"}]
PREDICT = '"kind": "predict", "rating": "good", "predictions": [{"metric": "m", "measured": 1.0, "score": %s}]'


def strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not strict JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad, why", [
    ('{"at": "9999-12-31T23:59:59+00:00", "kind": "recall", "rating": "good"}', "is in the future"),
    ('{"at": "2099-01-01T00:00:00+00:00", "kind": "recall", "rating": "easy"}', "is in the future"),
    ('{"at": "2026-03-03T12:00:00+00:00", ' + PREDICT % "NaN" + "}", "NaN is not a number"),
    ('{"at": "2026-03-03T12:00:00+00:00", ' + PREDICT % "Infinity" + "}", "Infinity is not a number"),
    ('{"at": "2026-03-03T12:00:00+00:00", ' + PREDICT % "1e999" + "}", "must be a finite number"),
    ('{"at": "2026-03-03T12:00:00+00:00", "kind": "recall", "rating": "good", "due": "9999-12-31T23:59:59+00:00"}',
     "more than 100 years"),
])
def test_a_line_no_review_can_hold_is_named_skipped_kept_and_breaks_nothing(study_root, bad, why):
    added = runner.invoke(app, ["questions", "add", "What do I recall?", "--id", "recall-me", "--no-evidence"])
    assert added.exit_code == 0, added.output
    folder = study_root / "reviews"
    folder.mkdir()
    path = folder / "recall-me.jsonl"
    text = "\n".join([json.dumps(GOOD[0]), json.dumps(GOOD[1]), bad]) + "\n"
    path.write_text(text)
    for command in (["review", "--json"], ["progress", "--json"], ["review"], ["progress"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        assert "Traceback" not in result.output
        named = [line for line in result.stderr.splitlines() if f"{path}:3: skipped, " in line]
        assert named and why in named[0], result.stderr
    data = strict(runner.invoke(app, ["progress", "--json"]).stdout)
    assert data is not None
    review = strict(runner.invoke(app, ["review", "--json"]).stdout)
    # the two good lines alone set the schedule: what the scheduler makes of them, independently
    from n00bqa.study_loop import log, schedule

    reviews = [log.parse_review("recall-me", json.dumps(line)) for line in GOOD]
    due = schedule.replay("recall-me", reviews).due
    listed = json.dumps(review)
    assert due.isoformat()[:16] in listed or due.astimezone(timezone.utc).isoformat()[:16] in listed, listed
    quiz = runner.invoke(app, ["quiz", "recall-me", "--answer", "in my words", "--rating", "good", "--json"])
    assert quiz.exit_code == 0 and "Traceback" not in quiz.output, quiz.output
    lines = path.read_text().splitlines()
    assert lines[2] == bad and len(lines) == 4  # kept byte for byte, the new review after it


def test_a_review_dated_a_few_hours_ahead_by_another_clock_is_kept():
    from n00bqa.study_loop import log

    soon = (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat(timespec="seconds")
    review = log.parse_review("model-size", json.dumps({"at": soon, "kind": "recall", "rating": "good"}))
    assert review.at > datetime.now(timezone.utc)


def test_json_output_is_strict_whatever_a_number_holds():
    from n00bqa.cli.common import _finite_only

    assert _finite_only({"a": [1.5, math.nan, {"b": math.inf}], "c": -math.inf, "d": "NaN"}) == \
        {"a": [1.5, None, {"b": None}], "c": None, "d": "NaN"}
