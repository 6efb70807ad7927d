"""The retrieval index on disk: build it (incrementally), check it, load it.

Layout, under `<study root>/.n00bqa/index/`:

    manifest.json      written last, atomically: model, dimension, chunker version, each item's
                       content hash and chunk count, the sha256 of every data file, and the name
                       of the generation folder that holds them
    gen-<stamp>/       chunks.json (passages + citation data), dense.faiss (IndexFlatIP over unit
                       vectors), lexical/ (bm25s)
    build.lock         held by the one build allowed at a time

The library sources' passages and vectors are also kept per user, for every root to reuse
(n00bqa.retrieval.shared_vectors, `$XDG_CACHE_HOME/n00bqa/index/`).

A build writes a whole new generation folder and only then replaces manifest.json, so a build
killed half-way leaves the previous manifest pointing at the previous, complete generation.
Loading needs numpy, faiss, bm25s and json only: no torch.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.errors import CorpusError, RetrievalIndexError, WriteError
from n00bqa.reporter import NullReporter
from n00bqa.retrieval import integrity
from n00bqa.retrieval.chunking import CHUNKER_VERSION, Chunk, chunk_markdown, chunk_python, chunk_text
from n00bqa.retrieval.encoder import DIM, MODEL_NAME
from n00bqa.study import Study
from n00bqa.text import lexical_tokens

if TYPE_CHECKING:  # the corpus module (YAML, urllib) is imported by the builders only: loading needs none of it
    from n00bqa.retrieval.corpus import Item

MANIFEST = "manifest.json"
LOCK = "build.lock"
FORMAT_VERSION = 1
REBUILD = "rebuild with: n00bqa index build --rebuild"
LOCK_TIMEOUT = 600.0


def index_dir(study: Study) -> Path:
    """Where this study root keeps its index, `<root>/.n00bqa/index/` (not created here: readers
    of a root they may not write still find it)."""
    return study.state_path("index")


def _sha256_file(path: Path) -> str:
    return integrity.sha256_file(path)


def _expected_model() -> dict:
    return {"model": MODEL_NAME, "dim": DIM, "chunker_version": CHUNKER_VERSION, "format": FORMAT_VERSION}


# --- the loaded index ------------------------------------------------------------------------

# Where each chunk's record starts and ends in chunks.json: (N, 2) int64 byte offsets.
CHUNK_OFFSETS = "chunks.offsets.npy"


def _chunk_records(chunks: Sequence[Chunk]) -> tuple[bytes, np.ndarray]:
    """chunks.json's bytes (a JSON list, one record a line) and each record's (start, end) offsets."""
    records = [json.dumps(c.to_record(), ensure_ascii=False).encode("utf-8") for c in chunks]
    offsets = np.zeros((len(records), 2), dtype=np.int64)
    position = 1  # after "["
    for i, record in enumerate(records):
        offsets[i] = (position, position + len(record))
        position += len(record) + 2  # ",\n"
    return b"[" + b",\n".join(records) + b"]", offsets


class ChunkList(Sequence):
    """An index's chunks, each record parsed from chunks.json when first used: a cold ask reads
    the few dozen passages its rankings reach, not the thousands the file holds (~60 ms of JSON).
    The file's bytes were checked against their sha256 before (data_file_problems)."""

    def __init__(self, data: bytes, offsets: np.ndarray, folder: Path) -> None:
        if offsets.ndim != 2 or offsets.shape[1:] != (2,) or (len(offsets) and int(offsets[-1, 1]) > len(data)):
            raise ValueError("chunk offsets do not fit chunks.json")
        self._data, self._offsets, self._folder = data, offsets, folder
        self._parsed: dict[int, Chunk] = {}

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indexes; IndexError past the end
        chunk = self._parsed.get(i)
        if chunk is None:
            start, end = self._offsets[i]
            try:
                chunk = Chunk.from_record(json.loads(self._data[start:end]))
            except (ValueError, TypeError) as exc:
                raise RetrievalIndexError(f"index folder {str(self._folder)!r} cannot be read (chunk {i}: "
                                          f"{type(exc).__name__}); {REBUILD}") from None
            self._parsed[i] = chunk
        return chunk




