"""Which question in the list is the learner asking? Match, candidates, or honestly none.

Each question is embedded with the same MiniLM encoder as the index, once per row of what the root
knows about it: its question text, each paragraph of its answer, its `## Try` lines (the queries and
comments), its `## Notes` paragraphs, the queries the learner chose it for before
(n00bqa.ask.choices), and the example phrasings the root ships for it (`routing/examples.jsonl`,
load_examples; the built-in study's are the in-list queries of the labelled sets that routing is
fitted on, never those of the held-out set). A query is compared with every question through a few similarity features
(FEATURES): the mean over row kinds of the best cosine in each kind, the best cosine of any row,
the cosine with the question text, an IDF-weighted word overlap with everything the question file
says (its probes and reading ids included), and the vote of the query's nearest passages in the
index: the share of the top VOTE_DEPTH passages' score (by cosine, and by BM25) that falls on items
the question's reading list holds, and the best cosine with its example phrasings and chosen
queries (whose words also join its word overlap). A linear score of those features per question, and a score for
"none of them" (NONE_WEIGHTS: a constant plus a weight on the mean cosine of the query's 5 nearest
passages), go through one softmax: a question's *confidence* is its share. WEIGHTS and
NONE_WEIGHTS are a conditional logit fitted on the "seen" labelled sets (benchmarks/routing_eval.py
--fit); the benchmark prints, on the held-out set, the share of top-1 answers that were right at
each level of confidence, which is what the number means.

The outcome (`Route.outcome`):
  none        "none of them" has at least NONE_LEVEL of the confidence: off-topic, or in the field
              with no question of its own;
  match       else, the best question's confidence reaches SURE: shown as the answer;
  candidates  else, the best question and up to two more that reach SHOWN: a numbered choice.
A query the learner already answered at the prompt (the same words, or a near copy: cosine >=
CHOICE_COSINE with a chosen query) takes their choice, a match (or none) at confidence 1; the
queries they chose a question for also join its rows.

SURE and NONE_LEVEL were chosen on the seen sets only, by the rule in benchmarks/routing_eval.py
(`--fit`). The labelled sets, and how they were used:

    tune, report  routing_eval.yaml (451 in-list queries), written by the project; the report split
                  was scored on several rounds while the router changed, so it is "seen" now
    fresh, fresh2, fresh3, fresh4
                  routing_fresh*.yaml (289, 254, 246 and 242 in-list queries once those of an earlier
                  set are dropped), each written in one sitting by an engineer who never saw the
                  router, the other sets or the tests; each was held out and scored once, then joined
                  the seen sets (fresh3 was asked for more vague queries: "q k v??", "why 16 bytes")

Each round fitted on the seen sets and shipped their in-list queries as examples, then scored the
next set once. Before -> after, on the set held out in that round (percentages):

    round  held out  top-1          top-3          precision      candidates   none: off-topic, uncovered
    1      fresh     92.0 -> 94.8   98.6 -> 99.3   99.4 -> 98.1   15.9 -> 6.2  100, 100 -> 100, 100
    2      fresh2    92.1 -> 96.1   98.4 -> 98.8  100.0 -> 100.0   9.4 -> 9.4  100, 100 -> 100, 100
    3      fresh3    90.2 -> 92.7   98.0 -> 98.4   97.4 -> 96.2   11.0 -> 3.7  100, 100 -> 100, 100
    4      fresh4    97.1 -> 97.5   99.6 -> 99.6   97.6 -> 100.0   1.7 -> 13.2 100, 97.6 -> 100, 100

Round 1 kept 24 examples per question (from tune + report), round 2 40 (+ fresh), round 3 64
(+ fresh2) and added LEXICAL_PRIOR, round 4 80 (+ fresh3). Rounds 1-3 chose SURE and NONE_LEVEL
in-sample, to a precision of 98 % on the seen sets; on fresh3 a sure match was then right 96.2 % of
the time. Round 4 chooses them on out-of-fold confidences to 99 % (a rule set before fresh4 was
scored): SURE 0.58 -> 0.92, fewer wrong sure matches for more candidates. The shipped settings are
round 4's. The sets differ in difficulty: the same round-3 router scored 92.7 % on fresh3 and
97.1 % on fresh4, so a learner's own phrasings may land anywhere in that range.

The heavier the examples weigh, the more a question the learner just added (no examples yet)
loses to the rest: in benchmarks/routing_growth.py the 46 uncovered queries of tune, report and
fresh to fresh3 about its 10 added subjects found their new question for 89.1 % (issue 22's first
router), 80.4 % (round 2) and 67.4 % (round 3). A question with no example phrasing or choice now
stands in its best row's cosine for the "example" feature: 93.5 % in round 3, with the 22 questions'
figures unchanged (each of them has examples); in round 4, 93.0 % of 57 (fresh4's joined them).

(top-1 = the best-ranked question is the labelled one, or one its writer marked `also`, whatever
the outcome.) Tried in 2-fold cross-validation on the seen sets and not taken, none gaining more
than a point of top-1: a BM25 score over the example phrasings, the mean of the 2-5 best example
cosines, a soft vote of the examples, their centroid, and a word overlap with the question's title
and tags only; a per-root logistic regression on the query vector lost 0.7-3 points. Earlier
rounds (issue 22) tried z-scored features, a per-root classifier on the question's own rows and the query joined with its nearest
passages, with no gain either.

The vectors are cached in `<root>/.n00bqa/routing/` (vectors.npy + manifest.json), keyed per
question by the hash of the texts embedded for it and by the encoder export: editing one question
re-embeds that question's changed rows only (each row is also keyed by its text), and a question
with a huge answer is embedded once (at most MAX_ROWS_PER_QUESTION rows). The manifest records vectors.npy's sha256, checked (once per change of
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

FIELDS = ("question", "paragraphs", "try", "notes")  # the row kinds embedded per question
FEATURES = ("kind_mean", "best_row", "question", "lexical", "votes", "word_votes", "example")
NONE_FEATURES = ("bias", "nearness")  # "none of them": a constant, and the mean cosine of the nearest passages
NEAR_DEPTH = 5  # the passages whose mean cosine is `nearness` (as n00bqa.ask.domain measures it)
# A conditional logit fitted on the tune split (benchmarks/routing_eval.py --fit): a question's
# score is WEIGHTS . its features; "none of them" scores NONE_WEIGHTS; confidence = softmax share.
WEIGHTS = (2.055, 2.698, 1.232, 8.202, 0.114, 1.364, 7.233)
NONE_WEIGHTS = (8.02, 3.958)
# A root that ships no example phrasings (routing/examples.jsonl) has no "example" evidence, and
# the weights above would then lean to "none": it is routed by the logit fitted without examples
# (the same rule on the same tune split, before examples existed; its "example" weight is 0), with
# the word overlap it was fitted with: no LEXICAL_PRIOR.
WEIGHTS_NO_EXAMPLES = (4.254, 5.369, 3.219, 7.224, -0.011, 2.116, 0.0)
NONE_WEIGHTS_NO_EXAMPLES = (7.099, 3.0)
SURE_NO_EXAMPLES = 0.78  # its levels, chosen with it
NONE_LEVEL_NO_EXAMPLES = 0.2
SURE = 0.92  # a match: the best question's confidence reaches this
NONE_LEVEL = 0.1  # none: "none of them" has at least this share
SHOWN = 0.05  # a second or third candidate is shown from this confidence on
MAX_CANDIDATES = 3
CHOICE_COSINE = 0.92  # a query this close to one the learner chose for takes their choice
VOTE_DEPTH = 20  # the query's nearest passages that vote
LEXICAL_WEIGHT = 0.6  # kept for `combine` (the routing match of issue 16, shown nowhere now)
ABSENT_WEIGHT = 1.0  # factor on the IDF weight of a query word that no question has
# IDF weight added to every query's total in the word overlap: a query whose one content word is a
# common one ("q k v what are they really": `really`) no longer gives a full share to every question
# that happens to say "really" (chosen in cross-validation on the seen sets: 0, 1, 2, 4, 8 -> 2).
# Used with the logit fitted with it (a list with example phrasings); the one without examples was
# fitted without it, and on a 7-question list the prior halves a one-word query's share.
LEXICAL_PRIOR = 2.0
THRESHOLD = 0.3807  # the old routing match's threshold (combine/shown_apart); routing uses SURE/CANDIDATE
ROUTING_FORMAT = 8  # bump when field_texts or the cache layout changes
N_RELATED = 3
# A 5 MB answer has thousands of paragraphs; the first ones say what it is about. (The longest
# question in the learner's list has 16 rows.)
MAX_ROWS_PER_QUESTION = 64
MAX_EXAMPLES = 80  # example phrasings kept per question (routing/examples.jsonl)
MAX_CHOICES = 32  # the learner's latest chosen queries kept per question
EXAMPLES_FILE = "examples.jsonl"  # in <root>/routing/: {"query", "id"} lines, example phrasings per question
SAID = ("choice", "example")  # row kinds that are queries said for the question, not its own text
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "manifest.json"


@dataclass
class Candidate:
    """One question offered for a query, with its confidence and why."""

    question: Question
    confidence: float
    words: list[str] = field(default_factory=list)  # query words the question's file has
    row: str = ""  # the row of the question that is nearest the query
    votes: int = 0  # how many of the query's nearest passages are in the question's reading list

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.question.id, "confidence": round(self.confidence, 4), "words": self.words,
                "nearest": self.row, "passage_votes": self.votes}


@dataclass
class Route:
    """The routing of one query: match (question set), candidates, or none."""

    question: Question | None  # the match, None for candidates and none
    score: float  # the best question's confidence (0..1)
    related: list[tuple[Question, float]] = field(default_factory=list)
    ranked: list[tuple[Question, float]] = field(default_factory=list)  # every question, best first
    problems: list[Problem] = field(default_factory=list)  # question files that failed to load
    vectors_built: bool = False  # the question vectors were embedded now (not from the cache)
    cache_problem: str = ""  # why the embedded vectors could not be kept (a read-only root)
    outcome: str = "none"  # match | candidates | none
    candidates: list[Candidate] = field(default_factory=list)  # best first (match: the match first)
    none_confidence: float = 0.0  # the share of "none of them"
    chosen: str = ""  # "" or where the learner's earlier choice decided it (routing/choices.jsonl:LINE)
    choice_problems: list[str] = field(default_factory=list)
    sure: float = SURE  # the confidence a match needed (default_weights)


def field_texts(question: Question, fields: Sequence[str] = FIELDS,
                choices: Sequence[str] = (), examples: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The (field kind, text) rows embedded for one question; a kind may give several rows.

    Kinds: question, answer (the whole answer, truncated at 256 tokens by the encoder),
    paragraphs (each paragraph or bullet of the answer), sentences, tags, asks (the example
    `n00bqa ask "..."` queries in the Try section), try (each Try line's quoted query or comment),
    notes (each Notes paragraph). `choices`: queries the learner chose this question for (kind
    "choice", always kept). `examples`: example phrasings the root ships for it (kind "example",
    routing/examples.jsonl; at most MAX_EXAMPLES kept).
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
        elif kind == "try":
            texts = _try_texts(question.try_)
        elif kind == "notes":
            texts = _paragraphs(_plain(question.notes))
        else:
            raise ValueError(f"unknown routing field {kind!r}")
        rows.extend((kind, text.strip()) for text in texts if text.strip())
    picked = [("choice", c.strip()) for c in choices if c.strip()][-MAX_CHOICES:]
    picked += [("example", e.strip()) for e in examples if e.strip()][:MAX_EXAMPLES]
    return rows[:MAX_ROWS_PER_QUESTION] + picked


def _try_texts(try_: str) -> list[str]:
    """What a Try line says in words: its quoted query (`ask "..."`, `search "..."`) and its comment."""
    texts = []
    for line in try_.splitlines():
        texts += re.findall(r'"([^"]{4,})"', line)
        comment = re.search(r"#\s*(.{8,})$", line)
        if comment:
            texts.append(comment.group(1))
        elif not line.strip().startswith(("n00bqa", "`", "python", "$")) and len(line.strip()) > 20:
            texts.append(_plain(line))  # prose in the Try section
    return texts


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
    """Every word the question's file gives: text, answer, tags, Try, Notes, probe and reading ids."""
    ids = " ".join(x.replace("-", " ") for x in [*question.probes, *question.reading])
    raw = " ".join([question.question, question.answer, " ".join(question.tags), question.try_, question.notes, ids])
    return content_words(raw) | content_words(_identifier_parts(raw))


