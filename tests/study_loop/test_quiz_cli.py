"""`n00bqa quiz`, `review` and `progress` through the real entry point (typer's CliRunner)."""

from __future__ import annotations

import math

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.questions import add_question, get_question
from n00bqa.study_loop import log
from n00bqa.study_loop.quiz_steps import record_recall
from support.study_loop import copy_probe_cache, first_quiz, param_count_root

GPT2_SMALL = 124_439_808  # the published count, which the param-count probe's own test holds it to


@pytest.fixture
def cached(study_root, tmp_path_factory):
    """The test's root with param-count's default run in its cache."""
    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    return study_root


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_quiz_model_size_answer_json_measures_scores_and_schedules(tmp_path_factory):
    param_count_root(tmp_path_factory)
    data = json.loads(first_quiz())
    assert data["question"]["id"] == "model-size" and data["kind"] == "predict"
    [guess] = data["predictions"]  # one --answer: the first prediction only
    assert guess["metric"] == "gpt2.total" and guess["prompt"].startswith("How many parameters")
    assert guess["predicted"] == 124_000_000 and guess["measured"] == GPT2_SMALL
    assert guess["relative_error"] == pytest.approx(abs(124_000_000 - GPT2_SMALL) / GPT2_SMALL, abs=1e-6)
    assert guess["score"] == pytest.approx(1 - abs(math.log(124_000_000 / GPT2_SMALL)), abs=1e-4)
    assert guess["fresh"] is True  # no cached run: the quiz ran the probe
    assert "124,439,808" in guess["finding"]
    assert data["rating"] == "easy"
    due = datetime.fromisoformat(data["due"])
    assert due > datetime.now(timezone.utc) + timedelta(days=1)


def test_the_next_quiz_reads_the_cached_run(cached):
    result = invoke("quiz", "model-size", "--answer", "124M", "--answer", "?", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["fresh"] for p in data["predictions"]] == [False, False]
    assert data["predictions"][1]["predicted"] is None and data["predictions"][1]["score"] == 0
    assert data["rating"] == "hard"  # mean of ~1.0 and 0 -> 0.5
    [line] = (cached / "reviews" / "model-size.jsonl").read_text().splitlines()
    assert json.loads(line)["predictions"][0]["measured"] == GPT2_SMALL


def test_far_off_comes_back_sooner_than_close(cached, study, tmp_path):
    close = json.loads(invoke("quiz", "model-size", "--answer", "124439808", "--json").stdout)
    log.log_path(study, "model-size").unlink()
    far = json.loads(invoke("quiz", "model-size", "--answer", "5e12", "--json").stdout)
    assert (close["rating"], far["rating"]) == ("easy", "again")
    assert datetime.fromisoformat(far["due"]) < datetime.fromisoformat(close["due"])


def test_human_output_shows_value_error_finding_and_due(cached):
    result = invoke("quiz", "model-size", "--answer", "1.2e8")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "you said 120,000,000 parameters" in out and "measured 124,439,808 parameters" in out
    assert "off by 3.57 %" in out and "score 0.96" in out and "why: gpt2: 124,439,808 parameters" in out
    assert "Rating: easy" in out and "back in" in out and "model-size.jsonl (line 1)" in out


