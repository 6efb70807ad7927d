"""The interactive quiz through a real pseudo-terminal (pexpect): the installed `n00bqa` asks,
asks again after a non-number, reveals, and logs."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from n00bqa.questions import add_question
from support.study_loop import copy_probe_cache, param_count_root

N00BQA = str(Path(sys.executable).with_name("n00bqa"))


def spawn(root: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "N00BQA_ROOT": str(root), "COLUMNS": "100", "TERM": "dumb"}
    return pexpect.spawn(N00BQA, list(args), env=env, encoding="utf-8", timeout=120, dimensions=(40, 100))


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_prediction_quiz_in_a_terminal(study_root, tmp_path_factory):
    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    child = spawn(study_root, "quiz", "model-size")
    child.expect("How many parameters does GPT-2 small")
    child.expect("your guess: ")
    child.sendline("about a hundred million")  # not a number: asked again, nothing scored
    child.expect("is not a number; write it like 124000000")
    child.expect("your guess: ")
    child.sendline("124M")
    child.expect("your guess: ")
    child.sendline("?")
    child.expect("your guess: ")
    child.sendline("2.5e8")
    child.expect("measured  124,439,808 parameters")
    child.expect("Rating: ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    [line] = (study_root / "reviews" / "model-size.jsonl").read_text().splitlines()
    review = json.loads(line)
    assert [p["predicted"] for p in review["predictions"]] == [124e6, None, 2.5e8]
    assert review["kind"] == "predict" and review["rating"] in ("again", "hard")


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_recall_quiz_in_a_terminal(study, study_root):
    add_question(study, "Why does attention divide by the square root of d_k?", qid="attention-scale")
    child = spawn(study_root, "quiz", "attention-scale")
    child.expect("Why does attention divide by the square root")
    child.expect("in your own words")
    child.sendline("it keeps the dot products from growing with d_k")
    child.expect("our answer")
    child.expect("How well did you recall it")
    child.sendline("superb")
    child.expect("not a rating")
    child.sendline("h")
    child.expect("Rating: hard")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    [line] = (study_root / "reviews" / "attention-scale.jsonl").read_text().splitlines()
    assert json.loads(line)["answer"] == "it keeps the dot products from growing with d_k"


@pytest.mark.skipif(shutil.which(N00BQA) is None, reason="the n00bqa console script is not installed")
def test_end_of_input_logs_nothing(study_root, tmp_path_factory):
    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    child = spawn(study_root, "quiz", "model-size")
    child.expect("your guess: ")
    child.sendeof()
    child.expect("input ended before the quiz did; nothing was logged")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert not (study_root / "reviews").exists()