@dataclass
class LoadedIndex:
    """An index read from disk: the chunks, their FAISS index and their BM25 index."""

    folder: Path
    manifest: dict
    chunks: Sequence[Chunk]  # a ChunkList: parsed on first use
    dense: object  # faiss.IndexFlatIP
    lexical: object  # bm25s.BM25
    _vectors: np.ndarray | None = field(default=None, repr=False)

    @property
    def vectors(self) -> np.ndarray:
        """(N, dim) unit vectors, read back from the flat FAISS index on first use."""
        if self._vectors is None:
            self._vectors = self.dense.reconstruct_n(0, self.dense.ntotal)
        return self._vectors


_cache: dict[str, LoadedIndex] = {}


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise RetrievalIndexError(f"no retrieval index at {str(folder)!r}; build it with: n00bqa index build")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RetrievalIndexError(f"index file {str(path)!r} is corrupt ({type(exc).__name__}); {REBUILD}") from exc
    except OSError as exc:
        raise RetrievalIndexError(f"index file {str(path)!r} cannot be read ({exc.strerror or exc}); "
                                  "fix its permissions, or rebuild with: n00bqa index build --rebuild") from None
    wrong = _manifest_shape_problem(manifest)
    if wrong:
        raise RetrievalIndexError(f"index file {str(path)!r} is corrupt ({wrong}); {REBUILD}")
    return manifest


def _manifest_shape_problem(manifest: object) -> str:
    """What is wrong with a parsed manifest's shape ("" when nothing): `[]` or a truncated edit
    must say "corrupt", never crash later with an AttributeError."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, not an object"
    generation = manifest.get("generation")
    if not isinstance(generation, str) or not generation.startswith("gen-") or "/" in generation or "\\" in generation:
        return f"generation {generation!r} is not a gen-<stamp> folder name"
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) and ".." not in k
                                              for k, v in files.items()):
        return "'files' is not a mapping of file names to sha256 digests"
    items = manifest.get("items")
    if not isinstance(items, dict) or not all(isinstance(v, dict) and isinstance(v.get("hash"), str)
                                              and isinstance(v.get("chunks"), int) for v in items.values()):
        return "'items' is not a mapping of ids to {hash, chunks}"
    if not isinstance(manifest.get("chunks_total"), int):
        return "'chunks_total' is not a number"
    return ""


def data_file_problems(folder: Path, manifest: dict) -> list[str]:
    """Each data file of the manifest's generation that is missing or whose bytes differ from the
    sha256 recorded at build time ([] when all are sound). Hashes a file only when it changed since
    it was last verified (n00bqa.retrieval.integrity)."""
    problems = []
    gen = manifest["generation"]
    for name, digest in manifest["files"].items():
        path = folder / gen / name
        if not path.is_file():
            problems.append(f"index file {str(path)!r} is missing")
        elif not integrity.matches(folder, f"{gen}/{name}", digest):
            problems.append(f"index file {str(path)!r} is corrupt (checksum differs)")
    return problems


def _check_compatible(manifest: dict, path: Path) -> None:
    expected = _expected_model()
    for key, want in expected.items():
        have = manifest.get(key)
        if have != want:
            raise RetrievalIndexError(
                f"index at {str(path)!r} was built with {key} {have!r}, this n00bqa uses {want!r}; {REBUILD}"
            )


def load_index(study: Study) -> LoadedIndex:
    """Read and check the study root's index (cached per process until the manifest changes).

    Raises RetrievalIndexError naming the missing/corrupt file and the remedy, or saying
    "rebuild" when the index was made with another model or chunker.
    """
    return _load_folder(index_dir(study))


def _load_folder(folder: Path) -> LoadedIndex:
    generation = _read_manifest(folder).get("generation")
    try:
        return _load(folder)
    except RetrievalIndexError:
        # a build may have swapped generations (and removed the old one) while we read: retry once
        if _read_manifest(folder).get("generation") == generation:
            raise
        return _load(folder)


def _load(folder: Path) -> LoadedIndex:
    manifest = _read_manifest(folder)
    _check_compatible(manifest, folder / MANIFEST)
    # verified before every use, the cached index too (a stat per file while nothing changed)
    problems = data_file_problems(folder, manifest)
    if problems:
        raise RetrievalIndexError(f"{problems[0]}; {REBUILD}")
    key = f"{folder}:{manifest['generation']}:{manifest.get('built_at')}"
    if key in _cache:
        return _cache[key]
    gen = folder / manifest["generation"]
    # numpy-only readers: importing bm25s (~1 s, scipy) and faiss (~0.2 s) is most of a cold ask
    from n00bqa.retrieval import bm25_arrays, flat_arrays

    try:
        if CHUNK_OFFSETS in manifest["files"]:
            chunks: Sequence[Chunk] = ChunkList((gen / "chunks.json").read_bytes(),
                                                np.load(gen / CHUNK_OFFSETS, allow_pickle=False), gen)
        else:  # an index written before the offsets: every record parsed now
            chunks = [Chunk.from_record(r) for r in json.loads((gen / "chunks.json").read_text(encoding="utf-8"))]
        dense = flat_arrays.load((gen / "dense.faiss").read_bytes())
        lexical = bm25_arrays.load(gen / "lexical") if chunks else None
    except Exception as exc:  # noqa: BLE001 - any parse failure of our own files is "corrupt"
        raise RetrievalIndexError(f"index folder {str(gen)!r} cannot be read ({type(exc).__name__}); {REBUILD}") from exc
    if dense.ntotal != len(chunks) or dense.d != manifest["dim"]:
        raise RetrievalIndexError(f"index folder {str(gen)!r} is inconsistent ({dense.ntotal} vectors, "
                                  f"{len(chunks)} chunks); {REBUILD}")
    loaded = LoadedIndex(folder, manifest, chunks, dense, lexical)
    _cache.clear()
    _cache[key] = loaded
    return loaded


# --- building --------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What a build did. `changed` is False when the index was already up to date."""

    index_dir: str
    items_total: int
    items_embedded: list[str]
    items_reused: list[str]
    items_removed: list[str]
    items_skipped: dict[str, str]  # id -> why it could not be read
    chunks_total: int
    chunks_embedded: int
    seconds: float
    changed: bool
    items_pending: list[str] = field(default_factory=list)  # left for a later build (build_index's `later`)
    # read from the user's shared library vectors (n00bqa.retrieval.shared_vectors), not embedded; also
    # counted in items_reused
    items_shared: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def chunk_item(item: Item) -> list[Chunk]:
    """Read one item and cut it into chunks."""
    from n00bqa.retrieval.corpus import item_text

    text = item_text(item)
    title = item.display_title
    if item.format == "python":
        # the short source path (torch/nn/modules/sparse.py) labels library chunks: it is what
        # a learner types, and it leaves more of the 256-token window to the code
        return chunk_python(item.id, item.source, title, text, label=item.source)
    if item.format in ("markdown", "html", "pdf"):
        return chunk_markdown(item.id, item.source, title, text)
    return chunk_text(item.id, item.source, title, text)


