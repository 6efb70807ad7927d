"""The learner's routing choices: plain JSON lines in `<root>/routing/choices.jsonl`.

When `ask` is unsure it offers candidates; the one the learner picks (or `--is ID` from a script)
is written here, one line per choice, and routing reads it from the next ask on:

    {"at": "2026-12-07T01:50:00+00:00", "query": "kaggle mcq with deberta", "id": "task-heads"}
    {"at": "2026-12-07T01:51:00+00:00", "query": "what does layer norm do", "id": null}

`id: null` says "none of my questions". The file lives beside `questions/` (not in `.n00bqa/`), so
it is versioned with them. Each choice is appended with one `write` to a file opened O_APPEND, so
two asks at once never interleave a line, and two clones merge by keeping both sides' lines (the
folder's `.gitattributes` asks git for `merge=union`, as `reviews/` does). A later line for the
same query wins. A line that is not a choice (a bad merge, a hand edit) or names a question that
is gone is named by file:line and skipped, never fatal; `questions rm` drops the removed
question's lines (`forget`), so what is left always names questions that exist.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from n00bqa.errors import WriteError
from n00bqa.study import Study
from n00bqa.text import normalised

FOLDER = "routing"
FILE = "choices.jsonl"
GITATTRIBUTES = "# n00bqa: choices only grow, so a merge keeps the lines of both sides\n*.jsonl merge=union\n"


@dataclass
class Choice:
    """One line of the choices file."""

    query: str
    question: str | None  # None: the learner said no question of theirs covers it
    at: str
    line: int = 0

    @property
    def key(self) -> str:
        return normalised(self.query)


def choices_path(study: Study) -> Path:
    return study.root / FOLDER / FILE


def _parse(raw: str) -> Choice:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    query, qid, at = data.get("query"), data.get("id"), data.get("at", "")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("no \"query\" text")
    if qid is not None and (not isinstance(qid, str) or not qid):
        raise ValueError("\"id\" must be a question id or null")
    return Choice(query, qid, str(at))


def load_choices(study: Study, known_ids: set[str] | None = None) -> tuple[list[Choice], list[str]]:
    """The good choices, in file order, and one message per skipped line (file:line, why)."""
    path = choices_path(study)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], []
    good: list[Choice] = []
    problems: list[str] = []
    shown = f"{FOLDER}/{FILE}"
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            choice = _parse(raw)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            problems.append(f"{shown}:{number}: skipped, not a choice ({str(exc).splitlines()[0]})")
            continue
        if known_ids is not None and choice.question is not None and choice.question not in known_ids:
            problems.append(f"{shown}:{number}: skipped, question {choice.question!r} is not in your list")
            continue
        choice.line = number
        good.append(choice)
    return good, problems


def latest_by_query(choices: list[Choice]) -> dict[str, Choice]:
    """normalised query -> the last choice made for it."""
    return {c.key: c for c in choices}


def record_choice(study: Study, query: str, qid: str | None) -> Choice:
    """Append one choice with a single O_APPEND write (atomic for a line this size)."""
    study.require_writable()
    moment = datetime.now(timezone.utc).isoformat(timespec="seconds")
    line = json.dumps({"at": moment, "query": query, "id": qid}, ensure_ascii=False) + "\n"
    path = choices_path(study)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        attributes = path.parent / ".gitattributes"
        if not attributes.exists():
            attributes.write_text(GITATTRIBUTES, encoding="utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise WriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}; check the folder's permissions") from None
    return Choice(query, qid, moment)


def forget(study: Study, qid: str) -> int:
    """Drop the lines that chose `qid` (after `questions rm`); returns how many went. Other lines,
    good or corrupt, are kept as they were."""
    from n00bqa.atomic import atomic_write_text

    path = choices_path(study)
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError:
        return 0
    kept = []
    for raw in lines:
        try:
            if _parse(raw).question == qid:
                continue
        except ValueError:
            pass
        kept.append(raw)
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))
    return len(lines) - len(kept)
