"""`ask(study, text) -> Answer`: the matching question, its written answer, the last measurement of
each of its probes, and the reading-list passages that back it. No terminal I/O: the CLI and the
browser render the Answer (n00bqa.render).

The fast path imports numpy, onnxruntime, tokenizers, faiss and bm25s — never torch: the query is
embedded by the ONNX export of MiniLM (n00bqa.retrieval.encoder), the question vectors and the
index are read from `<root>/.n00bqa/`. The first ask on a fresh study root builds what is missing
(the ONNX export, the index, the question vectors), which is the one time torch is loaded;
`run=True` runs the question's probes now, which needs torch too.

- `routing`: which question of the list is asked (or honestly none);
- this module: the answer assembled from the question, its probes' runs and the passages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from n00bqa.errors import AskError, CorpusError, N00bqaError
from n00bqa.reporter import NullReporter
from n00bqa.questions import Question
from n00bqa.retrieval.search import Passage
from n00bqa.study import Study
from n00bqa.text import MAX_QUERY_CHARS, check_query, content_words, idf, listed, percent, sentences, sources

if TYPE_CHECKING:  # a cold ask imports the probe framework only to read a cached run, if there is one
    from n00bqa.probes.base import ProbeResult

__all__ = ["Answer", "ProbeRun", "ask", "ensure_ready", "complete_index", "backing_passages", "best_sentence", "check_query",
           "sentences", "MAX_QUERY_CHARS"]


@dataclass
class ProbeRun:
    """One probe of the matched question, with the run shown for it (None: never measured)."""

    name: str
    result: ProbeResult | None
    fresh: bool = False  # run by this ask (run=True), not read from the cache

    @property
    def command(self) -> str:
        return f"n00bqa probe {self.name}"

    def to_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "name": self.name,
            "findings": list(result.findings) if result else [],
            "metrics": dict(result.metrics) if result else {},
            "options": result.options if result else {},
            "measured_at": result.measured_at if result else None,
        }


@dataclass
class Answer:
    """One answered query. `to_dict()` is exactly the `--json` shape."""

    query: str
    question: Question | None
    score: float
    related: list[tuple[Question, float]]
    answer: str
    probes: list[ProbeRun]  # one per probe the question names, in its order
    passages: list[Passage]
    best_sentences: list[str] = field(default_factory=list)  # one per passage, for highlighting
    warnings: list[str] = field(default_factory=list)  # broken question files, probes that failed, ...
    built: list[str] = field(default_factory=list)  # what this ask had to build first
    best_guess: tuple[str, float] | None = None  # none: the closest question and its confidence
    domain: Any = None  # no match: the in-domain test (n00bqa.ask.domain.Domain) that decided the passages
    pending: list[str] = field(default_factory=list)  # reading-list items not indexed yet (complete_index)
    outcome: str = "match"  # match | candidates | none (n00bqa.ask.routing)
    candidates: list[Any] = field(default_factory=list)  # routing.Candidate, best first
    none_confidence: float = 0.0  # the share of "none of them"
    chosen: str = ""  # where the learner's earlier choice decided it (routing/choices.jsonl:LINE), or ""

    @property
    def confidence(self) -> float:
        return self.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "outcome": self.outcome,
            "question": None if self.question is None else {
                "id": self.question.id, "question": self.question.question, "confidence": round(self.score, 4)},
            "candidates": [c.to_dict() for c in self.candidates] if self.outcome == "candidates" else [],
            "none_confidence": round(self.none_confidence, 4),
            "chosen": self.chosen or None,
            "related": [{"id": q.id, "confidence": round(s, 4)} for q, s in self.related],
            "answer": self.answer,
            "probes": [run.to_dict() for run in self.probes],
            "passages": [p.to_dict() for p in self.passages],
            "domain": None if self.domain is None else self.domain.to_dict(),
        }


class _Prefixed:
    """A reporter whose task names start with `prefix` (so the CLI can tell a first-use build)."""

    def __init__(self, reporter: Any, prefix: str) -> None:
        self.reporter, self.prefix = reporter, prefix

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return self.reporter.task(self.prefix + description, total)


def ensure_ready(study: Study, reporter: Any = None, staged: bool = False) -> list[str]:
    """Build what a fresh study root lacks (ONNX export, index); return what was built.

    The question vectors are built by routing itself (they also change when a question does).
    Raises CorpusError when the reading list gives nothing to index.

    Args:
        staged: index our notes (and the learner's own files) first and leave the library sources
            (most of the passages) pending, so a first answer comes in seconds; `complete_index`
            finishes, into exactly the index a full build makes.
    """
    from n00bqa.retrieval import encoder

    reporter = reporter or NullReporter()
    built: list[str] = []
    if not encoder.is_exported(study):
        reused = encoder.has_shared_export()
        encoder.export(study, reporter=reporter)
        built.append("a link to your ONNX export of MiniLM" if reused else "the ONNX export of MiniLM (once per user)")
    # the index's manifest (n00bqa.retrieval.index.MANIFEST), looked for without importing the builder
    if not study.state_path("index", "manifest.json").is_file():
        from n00bqa.retrieval import build_index

        report = build_index(study, reporter=_Prefixed(reporter, "index: "), later=LATER if staged else ())
        if report.chunks_total == 0 and report.items_pending:  # only library sources: nothing to answer from yet
            report = build_index(study, reporter=_Prefixed(reporter, "index: "))
        if report.chunks_total == 0:
            raise CorpusError(
                f"the reading list gave nothing to index ({report.items_total} items, "
                f"{len(report.items_skipped)} unreadable); add items with: n00bqa corpus add PATH"
            )
        if report.items_pending:
            built.append(f"the index of the notes ({report.chunks_total} passages; "
                         f"{sources(len(report.items_pending))} next)")
        else:
            built.append(f"the retrieval index ({report.chunks_total} passages)")
    return built


LATER = ("library",)  # what a staged first build leaves pending: installed packages' source files


def complete_index(study: Study, reporter: Any = None):
    """Index what a staged build left pending (the library sources): the index then equals a full
    build's. Returns the BuildReport (`changed` False when nothing was pending)."""
    from n00bqa.retrieval import build_index

    return build_index(study, reporter=_Prefixed(reporter or NullReporter(), "index: "))


def ask(study: Study, text: str, k: int = 5, run: bool = False, reporter: Any = None, staged: bool = False) -> Answer:
    """Answer a free-text question from the question list, the probes and the reading list.

    Args:
        study: the study root: its questions, probes' cached runs, index and encoder.
        text: what the learner typed.
        k: how many backing passages.
        run: run the matched question's probes now (loads torch) instead of showing their last runs.
        reporter: progress for first-use builds and `run` (`task(description, total) -> advance`).
        staged: on a fresh root, answer from the notes first (ensure_ready); `Answer.pending` then
            names what is not indexed yet, for the caller to finish with `complete_index`.
    """
    query = check_query(text)
    if k < 1:
        raise AskError(f"-k {k} must be at least 1")
    from n00bqa.ask import routing
    from n00bqa.retrieval import encoder

    built = ensure_ready(study, reporter, staged=staged)
    # The ONNX session loads in the background (without the GIL) while this thread reads the index,
    # the question list and its vectors; routing then embeds the query, waiting for the session.
    encoder.prepare(study)
    from n00bqa.retrieval.index import load_index

    index = load_index(study)
    pending = list(index.manifest.get("pending") or [])
    route = routing.route(study, query, reporter=reporter, index=index)
    query_vector = encoder.encode_query(study, query)  # the vector routing embedded, remembered
    if route.vectors_built:
        built.append("the question vectors")
    warnings = [f"skipped question file {problem}" for problem in route.problems]
    warnings += [f"{problem} (fix or delete the line)" for problem in route.choice_problems]
    if route.cache_problem:
        warnings.append(f"the question vectors were embedded but not kept, so every ask embeds them again: "
                        f"{route.cache_problem}")
    if pending:
        warnings.append(f"{sources(len(pending))} {'is' if len(pending) == 1 else 'are'} not indexed yet "
                        f"({listed(pending)}): "
                        "the passages come from the notes alone until `n00bqa index build` (or the next ask) "
                        "indexes them")
    if route.question is None:
        # Not sure, or none. Candidates: the best two or three, the learner picks (the CLI asks).
        # None in the field ("speculative decoding"): the passages that bear on it and the offer to add
        # it. Off-topic: no passages; what matches "banana bread" here is noise.
        from n00bqa.ask.domain import domain_test

        guess = (route.ranked[0][0].id, route.ranked[0][1]) if route.ranked else None
        domain = domain_test(study, query_vector, index, routed=route.outcome == "candidates")
        passages = explaining_passages(study, query, k, index) if domain.in_domain else []
        message = (candidates_message(query, route) if route.outcome == "candidates"
                   else unmatched_message(query, guess, domain))
        return Answer(query, None, route.score, [], message, [], passages,
                      [best_sentence(query, p.text) for p in passages], warnings, built, best_guess=guess,
                      domain=domain, pending=pending, outcome=route.outcome, candidates=route.candidates,
                      none_confidence=route.none_confidence, chosen=route.chosen)
    question = route.question
    passages = backing_passages(study, query, question, k)
    best = [best_sentence(query, p.text) for p in passages]
    runs = probe_runs(study, question, run, reporter, warnings)
    return Answer(query, question, route.score, route.related, question.answer or "(no answer written yet)",
                  runs, passages, best, warnings, built, pending=pending, outcome="match",
                  candidates=route.candidates, none_confidence=route.none_confidence, chosen=route.chosen)


def probe_runs(study: Study, question: Question, run: bool, reporter: Any, warnings: list[str]) -> list[ProbeRun]:
    """Each of the question's probes with its last run, or (run=True) a fresh run.

    A probe that cannot load or run becomes a warning: the rest of the answer still stands.
    """
    from n00bqa.probes.runs import last_result

    if run and not question.probes:
        warnings.append(f"question {question.id!r} has no probe to run")
    runs = []
    for name in question.probes:
        if not run:
            runs.append(ProbeRun(name, last_result(study, name)))
            continue
        from n00bqa.probes import find_probe
        from n00bqa.probes.runs import run_probe

        try:
            probe = find_probe(study, name)
            runs.append(ProbeRun(name, run_probe(study, probe, probe.make_options(), seed=0, reporter=reporter), True))
        except N00bqaError as exc:
            warnings.append(f"probe {name!r} did not run: {exc}")
            runs.append(ProbeRun(name, last_result(study, name)))
    return runs


def backing_passages(study: Study, query: str, question: Question, k: int) -> list[Passage]:
    """The k passages that back the answer.

    For a matched question, two searches are interleaved: the learner's own words, and the
    question with its written answer (what the passages must back); passages from the question's
    own reading list are chosen first. The k chosen are listed by their relevance score, highest
    first. A question with no reading list gets the plain search results.
    """
    from n00bqa.ask.remembered import query_vector
    from n00bqa.retrieval import search

    if not question.reading:
        return search(study, query, k=k)
    for_query = search(study, query, k=2 * k)
    # the same text on every ask until the question's file changes: its vector is kept (ask.remembered)
    answer_text = check_query(f"{question.question}\n{question.answer}"[:MAX_QUERY_CHARS])
    for_answer = search(study, answer_text, k=2 * k, query_vector=query_vector(study, answer_text))
    candidates, seen = [], set()
    for pair in zip(for_query, for_answer):
        for passage in pair:
            if (passage.source, passage.lines) not in seen:
                seen.add((passage.source, passage.lines))
                candidates.append(passage)
    # Chosen: the learner's words' strongest passage always (a note of their own that ranks first
    # must not be hidden behind the reading list), then reading-list passages before others, and a
    # source's first passage before its second.
    reading = set(question.reading)
    strongest = id(for_query[0]) if for_query else None
    nth_of_source: dict[str, int] = {}
    rank = {}
    for i, passage in enumerate(candidates):
        nth = nth_of_source[passage.source] = nth_of_source.get(passage.source, -1) + 1
        rank[id(passage)] = (id(passage) != strongest, passage.item_id not in reading, nth > 0, i)
    chosen = sorted(candidates, key=lambda p: rank[id(p)])[:k]
    # Shown in the order of the relevance printed beside each (a learner reads a list as ranked).
    return sorted(chosen, key=lambda p: -p.score)


def is_code(passage: Passage) -> bool:
    """A passage of source code (a library file), not prose."""
    return passage.source.endswith((".py", ".pyi", ".c", ".cpp", ".cu", ".h", ".js", ".rs"))


def explaining_passages(study: Study, query: str, k: int, index: Any = None) -> list[Passage]:
    """For a query no question answers: passages that explain, prose (our notes, the learner's own
    files) before code. Code that merely shares a word with the query ("decode" for speculative
    decoding) explains nothing; code is shown only after every prose passage among the 3k best,
    or where it outranks the best prose passage (then it is what the query is about)."""
    from n00bqa.retrieval import search

    found = search(study, query, k=3 * k, index=index)
    prose = [p for p in found if not is_code(p)]
    code = [p for p in found if is_code(p)]
    top_prose = prose[0].score if prose else 0.0
    leading = [p for p in code if p.score > top_prose]
    return (leading[:1] + prose + [p for p in code if p not in leading[:1]])[:k]


def candidates_message(query: str, route: Any) -> str:
    """What `ask` says when it is not sure: the candidates are listed by the view."""
    from n00bqa.ask.routing import SURE

    n = len(route.candidates)
    return (f"Not sure which of your questions this is: {n} {'candidate' if n == 1 else 'candidates'}, "
            f"none at the {SURE:.0%} confidence a sure match needs.")


def unmatched_message(query: str, guess: tuple[str, float] | None, domain: Any = None) -> str:
    """What `ask` says when no question matches: the closest one, the in-domain test, what to do."""
    closest = (f" (closest: {guess[0]!r}, confidence {percent(guess[1])})" if guess else "")
    short = query if len(query) <= 80 else query[:77] + "..."
    add = f"n00bqa questions add \"{short}\""
    if domain is None:
        return f"No question in your list matches this{closest}. If it is a question you want to study, add it with: {add}"
    if domain.in_domain:
        return (f"No question in your list matches this{closest}, but it is {domain.words()}, so the passages "
                f"below bear on it. Study it as a question of your own (it starts with these passages): {add}")
    return (f"No question in your list matches this{closest}, and it is {domain.words()}, so no passage is shown. "
            f"If it is a question you want to study, add it with: {add}")


def best_sentence(query: str, text: str) -> str:
    """The sentence of a passage that best matches the query: the most IDF-weighted query words.

    Lexical on purpose: embedding every sentence of five passages would cost more than the rest
    of an ask. Ties go to the earlier sentence; a passage with no shared word gives its first.
    """
    parts = sentences(text)
    if not parts:
        return ""
    terms = content_words(query)
    sets = [content_words(s) for s in parts]
    weight = idf(terms, sets)
    scores = [sum(weight[t] for t in terms if t in s) for s in sets]
    best = max(range(len(parts)), key=lambda i: (scores[i], -i))
    return parts[best]