_IDENTIFIER = re.compile(r"\w*(?:[a-z][A-Z]|_)\w*")


def _identifier_parts(text: str) -> str:
    """The parts of the text's identifiers, so they count whole and in parts:
    `gradient_accumulation_steps` -> "gradient accumulation steps", `TrainingArguments` -> "Training Arguments"."""
    found = " ".join(_IDENTIFIER.findall(text))
    return re.sub(r"([a-z])([A-Z])", r"\1 \2", found).replace("_", " ")


# Learners' clipped words, read as the words a question file writes (our own short list).
ABBREVIATIONS = {"attn": "attention", "param": "parameter", "params": "parameter", "mem": "memory",
                 "seq": "sequence", "grad": "gradient", "grads": "gradient", "ckpt": "checkpoint",
                 "tok": "token", "emb": "embedding", "embed": "embedding", "lr": "learning",
                 "bs": "batch", "dp": "data", "tp": "tensor", "gpus": "gpu", "xattn": "cross",
                 "enc": "encoder", "dec": "decoder", "seq2seq": "encoder", "mha": "multi", "lm": "language"}


def query_words(query: str) -> set[str]:
    """The query's content words, identifiers split like question_words splits them, clipped words
    (`attn`, `param`) read as the words they clip."""
    words = content_words(query) | content_words(_identifier_parts(query))
    return {ABBREVIATIONS.get(w, w) for w in words}


