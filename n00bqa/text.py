"""Words, stopwords, stems, IDF and the query checks: the one place every text comparison starts.

Two kinds of word list are made from a text, for two different comparisons:

- `content_words`: a *set* of lower-case words with a plural "s" dropped, for word overlap
  (routing a query to a question, picking a passage's best sentence);
- `lexical_tokens`: a *list* of BM25 tokens, code identifiers split into their parts and lightly
  stemmed, for the passage index.

Their stopword lists differ on purpose: each was chosen with its own evaluation
(benchmarks/routing_eval.py, benchmarks/retrieval_eval.py). Overlap drops the words of a question's
framing ("how", "not", "only", "same"); BM25 keeps those but drops the keywords of Python source
("self", "return", "def"), which every library passage is full of.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

from n00bqa.errors import AskError

# MiniLM reads only the first 256 tokens anyway; a query longer than this is a paste, not a question.
MAX_QUERY_CHARS = 2000

# Words that say nothing about which question is meant.
QUESTION_STOPWORDS = frozenset(
    "a an the is are was were be been how what why which who when where does do did of to in on for by "
    "with and or it its this that these those i my me you your can could should would will from at as "
    "into than then there their them they we our us about vs not no so if only same over under up down "
    "get gets got".split()
)
# BM25: English function words plus the keywords every Python source passage repeats.
LEXICAL_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have how i if in into is it its of on or so that the their "
    "then there these this to was what when where which who why will with do does did can my we you our "
    "self none true false return def".split()
)

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\[\"'])|\n\s*\n|\n(?=\s*[-*+]\s)|\n(?=#)")


def check_query(text: str, command: str = 'n00bqa ask "How large is a transformer model?"') -> str:
    """The query stripped, or AskError for an empty or overlong one.

    Args:
        text: what the learner typed.
        command: an example command line for the message about an empty query.
    """
    query = (text or "").strip()
    if not query:
        raise AskError(f"the query is empty; ask a question in quotes, e.g. {command}")
    if len(query) > MAX_QUERY_CHARS:
        raise AskError(f"the query is {len(query):,} characters long; the limit is {MAX_QUERY_CHARS:,} "
                       "(MiniLM reads only the first 256 tokens) - ask a shorter question")
    return query


def content_words(text: str) -> set[str]:
    """Lower-case content words with a plural 's' dropped: what word overlap compares."""
    found = set()
    for word in re.findall(r"[a-z0-9@_]+", text.lower()):
        if word in QUESTION_STOPWORDS or len(word) < 2:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return found


def stem(word: str) -> str:
    """A light English stemmer (plural and -ing/-ed endings): 'gradients' and 'gradient' match."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def lexical_tokens(text: str) -> list[str]:
    """Words for BM25. Code identifiers count whole and by part: `padding_idx` -> padding_idx,
    padding, idx; `MultiheadAttention` -> multiheadattention, multihead, attention."""
    tokens: list[str] = []
    for raw in re.findall(r"[A-Za-z0-9_]+", text):
        parts = [p for w in raw.split("_") if w for p in _CAMEL.findall(w)]
        whole = raw.lower().strip("_")
        for word in ([whole] if len(parts) > 1 else []) + [p.lower() for p in parts]:
            if len(word) >= 2 and word not in LEXICAL_STOPWORDS:
                tokens.append(stem(word))
    return tokens


def idf(terms: Iterable[str], documents: Sequence[set[str]]) -> dict[str, float]:
    """Each term's inverse document frequency over `documents`, log(1 + n / (df + 0.5)).

    A term in one document only weighs most; a term no document has weighs most too (which is
    what lets an off-topic query score low against every document).
    """
    n = len(documents)
    return {t: math.log(1 + n / (sum(t in d for d in documents) + 0.5)) for t in terms}


def normalised(text: str) -> str:
    """Lower case, every run of non-word characters one space: two texts the same to a reader."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def sentences(text: str) -> list[str]:
    """A passage split into sentences (and list items / headings), kept verbatim."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def listed(names: Sequence[str], limit: int = 4) -> str:
    """'a, b, c, d and 3 more': the first `limit` names, and how many are left unnamed."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def sources(n: int) -> str:
    """'1 library source', '23 library sources'."""
    return f"{n} library source{'' if n == 1 else 's'}"


def percent(confidence: float) -> str:
    """A confidence (0..1) as the learner reads it: "97%", never a rounded "0%" or "100%" that is not."""
    if 0.0 < confidence < 0.005:
        return "<1%"
    if 0.995 <= confidence < 1.0:
        return ">99%"
    return f"{confidence:.0%}"
