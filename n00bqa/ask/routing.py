"""Which question in the list is the learner asking? Routing with an honest "none".

Each question is embedded with the same MiniLM encoder as the index, once per field row: its
question text and each paragraph of its written answer. A query's semantic score for a question
is the mean, over those field kinds, of the best cosine within each kind (a learner may echo the
question or one paragraph's detail). Its lexical score is a word-overlap share (IDF-weighted share
of the query's words found in the question's file), which catches the exact terms MiniLM blurs
(`perplexity`, `ignore_index`, `from_pretrained`) and, since a word no question has weighs most,
pulls down queries about something else ("train for a marathon", "speculative decoding"). The
routing match is their weighted mean, (semantic + LEXICAL_WEIGHT x lexical) / (1 + LEXICAL_WEIGHT),
a number in 0..1 (0 where a semantic score below 0 would make it negative), shown as "routing
match" wherever a question's score is shown. Below `THRESHOLD` nothing matches and `route` says so
rather than forcing a match; `ask` then decides in-domain or off-topic (n00bqa.ask.domain).

FIELDS, LEXICAL_WEIGHT, ABSENT_WEIGHT and THRESHOLD were chosen on the *tune* split of
benchmarks/routing_eval.yaml only, by the rule fixed beforehand in benchmarks/routing_eval.py
(`--select`): 3,255 configs (each set of the kinds question/answer/paragraphs/sentences/tags x
lexical weight 0..1 by 0.05 x absent-word factor 1, 1.5, 2, 3, 4), each with the threshold of best
tune balanced accuracy (mean of top-1 and the rejection of `none`, the latter the mean of the
off-topic and the uncovered rejection rates); among those within 0.005 of the best, the fewest
kinds, then the smallest absent-word factor, then the widest tune gap between correct and `none`
scores. The report split was scored once, after. On the project's own root (19 questions; per
split 133 labelled queries, 23 off-topic and 19 in the field that no question covers, `uncovered`;
top-3 = labelled question among the 3 best, any score; scores on the 0..1 scale):

    settings                                split   top-1   top-3  off-topic  uncovered
                                                                   rejected   rejected
    before: question,paragraphs, lexical    tune    93.2%  100.0%  100.0%     42.1% (8/19)
            0.6, THRESHOLD 0.2799 (0.4479   report  85.0%   95.5%  100.0%     42.1% (8/19)
            before the rescale)
    after:  question,paragraphs, lexical    tune    88.0%  100.0%  100.0%     89.5% (17/19)
            0.6, absent factor 1,           report  75.2%   95.5%  100.0%    100.0% (19/19)
            THRESHOLD 0.3807

The rule kept the fields and weights and raised the threshold: the 38 uncovered queries (added for
issue 16; before, `none` held off-topic queries only, and 22 of the 38 were routed to some
question) now count as much as the off-topic ones. The cost is top-1: 13 report queries (7 tune)
whose best question is the labelled one now score below the threshold, so `ask` shows them as
"closest question, weak match" (the right one) with the passages, rather than as the answer.
The absent-word factor (a query word no question has weighs factor x its IDF) tied at 1.5-4 and was
not taken (the tie goes to 1, plain IDF). The two tune misses left: "what is the GELU activation"
(GELU is named in five answers, so its overlap is full) and "pipeline parallelism" (each of its
words but `pipeline`, which no question has, is in tensor-parallel's file). "what is speculative
decoding" (report) scores 0.377 against encoder-decoder ("decoding"), just under 0.3807: rejected,
by a narrow margin.

Before the re-tune of d84f86d (which chose the "before" settings above, `none` then off-topic only,
on the sum scale), question,answer,paragraphs with lexical 0.2 and THRESHOLD 0.216 gave top-1 /
top-3 / off-topic rejected: tune 90.2% / 97.7% / 95.7%, report 80.5% / 97.7% / 91.3%.
Tried on tune then and not taken (no gain beyond one query, or worse): a per-question normaliser
(subtracting each question's mean score over the other questions' paragraphs), deciding "none" by
the top-two margin or by the top score minus the mean score, and the `asks` kind (the Try
section's example queries repeat eval queries, one report query word for word). Remaining
confusions are between questions that share a subject: model-size vs zero-fsdp (Adam's 16 bytes
per parameter), zero-fsdp vs data-parallel, gradient accumulation vs data-parallel.

The vectors are cached in `<root>/.n00bqa/routing/` (vectors.npy + manifest.json), keyed per
question by the hash of the texts embedded for it and by the encoder export: editing one question
re-embeds that question only, and a question with a huge answer is embedded once (at most
MAX_ROWS_PER_QUESTION rows). The manifest records vectors.npy's sha256, checked (once per change of
the file) before the vectors are used: damaged or same-shape replaced vectors are embedded again,
never used. A root that cannot be written still routes; it just embeds in every process.
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
from n00bqa.retrieval import encoder, integrity
from n00bqa.study import Study
from n00bqa.text import content_words, idf

# Chosen on the tune split of benchmarks/routing_eval.yaml (see the module docstring): the field
# kinds, the weight of the word-overlap score, the factor on a word no question has, and the
# threshold on the routing match (0..1).
FIELDS = ("question", "paragraphs")
LEXICAL_WEIGHT = 0.6
ABSENT_WEIGHT = 1.0  # factor on the IDF weight of a query word that no question has
THRESHOLD = 0.3807
ROUTING_FORMAT = 3  # bump when field_texts or the cache layout changes
N_RELATED = 3
# A 5 MB answer has thousands of paragraphs; the first ones say what it is about. (The longest
# question in the learner's list has 16 rows.)
MAX_ROWS_PER_QUESTION = 64
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "manifest.json"


@dataclass
class Route:
    """The routing of one query: the best question (or None below THRESHOLD) and the next few."""

    question: Question | None
    score: float
    related: list[tuple[Question, float]] = field(default_factory=list)
    ranked: list[tuple[Question, float]] = field(default_factory=list)  # every question, best first
    problems: list[Problem] = field(default_factory=list)  # question files that failed to load
    vectors_built: bool = False  # the question vectors were embedded now (not from the cache)
    cache_problem: str = ""  # why the embedded vectors could not be kept (a read-only root)


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
    return rows[:MAX_ROWS_PER_QUESTION]


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


def lexical_scores(query: str, documents: list[set[str]], absent_weight: float = ABSENT_WEIGHT) -> list[float]:
    """Share of the query's IDF weight found in each question's words (0..1).

    A word in one question only weighs most; a word no question has (a recipe, a football club,
    `speculative`) weighs most too, times `absent_weight`, and lowers every question's share --
    which helps reject queries about something the list does not cover.
    """
    terms = content_words(query)
    if not terms or not documents:
        return [0.0] * len(documents)
    weight = idf(terms, documents)
    if absent_weight != 1.0:
        weight = {t: w * absent_weight if not any(t in d for d in documents) else w for t, w in weight.items()}
    total = sum(weight.values())
    return [sum(weight[t] for t in terms if t in d) / total for d in documents]


def _question_key(question: Question, fields: Sequence[str]) -> str:
    """What one question's cached rows depend on: the texts embedded for it, in order."""
    return hashlib.sha256(json.dumps([question.id, field_texts(question, fields)]).encode()).hexdigest()[:24]


