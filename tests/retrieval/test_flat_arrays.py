"""The numpy reader of a saved FAISS IndexFlatIP searches exactly as FAISS does, without importing it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from n00bqa.retrieval import flat_arrays


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("rows", [1, 7, 500])
def test_same_results_as_faiss(rows):
    import faiss

    vectors = _unit(rows, 384, rows)
    index = faiss.IndexFlatIP(384)
    index.add(vectors)
    data = faiss.serialize_index(index).tobytes()
    ours = flat_arrays.load(data)
    assert isinstance(ours, flat_arrays.FlatIP) and (ours.ntotal, ours.d) == (rows, 384)
    np.testing.assert_array_equal(ours.reconstruct_n(0, rows), index.reconstruct_n(0, rows))
    queries = _unit(3, 384, 99)
    for k in (1, 5, 50):
        scores, ids = ours.search(queries, k)
        ref_scores, ref_ids = index.search(queries, k)
        np.testing.assert_array_equal(ids, ref_ids)
        finite = ids >= 0
        np.testing.assert_allclose(scores[finite], ref_scores[finite], rtol=1e-5, atol=1e-6)


def test_other_index_types_go_to_faiss():
    import faiss

    index = faiss.IndexFlatL2(8)
    index.add(_unit(4, 8, 1))
    loaded = flat_arrays.load(faiss.serialize_index(index).tobytes())
    assert not isinstance(loaded, flat_arrays.FlatIP) and loaded.ntotal == 4


def test_reading_does_not_import_faiss(tmp_path):
    import faiss

    index = faiss.IndexFlatIP(4)
    index.add(_unit(3, 4, 2))
    path = tmp_path / "dense.faiss"
    path.write_bytes(faiss.serialize_index(index).tobytes())
    code = (f"import sys\nfrom n00bqa.retrieval import flat_arrays\nfrom pathlib import Path\n"
            f"print(flat_arrays.load(Path({str(path)!r}).read_bytes()).ntotal, 'faiss' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "False"]
