"""Retrieval over the reading list: corpus loading, chunking, the encoder, the index, search.

The public API (used by `ask`, the CLI and the browser); every call names its study root:

    search(study, query, k=5, mode="hybrid") -> list[Passage]   # Passage.to_dict(): source, title,
                                                                 # section, lines, text, score
    build_index(study, rebuild=False, reporter=None) -> BuildReport
    index_status(study) -> dict
    load_index(study) -> LoadedIndex

Building uses the ONNX encoder (no torch), FAISS and bm25s. Loading and searching need numpy only: the
saved FAISS and BM25 files are read by bm25_arrays.py and flat_arrays.py, so a cold `ask` pays
for neither library; the query vector comes from the ONNX export (`encoder.encode_query`).
Nothing heavy is imported by importing this package, and the index module (building, corpus
parsing: YAML, urllib) only when one of its names is first used: a cold `ask` reaches the encoder
and the index files without it.
"""

from n00bqa.errors import RetrievalIndexError
from n00bqa.retrieval.chunking import CHUNKER_VERSION, Chunk
from n00bqa.retrieval.search import MODES, Passage, search

_FROM_INDEX = ("BuildReport", "LoadedIndex", "build_index", "index_status", "load_index")


def __getattr__(name: str):
    if name in _FROM_INDEX:
        from n00bqa.retrieval import index

        return getattr(index, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "search", "Passage", "build_index", "BuildReport", "index_status", "load_index", "LoadedIndex",
    "RetrievalIndexError", "CHUNKER_VERSION", "Chunk", "MODES",
]
