"""The learner's routing choices (issue 22): `--is ID`, the numbered prompt through a real
pseudo-terminal, `--json` and a pipe that never wait, and routing/choices.jsonl kept honest (a
corrupt line or a deleted question named and skipped, `questions rm` drops its lines)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.ask import ask
from n00bqa.ask.choices import choices_path, forget, load_choices, record_choice
from n00bqa.cli import app

runner = CliRunner()
N00BQA = str(Path(sys.executable).with_name("n00bqa"))
UNSURE = "cross attn"  # on the fixture root: candidates, loss-and-benchmark 66 % then encoder-decoder 29 %


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def _lines(study) -> list[dict]:
    return [json.loads(line) for line in choices_path(study).read_text().splitlines()]


def test_is_keeps_the_choice_and_the_next_ask_uses_it(ready, study):
    assert ask(study, UNSURE).outcome == "candidates"
    result = runner.invoke(app, ["ask", UNSURE, "--is", "encoder-decoder", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "match" and data["question"]["id"] == "encoder-decoder"
    assert data["question"]["confidence"] == 1.0 and data["chosen"] == "routing/choices.jsonl:1"
    [line] = _lines(study)
    assert line["query"] == UNSURE and line["id"] == "encoder-decoder" and line["at"].endswith("+00:00")
    assert (choices_path(study).parent / ".gitattributes").read_text().endswith("*.jsonl merge=union\n")
    # the same words differently cased and spaced are the same query; a later choice wins
    again = ask(study, "Cross  ATTN")
    assert again.outcome == "match" and again.question.id == "encoder-decoder"
    record_choice(study, UNSURE, None)
    later = ask(study, UNSURE)
    assert later.outcome == "none" and later.chosen == "routing/choices.jsonl:2"


def test_is_none_and_an_unknown_id(ready, study):
    result = runner.invoke(app, ["ask", UNSURE, "--is", "none", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["outcome"] == "none"
    assert _lines(study)[-1]["id"] is None
    bad = runner.invoke(app, ["ask", UNSURE, "--is", "encoder-decodr"])
    assert bad.exit_code == 1 and "did you mean 'encoder-decoder'" in bad.output
    assert "Traceback" not in bad.output and len(_lines(study)) == 1  # nothing written for a bad id


def test_a_corrupt_line_and_a_deleted_question_are_named_and_skipped(ready, study):
    path = choices_path(study)
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([
        json.dumps({"at": "2026-12-07T01:00:00+00:00", "query": "x", "id": "model-size"}),
        "{not json",
        json.dumps({"at": "2026-12-07T01:00:00+00:00", "query": UNSURE, "id": "gone-question"}),
        json.dumps(["a", "list"]),
    ]) + "\n")
    good, problems = load_choices(study, {"model-size", "encoder-decoder"})
    assert [(c.query, c.question, c.line) for c in good] == [("x", "model-size", 1)]
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4"]
    assert "question 'gone-question' is not in your list" in problems[1]
    result = runner.invoke(app, ["ask", UNSURE, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["outcome"] == "candidates"  # the skipped choice decides nothing
    assert "routing/choices.jsonl:2: skipped, not a choice" in result.stderr
    assert "routing/choices.jsonl:3: skipped, question 'gone-question'" in result.stderr


def test_questions_rm_drops_the_removed_questions_choices(ready, study):
    record_choice(study, "first", "model-size")
    record_choice(study, "second", "encoder-decoder")
    with open(choices_path(study), "a") as handle:
        handle.write("{corrupt, kept as it was\n")
    result = runner.invoke(app, ["questions", "rm", "model-size", "--yes"])
    assert result.exit_code == 0, result.output
    lines = choices_path(study).read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines[:1]] == ["encoder-decoder"] and lines[1].startswith("{corrupt")
    assert forget(study, "no-such-id") == 0


def test_each_choice_is_one_appended_line(ready, study):
    for n in range(20):
        record_choice(study, f"query {n} " + "é" * n, "model-size")
    lines = _lines(study)
    assert [line["query"] for line in lines] == [f"query {n} " + "é" * n for n in range(20)]


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_json_and_a_pipe_never_wait(ready, study):
    env = {**os.environ, "N00BQA_ROOT": str(ready), "COLUMNS": "80"}
    for extra in (["--json"], []):
        # stdin is a pipe left open (nothing typed, never closed): an ask that waited would time out
        process = subprocess.Popen([N00BQA, "ask", UNSURE, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env, text=True)
        try:
            assert process.wait(timeout=120) == 0
        finally:
            process.kill()
            out, err = process.stdout.read(), process.stderr.read()
            process.stdin.close()
            process.stdout.close()
            process.stderr.close()
        assert "Which is it?" not in out + err
        if extra:
            assert json.loads(out)["outcome"] == "candidates"
        else:
            assert "1. loss-and-benchmark" in " ".join(out.split())
    assert not choices_path(study).exists()


def spawn(root: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "N00BQA_ROOT": str(root), "COLUMNS": "100", "TERM": "dumb"}
    return pexpect.spawn(N00BQA, list(args), env=env, encoding="utf-8", timeout=120, dimensions=(60, 100))


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_the_prompt_in_a_terminal_takes_a_digit_and_remembers_it(ready, study):
    child = spawn(ready, "ask", UNSURE, "--no-pager")
    child.expect("Which question is it")
    child.expect(r"Which is it\? Enter = 1, 1-2, n = none of them: ")
    child.sendline("7")  # not a candidate: asked again
    child.expect("Type a number 1-2")
    child.expect("Which is it")
    child.sendline("2")
    child.expect("Kept your choice")
    child.expect(r"encoder-decoder  confidence 100% \(your choice")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    [line] = _lines(study)
    assert line["id"] == "encoder-decoder" and line["query"] == UNSURE


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_the_prompt_enter_takes_the_first_and_n_says_none(ready, study):
    child = spawn(ready, "ask", UNSURE, "--no-pager")
    child.expect("Which is it")
    child.sendline("")
    child.expect(r"loss-and-benchmark  confidence 100% \(your choice")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and _lines(study)[-1]["id"] == "loss-and-benchmark"
    child = spawn(ready, "ask", "what is a head", "--no-pager")  # fixture: task-heads 63 %, 2 more
    child.expect("Which is it")
    child.sendline("n")
    child.expect("none of your questions")
    child.expect(pexpect.EOF)
    child.close()
    last = _lines(study)[-1]
    assert child.exitstatus == 0 and (last["query"], last["id"]) == ("what is a head", None)
