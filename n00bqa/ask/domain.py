"""Is a query about the reading list's field at all? Asked when no question of the list matches.

An in-domain query that matches no question ("what is speculative decoding") still deserves the
passages that bear on it and the offer to add it as a question; an off-topic one ("best recipe for
sourdough bread") gets no passages, since whatever matches it in a Transformers corpus is noise.

The test: the mean cosine between the query's MiniLM vector and its K nearest passages of the
index (the same vectors the dense search ranks by) reaches THRESHOLD. A mean over K rather than
the best one alone, so one stray look-alike passage cannot carry an off-topic query.

THRESHOLD was chosen on the *tune* split of benchmarks/domain_eval.yaml only (in-domain queries the
question list does not cover, off-topic ones, plus the labelled queries of routing_eval.yaml and
retrieval_eval.yaml): the midpoint of the widest gap at the best balanced accuracy
(`python benchmarks/domain_eval.py --tune`); the report split is only scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from n00bqa.study import Study

K = 5
THRESHOLD = 0.279


@dataclass
class Domain:
    """The outcome of the test, with the numbers it was decided by."""

    score: float  # mean cosine of the query with its K nearest passages
    threshold: float
    k: int

    @property
    def in_domain(self) -> bool:
        return self.score >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"in_domain": self.in_domain, "score": round(self.score, 4), "threshold": self.threshold, "k": self.k}

    def words(self) -> str:
        verdict = "about the reading list's field" if self.in_domain else "off-topic for the reading list"
        sign = ">=" if self.in_domain else "<"
        return (f"{verdict}: its {self.k} nearest passages have a mean cosine of {self.score:.3f} {sign} "
                f"{self.threshold:.3f}")


def domain_score(vectors: Any, query_vector: Any, k: int = K) -> float:
    """Mean of the k largest cosines between `query_vector` (dim,) and the unit rows of `vectors` (n, dim)."""
    if len(vectors) == 0:
        return 0.0
    cosines = np.asarray(vectors, dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32)  # (n,)
    k = min(k, len(cosines))
    best = np.partition(cosines, len(cosines) - k)[-k:]  # the k largest, unordered
    return float(best.mean())


def domain_test(study: Study, query_vector: Any, index: Any = None, threshold: float = THRESHOLD) -> Domain:
    """Decide in-domain vs off-topic for one query vector against the study root's index."""
    if index is None:
        from n00bqa.retrieval.index import load_index

        index = load_index(study)
    return Domain(domain_score(index.vectors, query_vector), threshold, K)
