"""Dense vectors: the bundled all-MiniLM-L6-v2 through sentence-transformers.

Every vector is float32, L2-normalised, 384-dim, so FAISS inner product is cosine similarity.
The query side goes through ONE function, `encode_query`, so it can be swapped for a torch-free
encoder (ONNX Runtime) without touching the index; the document side, `encode_documents`, runs
at build time only. sentence_transformers is imported inside the functions, never at import.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from n00bqa.progress import NullReporter

from n00bqa.probes.models import BUNDLED_NAME

MODEL_NAME = BUNDLED_NAME
DIM = 384
BATCH_SIZE = 32


@lru_cache(maxsize=1)
def _sentence_transformer():
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from n00bqa.paths import bundled_model_path

    torch.set_num_threads(max(1, torch.get_num_threads()))
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in the build's output
    return SentenceTransformer(str(bundled_model_path()), device="cpu")


def encode_query(text: str) -> np.ndarray:
    """One query -> a (384,) float32 unit vector.

    Through the ONNX export of the same MiniLM (n00bqa.onnx_embed; no torch once exported),
    which equals sentence-transformers' vector to cosine >= 0.9999 (tests/test_onnx_embed.py).
    """
    from n00bqa.retrieval.encoder import encode_query as onnx_encode_query

    return np.ascontiguousarray(onnx_encode_query(text), dtype=np.float32)


def encode_documents(texts: list[str], reporter=None) -> np.ndarray:
    """Many passages -> an (N, 384) float32 array of unit vectors, in the order given.

    The texts are sorted by length and encoded in blocks, so padding is small (the same trick
    sentence-transformers plays inside one `encode` call) and the reporter can show progress.

    Args:
        texts: the passages (each already fits the model's 256-token window).
        reporter: optional progress reporter (n00bqa.progress), advanced after each block.
    """
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    model = _sentence_transformer()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    block = BATCH_SIZE * 8
    advance = (reporter or NullReporter()).task("Embedding passages", len(texts))
    for start in range(0, len(order), block):
        ids = order[start:start + block]
        vectors = model.encode([texts[i] for i in ids], batch_size=BATCH_SIZE, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        out[ids] = vectors
        advance(len(ids))
    return out
