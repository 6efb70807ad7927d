"""Read a saved bm25s index with numpy alone: the ask path's lexical side without `import bm25s`.

`import bm25s` pulls in scipy.sparse, tqdm and more: ~0.6-1.2 s on a busy 2-core machine, most of
a cold `n00bqa ask`. The saved index is already what a query needs: a CSC matrix of precomputed
BM25 weights (column = vocabulary word, rows = passages) in three .npy files, plus the vocabulary.
A query's score for each passage is the sum of its words' columns; the top k are chosen exactly
as bm25s does (argpartition, then a descending argsort), so the rankings are identical
(tests/retrieval/test_bm25_arrays.py checks them against bm25s itself).

Methods that add a per-word "non-occurrence" score (BM25L, BM25+) are not read here: `load`
falls back to bm25s for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# bm25s methods whose saved weights are the whole score (no non-occurrence term)
EAGER_METHODS = ("lucene", "robertson", "atire")


class SavedBM25:
    """The parts of `bm25s.BM25` that search uses: `vocab_dict` and `retrieve`."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        params = json.loads((folder / "params.index.json").read_text())
        self.method = params.get("method", "lucene")
        self.num_docs = int(params["num_docs"])
        self.dtype = np.dtype(params.get("dtype", "float32"))
        self.vocab_dict: dict[str, int] = json.loads((folder / "vocab.index.json").read_text())
        self.data = np.load(folder / "data.csc.index.npy", allow_pickle=False)  # (nnz,) weights
        self.indices = np.load(folder / "indices.csc.index.npy", allow_pickle=False)  # (nnz,) passage ids
        self.indptr = np.load(folder / "indptr.csc.index.npy", allow_pickle=False)  # (n_vocab + 1,)

    def scores(self, token_ids: list[int]) -> np.ndarray:
        """(num_docs,) BM25 score of every passage for the query's word ids (repeats count again)."""
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        for token_id in token_ids:
            start, end = self.indptr[token_id], self.indptr[token_id + 1]
            scores[self.indices[start:end]] += self.data[start:end]  # a column's rows are distinct
        return scores

    def retrieve(self, queries: list[list[str]], k: int = 10, show_progress: bool = False, **_: object):
        """(ids, scores), each (n_queries, k), best first — bm25s.BM25.retrieve's shape."""
        k = min(k, self.num_docs)
        all_ids, all_scores = [], []
        for tokens in queries:
            scores = self.scores([self.vocab_dict[t] for t in tokens if t in self.vocab_dict])
            top = np.argpartition(scores, -k).take(indices=range(-k, 0))  # the k best, unordered
            top_scores = np.take(scores, top)
            order = np.flip(np.argsort(top_scores))
            all_ids.append(top[order])
            all_scores.append(top_scores[order])
        return np.array(all_ids), np.array(all_scores)


def import_bm25s():
    """`import bm25s`, with its numpy top-k whether or not JAX is installed.

    bm25s imports `jax.lax` when it can (and runs a JAX op at import) to pick its top-k backend. JAX
    is only n00bqa's optional extra for the GSPMD probe, which runs it in a child process: building
    an index must not import it (seconds and hundreds of MB), and JAX's top-k orders tied scores
    differently from numpy's, so the same index would rank ties differently with the extra installed.
    While bm25s is first imported, `jax` is hidden from it (a None entry in sys.modules makes the
    import fail as if JAX were absent); anything that imports JAX later still gets it.
    """
    import sys

    if "bm25s" in sys.modules or "jax" in sys.modules:
        import bm25s

        return bm25s
    sys.modules["jax"] = None  # type: ignore[assignment]
    try:
        import bm25s
    finally:
        if sys.modules.get("jax", 0) is None:
            del sys.modules["jax"]
    return bm25s


def load(folder: Path):
    """A SavedBM25 for an eager-scored index, else `bm25s.BM25.load` (which imports bm25s)."""
    params = json.loads((Path(folder) / "params.index.json").read_text())
    if params.get("method", "lucene") in EAGER_METHODS:
        return SavedBM25(folder)
    return import_bm25s().BM25.load(str(folder), show_progress=False)