def resolve_words(terms: set[str], documents: list[set[str]]) -> set[str]:
    """Each query word no question has, read as the list's word it most likely means: a misspelling
    one edit away (`embeding`, `paramters`, `scrach`) or a clipped word (`param`, `attn` aside) that
    starts a longer one. Words of 4 letters or fewer are left alone (too many neighbours)."""
    vocabulary = set().union(*documents) if documents else set()
    out = set()
    for term in terms:
        if term in vocabulary or len(term) < 5 and not (len(term) >= 4 and term.isalpha()):
            out.add(term)
            continue
        near = sorted(w for w in vocabulary if _one_edit(term, w))
        if not near and len(term) >= 4:
            near = sorted((w for w in vocabulary if w.startswith(term) and len(w) <= len(term) + 6), key=len)[:1]
        out.add(near[0] if near else term)
    return out


def _one_edit(a: str, b: str) -> bool:
    """True when b is a one-letter insertion, deletion, substitution or swap away from a (len >= 5)."""
    if len(a) < 5 or abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(short, long)) if x != y), len(short))
    return short[i:] == long[i + 1:]


def lexical_scores(query: str, documents: list[set[str]], absent_weight: float = ABSENT_WEIGHT,
                   prior: float = 0.0) -> list[float]:
    """Share of the query's IDF weight (plus `prior`) found in each question's words (0..1).

    A word in one question only weighs most; a word no question has (a recipe, a football club,
    `speculative`) weighs most too, times `absent_weight`, and lowers every question's share --
    which helps reject queries about something the list does not cover.
    """
    terms = resolve_words(query_words(query), documents)
    if not terms or not documents:
        return [0.0] * len(documents)
    weight = idf(terms, documents)
    if absent_weight != 1.0:
        weight = {t: w * absent_weight if not any(t in d for d in documents) else w for t, w in weight.items()}
    total = sum(weight.values()) + prior
    return [sum(weight[t] for t in terms if t in d) / total for d in documents]


