"""The learner's question list: one Markdown file per question in `questions/`.

A question file is YAML front matter (id, question, probe, tags, reading, status) and three
sections: `## Answer` (ours), `## Try` (commands that explore it) and `## Notes` (the learner's).
Loading never stops at one broken file: `load_questions` returns the good ones and a list of
problems, each naming the file, the line and the fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from n00bqa.atomic import atomic_write_text
from n00bqa.errors import QuestionError
from n00bqa.paths import questions_dir

STATUSES = ("open", "answered")
REQUIRED = ("id", "question", "probe", "status")
SECTIONS = ("Answer", "Try", "Notes")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass
class Question:
    id: str
    question: str
    probe: str
    status: str = "open"
    tags: list[str] = field(default_factory=list)
    reading: list[str] = field(default_factory=list)
    answer: str = ""
    try_: str = ""
    notes: str = ""
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stable `--json` shape: the front-matter fields plus `answer`, `try`, `notes`, `path`."""
        return {
            "id": self.id, "question": self.question, "probe": self.probe, "status": self.status,
            "tags": list(self.tags), "reading": list(self.reading),
            "answer": self.answer, "try": self.try_, "notes": self.notes,
            "path": str(self.path) if self.path else None,
        }

    def to_markdown(self) -> str:
        """The file's text. Strings are JSON-quoted, which is valid YAML and round-trips exactly."""
        front = "\n".join([
            "---",
            f"id: {self.id}",
            f"question: {json.dumps(self.question, ensure_ascii=False)}",
            f"probe: {self.probe}",
            f"tags: {json.dumps(self.tags, ensure_ascii=False)}",
            f"reading: {json.dumps(self.reading, ensure_ascii=False)}",
            f"status: {self.status}",
            "---",
        ])
        body = "".join(
            f"\n## {name}\n\n{text.strip()}\n" if text.strip() else f"\n## {name}\n"
            for name, text in (("Answer", self.answer), ("Try", self.try_), ("Notes", self.notes))
        )
        return front + "\n" + body


@dataclass
class Problem:
    """A question file that failed to load; `message` names the file, the line and the fix."""

    path: Path
    message: str

    def __str__(self) -> str:
        return self.message


