"""The data files the probes ship in n00bqa/probes/lib/data/ (our own, written for n00bqa)."""

from __future__ import annotations

import json
from importlib import resources

from n00bqa.errors import ProbeError

LETTERS = ("A", "B", "C", "D", "E")


def science_questions() -> list[dict[str, str]]:
    """The science-exam-style multiple-choice questions (prompt, A-E, answer), checked on load."""
    text = resources.files("n00bqa.probes.lib").joinpath("data", "science_mc.json").read_text(encoding="utf-8")
    questions = json.loads(text)["questions"]
    for q in questions:
        if q.get("answer") not in LETTERS or any(not q.get(c) for c in ("prompt", *LETTERS)):
            raise ProbeError(f"science_mc.json: question {q.get('prompt')!r} needs prompt, A-E and answer in A-E")
    return questions
