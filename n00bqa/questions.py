"""The learner's question list: one Markdown file per question in `questions/`.

A question file is YAML front matter (id, question, probes, tags, reading, status, chapter) and three
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

from n00bqa.atomic import atomic_write_text
from n00bqa.errors import QuestionError
from n00bqa.study import Study

STATUSES = ("open", "answered")
REQUIRED = ("id", "question", "status")
SECTIONS = ("Answer", "Try", "Notes")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass
class Question:
    id: str
    question: str
    probes: list[str] = field(default_factory=list)  # the probes that measure it; may be empty
    status: str = "open"
    chapter: int | None = None  # the chapter of the learner's notes (1-5) it belongs to
    tags: list[str] = field(default_factory=list)
    reading: list[str] = field(default_factory=list)
    answer: str = ""
    try_: str = ""
    notes: str = ""
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stable `--json` shape: the front-matter fields plus `answer`, `try`, `notes`, `path`."""
        return {
            "id": self.id, "question": self.question, "probes": list(self.probes), "status": self.status,
            "chapter": self.chapter,
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
            f"probes: {json.dumps(self.probes, ensure_ascii=False)}",
            f"tags: {json.dumps(self.tags, ensure_ascii=False)}",
            f"reading: {json.dumps(self.reading, ensure_ascii=False)}",
            f"status: {self.status}",
            *([f"chapter: {self.chapter}"] if self.chapter is not None else []),
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
    meta = simple_front_matter(lines[1:end])
    if meta is None:
        meta = _yaml_front_matter(path, lines[1:end])
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
    probes = _probe_names(path, meta)
    chapter = meta.get("chapter")
    if chapter is not None and (isinstance(chapter, bool) or not isinstance(chapter, int) or not 1 <= chapter <= 5):
        raise QuestionError(f"{path}: chapter {chapter!r} must be a number from 1 to 5 (the chapters of the notes)")
    for key in ("tags", "reading"):
        value = meta.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QuestionError(f"{path}: {key} must be a list of strings, e.g. {key}: [a, b]")
    sections = _sections("\n".join(lines[end + 1:]))
    return Question(
        id=qid,
        question=str(meta["question"]).strip(),
        probes=probes,
        status=status,
        chapter=chapter,
        tags=list(meta.get("tags") or []),
        reading=list(meta.get("reading") or []),
        answer=sections.get("Answer", ""),
        try_=sections.get("Try", ""),
        notes=sections.get("Notes", ""),
        path=path,
    )


def _yaml_front_matter(path: Path, lines: list[str]) -> Any:
    import yaml  # here, not at the top: listing commands and --help need no YAML parser

    from n00bqa.guards import load_yaml

    try:
        # libyaml's safe loader when installed (several times faster), aliases' expansion bounded
        meta = load_yaml("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for 1-based, +1 for the opening '---'
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise QuestionError(f"{path}:{line}: YAML error in front matter ({reason}); fix the syntax on that line") from None
    return meta


# The front matter n00bqa writes (Question.to_markdown) and our question files use: `key: value` lines
# whose value is one lowercase word, an integer, a double-quoted JSON string, or a [list] of those
# strings and words. On exactly these lines JSON and YAML agree, so they are read without importing a
# YAML parser (~20 ms, a third of what `n00bqa questions` may cost); anything else goes to YAML.
_SIMPLE_LINE = re.compile(r"([a-z_][a-z0-9_]*): +(.*?)\s*")
_WORD = re.compile(r"[a-z][a-z0-9-]*")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ITEM = re.compile(rf"\s*({_QUOTED}|[a-z][a-z0-9-]*)\s*(,|$)")
_YAML_WORDS = {"yes", "no", "true", "false", "on", "off", "null"}  # YAML 1.1 booleans and null


def _simple_scalar(raw: str) -> tuple[bool, Any]:
    """(True, value) for a word or a double-quoted JSON string, else (False, None)."""
    if _WORD.fullmatch(raw):
        return raw not in _YAML_WORDS, raw
    if raw.startswith('"') and re.fullmatch(_QUOTED, raw):
        try:
            return True, json.loads(raw)
        except ValueError:
            return False, None
    return False, None


def _simple_list(raw: str) -> tuple[bool, Any]:
    """(True, [..]) for `[item, item]` of words and double-quoted strings (or `[]`), else (False, None)."""
    inner = raw[1:-1]
    if not inner.strip():
        return True, []
    values, at = [], 0
    while at < len(inner):
        match = _ITEM.match(inner, at)
        if match is None:
            return False, None
        ok, value = _simple_scalar(match.group(1))
        if not ok or (match.group(2) == "," and match.end() == len(inner)):  # no trailing comma
            return False, None
        values.append(value)
        at = match.end()
    return True, values


def simple_front_matter(lines: list[str]) -> dict[str, Any] | None:
    """The front matter's fields when every line is in the JSON-compatible subset above, else None
    (then YAML reads it). tests/test_questions.py holds it equal to YAML on every file it accepts."""
    meta: dict[str, Any] = {}
    for line in lines:
        if not line.strip():
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None or match.group(1) in _YAML_WORDS or match.group(1) in meta:
            return None
        key, raw = match.groups()
        if not raw.isprintable() or "\\u" in raw or "\ufeff" in raw:
            return None  # YAML's idea of printable and its backslash-u escapes differ from JSON's
        if _INTEGER.fullmatch(raw):
            ok, value = True, int(raw)
        elif raw.startswith("[") and raw.endswith("]"):
            ok, value = _simple_list(raw)
        else:
            ok, value = _simple_scalar(raw)
        if not ok:
            return None
        meta[key] = value
    return meta


def _probe_names(path: Path, meta: dict[str, Any]) -> list[str]:
    """`probes: [a, b]`, or the older single `probe: a` (`none` meaning no probe)."""
    if "probes" in meta and "probe" in meta:
        raise QuestionError(f"{path}: both 'probe' and 'probes' in front matter; keep one, e.g. probes: [a, b]")
    value = meta.get("probes", meta.get("probe")) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionError(f"{path}: probes must be a list of probe names, e.g. probes: [param-count]")
    from n00bqa.guards import is_probe_name

    for name in value:  # checked before any path is built from it (the probe cache's files)
        if not is_probe_name(name):
            raise QuestionError(f"{path}: probe {name!r} is not a probe name (letters, digits, '-' and '_' "
                                "only); write the probe's name as `n00bqa probes` lists it")
    return [v for v in value if v != "none"]


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
    """One question file; only a regular file of at most MAX_QUESTION_BYTES is read (a link to
    /dev/zero, a FIFO or a 50 MB file is named and skipped)."""
    from n00bqa.guards import MAX_QUESTION_BYTES, Refused, read_regular

    try:
        text = read_regular(path, MAX_QUESTION_BYTES).decode("utf-8")
    except Refused as exc:
        raise QuestionError(f"{path}: skipped, it {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"{path}: cannot be read ({exc.__class__.__name__}); check the file") from None
    return parse_question(path, text)


def load_questions(study: Study) -> tuple[list[Question], list[Problem]]:
    """All questions of the study root, sorted by file name, and the files that failed to load."""
    folder = study.questions_dir
    questions: list[Question] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    paths = sorted(folder.glob("*.md"))
    if study.builtin:  # what is built in, not what a tour of the README added to the checkout since
        from n00bqa.builtin_study import builtin_questions

        paths = [path for path in paths if path.name in builtin_questions()]
    for path in paths:
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


def get_question(study: Study, qid: str) -> Question:
    """One question by id; a broken file for that id raises its own error, not 'unknown id'."""
    check_id(qid)
    path = study.questions_dir / f"{qid}.md"
    if path.exists() and not study.builtin:
        return load_question_file(path)
    questions, _ = load_questions(study)
    for question in questions:
        if question.id == qid:
            return question
    from difflib import get_close_matches

    ids = [q.id for q in questions]
    close = get_close_matches(qid, ids, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise QuestionError(f"unknown question id {qid!r}; {hint}known ids: {', '.join(ids) or 'none'} "
                        "(see: n00bqa questions)")


def save_question(study: Study, question: Question) -> Path:
    """Write the question's file atomically (never half-written)."""
    study.require_writable()
    path = question.path or study.questions_dir / f"{question.id}.md"
    atomic_write_text(path, question.to_markdown())
    question.path = path
    return path


def slugify(text: str, max_words: int = 3, max_chars: int = 24) -> str:
    """A short id from a question's text: its first `max_words` words that carry meaning (question
    words and small words dropped), cut to whole words within `max_chars`. `--id` names any other."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    stop = {"a", "an", "the", "is", "are", "how", "what", "does", "do", "of", "to", "in", "be", "it", "i", "and",
            "why", "when", "where", "which", "who", "can", "could", "should", "would", "will", "we", "you", "my",
            "our", "for", "by", "on", "with", "so", "at", "from", "than", "that", "this", "there", "was", "were",
            "did", "much", "many", "need", "few"}
    kept = [w for w in words if w not in stop] or words
    slug = ""
    for word in kept[:max_words]:
        longer = f"{slug}-{word}" if slug else word
        if slug and len(longer) > max_chars:
            break
        slug = longer
    return slug[:max_chars].strip("-")


def check_id(qid: str) -> str:
    """A question id from a user, or QuestionError: the same rule for every command, checked
    before any path is built from it (so `../x` never names a file outside questions/)."""
    if not qid or not ID_PATTERN.match(qid):
        raise QuestionError(f"id {qid!r} must be lowercase words joined by '-', e.g. model-size")
    return qid


def add_question(study: Study, text: str, qid: str | None = None, probes: list[str] | None = None,
                 tags: list[str] | None = None) -> Question:
    """Create a new open question file; refuses a duplicate id or an unknown probe."""
    study.require_writable()
    text = text.strip()
    if not text:
        raise QuestionError("the question text is empty; pass the question in quotes")
    qid = check_id(qid or slugify(text))
    path = study.questions_dir / f"{qid}.md"
    if path.exists():
        raise QuestionError(f"a question with id {qid!r} already exists ({path}); pass another --id")
    from n00bqa.errors import ProbeError
    from n00bqa.probes import find_probe

    for name in probes or []:
        try:
            find_probe(study, name)
        except ProbeError as exc:  # a question-level mistake, with the list of known probes
            raise QuestionError(str(exc)) from None
    question = Question(id=qid, question=text, probes=list(probes or []), status="open",
                        tags=list(tags or []), path=path)
    from n00bqa.locks import create_new

    # the check above names the common case early; this one is atomic: if another `questions add`
    # made the file meanwhile, this one fails and the other's file stays as it wrote it
    create_new(path, question.to_markdown(), f"a question with id {qid!r}")
    return question


def _locked(change):
    """Run a read-modify-write of a question file under the study root's write lock, so two
    writers at once (ten `questions note` in parallel) each see the other's change."""
    import functools

    @functools.wraps(change)
    def locked(study: Study, *args, **kwargs):
        from n00bqa.locks import root_lock

        study.require_writable()
        with root_lock(study):
            return change(study, *args, **kwargs)
    return locked


@_locked
def set_status(study: Study, qid: str, status: str) -> Question:
    if status not in STATUSES:
        raise QuestionError(f"status {status!r} must be one of: {', '.join(STATUSES)}")
    question = get_question(study, qid)
    question.status = status
    save_question(study, question)
    return question


@_locked
def add_note(study: Study, qid: str, note: str) -> Question:
    """Append a note (a paragraph) to the question's Notes section."""
    note = note.strip()
    if not note:
        raise QuestionError("the note is empty; pass the note text in quotes")
    question = get_question(study, qid)
    question.notes = (question.notes.strip() + "\n\n" + note).strip()
    save_question(study, question)
    return question


@_locked
def update_question(study: Study, qid: str, probes: list[str] | None = None, tags: list[str] | None = None,
                    chapter: int | None = None) -> Question:
    """Replace a question's probes, tags or chapter (None leaves a field as it is)."""
    question = get_question(study, qid)
    if probes is not None:
        from n00bqa.errors import ProbeError
        from n00bqa.probes import find_spec

        for name in probes:
            try:
                find_spec(study, name)
            except ProbeError as exc:
                raise QuestionError(str(exc)) from None
        question.probes = list(dict.fromkeys(probes))
    if tags is not None:
        question.tags = list(dict.fromkeys(tags))
    if chapter is not None:
        if not 1 <= chapter <= 5:
            raise QuestionError(f"chapter {chapter} must be a number from 1 to 5 (the chapters of the notes)")
        question.chapter = chapter
    save_question(study, question)
    return question


@_locked
def link_probe(study: Study, qid: str, probe: str) -> Question:
    """Add `probe` to a question's probes (once); the probe need not be loadable yet (`probe new`)."""
    question = get_question(study, qid)
    if probe not in question.probes:
        question.probes.append(probe)
        save_question(study, question)
    return question


@_locked
def remove_question(study: Study, qid: str) -> Path:
    """Delete a question's file; returns the path it had."""
    from n00bqa.errors import WriteError

    study.require_writable()
    question = get_question(study, qid)
    path = question.path or study.questions_dir / f"{qid}.md"
    try:
        path.unlink()
    except OSError as exc:
        raise WriteError(f"cannot remove {str(path)!r}: {exc.strerror or exc}; check the folder's permissions") from None
    from n00bqa.ask.choices import forget

    forget(study, question.id)  # routing/choices.jsonl names only questions that exist
    return path


@_locked
def replace_question_text(study: Study, qid: str, text: str) -> Question:
    """Validate a whole new text for a question's file, then write it (atomically); the id stays."""
    study.require_writable()
    question = get_question(study, qid)
    path = question.path or study.questions_dir / f"{qid}.md"
    parsed = parse_question(path, text)  # raises QuestionError naming the line and the fix
    from n00bqa.atomic import atomic_write_text

    atomic_write_text(path, text)
    return parsed


def check_study(study: Study) -> list[str]:
    """What is inconsistent in a study root, one line each: a question or probe file that fails to
    load, a probe a question names that does not exist, a reading id not in the reading list.
    Questions without probes and probes serving several questions are fine."""
    import yaml

    from n00bqa.errors import CorpusError
    from n00bqa.guards import MAX_YAML_BYTES, Refused, load_yaml, read_regular
    from n00bqa.probes import load_probes
    from n00bqa.retrieval.corpus import outside_paths

    found: list[str] = []
    manifest_path = study.corpus_dir / "reading-list.yaml"
    try:
        manifest = load_yaml(read_regular(manifest_path, MAX_YAML_BYTES).decode("utf-8")) or {}
        reading_ids = {str(item["id"]) for item in manifest.get("items") or []}
    except Refused as exc:
        found.append(f"{manifest_path}: skipped, it {exc}")
        reading_ids = None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
        why = getattr(exc, "problem", None) or type(exc).__name__
        found.append(f"{manifest_path}: cannot be read as a reading list ({why})")
        reading_ids = None
    try:
        found += outside_paths(study)  # a note, a library source or a copy that points out of its folder
    except CorpusError as exc:
        if reading_ids is not None:
            found.append(str(exc))
    probes, broken = load_probes(study)
    names = {p.name for p in probes}
    questions, problems = load_questions(study)
    found += [str(p) for p in (*broken, *problems)]
    for q in questions:
        found += [f"{q.path}: unknown probe {name!r} (see: n00bqa probes)" for name in q.probes if name not in names]
        if reading_ids is not None:
            found += [f"{q.path}: reading {r!r} is not in corpus/reading-list.yaml (see: n00bqa corpus list)"
                      for r in q.reading if r not in reading_ids]
    return found
