"""The numpy-only reader of a saved bm25s index ranks exactly as bm25s does, without importing it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from n00bqa.retrieval import bm25_arrays
from n00bqa.text import lexical_tokens

PASSAGES = [
    "The embedding table receives gradient only in the rows of the tokens in the batch.",
    "Cross-entropy on the next token is the language modelling loss; perplexity is exp(loss).",
    "The decoder attends to the encoder memory with cross-attention: queries from the decoder.",
    "AutoModel reads config.json and builds the concrete class from its model_type.",
    "Adam keeps two moment estimates per parameter, so training needs 16 bytes per parameter.",
    "Beam search keeps the k best partial translations; greedy decoding keeps one.",
    "A word embedding is one row of a learned matrix, looked up by the token id.",
] * 3 + ["gradient gradient gradient of the embedding rows", "loss loss perplexity"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    bm25s = bm25_arrays.import_bm25s()  # as the index build imports it: numpy's top-k, never JAX's

    folder = tmp_path_factory.mktemp("bm25") / "lexical"
    retriever = bm25s.BM25()
    retriever.index([lexical_tokens(p) for p in PASSAGES], show_progress=False)
    retriever.save(str(folder), show_progress=False)
    return folder, bm25s.BM25.load(str(folder), show_progress=False)


@pytest.mark.parametrize("query", [
    "why is the embedding gradient sparse", "perplexity of the loss", "cross attention decoder encoder memory",
    "AutoModel model_type config", "bytes per parameter Adam", "beam search greedy", "gradient gradient rows",
])
def test_same_ranking_and_scores_as_bm25s(saved, query):
    folder, reference = saved
    ours = bm25_arrays.load(folder)
    assert isinstance(ours, bm25_arrays.SavedBM25)
    assert ours.vocab_dict == reference.vocab_dict
    tokens = [t for t in lexical_tokens(query) if t in reference.vocab_dict]
    assert tokens
    for k in (1, 5, len(PASSAGES)):
        ids, scores = ours.retrieve([tokens], k=k)
        ref_ids, ref_scores = reference.retrieve([tokens], k=k, show_progress=False)
        assert ids.shape == scores.shape == (1, k)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6)
        np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(ours.scores([reference.vocab_dict[t] for t in tokens]),
                               reference.get_scores(tokens), rtol=1e-6)


def test_reading_does_not_import_bm25s_or_scipy(saved):
    folder, _ = saved
    code = (f"import sys\nfrom n00bqa.retrieval import bm25_arrays\nbm25_arrays.load({str(folder)!r})\n"
            "print([m for m in ('bm25s', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bm25s_is_imported_without_jax_even_when_jax_is_installed():
    code = ("import sys\nfrom n00bqa.retrieval.bm25_arrays import import_bm25s\nimport_bm25s()\n"
            "from bm25s import selection\nprint(selection.JAX_IS_AVAILABLE, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