def parse_question(path: Path, text: str) -> Question:
    """Parse one question file's text, raising QuestionError naming the file (and line) and the fix."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise QuestionError(f"{path}:1: no front matter; start the file with a '---' line, the fields, then '---'")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise QuestionError(f"{path}:1: front matter is never closed; add a '---' line after the fields") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for 1-based, +1 for the opening '---'
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise QuestionError(f"{path}:{line}: YAML error in front matter ({reason}); fix the syntax on that line") from None
    if not isinstance(meta, dict):
        raise QuestionError(f"{path}:2: front matter must be 'key: value' fields, got {type(meta).__name__}")
    missing = [key for key in REQUIRED if not meta.get(key)]
    if missing:
        raise QuestionError(f"{path}: missing field {missing[0]!r} in front matter; add '{missing[0]}: ...'")
    qid = str(meta["id"])
    if not ID_PATTERN.match(qid):
        raise QuestionError(f"{path}: id {qid!r} must be lowercase words joined by '-', e.g. 'model-size'")
    if path.stem != qid:
        raise QuestionError(f"{path}: id {qid!r} differs from the file name; rename the file to {qid}.md")
    status = str(meta["status"])
    if status not in STATUSES:
        raise QuestionError(f"{path}: status {status!r} must be one of: {', '.join(STATUSES)}")
    for key in ("tags", "reading"):
        value = meta.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QuestionError(f"{path}: {key} must be a list of strings, e.g. {key}: [a, b]")
    sections = _sections("\n".join(lines[end + 1:]))
    return Question(
        id=qid,
        question=str(meta["question"]).strip(),
        probe=str(meta["probe"]),
        status=status,
        tags=list(meta.get("tags") or []),
        reading=list(meta.get("reading") or []),
        answer=sections.get("Answer", ""),
        try_=sections.get("Try", ""),
        notes=sections.get("Notes", ""),
        path=path,
    )


def _sections(body: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        match = re.match(r"^##\s+(.+?)\s*$", line)
        if match and match.group(1) in SECTIONS:
            current = found.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(text).strip() for name, text in found.items()}


def load_question_file(path: Path) -> Question:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"{path}: cannot be read ({exc.__class__.__name__}); check the file") from None
    return parse_question(path, text)


def load_questions(folder: Path | None = None) -> tuple[list[Question], list[Problem]]:
    """All questions in the folder, sorted by file name, and the files that failed to load."""
    folder = folder or questions_dir()
    questions: list[Question] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            question = load_question_file(path)
        except QuestionError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if question.id in seen:
            problems.append(Problem(path, f"{path}: duplicate id {question.id!r} (also in {seen[question.id].name}); "
                                          "give one of them another id"))
            continue
        seen[question.id] = path
        questions.append(question)
    return questions, problems


def get_question(qid: str, folder: Path | None = None) -> Question:
    """One question by id; a broken file for that id raises its own error, not 'unknown id'."""
    folder = folder or questions_dir()
    path = folder / f"{qid}.md"
    if path.is_file():
        return load_question_file(path)
    questions, _ = load_questions(folder)
    for question in questions:
        if question.id == qid:
            return question
    known = ", ".join(q.id for q in questions) or "none"
    raise QuestionError(f"unknown question id {qid!r}; known ids: {known} (see: n00bqa questions)")


def save_question(question: Question) -> Path:
    """Write the question's file atomically (never half-written)."""
    path = question.path or questions_dir() / f"{question.id}.md"
    atomic_write_text(path, question.to_markdown())
    question.path = path
    return path


def slugify(text: str, max_words: int = 6) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    stop = {"a", "an", "the", "is", "are", "how", "what", "does", "do", "of", "to", "in", "be", "it", "i", "and"}
    kept = [w for w in words if w not in stop] or words
    return "-".join(kept[:max_words])


def add_question(text: str, qid: str | None = None, probe: str | None = None,
                 tags: list[str] | None = None, folder: Path | None = None) -> Question:
    """Create a new open question file; refuses a duplicate id or an unknown probe."""
    text = text.strip()
    if not text:
        raise QuestionError("the question text is empty; pass the question in quotes")
    folder = folder or questions_dir()
    qid = qid or slugify(text)
    if not qid or not ID_PATTERN.match(qid):
        raise QuestionError(f"id {qid!r} must be lowercase words joined by '-'; pass --id, e.g. --id model-size")
    if (folder / f"{qid}.md").exists():
        raise QuestionError(f"a question with id {qid!r} already exists ({folder / (qid + '.md')}); pass another --id")
    if probe is not None:
        from n00bqa.probes import get_probe
        from n00bqa.errors import ProbeError

        try:
            get_probe(probe)
        except ProbeError as exc:  # a question-level mistake, with the list of known probes
            raise QuestionError(str(exc)) from None
    question = Question(
        id=qid, question=text, probe=probe or "none", status="open", tags=list(tags or []),
        path=folder / f"{qid}.md",
    )
    save_question(question)
    return question


def set_status(qid: str, status: str) -> Question:
    if status not in STATUSES:
        raise QuestionError(f"status {status!r} must be one of: {', '.join(STATUSES)}")
    question = get_question(qid)
    question.status = status
    save_question(question)
    return question


def add_note(qid: str, note: str) -> Question:
    """Append a note (a paragraph) to the question's Notes section."""
    note = note.strip()
    if not note:
        raise QuestionError("the note is empty; pass the note text in quotes")
    question = get_question(qid)
    question.notes = (question.notes.strip() + "\n\n" + note).strip()
    save_question(question)
    return question
