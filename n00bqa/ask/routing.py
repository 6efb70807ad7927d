"""Which question in the list is the learner asking? Routing with an honest "none".

Each question is embedded with the same MiniLM encoder as the index, once per field row: its
question text, its whole written answer, and each paragraph of the answer. A query's semantic
score for a question is the mean, over those field kinds, of the best cosine within each kind (a
learner may echo the question, the answer's gist, or one paragraph's detail). Added to it is a
small word-overlap score (IDF-weighted share of the query's words found in the question's file),
which catches the exact terms MiniLM blurs (`perplexity`, `ignore_index`, `from_pretrained`).
Below `THRESHOLD` nothing matches and `route` says so rather than forcing a match.

The field kinds, the overlap weight and THRESHOLD were chosen on the *tune* half of
benchmarks/routing_eval.yaml only; the other half is only reported
(`python benchmarks/routing_eval.py`, `--variants` for the comparison).

The vectors are cached in `<root>/.n00bqa/routing/`, keyed by the hash of every question file
and of the encoder export, so editing, adding or removing a question rebuilds them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.questions import Problem, Question, load_questions
from n00bqa.retrieval import encoder
from n00bqa.study import Study
from n00bqa.text import content_words, idf

# Chosen on the tune split of benchmarks/routing_eval.yaml (see the module docstring): the field
# kinds, the weight of the word-overlap score and the threshold.
FIELDS = ("question", "answer", "paragraphs")
LEXICAL_WEIGHT = 0.2
THRESHOLD = 0.216
ROUTING_FORMAT = 2  # bump when field_texts changes what is embedded
N_RELATED = 3


@dataclass
class Route:
    """The routing of one query: the best question (or None below THRESHOLD) and the next few."""

    question: Question | None
    score: float
    related: list[tuple[Question, float]] = field(default_factory=list)
    ranked: list[tuple[Question, float]] = field(default_factory=list)  # every question, best first
    problems: list[Problem] = field(default_factory=list)  # question files that failed to load
    vectors_built: bool = False  # the question vectors were embedded now (not from the cache)


def field_texts(question: Question, fields: Sequence[str] = FIELDS) -> list[tuple[str, str]]:
    """The (field kind, text) rows embedded for one question; a kind may give several rows.

    Kinds: question, answer (the whole answer, truncated at 256 tokens by the encoder),
    paragraphs (each paragraph or bullet of the answer), sentences, tags, asks (the example
    `n00bqa ask "..."` queries in the Try section).
    """
    rows: list[tuple[str, str]] = []
    answer = _plain(question.answer)
    for kind in fields:
        if kind == "question":
            texts = [question.question]
        elif kind == "answer":
            texts = [answer]
        elif kind == "paragraphs":
            texts = _paragraphs(answer)
        elif kind == "sentences":
            texts = [s for p in _paragraphs(answer) for s in re.split(r"(?<=[.!?])\s+", p) if len(s) > 20]
        elif kind == "tags":
            texts = [", ".join(t.replace("-", " ") for t in question.tags)]
        elif kind == "asks":
            texts = re.findall(r'n00bqa ask "([^"]+)"', question.try_)
        else:
            raise ValueError(f"unknown routing field {kind!r}")
        rows.extend((kind, text.strip()) for text in texts if text.strip())
    return rows


def _plain(markdown: str) -> str:
    """Markdown to the words a reader sees: no backticks, link targets or emphasis marks."""
    text = re.sub(r"`+", "", markdown)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_#>]+", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _paragraphs(text: str) -> list[str]:
    """Blank-line paragraphs, with each list item on its own."""
    parts = re.split(r"\n\s*\n|\n(?=\s*(?:[-+]|\d+[.)])\s)", text)
    return [p.strip() for p in parts if len(p.strip()) > 20]


def question_words(question: Question) -> set[str]:
    asks = " ".join(re.findall(r'n00bqa ask "([^"]+)"', question.try_))
    return content_words(" ".join([question.question, question.answer, " ".join(question.tags), asks]))


def lexical_scores(query: str, documents: list[set[str]]) -> list[float]:
    """Share of the query's IDF weight found in each question's words (0..1).

    A word in one question only weighs most; a word no question has (a recipe, a football club)
    weighs most too, and lowers every question's share -- which helps reject off-topic queries.
    """
    terms = content_words(query)
    if not terms or not documents:
        return [0.0] * len(documents)
    weight = idf(terms, documents)
    total = sum(weight.values())
    return [sum(weight[t] for t in terms if t in d) / total for d in documents]


def _cache_key(questions: list[Question], fields: Sequence[str], encoder_id: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{ROUTING_FORMAT}|{','.join(fields)}|{encoder_id}".encode())
    for question in questions:
        digest.update(question.id.encode())
        if question.path is not None and question.path.is_file():
            digest.update(hashlib.sha256(question.path.read_bytes()).digest())
        else:  # an in-memory question (tests, evaluation): hash what is embedded
            digest.update(json.dumps(field_texts(question, fields)).encode())
    return digest.hexdigest()[:24]


def _encoder_id(study: Study) -> str:
    manifest = encoder.read_manifest(study) or {}
    return str(manifest.get("onnx_sha256", "none"))


class QuestionVectors:
    """The field vectors of a question list: `matrix` (n_rows, DIM), each row's question and kind."""

    def __init__(self, questions: list[Question], matrix: Any, rows: list[tuple[int, str]],
                 lexical_weight: float = LEXICAL_WEIGHT) -> None:
        self.questions = questions
        self.matrix = matrix  # (n_rows, DIM), unit rows
        self.rows = rows  # row -> (index into questions, field kind)
        self.lexical_weight = lexical_weight
        self.documents = [question_words(q) for q in questions]
        self.built = False  # True when embedded now rather than read from the cache

    def semantic_scores(self, query_vector: Any) -> list[float]:
        """Per question: the mean over its field kinds of the best cosine within that kind."""
        cosines = self.matrix @ query_vector  # (n_rows, DIM) @ (DIM,) -> (n_rows,)
        best: dict[tuple[int, str], float] = {}
        for (owner, kind), cosine in zip(self.rows, cosines.tolist()):
            best[(owner, kind)] = max(cosine, best.get((owner, kind), -1.0))
        per_question: list[list[float]] = [[] for _ in self.questions]
        for (owner, _), cosine in best.items():
            per_question[owner].append(cosine)
        return [sum(c) / len(c) if c else 0.0 for c in per_question]

    def scores(self, query_vector: Any, query: str = "") -> list[float]:
        """Semantic score plus `lexical_weight` x word-overlap score, one per question."""
        semantic = self.semantic_scores(query_vector)
        if not query or not self.lexical_weight:
            return semantic
        lexical = lexical_scores(query, self.documents)
        return [s + self.lexical_weight * w for s, w in zip(semantic, lexical)]


