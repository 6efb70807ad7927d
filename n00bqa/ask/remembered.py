"""Query vectors of texts that only change when a question file does, kept between asks.

Every matched ask searches the reading list twice: with the learner's words, and with the matched
question and its written answer (what the passages must back). The second text is the same on every
ask until the question's file changes, yet embedding its 256 tokens was the costliest ONNX run of a
cold ask. So its vector is kept in `<root>/.n00bqa/remembered/`, keyed by the sha256 of the exact text
embedded (a changed question is a new key) and by the encoder export it came from, and checked against
the sha256 recorded when it was written (n00bqa.retrieval.integrity) like every state file that
decides an answer. The vector read back is the one `encoder.encode_query` gave, bit for bit, so the
passages are the same as without the cache. A root that cannot be written just embeds each time.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.errors import WriteError
from n00bqa.retrieval import encoder, integrity
from n00bqa.study import Study

FOLDER = "remembered"
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "manifest.json"
FORMAT = 1
MAX_ROWS = 256  # the most recently added texts are kept; a question list is far smaller


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _header(study: Study) -> dict[str, Any]:
    manifest = encoder.read_manifest(study) or {}
    return {"format": FORMAT, "encoder": str(manifest.get("onnx_sha256", "none")), "dim": encoder.DIM}


def _load(study: Study, header: dict[str, Any]) -> tuple[list[str], Any]:
    """(keys, matrix) of the kept vectors, or ([], None) when missing, damaged, stale or altered."""
    import numpy as np

    folder = study.state_path(FOLDER)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], None
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in header.items()):
        return [], None
    keys = manifest.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return [], None
    if not integrity.matches(folder, VECTORS_FILE, manifest.get("sha256")):
        return [], None
    try:
        matrix = np.load(folder / VECTORS_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return [], None
    if matrix.shape != (len(keys), encoder.DIM) or matrix.dtype != np.float32:
        return [], None
    return keys, matrix


def query_vector(study: Study, text: str):
    """`encoder.encode_query(study, text)`, read from the root's kept vectors when this exact text
    was embedded before by the same export; otherwise embedded now and kept (best effort)."""
    import numpy as np

    header = _header(study)
    key = text_key(text)
    keys, matrix = _load(study, header)
    if key in keys:
        vector = matrix[keys.index(key)].copy()
        vector.flags.writeable = False
        return vector
    vector = encoder.encode_query(study, text)
    keep = [(k, row) for k, row in zip(keys, matrix if matrix is not None else []) if k != key][-(MAX_ROWS - 1):]
    keys = [k for k, _ in keep] + [key]
    rows = np.stack([row for _, row in keep] + [np.asarray(vector, dtype=np.float32)])  # (n, DIM)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(rows, dtype=np.float32))
    data = buffer.getvalue()
    try:
        folder = study.state_dir(FOLDER)
        atomic_write_bytes(folder / VECTORS_FILE, data)
        atomic_write_text(folder / MANIFEST_FILE, json.dumps({**header, "keys": keys, "sha256": integrity.sha256_bytes(data)}))
        integrity.record(folder, {VECTORS_FILE: integrity.sha256_bytes(data)})
    except WriteError:
        pass  # a read-only root: the vector is still right, only not kept
    return vector