def _question_key(question: Question, fields: Sequence[str], choices: Sequence[str] = (),
                  examples: Sequence[str] = ()) -> str:
    """What one question's cached rows depend on: the texts embedded for it, in order."""
    return _key_of(question, field_texts(question, fields, choices, examples))


def _key_of(question: Question, texts: list[tuple[str, str]]) -> str:
    """The hash of the rows embedded for a question and of everything its words come from
    (question_words), so the cached words of a key are the question's words."""
    raw = [question.question, question.answer, list(question.tags), question.try_, question.notes,
           list(question.probes), list(question.reading)]
    return hashlib.sha256(json.dumps([question.id, texts, raw]).encode()).hexdigest()[:24]


def _encoder_id(study: Study) -> str:
    manifest = encoder.read_manifest(study) or {}
    return str(manifest.get("onnx_sha256", "none"))


class QuestionVectors:
    """The field vectors of a question list: `matrix` (n_rows, DIM), each row's question and kind."""

    def __init__(self, questions: list[Question], matrix: Any, rows: list[tuple[int, str]],
                 lexical_weight: float = LEXICAL_WEIGHT, absent_weight: float = ABSENT_WEIGHT,
                 texts: list[str] | None = None, documents: list[set[str]] | None = None) -> None:
        """`documents`: each question's words (its own and its said rows'), when the cache has them
        (computing them for a thousand example phrasings costs ~60 ms of a cold ask)."""
        import numpy as np

        self.questions = questions
        self.matrix = matrix  # (n_rows, DIM), unit rows
        self.rows = rows  # row -> (index into questions, field kind)
        self.texts = texts or [""] * len(rows)  # row -> the text embedded
        self.lexical_weight = lexical_weight
        self.absent_weight = absent_weight
        self._own_words: list[set[str]] | None = None
        self._said: list[list[tuple[str, set[str]]]] | None = None
        # the words of the learner's choices and of the example phrasings count as the question's too
        self.documents = documents if documents is not None else [
            w.union(*(x for _, x in said)) for w, said in zip(self.own_words, self.said)]
        self.has_examples = any(k == "example" for _, k in rows)
        self.built = False  # True when embedded now rather than read from the cache
        self.cache_problem = ""  # why the vectors could not be cached (a read-only root), else ""
        self.owner = np.array([o for o, _ in rows], dtype=np.int64)  # (n_rows,)
        kinds = sorted({k for _, k in rows if k not in SAID})
        self.kind_ids = np.array([kinds.index(k) if k in kinds else -1 for _, k in rows], dtype=np.int64)
        self.n_kinds = len(kinds)
        self.kind_of = {"question": kinds.index("question")} if "question" in kinds else {}

    @property
    def own_words(self) -> list[set[str]]:
        """Per question: question_words (its file's own words)."""
        if self._own_words is None:
            self._own_words = [question_words(q) for q in self.questions]
        return self._own_words

    @property
    def said(self) -> list[list[tuple[str, set[str]]]]:
        """Per question: (text, query_words) of each of its choice and example rows."""
        if self._said is None:
            self._said = [[(t, query_words(t)) for t, (o, k) in zip(self.texts, self.rows) if o == j and k in SAID]
                          for j in range(len(self.questions))]
        return self._said

    def semantic_scores(self, query_vector: Any) -> list[float]:
        """Per question: the mean over its field kinds of the best cosine within that kind."""
        return [float(x) for x in self.features(query_vector, "", None)[:, 0]]

    def features(self, query_vector: Any, query: str = "", votes: Any = None, exclude_row: int = -1,
                 leave_out: str = "") -> Any:
        """(n_questions, len(FEATURES)) similarity features of one query against every question.

        kind_mean: mean over the question's row kinds of the best cosine within the kind (choices
        aside); best_row: the best cosine of any row (choices included); question: the cosine with
        the question text; lexical: lexical_scores (the question's words with those of its choices
        and examples); votes: the passage vote (0 without an index); example: the best cosine of
        its choices and example phrasings (0 without any).
        `exclude_row` leaves one row out (a pseudo-query made from that row); `leave_out` leaves
        out the example phrasing (or choice) with this text, rows and words (evaluating on the
        queries the examples were written from).
        """
        import numpy as np

        n = len(self.questions)
        out = np.zeros((n, len(FEATURES)), dtype=np.float64)
        if n == 0:
            return out
        cosines = (self.matrix @ np.asarray(query_vector, dtype=np.float32)).astype(np.float64)  # (n_rows,)
        if exclude_row >= 0:
            cosines[exclude_row] = -1.0
        said = np.array([k in SAID for _, k in self.rows], dtype=bool)  # (n_rows,)
        documents = self.documents
        if leave_out:
            dropped = said & np.array([t == leave_out.strip() for t in self.texts], dtype=bool)
            cosines[dropped] = -1.0
            documents = [d if all(t != leave_out.strip() for t, _ in said_j) else
                         own.union(*(x for t, x in said_j if t != leave_out.strip()))
                         for d, own, said_j in zip(self.documents, self.own_words, self.said)]
        best_kind = np.full((n, max(self.n_kinds, 1)), -np.inf)  # (n_questions, n_kinds)
        plain = self.kind_ids >= 0
        np.maximum.at(best_kind, (self.owner[plain], self.kind_ids[plain]), cosines[plain])
        present = np.isfinite(best_kind) & (best_kind > -1.0)
        out[:, 0] = np.where(present, best_kind, 0.0).sum(1) / np.maximum(present.sum(1), 1)
        best_row = np.full(n, -1.0)
        kept = self.kind_ids >= 0
        kept |= np.array([k == "choice" for _, k in self.rows], dtype=bool)
        np.maximum.at(best_row, self.owner[kept], cosines[kept])
        out[:, 1] = best_row
        if said.any():
            best_said = np.zeros(n)
            np.maximum.at(best_said, self.owner[said], np.clip(cosines[said], 0.0, None))
            out[:, 6] = best_said
            # a question with no example phrasing or choice yet (one the learner just added) stands in
            # its own best row for them, so the list's examples do not bury it
            unsaid = np.bincount(self.owner[said], minlength=n) == 0
            out[unsaid, 6] = np.clip(best_row[unsaid], 0.0, None)
        if "question" in self.kind_of:
            column = best_kind[:, self.kind_of["question"]]
            out[:, 2] = np.where(np.isfinite(column), column, 0.0)
        if query:
            out[:, 3] = lexical_scores(query, documents, self.absent_weight,
                                       LEXICAL_PRIOR if self.has_examples else 0.0)
        if votes is not None:
            out[:, 4:6] = np.asarray(votes).reshape(n, -1)[:, :2]
        # the same, relative to the other questions of the list: (x - mean) / std over questions
        return out

    def scores(self, query_vector: Any, query: str = "") -> list[float]:
        """The old routing match of each question (issue 16), 0..1: (semantic + lexical_weight x
        word overlap) / (1 + lexical_weight). Kept for comparison (benchmarks, `--legacy`)."""
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
                     absent_weight: float = ABSENT_WEIGHT,
                     choices: dict[str, list[str]] | None = None,
                     examples: dict[str, list[str]] | None = None) -> QuestionVectors:
    """Embed every question's fields, reusing every cached row whose text is unchanged (an edit re-embeds its new rows only).

    Args:
        study: the study root: its ONNX export embeds, its `.n00bqa/routing/` caches.
        questions: the question list to route among.
        encode: texts -> unit vectors (default: the study root's ONNX encoder).
        cache: read and write the cache (False: embed everything, write nothing; for evaluation).
        choices: question id -> the queries the learner chose it for (embedded as its "choice" rows).
        examples: question id -> its example phrasings (load_examples; its "example" rows).
    """
    import numpy as np

    encode = encode or (lambda texts: encoder.encode(study, texts))
    choices, examples = choices or {}, examples or {}
    per_question = [field_texts(q, fields, choices.get(q.id, ()), examples.get(q.id, ())) for q in questions]
    rows = [(i, kind) for i, texts in enumerate(per_question) for kind, _ in texts]
    keys = [_key_of(q, texts) for q, texts in zip(questions, per_question)]
    header = {"format": ROUTING_FORMAT, "fields": list(fields), "encoder": _encoder_id(study) if cache else "",
              "dim": encoder.DIM}
    known_rows: dict[str, Any] = {}  # text hash -> vector, of every cached row (an edit re-embeds only new rows)
    known_words: dict[str, set[str]] = {}  # question key -> its words
    cached = _load_cached(study.state_path("routing"), header, known_rows, known_words) if cache else {}
    blocks: list[Any] = [cached.get(key) for key in keys]
    blocks = [b if b is not None and len(b) == len(texts) else None for b, texts in zip(blocks, per_question)]
    todo = [i for i, b in enumerate(blocks) if b is None]
    embedded_now = False
    built = bool(todo) or (cache and len(cached) != len(set(keys)))
    if todo:
        texts = sorted({text for i in todo for _, text in per_question[i] if _text_key(text) not in known_rows})
        advance = reporter.task("embedding the question list", 1) if reporter is not None and texts else None
        if texts:
            fresh = np.ascontiguousarray(encode(texts), dtype=np.float32)  # (n_texts, DIM)
            embedded_now = True
            known_rows.update((_text_key(t), v) for t, v in zip(texts, fresh))
        for i in todo:
            blocks[i] = np.array([known_rows[_text_key(t)] for _, t in per_question[i]], dtype=np.float32).reshape(
                len(per_question[i]), encoder.DIM)
        if advance is not None:
            advance(1)
    matrix = np.ascontiguousarray(np.concatenate(blocks) if blocks else np.zeros((0, encoder.DIM), np.float32),
                                  dtype=np.float32)
    words = [known_words.get(key) for key in keys]
    vectors = QuestionVectors(questions, matrix, rows, lexical_weight, absent_weight,
                              texts=[text for texts in per_question for _, text in texts],
                              documents=None if any(w is None for w in words) else words)
    if cache and (built or any(w is None for w in words)):
        vectors.cache_problem = _save_cache(study, header, keys, blocks, matrix, per_question, vectors.documents)
    vectors.built = embedded_now  # rows whose text is cached are not embedded again (a notes-only edit)
    return vectors


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _save_cache(study: Study, header: dict, keys: list[str], blocks: list[Any], matrix: Any,
                per_question: list[list[tuple[str, str]]], documents: list[set[str]]) -> str:
    """Write the vectors and their manifest; return "" or why they could not be kept (a read-only root)."""
    import io

    import numpy as np

    from n00bqa.errors import WriteError

    buffer = io.BytesIO()
    np.save(buffer, matrix)
    data = buffer.getvalue()
    questions, start = [], 0
    for key, block, texts, words in zip(keys, blocks, per_question, documents):
        questions.append({"key": key, "start": start, "rows": len(block), "texts": [_text_key(t) for _, t in texts],
                          "words": sorted(words)})
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