@pytest.mark.parametrize("args, message", [
    (["--answer", "lots"], "--answer 'lots' is not a number; write it like 124000000"),
    (["--answer", "1", "--answer", "2", "--answer", "3", "--answer", "4"], "4 --answer values for 3 predictions"),
    ([], "no terminal to ask model-size's 3 predictions on; pass --answer VALUE"),
    (["--answer", "1", "--rating", "good"], "--rating is for recall questions"),
])
def test_refusals_are_one_line_exit_2_and_log_nothing(study_root, args, message):
    result = invoke("quiz", "model-size", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {message}") and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not (study_root / "reviews").exists()


def test_recall_quiz_keeps_the_learners_words(study, study_root):
    add_question(study, "Why does attention divide by the square root of d_k?", qid="attention-scale")
    result = invoke("quiz", "attention-scale", "--answer", "so the softmax does not saturate", "--rating", "good",
                    "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "recall" and data["predictions"] == [] and data["rating"] == "good"
    [line] = (study_root / "reviews" / "attention-scale.jsonl").read_text().splitlines()
    assert json.loads(line)["answer"] == "so the softmax does not saturate"
    refused = invoke("quiz", "attention-scale", "--answer", "x")
    assert refused.exit_code == 2 and "pass --rating again|hard|good|easy" in refused.stderr
    bad = invoke("quiz", "attention-scale", "--rating", "great")
    assert bad.exit_code == 2 and "--rating 'great' is not one of again, hard, good, easy" in bad.stderr


def test_review_json_lists_due_in_due_order_and_quiz_takes_the_first(study, cached):
    now = datetime.now(timezone.utc)
    for qid, days_ago in (("task-heads", 20), ("model-size", 40), ("hf-internals", 30)):
        record_recall(study, get_question(study, qid), "", "good", now=now - timedelta(days=days_ago))
    result = invoke("review", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["id"] for d in data["due"]] == ["model-size", "hf-internals", "task-heads"]
    assert [d["overdue_seconds"] for d in data["due"]] == sorted((d["overdue_seconds"] for d in data["due"]),
                                                                 reverse=True)
    assert {d["id"] for d in data["new"]} == {"embedding-grad", "loss-and-benchmark", "encoder-decoder",
                                              "word-embedding"}
    human = invoke("review")
    assert human.stdout.index("model-size") < human.stdout.index("hf-internals") < human.stdout.index("task-heads")
    taken = json.loads(invoke("quiz", "--answer", "124M", "--json").stdout)
    assert taken["question"]["id"] == "model-size"  # the most overdue


def test_review_names_a_corrupt_line_and_goes_on(study, study_root):
    record_recall(study, get_question(study, "model-size"), "", "good",
                  now=datetime.now(timezone.utc) - timedelta(days=30))
    with (study_root / "reviews" / "model-size.jsonl").open("a") as f:
        f.write("<<<<<<< HEAD\n")
    result = invoke("review", "--json")
    assert result.exit_code == 0
    assert [d["id"] for d in json.loads(result.stdout)["due"]] == ["model-size"]
    assert "model-size.jsonl:2: skipped, not JSON" in result.stderr


def test_progress_per_chapter_and_error_over_time(study, cached):
    for answer in ("1e9", "2e8", "1.3e8"):
        assert invoke("quiz", "model-size", "--answer", answer).exit_code == 0
    record_recall(study, get_question(study, "encoder-decoder"), "", "hard")
    data = json.loads(invoke("progress", "--json").stdout)
    chapters = {c["chapter"]: c for c in data["chapters"]}
    assert chapters[1]["questions"] == 5 and chapters[2]["questions"] == 2 and chapters[3]["questions"] == 0
    assert chapters[1]["reviews"] == 3 and chapters[1]["predictions"] == 3 and chapters[2]["reviews"] == 1
    assert chapters[1]["new"] == 4 and chapters[2]["new"] == 1
    assert chapters[1]["open"] + chapters[1]["answered"] == 5
    errors = [p["mean_log10_error"] for p in data["error_over_time"]]
    expected = [abs(__import__("math").log10(v / GPT2_SMALL)) for v in (1e9, 2e8, 1.3e8)]
    assert errors == pytest.approx(expected, abs=1e-4)  # the learner is getting closer
    human = invoke("progress")
    assert human.exit_code == 0
    assert "prediction error per quiz" in human.stdout and "fine-tuning" in human.stdout
    assert all(len(line) <= 80 for line in human.stdout.splitlines())


@pytest.mark.parametrize("width", [60, 80])
def test_progress_crops_nothing_at_60_and_80_columns(study, cached, width):
    # issue 26 item 3: at 60 columns rich cropped the headers and numbers (`questio…`, `0.…`)
    for answer in ("1e9", "2e8"):
        assert invoke("quiz", "model-size", "--answer", answer).exit_code == 0
    data = json.loads(invoke("progress", "--json").stdout)
    result = CliRunner().invoke(app, ["progress"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout and all(len(line) <= width for line in result.stdout.splitlines())
    words = result.stdout.split()
    for column in ("questions", "answered", "score", "reviews", "guesses"):
        assert column in words or f"{column}:" in words, column
    for chapter in data["chapters"]:  # every number of the JSON is shown whole
        if chapter["mean_score"] is not None:
            assert f"{chapter['mean_score']:.2f}" in words


def test_nothing_left_to_quiz(study_root):
    for path in (study_root / "questions").glob("*.md"):
        path.unlink()
    result = invoke("quiz")
    assert result.exit_code == 0 and "Nothing to quiz" in result.stdout


def test_review_never_breaks_an_id_at_60_or_80_columns(study, monkeypatch):
    # issue 26 item 7: a long id in the due list was folded mid-word ("lora-why-need-so-few-trainab" / "le")
    from n00bqa.questions import add_question

    long_id = "lora-why-need-so-few-trainable-parameters"
    add_question(study, "Why does LoRA need so few trainable parameters?", qid=long_id)
    record_recall(study, get_question(study, long_id), "", "good",
                  now=datetime.now(timezone.utc) - timedelta(days=40))
    for width in (60, 80):
        monkeypatch.setenv("COLUMNS", str(width))
        result = invoke("review")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert any(long_id in line for line in lines), result.stdout
        assert max(len(line) for line in lines) <= width
