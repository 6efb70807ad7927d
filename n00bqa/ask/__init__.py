"""`ask(text) -> Answer`: the matching question, its written answer, the probe's last measurement,
and the reading-list passages that back it. No terminal I/O: the CLI and the browser render it.

The fast path imports numpy, onnxruntime, tokenizers, faiss and bm25s — never torch: the query is
embedded by the ONNX export of MiniLM (n00bqa.onnx_embed), the question vectors and the index are
read from `<root>/.n00bqa/`. The first ask on a fresh study root builds what is missing (the
ONNX export, the index, the question vectors), which is the one time torch is loaded; `run=True`
runs the linked probe now, which needs torch too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from n00bqa.errors import AskError, CorpusError
from n00bqa.progress import NullReporter

MAX_QUERY_CHARS = 2000  # the same limit as retrieval.search; MiniLM reads only 256 tokens anyway


@dataclass
class Answer:
    """One answered query. `to_dict()` is exactly the `--json` shape."""

    query: str
    question: Any | None  # n00bqa.questions.Question
    score: float
    related: list[tuple[Any, float]]
    answer: str
    probe_name: str | None
    probe_result: Any | None  # n00bqa.probes.base.ProbeResult
    passages: list[Any]  # n00bqa.retrieval.Passage
    best_sentences: list[str] = field(default_factory=list)  # one per passage, for highlighting
    warnings: list[str] = field(default_factory=list)  # broken question files, ...
    built: list[str] = field(default_factory=list)  # what this ask had to build first
    ran_probe: bool = False  # the probe result is fresh from this ask (run=True)
    best_guess: tuple[str, float] | None = None  # off-topic: the closest question, below threshold

    @property
    def probe_command(self) -> str | None:
        return f"n00bqa probe {self.probe_name}" if self.probe_name else None

    def to_dict(self) -> dict[str, Any]:
        probe = None
        if self.probe_name is not None:
            result = self.probe_result
            probe = {
                "name": self.probe_name,
                "findings": list(result.findings) if result else [],
                "metrics": dict(result.metrics) if result else {},
                "measured_at": result.measured_at if result else None,
            }
        return {
            "query": self.query,
            "question": None if self.question is None else {
                "id": self.question.id, "question": self.question.question, "score": round(self.score, 4)},
            "related": [{"id": q.id, "score": round(s, 4)} for q, s in self.related],
            "answer": self.answer,
            "probe": probe,
            "passages": [p.to_dict() for p in self.passages],
        }


def check_query(text: str) -> str:
    """The query stripped, or AskError for an empty or overlong one."""
    query = (text or "").strip()
    if not query:
        raise AskError('the query is empty; ask a question in quotes, e.g. n00bqa ask "How large is a transformer model?"')
    if len(query) > MAX_QUERY_CHARS:
        raise AskError(f"the query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS:,} "
                       "(MiniLM reads only the first 256 tokens) - ask a shorter question")
    return query


class _Prefixed:
    """A reporter whose task names start with `prefix` (so the CLI can tell a first-use build)."""

    def __init__(self, reporter: Any, prefix: str) -> None:
        self.reporter, self.prefix = reporter, prefix

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return self.reporter.task(self.prefix + description, total)


def ensure_ready(reporter: Any = None) -> list[str]:
    """Build what a fresh study root lacks (ONNX export, index); return what was built.

    The question vectors are built by routing itself (they also change when a question does).
    Raises CorpusError when the reading list gives nothing to index.
    """
    from n00bqa.retrieval import encoder
    from n00bqa.retrieval.index import MANIFEST, index_dir

    reporter = reporter or NullReporter()
    built: list[str] = []
    if not encoder.is_exported():
        encoder.export(reporter=reporter)
        built.append("the ONNX export of MiniLM (once)")
    if not (index_dir() / MANIFEST).is_file():
        from n00bqa.retrieval import build_index

        report = build_index(reporter=_Prefixed(reporter, "index: "))
        if report.chunks_total == 0:
            raise CorpusError(
                f"the reading list gave nothing to index ({report.items_total} items, "
                f"{len(report.items_skipped)} unreadable); add items with: n00bqa corpus add PATH"
            )
        built.append(f"the retrieval index ({report.chunks_total} passages)")
    return built


def ask(text: str, k: int = 5, run: bool = False, reporter: Any = None) -> Answer:
    """Answer a free-text question from the question list, the probes and the reading list.

    Args:
        text: what the learner typed.
        k: how many backing passages.
        run: run the matched question's probe now (loads torch) instead of showing its last result.
        reporter: progress for first-use builds and `run` (`task(description, total) -> advance`).
    """
    query = check_query(text)
    if k < 1:
        raise AskError(f"-k {k} must be at least 1")
    from n00bqa.ask import routing
    from n00bqa.retrieval import encoder

    built = ensure_ready(reporter)
    route = routing.route(query, query_vector=encoder.encode_query(query), reporter=reporter)
    if route.vectors_built:
        built.append("the question vectors")
    warnings = [f"skipped question file {problem}" for problem in route.problems]
    if route.question is None:
        # Off-topic: no passages either; what matches "banana bread" in a Transformers corpus is noise.
        guess = (route.ranked[0][0].id, route.ranked[0][1]) if route.ranked else None
        return Answer(query, None, route.score, [], off_topic_message(query, guess), None, None, [],
                      [], warnings, built, best_guess=guess)
    passages = backing_passages(query, route.question, k)
    best = [best_sentence(query, p.text) for p in passages]

    question = route.question
    probe_name = None if question.probe in ("", "none") else question.probe
    result, ran = None, False
    if probe_name is not None:
        from n00bqa.probes.base import last_result

        if run:
            from n00bqa.probes import get_probe
            from n00bqa.probes.base import run_probe

            probe = get_probe(probe_name)
            result, ran = run_probe(probe, probe.make_options(), seed=0, reporter=reporter), True
        else:
            result = last_result(probe_name)
    elif run:
        warnings.append(f"question {question.id!r} has no probe to run (probe: none)")
    return Answer(query, question, route.score, route.related, question.answer or "(no answer written yet)",
                  probe_name, result, passages, best, warnings, built, ran)


def backing_passages(query: str, question: Any, k: int) -> list[Any]:
    """The k passages that back the answer.

    For a matched question, two searches are interleaved: the learner's own words, and the
    question with its written answer (what the passages must back); passages from the question's
    own reading list come first. A question with no reading list gets the plain search results.
    """
    from n00bqa.retrieval import search

    if not question.reading:
        return search(query, k=k)
    for_query = search(query, k=2 * k)
    for_answer = search(f"{question.question}\n{question.answer}"[:MAX_QUERY_CHARS], k=2 * k)
    candidates, seen = [], set()
    for pair in zip(for_query, for_answer):
        for passage in pair:
            if (passage.source, passage.lines) not in seen:
                seen.add((passage.source, passage.lines))
                candidates.append(passage)
    # Order: reading-list passages before others, and a source's first passage before its second.
    reading = set(question.reading)
    nth_of_source: dict[str, int] = {}
    rank = {}
    for i, passage in enumerate(candidates):
        nth = nth_of_source[passage.source] = nth_of_source.get(passage.source, -1) + 1
        rank[id(passage)] = (passage.item_id not in reading, nth > 0, i)
    return sorted(candidates, key=lambda p: rank[id(p)])[:k]


def off_topic_message(query: str, guess: tuple[str, float] | None) -> str:
    from n00bqa.ask.routing import THRESHOLD

    closest = f" (closest: {guess[0]!r} at {guess[1]:.2f}, below {THRESHOLD:.2f})" if guess else ""
    short = query if len(query) <= 80 else query[:77] + "..."
    return (f"No question in your list matches this{closest}. If it is a question you want to study, "
            f"add it with: n00bqa questions add \"{short}\"")


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\[\"'])|\n\s*\n|\n(?=\s*[-*+]\s)|\n(?=#)")


def sentences(text: str) -> list[str]:
    """A passage split into sentences (and list items / headings), kept verbatim."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def best_sentence(query: str, text: str) -> str:
    """The sentence of a passage that best matches the query: the most IDF-weighted query words.

    Lexical on purpose: embedding every sentence of five passages would cost more than the rest
    of an ask. Ties go to the earlier sentence; a passage with no shared word gives its first.
    """
    from n00bqa.ask.routing import words

    parts = sentences(text)
    if not parts:
        return ""
    terms = words(query)
    sets = [words(s) for s in parts]
    import math

    n = len(parts)
    weight = {t: math.log(1 + n / (sum(t in s for s in sets) + 0.5)) for t in terms}
    scores = [sum(weight[t] for t in terms if t in s) for s in sets]
    best = max(range(n), key=lambda i: (scores[i], -i))
    return parts[best]