def _load_cached(folder: Path, header: dict, rows: dict[str, Any] | None = None,
                 words: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """question key -> its (rows, DIM) block, from a cache whose manifest, shape and sha256 hold ({} if not).
    `rows` is filled with text hash -> row vector, `words` with question key -> its words."""
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
    if words is not None:
        for e in entries:
            if isinstance(e.get("words"), list) and all(isinstance(w, str) for w in e["words"]):
                words[e["key"]] = set(e["words"])
    if rows is not None:  # text hash -> its row, for the rows of an edited question that did not change
        for e in entries:
            texts = e.get("texts")
            if isinstance(texts, list) and len(texts) == e["rows"]:
                rows.update((t, matrix[e["start"] + n]) for n, t in enumerate(texts) if isinstance(t, str))
    return {e["key"]: matrix[e["start"]:e["start"] + e["rows"]] for e in entries}


def is_cached(study: Study, questions: list[Question] | None = None) -> bool:
    """True when every question's vectors are cached (routing would embed nothing)."""
    from n00bqa.ask.choices import load_choices

    if questions is None:
        questions, _ = load_questions(study)
    chosen = _chosen_queries(load_choices(study, {q.id for q in questions})[0])
    examples = load_examples(study, {q.id for q in questions})
    header = {"format": ROUTING_FORMAT, "fields": list(FIELDS), "encoder": _encoder_id(study), "dim": encoder.DIM}
    cached = _load_cached(study.state_path("routing"), header)
    for q in questions:
        key = _question_key(q, FIELDS, chosen.get(q.id, ()), examples.get(q.id, ()))
        if key not in cached or len(cached[key]) != len(field_texts(q, FIELDS, chosen.get(q.id, ()),
                                                                    examples.get(q.id, ()))):
            return False
    return True


def load_examples(study: Study, known_ids: set[str] | None = None) -> dict[str, list[str]]:
    """question id -> its example phrasings, from `<root>/routing/examples.jsonl` ({"query", "id"}
    lines). A missing file gives {}; a line that is not such an object, or names a question the
    list does not have, is skipped (examples are evidence, never required)."""
    from n00bqa.ask.choices import FOLDER

    try:
        raw = (study.root / FOLDER / EXAMPLES_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, list[str]] = {}
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str) or not isinstance(entry.get("id"), str):
            continue
        if known_ids is None or entry["id"] in known_ids:
            out.setdefault(entry["id"], []).append(entry["query"])
    return out