def _encoder_id(study: Study) -> str:
    manifest = encoder.read_manifest(study) or {}
    return str(manifest.get("onnx_sha256", "none"))


class QuestionVectors:
    """The field vectors of a question list: `matrix` (n_rows, DIM), each row's question and kind."""

    def __init__(self, questions: list[Question], matrix: Any, rows: list[tuple[int, str]],
                 lexical_weight: float = LEXICAL_WEIGHT, absent_weight: float = ABSENT_WEIGHT) -> None:
        self.questions = questions
        self.matrix = matrix  # (n_rows, DIM), unit rows
        self.rows = rows  # row -> (index into questions, field kind)
        self.lexical_weight = lexical_weight
        self.absent_weight = absent_weight
        self.documents = [question_words(q) for q in questions]
        self.built = False  # True when embedded now rather than read from the cache
        self.cache_problem = ""  # why the vectors could not be cached (a read-only root), else ""

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
        """The routing match of each question, 0..1: (semantic + lexical_weight x word overlap)
        / (1 + lexical_weight), and 0 where that is negative (a semantic score below 0)."""
        semantic = self.semantic_scores(query_vector)
        lexical = (lexical_scores(query, self.documents, self.absent_weight) if query and self.lexical_weight
                   else [0.0] * len(semantic))
        return [combine(s, w, self.lexical_weight) for s, w in zip(semantic, lexical)]


def combine(semantic: float, lexical: float, lexical_weight: float = LEXICAL_WEIGHT) -> float:
    """The routing match from its two parts: their weighted mean, clipped to 0..1.

    semantic is a mean of cosines (at most 1), lexical a share (0..1), so the mean is at most 1;
    dividing by 1 + lexical_weight is a monotone rescale of the sum, so it ranks and thresholds as
    the sum did (with THRESHOLD divided likewise).
    """
    return max(0.0, (semantic + lexical_weight * lexical) / (1.0 + lexical_weight))


def shown_apart(score: float, threshold: float = THRESHOLD) -> tuple[str, str]:
    """A routing match and the threshold as text, with 2 decimals, or up to 4 where 2 would show a
    score below the threshold as equal to it ("0.38 (a match needs 0.38)")."""
    for digits in (2, 3, 4):
        shown = f"{score:.{digits}f}", f"{threshold:.{digits}f}"
        if shown[0] != shown[1] or score == threshold:
            break
    return shown


