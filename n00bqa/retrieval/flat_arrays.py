"""Read a saved FAISS IndexFlatIP with numpy alone: the ask path's dense side without `import faiss`.

`import faiss` loads the whole SWIG module (~0.1-0.25 s of a cold `n00bqa ask`). A flat
inner-product index is just the (N, d) matrix of unit vectors, and one query's search is one
matrix-vector product, so numpy does it as fast. The file layout read here is FAISS's own
serialisation of IndexFlatIP ("IxFI", d, ntotal, two unused int64s, is_trained, metric type,
then the float codes as a length-prefixed vector); anything else (another index type, another
layout) goes to `faiss.deserialize_index` instead. tests/retrieval/test_flat_arrays.py checks both against
FAISS itself.
"""

from __future__ import annotations

import struct

import numpy as np

_HEADER = struct.Struct("<4siqqqBi")  # fourcc, d, ntotal, dummy, dummy, is_trained, metric_type
METRIC_INNER_PRODUCT = 0


class FlatIP:
    """The parts of `faiss.IndexFlatIP` that search uses: ntotal, d, search, reconstruct_n."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors  # (ntotal, d) float32
        self.ntotal, self.d = vectors.shape

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n_queries, k), best first; ids -1 past ntotal, as FAISS pads."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.d)  # (Q, d)
        sims = queries @ self.vectors.T  # (Q, d) @ (d, N) -> (Q, N)
        n = min(k, self.ntotal)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, sim in enumerate(sims):
            top = np.argpartition(-sim, n - 1)[:n] if n < self.ntotal else np.arange(self.ntotal)
            top = top[np.argsort(-sim[top], kind="stable")]
            scores[row, :n], ids[row, :n] = sim[top], top
        return scores, ids

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        return self.vectors[start:start + n].copy()


def load(data: bytes):
    """A FlatIP for a serialised IndexFlatIP, else the index FAISS itself deserialises."""
    if len(data) >= _HEADER.size + 8:
        fourcc, d, ntotal, _, _, _, metric = _HEADER.unpack_from(data, 0)
        (count,) = struct.unpack_from("<q", data, _HEADER.size)
        start = _HEADER.size + 8
        if (fourcc == b"IxFI" and metric == METRIC_INNER_PRODUCT and d > 0 and count == d * ntotal
                and len(data) == start + 4 * count):
            vectors = np.frombuffer(data, dtype="<f4", count=count, offset=start).reshape(ntotal, d)
            return FlatIP(vectors)
    import faiss

    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