def _chosen_queries(choices: list[Any]) -> dict[str, list[str]]:
    """question id -> the distinct queries the learner last chose it for, in file order."""
    from n00bqa.ask.choices import latest_by_query

    out: dict[str, list[str]] = {}
    for choice in latest_by_query(choices).values():
        if choice.question is not None:
            out.setdefault(choice.question, []).append(choice.query)
    return out


def passage_votes(index: Any, query_vector: Any, questions: list[Question], query: str = "",
                  depth: int = VOTE_DEPTH) -> tuple[Any, float]:
    """What the index says: (votes, nearness).

    votes (n_questions, 2): per question, the share of the score of the query's `depth` nearest
    passages (by cosine, then by BM25 on `query`) that falls on items in its reading list.
    nearness: the mean cosine of the query's NEAR_DEPTH nearest passages (n00bqa.ask.domain's
    score): low for a query about something the reading list never mentions.
    Without an index: zeros and 0.
    """
    import numpy as np

    votes = np.zeros((len(questions), 2))
    if index is None or len(index.chunks) == 0:
        return votes, 0.0
    cosines = index.vectors @ np.asarray(query_vector, dtype=np.float32)  # (n_passages,)
    depth = min(max(depth, NEAR_DEPTH), len(cosines))
    top = np.argpartition(-cosines, depth - 1)[:depth]
    top = top[np.argsort(-cosines[top])]
    nearness = float(cosines[top[:NEAR_DEPTH]].mean())
    rankings = [list(zip(top.tolist(), np.clip(cosines[top], 0.0, None).tolist()))]
    if query:
        from n00bqa.retrieval.search import lexical_ranking

        rankings.append(lexical_ranking(index, query, depth))
    reading = [set(q.reading) for q in questions]
    for column, ranking in enumerate(rankings):
        total = sum(w for _, w in ranking) or 1.0
        for chunk_id, weight in ranking:
            item = index.chunks[chunk_id].item_id
            for j, items in enumerate(reading):
                if item in items:
                    votes[j, column] += weight / total
    return votes, nearness