def question_vectors(study: Study, questions: list[Question], fields: Sequence[str] = FIELDS,
                     encode: Callable[[list[str]], Any] | None = None, reporter: Any = None,
                     cache: bool = True, lexical_weight: float = LEXICAL_WEIGHT,
                     absent_weight: float = ABSENT_WEIGHT) -> QuestionVectors:
    """Embed every question's fields, reusing each question's cached rows while its texts are unchanged.

    Args:
        study: the study root: its ONNX export embeds, its `.n00bqa/routing/` caches.
        questions: the question list to route among.
        encode: texts -> unit vectors (default: the study root's ONNX encoder).
        cache: read and write the cache (False: embed everything, write nothing; for evaluation).
    """
    import numpy as np

    encode = encode or (lambda texts: encoder.encode(study, texts))
    per_question = [field_texts(q, fields) for q in questions]
    rows = [(i, kind) for i, texts in enumerate(per_question) for kind, _ in texts]
    keys = [_question_key(q, fields) for q in questions]
    header = {"format": ROUTING_FORMAT, "fields": list(fields), "encoder": _encoder_id(study) if cache else "",
              "dim": encoder.DIM}
    cached = _load_cached(study.state_path("routing"), header) if cache else {}
    blocks: list[Any] = [cached.get(key) for key in keys]
    blocks = [b if b is not None and len(b) == len(texts) else None for b, texts in zip(blocks, per_question)]
    todo = [i for i, b in enumerate(blocks) if b is None]
    built = bool(todo) or (cache and len(cached) != len(set(keys)))
    if todo:
        advance = reporter.task("embedding the question list", 1) if reporter is not None else None
        texts = [text for i in todo for _, text in per_question[i]]
        fresh = np.ascontiguousarray(encode(texts), dtype=np.float32) if texts else np.zeros((0, encoder.DIM), np.float32)
        offset = 0
        for i in todo:
            blocks[i] = fresh[offset:offset + len(per_question[i])]
            offset += len(per_question[i])
        if advance is not None:
            advance(1)
    matrix = np.ascontiguousarray(np.concatenate(blocks) if blocks else np.zeros((0, encoder.DIM), np.float32),
                                  dtype=np.float32)
    vectors = QuestionVectors(questions, matrix, rows, lexical_weight, absent_weight)
    if cache and built:
        vectors.cache_problem = _save_cache(study, header, keys, blocks, matrix)
    vectors.built = bool(todo)
    return vectors


def _save_cache(study: Study, header: dict, keys: list[str], blocks: list[Any], matrix: Any) -> str:
    """Write the vectors and their manifest; return "" or why they could not be kept (a read-only root)."""
    import io

    import numpy as np

    from n00bqa.errors import WriteError

    buffer = io.BytesIO()
    np.save(buffer, matrix)
    data = buffer.getvalue()
    questions, start = [], 0
    for key, block in zip(keys, blocks):
        questions.append({"key": key, "start": start, "rows": len(block)})
        start += len(block)
    manifest = {**header, "rows": int(matrix.shape[0]), "sha256": integrity.sha256_bytes(data), "questions": questions}
    try:
        folder = study.state_dir("routing")
        atomic_write_bytes(folder / VECTORS_FILE, data)
        atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest))
    except WriteError as exc:
        return str(exc)
    integrity.record(folder, {VECTORS_FILE: manifest["sha256"]})
    return ""


def _load_cached(folder: Path, header: dict) -> dict[str, Any]:
    """question key -> its (rows, DIM) block, from a cache whose manifest, shape and sha256 hold ({} if not)."""
    import numpy as np

    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}  # missing or damaged: embed again
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in header.items()):
        return {}  # `[]`, another encoder, other fields or an older layout
    entries, total = manifest.get("questions"), manifest.get("rows")
    if not isinstance(entries, list) or not isinstance(total, int) or not all(
            isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("start"), int)
            and isinstance(e.get("rows"), int) and 0 <= e["start"] and e["start"] + e["rows"] <= total
            for e in entries):
        return {}
    if not integrity.matches(folder, VECTORS_FILE, manifest.get("sha256")):
        return {}  # changed since written (same shape or not): never used
    try:
        matrix = np.load(folder / VECTORS_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return {}
    if matrix.shape != (total, encoder.DIM) or matrix.dtype != np.float32:
        return {}
    return {e["key"]: matrix[e["start"]:e["start"] + e["rows"]] for e in entries}


def is_cached(study: Study, questions: list[Question] | None = None) -> bool:
    """True when every question's vectors are cached (routing would embed nothing)."""
    if questions is None:
        questions, _ = load_questions(study)
    header = {"format": ROUTING_FORMAT, "fields": list(FIELDS), "encoder": _encoder_id(study), "dim": encoder.DIM}
    cached = _load_cached(study.state_path("routing"), header)
    return all(_question_key(q, FIELDS) in cached and len(cached[_question_key(q, FIELDS)]) == len(field_texts(q))
               for q in questions)


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
    result.cache_problem = vectors.cache_problem
    return result
