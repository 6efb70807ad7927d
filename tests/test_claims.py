"""Living numbers (issue 24): the numbers the built-in notes and answers quote about the installed
libraries hold for the installed versions, and the check fails when one is changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from n00bqa.claims import check_claims, evaluate, load_claims
from n00bqa.study import JOURNEY


def test_every_claim_of_the_builtin_notes_holds_for_the_installed_libraries():
    claims = load_claims(JOURNEY)
    assert len(claims) >= 10
    assert check_claims(JOURNEY) == []


def test_a_changed_number_in_a_note_fails_with_the_sentence_to_update(tmp_path: Path):
    root = tmp_path / "root"
    shutil.copytree(JOURNEY / "corpus", root / "corpus")
    shutil.copytree(JOURNEY / "questions", root / "questions")
    note = root / "corpus" / "notes" / "hf-trainer.md"
    lines = evaluate("lines transformers trainer.py")
    note.write_text(note.read_text().replace(f"{lines:,} lines", f"{lines + 7:,} lines"))
    claims = root / "corpus" / "claims.yaml"
    claims.write_text(claims.read_text().replace(f"({lines:,} lines", f"({lines + 7:,} lines"))
    problems = check_claims(root)
    assert len(problems) == 1
    assert f"says {lines + 7:,} but `lines transformers trainer.py` gives {lines:,} now" in problems[0]
    assert problems[0].startswith("corpus/notes/hf-trainer.md:")


def test_a_quote_edited_away_from_the_file_is_named(tmp_path: Path):
    root = tmp_path / "root"
    shutil.copytree(JOURNEY / "corpus", root / "corpus")
    shutil.copytree(JOURNEY / "questions", root / "questions")
    note = root / "corpus" / "notes" / "hf-transformers.md"
    note.write_text(note.read_text().replace("The installed version here is", "We installed"))
    assert any("is no longer in the file" in p for p in check_claims(root))