def default_weights(has_examples: bool) -> tuple[Sequence[float], Sequence[float], float, float]:
    """(WEIGHTS, NONE_WEIGHTS, SURE, NONE_LEVEL) for a list with example phrasings, else the logit
    fitted without them and its levels."""
    if has_examples:
        return WEIGHTS, NONE_WEIGHTS, SURE, NONE_LEVEL
    return WEIGHTS_NO_EXAMPLES, NONE_WEIGHTS_NO_EXAMPLES, SURE_NO_EXAMPLES, NONE_LEVEL_NO_EXAMPLES


def confidences(features: Any, nearness: float, weights: Sequence[float] = WEIGHTS,
                none_weights: Sequence[float] = NONE_WEIGHTS) -> tuple[Any, float]:
    """(per-question confidence, confidence of none): the softmax of each question's score
    (weights . features) and none's (none_weights . (1, nearness))."""
    import numpy as np

    none_score = none_weights[0] + none_weights[1] * nearness
    scores = np.append(features @ np.asarray(weights, dtype=np.float64), none_score)  # (n_questions + 1,)
    scores = np.exp(scores - scores.max())
    shares = scores / scores.sum()
    return shares[:-1], float(shares[-1])


def decide(questions: list[Question], shares: Any, none_share: float, sure: float = SURE,
           none_level: float = NONE_LEVEL) -> tuple[str, list[int]]:
    """The outcome and the question indices shown, best first: none when "none of them" has at
    least `none_level` of the confidence; else a match when the best question has `sure`; else
    candidates: the best question and the next ones that reach SHOWN, three at most."""
    import numpy as np

    order = [int(i) for i in np.argsort(-shares, kind="stable")]
    if not order or none_share >= none_level:
        return "none", []
    if shares[order[0]] >= sure:
        return "match", order[:1]
    return "candidates", order[:1] + [i for i in order[1:MAX_CANDIDATES] if shares[i] >= SHOWN]


def explain(vectors: QuestionVectors, j: int, query: str, query_vector: Any, votes: Any, shares: Any) -> Candidate:
    """Question j as a candidate: its confidence, the query words its file has, its nearest row."""
    import numpy as np

    words = sorted(query_words(query) & vectors.documents[j])
    rows = np.flatnonzero(vectors.owner == j)
    nearest = ""
    if len(rows):
        cosines = vectors.matrix[rows] @ np.asarray(query_vector, dtype=np.float32)
        text = " ".join(vectors.texts[int(rows[int(np.argmax(cosines))])].split())
        nearest = text if len(text) <= 120 else text[:117].rstrip() + "..."
    n_votes = int(round(float(votes[j, 0]) * VOTE_DEPTH)) if votes is not None else 0
    return Candidate(vectors.questions[j], float(shares[j]), words, nearest, n_votes)


