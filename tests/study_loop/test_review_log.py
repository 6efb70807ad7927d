"""The review log: plain JSON lines beside questions/, a bad line named and skipped, never lost."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from n00bqa.questions import get_question
from n00bqa.study_loop import log, schedule
from n00bqa.study_loop.progress import overview
from n00bqa.study_loop.quiz_steps import record_recall

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_log_lives_in_the_study_root_outside_the_state_folder(study, study_root):
    result = record_recall(study, get_question(study, "model-size"), "dense vs sparse", "good", now=T0)
    assert result.path == study_root / "reviews" / "model-size.jsonl"
    data = json.loads(result.path.read_text().splitlines()[0])
    assert data == {"at": "2026-03-01T12:00:00+00:00", "kind": "recall", "rating": "good",
                    "due": (T0 + timedelta(minutes=10)).isoformat(), "answer": "dense vs sparse"}


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not JSON"),
    ('["a list"]', "not a JSON object"),
    ('{"at": "2026-03-02T12:00:00+00:00", "kind": "recall", "rating": "superb"}', "rating 'superb'"),
    ('{"at": "yesterday", "kind": "recall", "rating": "good"}', "not an ISO time"),
    ('{"at": "2026-03-02T12:00:00", "kind": "recall", "rating": "good"}', "no time zone"),
    ('{"at": "2026-03-02T12:00:00+00:00", "kind": "predict", "rating": "good", "predictions": '
     '[{"metric": "m", "measured": "lots", "score": 1}]}', "measured must be a number"),
])
def test_a_corrupt_line_is_named_skipped_and_kept(study, bad, why):
    question = get_question(study, "model-size")
    record_recall(study, question, "", "good", now=T0)
    path = log.log_path(study, "model-size")
    with path.open("a") as f:
        f.write(bad + "\n")  # a hand edit or a bad merge
    reviews, problems = log.read_log(study, "model-size")
    assert len(reviews) == 1 and len(problems) == 1
    assert problems[0].message.startswith(f"{path}:2: skipped, ") and why in problems[0].message
    assert "kept" in problems[0].message
    # the next review is appended after it; the bad line stays byte for byte
    record_recall(study, question, "", "easy", now=T0 + timedelta(days=1))
    lines = path.read_text().splitlines()
    assert lines[1] == bad and len(lines) == 3
    reviews, problems = log.read_log(study, "model-size")
    assert [r.rating for r in reviews] == ["good", "easy"] and [p.line for p in problems] == [2]
    # and the schedule is the one of the two good lines
    assert schedule.replay("model-size", reviews).due == schedule.next_card(
        "model-size", reviews[:1], "easy", T0 + timedelta(days=1)).due
    view = overview(study, T0)
    assert [p.line for p in view.log_problems] == [2]


def test_a_last_line_without_newline_and_bytes_that_are_not_utf8_are_kept(study):
    path = log.log_path(study, "model-size")
    path.parent.mkdir()
    path.write_bytes(b'{"at": "2026-03-01T12:00:00+00:00", "kind": "recall", "rating": "hard"}\n\xff\xfe junk')
    reviews, problems = log.read_log(study, "model-size")
    assert len(reviews) == 1 and problems[0].line == 2
    record_recall(study, get_question(study, "model-size"), "", "good", now=T0 + timedelta(hours=1))
    data = path.read_bytes()
    assert b"\xff\xfe junk\n" in data and data.count(b"\n") == 3
    assert [r.rating for r in log.read_log(study, "model-size")[0]] == ["hard", "good"]


def test_the_log_changes_in_a_way_git_diff_shows(study, study_root):
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(study_root), *args], check=True, capture_output=True,
                              text=True).stdout

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "start")
    question = get_question(study, "model-size")
    record_recall(study, question, "first", "good", now=T0)
    git("add", "reviews")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first review")
    record_recall(study, question, "second", "easy", now=T0 + timedelta(days=1))
    diff = git("diff", "--", "reviews/model-size.jsonl")
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and len(added) == 1 and '"rating": "easy"' in added[0] and '"answer": "second"' in added[0]
    assert git("check-attr", "merge", "reviews/model-size.jsonl").strip().endswith("merge: union")


def test_a_log_of_a_removed_question_is_left_out_not_fatal(study, study_root):
    record_recall(study, get_question(study, "model-size"), "", "good", now=T0)
    (study_root / "questions" / "model-size.md").unlink()
    view = overview(study, T0 + timedelta(days=1))
    assert "model-size" not in view.states and (study_root / "reviews" / "model-size.jsonl").is_file()