def _lock(folder: Path, timeout: float, reporter):
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / LOCK))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            reporter.task("Waiting for another index build to finish", 0)
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise RetrievalIndexError(
                    f"another `n00bqa index build` holds {str(folder / LOCK)!r} (waited {timeout:g} s); "
                    "wait for it to finish, then run the build again"
                ) from None
    except OSError as exc:  # a read-only index folder: the lock file cannot even be opened
        raise WriteError(f"cannot write {str(folder / LOCK)!r}: {exc.strerror or exc}; make the study root "
                         "writable to build its index") from None
    return lock


def _previous(folder: Path) -> tuple[dict | None, dict[str, tuple[list[Chunk], np.ndarray]]]:
    """The old manifest and, per item, its chunks and vectors, if the old index can be reused."""
    try:
        old = _load_folder(folder)
    except RetrievalIndexError:
        return None, {}
    by_item: dict[str, list[int]] = {}
    for i, chunk in enumerate(old.chunks):
        by_item.setdefault(chunk.item_id, []).append(i)
    vectors = old.vectors
    return old.manifest, {item_id: ([old.chunks[i] for i in ids], vectors[ids]) for item_id, ids in by_item.items()}


def build_index(study: Study, rebuild: bool = False, reporter=None, lock_timeout: float = LOCK_TIMEOUT,
                later: Collection[str] = (), _fail_after_embed: bool = False) -> BuildReport:
    """Build or update the index of the study root's reading list.

    Only items whose content hash changed (or that are new) are chunked and embedded again;
    `rebuild=True` re-embeds everything. Items whose file is missing (a note not written yet, a
    package not installed) are skipped and listed in the report. Library sources that another
    study root of this user has embedded with the same model (the same files, the same installed
    versions) are read from the user cache instead (n00bqa.retrieval.shared_vectors), and never left
    pending: a second root's first build embeds its notes only, into the index a full build makes.

    Args:
        study: the study root: its corpus is read, its `.n00bqa/index/` written.
        rebuild: ignore the existing index and the user's shared library vectors (re-embed
            everything; what is embedded is shared again).
        reporter: optional progress reporter (n00bqa.reporter): chunking, embedding, writing.
        lock_timeout: seconds to wait for another build's lock before giving up.
        later: item kinds (e.g. "library") not to embed in this build unless the index already
            holds them unchanged: they are listed as pending in the manifest (and the report), and
            the next build without `later` embeds them. The finished index equals a full build's:
            the same passages in reading-list order, the same vectors to the bit (each item's are
            embedded on their own, encoder.encode_documents), the same BM25.
    """
    started = time.perf_counter()
    reporter = reporter or NullReporter()
    folder = study.state_dir("index")
    lock = _lock(folder, lock_timeout, reporter)
    shared_lock = None  # the user cache's, held while library sources are embedded (shared_vectors)
    try:
        _clean_killed_builds(folder)  # even when nothing else changes
        from n00bqa.retrieval.corpus import load_items

        items = load_items(study)
        hashes: dict[str, str] = {}
        skipped: dict[str, str] = {}
        for item in items:
            try:
                hashes[item.id] = item.content_hash()
            except CorpusError as exc:
                skipped[item.id] = str(exc)
        old_manifest, old = (None, {}) if rebuild else _previous(folder)
        old_items = (old_manifest or {}).get("items", {})
        old_hashes = {k: v["hash"] for k, v in old_items.items()}
        # an unchanged item that gave no passages (an empty file) is reused as it is, not re-read every build
        reuse = [i for i in hashes if old_hashes.get(i) == hashes[i] and (i in old or old_items[i]["chunks"] == 0)]
        kinds = {item.id: item.kind for item in items}
        by_id = {item.id: item for item in items}
        # library sources another root of this user has embedded already: read, not embedded (never
        # when rebuilding, which re-embeds everything and refreshes what it shares)
        wanted = [by_id[i] for i in hashes if kinds[i] in SHARED_KINDS and i not in reuse]
        shared = _open_shared(study, reporter) if wanted else None
        from_shared = shared.read_many(wanted, hashes, reporter) if shared is not None and not rebuild else {}
        pending = [i for i in hashes if kinds[i] in later and i not in reuse and i not in from_shared]
        for item_id in pending:
            hashes.pop(item_id)
        todo = [i for i in hashes if i not in reuse and i not in from_shared]
        removed = sorted(set(old_hashes) - set(hashes))
        if (old_manifest is not None and not todo and not from_shared and not removed
                and list(old_manifest.get("pending") or []) == pending):
            return BuildReport(str(folder), len(items), [], reuse, [], skipped, int(old_manifest["chunks_total"]), 0,
                               time.perf_counter() - started, False, pending)
        if shared is not None and any(kinds[i] in SHARED_KINDS for i in todo):
            # about to embed library sources: one root at a time, and what another root wrote while
            # this one waited is read, not embedded again
            shared_lock = shared.lock(reporter)
            if shared_lock is not None and not rebuild:
                late = shared.read_many([by_id[i] for i in todo if kinds[i] in SHARED_KINDS], hashes, reporter)
                from_shared.update(late)
                todo = [i for i in todo if i not in late]
        new_chunks: dict[str, list[Chunk]] = {}
        advance = reporter.task("Chunking new and changed items", len(todo)) if todo else (lambda n=1: None)
        for item_id in todo:
            try:
                new_chunks[item_id] = chunk_item(by_id[item_id])
            except CorpusError as exc:
                skipped[item_id] = str(exc)
                hashes.pop(item_id)
            advance(1)
        removed = sorted(set(old_hashes) - set(hashes))
        if (old_manifest is not None and not new_chunks and not from_shared and not removed  # only unreadable items "changed"
                and list(old_manifest.get("pending") or []) == pending):
            return BuildReport(str(folder), len(items), [], reuse, [], skipped, int(old_manifest["chunks_total"]), 0,
                               time.perf_counter() - started, False, pending)
        from n00bqa.retrieval.encoder import encode_documents

        flat = [c for item_id in todo if item_id in new_chunks for c in new_chunks[item_id]]
        # one group per item: its vectors do not depend on what else this build embeds
        sizes = [len(new_chunks[item_id]) for item_id in todo if item_id in new_chunks]
        new_vectors = encode_documents(study, [c.embed_text for c in flat], reporter=reporter, group_sizes=sizes)
        embedded: dict[str, np.ndarray] = {}
        offset = 0
        for item_id in todo:
            if item_id in new_chunks:
                embedded[item_id] = new_vectors[offset:offset + len(new_chunks[item_id])]
                offset += len(new_chunks[item_id])
        if shared is not None:  # kept for the user's other roots (best effort: a full cache only costs time)
            for item_id in embedded:
                if kinds[item_id] in SHARED_KINDS:
                    shared.write(by_id[item_id], hashes[item_id], new_chunks[item_id], embedded[item_id])
        if _fail_after_embed:  # tests: an interruption after the expensive part
            raise KeyboardInterrupt
        # assemble in reading-list order
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        for item in items:
            if item.id in reuse:
                c, v = old.get(item.id, ([], np.zeros((0, DIM), np.float32)))
            elif item.id in new_chunks:
                c, v = new_chunks[item.id], embedded[item.id]
            elif item.id in from_shared:
                c, v = from_shared[item.id]
            else:
                continue
            chunks.extend(c)
            parts.append(v)
        vectors = np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros((0, DIM), np.float32), dtype=np.float32)
        advance = reporter.task("Writing the index", 1)
        _write_generation(folder, chunks, vectors, items, hashes, pending)
        advance(1)
        return BuildReport(str(folder), len(items), [i for i in todo if i in new_chunks],
                           reuse + [i for i in hashes if i in from_shared], removed, skipped, len(chunks), len(flat),
                           time.perf_counter() - started, True, pending, [i for i in hashes if i in from_shared])
    finally:
        if shared_lock is not None:
            shared_lock.release()
        lock.release()