def rank(vectors: QuestionVectors, query_vector: Any, query: str = "", index: Any = None,
         chosen: dict[str, Any] | None = None, sure: float | None = None, none_level: float | None = None,
         weights: Sequence[float] | None = None, none_weights: Sequence[float] | None = None) -> Route:
    """Route a query among `vectors.questions`: match, candidates or none, with confidences.

    Args:
        index: the study root's LoadedIndex (its nearest passages vote), or None.
        chosen: normalised query -> the learner's last Choice for it (routing/choices.jsonl).
        weights, none_weights, sure, none_level: default_weights(): WEIGHTS, NONE_WEIGHTS, SURE,
            NONE_LEVEL when the list has example phrasings, else the *_NO_EXAMPLES ones.
            The level used is kept in Route.sure.
    """
    import numpy as np


    questions = vectors.questions
    if not questions:
        return Route(None, 0.0, outcome="none", none_confidence=1.0)
    model = default_weights(vectors.has_examples)
    weights = model[0] if weights is None else weights
    none_weights = model[1] if none_weights is None else none_weights
    sure = model[2] if sure is None else sure
    none_level = model[3] if none_level is None else none_level
    votes, nearness = passage_votes(index, query_vector, questions, query)
    features = vectors.features(query_vector, query, votes)
    shares, none_share = confidences(features, nearness, weights, none_weights)
    order = [int(i) for i in np.argsort(-shares, kind="stable")]
    ranked = [(questions[i], float(shares[i])) for i in order]
    choice = _earlier_choice(vectors, query, query_vector, chosen or {})
    if choice is not None:
        qid, where = choice
        if qid is None:
            return Route(None, 0.0, ranked=ranked, outcome="none", none_confidence=1.0, chosen=where)
        j = next(i for i, q in enumerate(questions) if q.id == qid)
        picked = explain(vectors, j, query, query_vector, votes, shares)
        picked.confidence = 1.0
        return Route(questions[j], 1.0, related=[r for r in ranked if r[0].id != qid][:N_RELATED], ranked=ranked,
                     outcome="match", candidates=[picked], chosen=where, sure=sure)
    outcome, shown = decide(questions, shares, none_share, sure, none_level)
    candidates = [explain(vectors, i, query, query_vector, votes, shares) for i in shown]
    if outcome == "match":
        return Route(questions[shown[0]], float(shares[shown[0]]), related=ranked[1:1 + N_RELATED], ranked=ranked,
                     outcome=outcome, candidates=candidates, none_confidence=none_share, sure=sure)
    return Route(None, float(shares[order[0]]), ranked=ranked, outcome=outcome, candidates=candidates,
                 none_confidence=none_share, sure=sure)


def _earlier_choice(vectors: QuestionVectors, query: str, query_vector: Any,
                    chosen: dict[str, Any]) -> tuple[str | None, str] | None:
    """(question id or None, "routing/choices.jsonl:LINE") when the learner chose for this query before."""
    import numpy as np

    from n00bqa.ask.choices import FILE, FOLDER
    from n00bqa.text import normalised

    ids = {q.id for q in vectors.questions}
    same = chosen.get(normalised(query))
    if same is not None and (same.question is None or same.question in ids):
        return same.question, f"{FOLDER}/{FILE}:{same.line}"
    rows = [i for i, (_, kind) in enumerate(vectors.rows) if kind == "choice"]
    if not rows:
        return None
    cosines = vectors.matrix[rows] @ np.asarray(query_vector, dtype=np.float32)
    best = int(np.argmax(cosines))
    if float(cosines[best]) < CHOICE_COSINE:
        return None
    row = rows[best]
    qid = vectors.questions[vectors.rows[row][0]].id
    line = next((c.line for c in chosen.values() if c.question == qid and c.query.strip() == vectors.texts[row]), 0)
    return qid, f"{FOLDER}/{FILE}:{line}"


def route(study: Study, text: str, query_vector: Any = None, reporter: Any = None, index: Any = None,
          record_problems: bool = True) -> Route:
    """Load the study root's question list and choices, embed (or load) its vectors, and route `text`.

    Args:
        study: the study root whose questions are routed among.
        text: the learner's query.
        query_vector: the query's vector if already computed (saves one encode).
        index: the study root's LoadedIndex if already loaded (else it is loaded when built).
    """
    from n00bqa.ask.choices import latest_by_query, load_choices

    questions, problems = load_questions(study)
    choices, choice_problems = load_choices(study, {q.id for q in questions})
    vectors = question_vectors(study, questions, reporter=reporter, choices=_chosen_queries(choices),
                               examples=load_examples(study, {q.id for q in questions}))
    if query_vector is None:
        query_vector = encoder.encode_query(study, text)
    if index is None and study.state_path("index", "manifest.json").is_file():
        from n00bqa.retrieval.index import load_index

        index = load_index(study)
    result = rank(vectors, query_vector, text, index=index, chosen=latest_by_query(choices))
    result.problems = problems
    result.choice_problems = choice_problems
    result.vectors_built = vectors.built
    result.cache_problem = vectors.cache_problem
    return result
