"""The data files the probes ship in n00bqa/probes/lib/data/ (our own, written for n00bqa).

- science_mc.json: science-exam-style multiple-choice questions (prompt, A-E, answer), for the
  task-heads, trainer, datasets and tokenizer probes;
- nanogpt_text.txt: the notes in corpus/notes/ joined together when the nanogpt probe was written,
  the text it trains on.
"""

from __future__ import annotations

import json
from importlib import resources

from n00bqa.errors import ProbeError

LETTERS = ("A", "B", "C", "D", "E")


def _read(name: str) -> str:
    return resources.files("n00bqa.probes.lib").joinpath("data", name).read_text(encoding="utf-8")


def science_questions() -> list[dict[str, str]]:
    """The science-exam-style multiple-choice questions (prompt, A-E, answer), checked on load."""
    questions = json.loads(_read("science_mc.json"))["questions"]
    for q in questions:
        if q.get("answer") not in LETTERS or any(not q.get(c) for c in ("prompt", *LETTERS)):
            raise ProbeError(f"science_mc.json: question {q.get('prompt')!r} needs prompt, A-E and answer in A-E")
    return questions


def nanogpt_text() -> str:
    """The text the nanogpt probe trains a character-level GPT on."""
    return _read("nanogpt_text.txt")
