"""lib/data against the shipped files read straight from the package folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import n00bqa.probes.lib as lib
from n00bqa.errors import ProbeError
from n00bqa.probes.lib import data

FOLDER = Path(lib.__file__).parent / "data"


def test_science_questions_are_the_files_questions():
    raw = json.loads((FOLDER / "science_mc.json").read_text(encoding="utf-8"))["questions"]
    questions = data.science_questions()
    assert questions == raw and len(questions) >= 30
    assert all(q["answer"] in "ABCDE" for q in questions)
    questions[0]["prompt"] = "changed"  # each call is a fresh list: a probe may shuffle or edit it
    assert data.science_questions()[0]["prompt"] == raw[0]["prompt"]


def test_a_malformed_question_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(data, "_read", lambda name: json.dumps({"questions": [{"prompt": "p", "A": "a",
                                                                                 "answer": "F"}]}))
    with pytest.raises(ProbeError, match="needs prompt, A-E and answer in A-E") as err:
        data.science_questions()
    assert "\n" not in str(err.value)


def test_the_nanogpt_text_is_the_file():
    text = data.nanogpt_text()
    assert text == (FOLDER / "nanogpt_text.txt").read_text(encoding="utf-8") and len(text) > 10_000
