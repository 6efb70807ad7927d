"""Where a new question starts from, so it is never an empty file.

`starting_points(study, text)` finds the closest questions already in the list (routing's scores,
whatever the threshold), the probes those questions link, and the reading-list passages that bear
on the text (hybrid retrieval), each cited `path:line`. Passages are offered only when the text is
in the reading list's field (n00bqa.ask.domain): for an off-topic one they would be noise.
`write_starting_points` puts them into the question's file: its `reading` list, a `## Try` with
commands that explore them, and a first paragraph of `## Notes` the learner may keep or replace.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from n00bqa.questions import Question, save_question
from n00bqa.study import Study

N_RELATED = 3
K_PASSAGES = 5


@dataclass
class StartingPoints:
    related: list[tuple[Question, float]]  # closest questions, best first
    probes: list[tuple[str, str]]  # (probe, the related question that links it), in order
    passages: list[Any]  # n00bqa.retrieval.search.Passage, best first
    sentences: list[str] = field(default_factory=list)  # each passage's best-matching sentence
    domain: Any = None  # n00bqa.ask.domain.Domain
    built: list[str] = field(default_factory=list)  # what had to be built first (index, export)

    def to_dict(self) -> dict[str, Any]:
        return {"related": [{"id": q.id, "score": round(s, 4)} for q, s in self.related],
                "probes": [{"name": p, "via": q} for p, q in self.probes],
                "passages": [{"citation": p.citation, "title": p.title, "section": p.section} for p in self.passages],
                "domain": None if self.domain is None else self.domain.to_dict()}


def starting_points(study: Study, text: str, exclude: str | None = None, k: int = K_PASSAGES,
                    reporter: Any = None) -> StartingPoints:
    """The closest questions (not `exclude`), their probes, and the passages for `text`.

    Builds the ONNX export and the index first if the study root has none (as `ask` does).
    """
    from n00bqa.ask import best_sentence, ensure_ready
    from n00bqa.ask import routing
    from n00bqa.ask.domain import domain_test
    from n00bqa.retrieval import encoder, search
    from n00bqa.retrieval.index import load_index
    from n00bqa.text import check_query

    query = check_query(text)
    built = ensure_ready(study, reporter)
    vector = encoder.encode_query(study, query)
    route = routing.route(study, query, query_vector=vector, reporter=reporter)
    # The new question is in the list already and, asked in its own words, takes most of the share.
    # Confidences are softmax shares, so leaving it out is a renormalisation of the others: the
    # confidences `ask` would give the same text with the list as it was before the add.
    left_out = sum(s for q, s in route.ranked if q.id == exclude)
    scale = 1.0 / (1.0 - left_out) if left_out < 1.0 else 1.0
    related = [(q, s * scale) for q, s in route.ranked if q.id != exclude][:N_RELATED]
    probes: list[tuple[str, str]] = []
    for question, _ in related:
        probes += [(name, question.id) for name in question.probes if name not in {p for p, _ in probes}]
    index = load_index(study)
    domain = domain_test(study, vector, index)
    passages = search(study, query, k=k, index=index) if domain.in_domain else []
    sentences = [_one_line(best_sentence(query, p.text)) for p in passages]
    return StartingPoints(related, probes, passages, sentences, domain, built)


def _one_line(sentence: str) -> str:
    """A sentence quoted on one line; a Markdown heading is no sentence to quote."""
    text = " ".join(sentence.split())
    return "" if text.startswith("#") else text


def notes_text(points: StartingPoints) -> str:
    """The first paragraph of the new question's Notes: where to start, every passage cited path:line."""
    lines = ["Where to start (found by n00bqa when this question was added; keep or replace):", ""]
    if points.related:
        lines.append("Closest questions in the list:")
        from n00bqa.text import percent

        lines += [f"- {q.id} (confidence {percent(s)}): {q.question}" for q, s in points.related]
        lines.append("")
    if points.probes:
        lines.append("Probes that measure them: " + ", ".join(f"{p} (from {q})" for p, q in points.probes))
        lines.append("")
    if points.passages:
        lines.append("Reading that bears on it:")
        for passage, sentence in zip(points.passages, points.sentences or [""] * len(points.passages)):
            where = f"{passage.title} › {passage.section}" if passage.section else passage.title
            lines.append(f"- {passage.citation} — {where}")
            if sentence:
                short = sentence if len(sentence) <= 200 else sentence[:197] + "..."
                lines.append(f"  > {short}")
    elif points.domain is not None:
        lines.append(f"No reading suggested: the question is {points.domain.words()}. Add reading with: "
                     "n00bqa corpus add PATH")
    return "\n".join(lines).rstrip()


def try_text(question: Question, points: StartingPoints) -> str:
    """Commands that explore the starting points (each a valid n00bqa command line)."""
    commands = [f"n00bqa probe {name}" for name in question.probes]
    commands += [f"n00bqa show {q.id}" for q, _ in points.related[:2]]
    commands += [f"n00bqa probe {p}" for p, _ in points.probes[:2] if p not in question.probes]
    commands.append(f"n00bqa search {shlex.quote(question.question[:200])} -k 5")
    commands.append(f"n00bqa quiz {question.id}")
    return "\n".join(dict.fromkeys(commands))


def with_commands(section: str, commands: str) -> str:
    """A Try section with `commands` (one per line) added inside its code fence, so `show` and
    `browse` keep one command per line (plain lines would join into one paragraph); a section with
    no fence gets one."""
    section = section.strip()
    if not commands.strip():
        return section
    fence = section.rfind("```")
    if fence > 0 and section.count("```") % 2 == 0:  # before the last closing fence
        return (section[:fence].rstrip("\n") + "\n" + commands.strip() + "\n" + section[fence:]).strip()
    return (section + "\n\n```\n" + commands.strip() + "\n```").strip()


def write_starting_points(study: Study, question: Question, points: StartingPoints) -> Question:
    """Write the starting points into the question's file (reading ids, Try, Notes, and the closest
    question's chapter if it has none); returns it. The file is read again under the root's write
    lock, so a note added while the evidence was gathered is kept."""
    from n00bqa.locks import root_lock
    from n00bqa.questions import get_question

    study.require_writable()
    with root_lock(study):
        return _write_starting_points(study, get_question(study, question.id), points)


def _write_starting_points(study: Study, question: Question, points: StartingPoints) -> Question:
    if question.chapter is None and points.related and points.related[0][0].chapter is not None:
        question.chapter = points.related[0][0].chapter
    reading = [p.item_id for p in points.passages if p.item_id]
    question.reading = list(dict.fromkeys([*question.reading, *reading]))
    question.try_ = with_commands(question.try_, try_text(question, points))
    question.notes = (notes_text(points) + "\n\n" + question.notes.strip()).strip()
    save_question(study, question)
    return question