SHARED_KINDS = ("library",)  # items shared per user (shared_vectors): the same files in every root


def _open_shared(study: Study, reporter):
    """The user's shared library vectors for the model this root embeds with."""
    from n00bqa.retrieval.shared_vectors import SharedVectors

    return SharedVectors.open(study, reporter)


def _write_generation(folder: Path, chunks: list[Chunk], vectors: np.ndarray, items: list[Item], hashes: dict,
                      pending: Sequence[str] = ()) -> dict:
    import faiss

    from n00bqa.retrieval.bm25_arrays import import_bm25s

    bm25s = import_bm25s()  # never JAX's top-k (see import_bm25s)
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.perf_counter_ns() % 10**6}"
    gen = folder / f"gen-{stamp}"
    tmp = folder / f".tmp-gen-{stamp}"
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise WriteError(f"cannot write {str(tmp)!r}: {exc.strerror or exc}; check the folder's permissions "
                         "and free space") from None
    try:
        data, offsets = _chunk_records(chunks)
        atomic_write_bytes(tmp / "chunks.json", data)
        buffer = io.BytesIO()
        np.save(buffer, offsets)
        atomic_write_bytes(tmp / CHUNK_OFFSETS, buffer.getvalue())
        dense = faiss.IndexFlatIP(DIM)
        if len(vectors):
            dense.add(vectors)
        atomic_write_bytes(tmp / "dense.faiss", faiss.serialize_index(dense).tobytes())
        files = ["chunks.json", CHUNK_OFFSETS, "dense.faiss"]
        if chunks:
            retriever = bm25s.BM25()
            # word ids in order of first appearance: bm25s's own vocabulary comes from a set, whose order
            # changes with each process's hash seed; the same passages must give the same files
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(t, len(vocab)) for t in (lexical_tokens(c.embed_text) or ["_"])] for c in chunks]
            retriever.index((ids, vocab), show_progress=False)
            retriever.save(str(tmp / "lexical"), show_progress=False)
            files += [f"lexical/{p.name}" for p in sorted((tmp / "lexical").iterdir())]
        os.replace(tmp, gen)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk mid-write: one line, the previous index still stands
            raise WriteError(f"cannot write {str(tmp)!r}: {exc.strerror or exc}; check the folder's "
                             "permissions and free space (the previous index is unchanged)") from None
        raise
    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.item_id] = counts.get(c.item_id, 0) + 1
    by_id = {item.id: item for item in items}
    manifest = {
        **_expected_model(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "generation": gen.name,
        "chunks_total": len(chunks),
        "pending": list(pending),  # items left for the next build (a first ask indexes the notes first)
        "items": {
            item_id: {"hash": digest, "chunks": counts.get(item_id, 0), "kind": by_id[item_id].kind,
                      "source": by_id[item_id].source, "version": by_id[item_id].version}
            for item_id, digest in hashes.items()
        },
        "files": {name: _sha256_file(gen / name) for name in files},
    }
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1))
    # older generations and leftovers of killed builds (we hold the lock, nobody else writes)
    for old in folder.iterdir():
        if old.is_dir() and old.name != gen.name and (old.name.startswith("gen-") or old.name.startswith(".tmp-gen-")):
            shutil.rmtree(old, ignore_errors=True)
    integrity.record(folder, {f"{gen.name}/{name}": digest for name, digest in manifest["files"].items()})
    return manifest


