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

A verdict is not decided by a hair: the same query reworded (lower case, a "?", "what is" added or
dropped) moves its score by 0.018 (std; 90th percentile 0.028) on the tune queries
(`python benchmarks/domain_eval.py --perturb`). So a score within BAND of the threshold is "near
the line", and is treated as in the field: its passages are shown (a wrong "off-topic" would hide
help; a wrong "in the field" shows a few passages), and the words say it was close. `what is lora`
(0.278 against 0.279) was called off-topic before the band. A query that routing offers candidates
for is in the field whatever its score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from n00bqa.study import Study

K = 5
THRESHOLD = 0.279
BAND = 0.02  # about one std of the score's change under rewording (see the module docstring)


@dataclass
class Domain:
    """The outcome of the test, with the numbers it was decided by."""

    score: float  # mean cosine of the query with its K nearest passages
    threshold: float
    k: int
    band: float = BAND
    routed: bool = False  # routing offered candidates for it: in the field whatever the score

    @property
    def near_line(self) -> bool:
        return not self.routed and abs(self.score - self.threshold) < self.band

    @property
    def in_domain(self) -> bool:
        return self.routed or self.score >= self.threshold - self.band

    def to_dict(self) -> dict[str, Any]:
        return {"in_domain": self.in_domain, "near_line": self.near_line, "score": round(self.score, 4),
                "threshold": self.threshold, "band": self.band, "k": self.k, "routed": self.routed}

    def words(self) -> str:
        measured = f"its {self.k} nearest passages have a mean cosine of {self.score:.3f}"
        if self.routed:
            return f"about the reading list's field (some of your questions come close; {measured})"
        if self.near_line:
            return (f"near the line of the reading list's field ({measured}, within {self.band:.2f} of "
                    f"{self.threshold:.3f}, closer than rewording moves it)")
        verdict = "about the reading list's field" if self.in_domain else "off-topic for the reading list"
        sign = ">=" if self.in_domain else "<"
        return f"{verdict}: {measured} {sign} {self.threshold:.3f}"


def domain_score(vectors: Any, query_vector: Any, k: int = K) -> float:
    """Mean of the k largest cosines between `query_vector` (dim,) and the unit rows of `vectors` (n, dim)."""
    if len(vectors) == 0:
        return 0.0
    cosines = np.asarray(vectors, dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32)  # (n,)
    k = min(k, len(cosines))
    best = np.partition(cosines, len(cosines) - k)[-k:]  # the k largest, unordered
    return float(best.mean())


def domain_test(study: Study, query_vector: Any, index: Any = None, threshold: float = THRESHOLD,
                routed: bool = False) -> Domain:
    """Decide in-domain vs off-topic for one query vector against the study root's index.

    Args:
        routed: routing offered candidates for the query (then it is in the field).
    """
    if index is None:
        from n00bqa.retrieval.index import load_index

        index = load_index(study)
    return Domain(domain_score(index.vectors, query_vector), threshold, K, routed=routed)