def question_vectors(study: Study, questions: list[Question], fields: Sequence[str] = FIELDS,
                     encode: Callable[[list[str]], Any] | None = None, reporter: Any = None,
                     cache: bool = True, lexical_weight: float = LEXICAL_WEIGHT) -> QuestionVectors:
    """Embed every question's fields, or load them from the cache if no question file changed.

    Args:
        study: the study root: its ONNX export embeds, its `.n00bqa/routing/` caches.
        questions: the question list to route among.
        encode: texts -> unit vectors (default: the study root's ONNX encoder).
    """
    import numpy as np

    encode = encode or (lambda texts: encoder.encode(study, texts))
    pairs = [(i, kind, text) for i, q in enumerate(questions) for kind, text in field_texts(q, fields)]
    rows = [(i, kind) for i, kind, _ in pairs]
    folder = study.state_dir("routing") if cache else None
    key = _cache_key(questions, fields, _encoder_id(study)) if cache else ""
    if folder is not None:
        cached = _load_cached(folder, key, len(pairs))
        if cached is not None:
            return QuestionVectors(questions, cached, rows, lexical_weight)
    advance = reporter.task("embedding the question list", 1) if reporter is not None else None
    if pairs:
        matrix = encode([text for _, _, text in pairs])
    else:
        matrix = np.zeros((0, encoder.DIM), dtype=np.float32)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if folder is not None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, matrix)
        atomic_write_bytes(folder / "vectors.npy", buffer.getvalue())
        atomic_write_text(folder / "manifest.json", json.dumps({"key": key, "rows": len(pairs)}))
    if advance is not None:
        advance(1)
    vectors = QuestionVectors(questions, matrix, rows, lexical_weight)
    vectors.built = True
    return vectors


def _load_cached(folder: Path, key: str, rows: int):
    import numpy as np

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("key") != key or manifest.get("rows") != rows:
            return None
        matrix = np.load(folder / "vectors.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None  # missing or damaged cache: rebuild
    if matrix.shape != (rows, encoder.DIM):
        return None
    return matrix


def is_cached(study: Study, questions: list[Question] | None = None) -> bool:
    """True when the question vectors for the study root's question files are cached."""
    if questions is None:
        questions, _ = load_questions(study)
    rows = sum(len(field_texts(q)) for q in questions)  # the same rows question_vectors embeds
    return _load_cached(study.state_path("routing"), _cache_key(questions, FIELDS, _encoder_id(study)),
                        rows) is not None


def rank(vectors: QuestionVectors, query_vector: Any, query: str = "", threshold: float = THRESHOLD,
         n_related: int = N_RELATED) -> Route:
    """Route a query: the best question if its score reaches `threshold`, plus the next few."""
    scored = sorted(zip(vectors.questions, vectors.scores(query_vector, query)), key=lambda qs: -qs[1])
    if not scored:
        return Route(None, 0.0)
    best, best_score = scored[0]
    if best_score < threshold:
        return Route(None, best_score, related=[], ranked=scored)
    return Route(best, best_score, related=scored[1:1 + n_related], ranked=scored)


def route(study: Study, text: str, query_vector: Any = None, reporter: Any = None,
          threshold: float = THRESHOLD) -> Route:
    """Load the study root's question list, embed (or load) its vectors, and route `text`.

    Args:
        study: the study root whose questions are routed among.
        text: the learner's query.
        query_vector: the query's vector if already computed (saves one encode).
    """
    questions, problems = load_questions(study)
    vectors = question_vectors(study, questions, reporter=reporter)
    if query_vector is None:
        query_vector = encoder.encode_query(study, text)
    result = rank(vectors, query_vector, text, threshold=threshold)
    result.problems = problems
    result.vectors_built = vectors.built
    return result