def _clean_killed_builds(folder: Path) -> list[str]:
    """Remove `.tmp-gen-*` folders of builds killed mid-write (call with the build lock held: no
    live build owns one then). Returns the names removed."""
    removed = []
    for leftover in folder.glob(".tmp-gen-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover.name)
    return removed


def index_status(study: Study) -> dict:
    """What is indexed, and what in the corpus is new, changed or unreadable since the build."""
    folder = index_dir(study)
    status: dict = {"index_dir": str(folder), "exists": (folder / MANIFEST).is_file(), "problems": []}
    from n00bqa.retrieval.corpus import load_items

    items = load_items(study)
    manifest: dict = {}
    if status["exists"]:
        try:
            manifest = _read_manifest(folder)
        except RetrievalIndexError as exc:  # a corrupt manifest is reported, not raised
            status["compatible"], status["problem"] = False, str(exc)
            status["problems"].append(str(exc))
    if manifest:
        status.update({k: manifest.get(k) for k in ("model", "dim", "chunker_version", "built_at", "chunks_total")})
        try:
            _check_compatible(manifest, folder / MANIFEST)
            status["compatible"] = True
        except RetrievalIndexError as exc:
            status["compatible"], status["problem"] = False, str(exc)
        # the data files, checked as search checks them before trusting them
        damaged = data_file_problems(folder, manifest)
        if damaged:
            status["problems"] += [f"{p}; {REBUILD}" for p in damaged]
            if status.get("compatible"):
                status["compatible"], status["problem"] = False, status["problems"][0]
    indexed = manifest.get("items", {})
    pending = set(manifest.get("pending") or [])
    status["pending"] = [item.id for item in items if item.id in pending and item.id not in indexed]
    rows = []
    for item in items:
        entry = indexed.get(item.id)
        try:
            digest = item.content_hash()
        except CorpusError:
            digest = None
        if digest is None:
            state = "unreadable"
        elif entry is None:
            state = "pending" if item.id in pending else "new"  # pending: left for the next build
        elif entry["hash"] != digest:
            state = "changed"
        elif not status.get("compatible"):
            state = "stale"  # built by another model or chunker version
        else:
            state = "indexed"
        rows.append({"id": item.id, "kind": item.kind, "title": item.title, "source": item.source,
                     "size": item.size(), "chunks": entry["chunks"] if entry else 0, "state": state,
                     "version": item.version, "problem": item.problem})
    status["items"] = rows
    # the other state files the README promises are checked: the ONNX export every query goes through
    # (a damaged one makes the index unusable until it is made again), and the question vectors
    from n00bqa.retrieval.encoder import export_dir, export_problem

    try:
        export = export_problem(study)
    except Exception as exc:  # noqa: BLE001 - e.g. the bundled model package missing: named, not raised
        export = str(exc)
    status["export"] = export or "ok"
    if export not in (None, "missing"):
        status["problems"].append(f"the ONNX export in {str(export_dir(study))!r} cannot be used: {export}; the next "
                                  "ask or search makes it again (or run: n00bqa index build --rebuild)")
    status["notes"] = _vector_problems(study)
    status["usable"] = bool(status["exists"] and status.get("compatible") and not status["problems"])
    status["up_to_date"] = bool(status["usable"] and all(r["state"] in ("indexed", "unreadable") for r in rows)
                                and not (set(indexed) - {r["id"] for r in rows}))
    return status


def _vector_problems(study: Study) -> list[str]:
    """Question-vector caches whose file differs from the checksum recorded with it (the next ask
    embeds them again; they are never used as they are)."""
    found = []
    for name in ("routing", "remembered"):
        folder = study.state_path(name)
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # none yet, or unreadable: made again by the next ask either way
        if (isinstance(manifest, dict) and (folder / "vectors.npy").is_file()
                and not integrity.matches(folder, "vectors.npy", manifest.get("sha256"))):
            found.append(f"{str(folder / 'vectors.npy')!r} differs from the checksum recorded when it was written; "
                         "it is not used, and the next ask embeds those questions again")
    return found
