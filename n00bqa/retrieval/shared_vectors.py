"""The library sources' passages and vectors, embedded once per user and shared by all their study roots.

Most of an index is installed-library source (torch's nn/functional.py, transformers' trainer.py, ...):
the same files for every study root of one user with the same installed versions. So a build keeps
each library item's chunks and vectors in the user cache,

    $XDG_CACHE_HOME/n00bqa/index/<model>-<maker key>/
        <item key>.entry   one file per item, written whole (atomic rename): a JSON header line (the
                           sha256 of the rest, the chunk count, the two keys), then the chunks' records
                           (JSON) and their (n, DIM) float32 vectors
        .lock              held while a build embeds library items and writes their entries

and a new root's build reads them from there instead of embedding them again.

The keys. The folder's (maker key): everything that decides a vector's bits — the model (the sha256 of
the ONNX export's bytes, which pins the weights, the opset and the graph), the onnxruntime and
tokenizers versions, the truncation length, the document batching, the chunker version and the index
format. The entry's (item key): everything that decides an item's passages — its id, source, title
(with the package version), format and content hash (the sha256 of the file's bytes and the package
version). encoder.encode_documents embeds each item on its own (batches never cross items), so an
item's vectors depend on nothing else, and an index assembled from entries equals a full build, file
for file (tests/retrieval/test_shared_vectors.py).

Trust. An entry is used only if the rest of its bytes hash to the sha256 in its header, the header
names the same keys and the shapes fit; anything else is a miss, so the item is embedded again and
its entry rewritten. Entries are read only when a root's build needs them, so each is hashed on every
read (a few MB for the whole library, tens of ms), not stamped like the ONNX export
(n00bqa.retrieval.integrity), which is read on every ask.

Concurrency. Entries are written whole, so a reader sees an old entry, a new one or none. A build
about to embed library items takes the folder's lock and looks again: a second root started while
the first embeds the library waits, then reads what the first wrote. Where the user cache cannot be
written, a build embeds everything itself, as it did before this cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from n00bqa.study import Study, user_cache_dir

if TYPE_CHECKING:
    import numpy as np

    from n00bqa.retrieval.chunking import Chunk
    from n00bqa.retrieval.corpus import Item

ENTRY_FORMAT = 1  # bump when the .entry layout changes
SUFFIX = ".entry"
LOCK_TIMEOUT = 900.0  # another root embedding the library: wait for it rather than embed twice


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/n00bqa/index/` (not created here)."""
    return user_cache_dir() / "index"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def maker(study: Study, reporter: Any = None) -> dict[str, Any]:
    """What decides every vector's bits (the folder's key). Makes the root's ONNX export first if it
    has none (the build would make it to embed anyway): its sha256 names the model."""
    from n00bqa.retrieval import encoder
    from n00bqa.retrieval.chunking import CHUNKER_VERSION
    from n00bqa.retrieval.index import FORMAT_VERSION

    if not encoder.is_exported(study):
        encoder.export(study, reporter=reporter)
    export = encoder.read_manifest(study) or {}
    return {
        "model": encoder.MODEL_NAME, "dim": encoder.DIM, "onnx_sha256": export.get("onnx_sha256"),
        "onnxruntime": _version("onnxruntime"), "tokenizers": _version("tokenizers"),
        "max_seq_length": encoder.max_seq_length(), "batch_tokens": encoder.DOCUMENT_BATCH_TOKENS,
        "batch_size": encoder.DOCUMENT_BATCH_SIZE, "chunker_version": CHUNKER_VERSION,
        "index_format": FORMAT_VERSION, "entry_format": ENTRY_FORMAT,
    }


def item_key(item: Item, content_hash: str) -> str:
    """What decides an item's passages (the entry's key)."""
    return _digest({"id": item.id, "kind": item.kind, "source": item.source, "title": item.display_title,
                    "format": item.format, "package": item.package, "version": item.version,
                    "content_hash": content_hash})


@dataclass
class SharedVectors:
    """One maker's folder of entries."""

    folder: Path
    maker_key: str

    @classmethod
    def open(cls, study: Study, reporter: Any = None) -> "SharedVectors":
        made_by = maker(study, reporter)
        key = _digest(made_by)
        return cls(cache_root() / f"{made_by['model']}-{key[:16]}", key)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def read(self, item: Item, content_hash: str) -> tuple[list[Chunk], np.ndarray] | None:
        """The item's chunks and (n, DIM) vectors, or None when there is no sound entry for it (missing,
        damaged, of other keys): the caller embeds the item and writes the entry again."""
        import numpy as np

        from n00bqa.retrieval.chunking import Chunk
        from n00bqa.retrieval.encoder import DIM

        key = item_key(item, content_hash)
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        header_line, _, payload = data.partition(b"\n")
        try:
            header = json.loads(header_line)
            if not isinstance(header, dict) or header.get("sha256") != hashlib.sha256(payload).hexdigest():
                return None
            if header.get("maker") != self.maker_key or header.get("item") != key:
                return None
            count, records_bytes = header["chunks"], header["records_bytes"]
            if not (isinstance(count, int) and isinstance(records_bytes, int)
                    and len(payload) == records_bytes + count * DIM * 4):
                return None
            chunks = [Chunk.from_record(r) for r in json.loads(payload[:records_bytes])]
            vectors = np.frombuffer(payload[records_bytes:], dtype="<f4").reshape(count, DIM).astype(np.float32)
        except (ValueError, TypeError, KeyError):
            return None
        if len(chunks) != count or any(c.item_id != item.id for c in chunks):
            return None
        return chunks, vectors

    def read_many(self, items: list[Item], hashes: dict[str, str],
                  reporter: Any = None) -> dict[str, tuple[list[Chunk], np.ndarray]]:
        """Each of `items` with a sound entry: id -> (chunks, vectors)."""
        found = {}
        for item in items:
            entry = self.read(item, hashes[item.id])
            if entry is not None:
                found[item.id] = entry
        if found and reporter is not None:
            passages = sum(len(chunks) for chunks, _ in found.values())
            from n00bqa.text import sources

            reporter.task(f"Reusing {passages:,} passages of {sources(len(found))} from your user cache", 1)(1)
        return found

    def write(self, item: Item, content_hash: str, chunks: list[Chunk], vectors: np.ndarray) -> bool:
        """Keep the item's chunks and vectors for the user's other roots; False when the user cache
        cannot be written (the build goes on without it)."""
        import numpy as np

        from n00bqa.atomic import atomic_write_bytes
        from n00bqa.errors import WriteError

        key = item_key(item, content_hash)
        records = json.dumps([c.to_record() for c in chunks], ensure_ascii=False).encode("utf-8")
        payload = records + np.ascontiguousarray(vectors, dtype="<f4").tobytes()
        header = {"sha256": hashlib.sha256(payload).hexdigest(), "maker": self.maker_key, "item": key,
                  "id": item.id, "source": item.source, "chunks": len(chunks), "records_bytes": len(records)}
        try:
            atomic_write_bytes(self.path(key), json.dumps(header).encode("utf-8") + b"\n" + payload)
        except (WriteError, OSError):
            return False
        return True

    def lock(self, reporter: Any = None, timeout: float = LOCK_TIMEOUT):
        """Take the folder's lock (waiting for another root's build, said on the reporter); returns the
        held lock, or None when it cannot be taken (no writable user cache, or waited `timeout` s)."""
        from filelock import FileLock, Timeout

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.folder / ".lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if reporter is not None:
                    reporter.task("Waiting for another study root to embed the library sources", 0)
                lock.acquire(timeout=timeout)
        except (OSError, Timeout):
            return None
        return lock
