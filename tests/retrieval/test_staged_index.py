"""A first ask answers from the notes and indexes the library after: the pending items are named,
and the finished index is a full build's, file for file. Chunks are read from chunks.json lazily."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.shared_study import tiny_root

from n00bqa.study import Study

runner = CliRunner()
NOTES = {
    "embeddings": "# Embeddings\n\n## Lookup table\n\nAn embedding layer is a table with one row per token id; the "
                  "backward pass writes gradient only into the rows of the tokens in the batch.\n",
    "attention": "# Attention\n\n## Scaled dot-product\n\nQueries meet keys in a dot product divided by the square "
                 "root of the key width, then a softmax weights the values.\n",
}


def make_root(root: Path) -> Study:
    tiny_root(root, NOTES, library_at=1)  # between the notes: order must survive staging
    return Study(root)


def index_files(root: Path) -> tuple[dict, dict[str, bytes]]:
    folder = root / ".n00bqa" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    return manifest, {name: (folder / manifest["generation"] / name).read_bytes() for name in manifest["files"]}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """The reference: the same root built in one go."""
    from n00bqa.retrieval import build_index

    root = tmp_path_factory.mktemp("rebuilt") / "study"
    build_index(make_root(root), rebuild=True)
    return root


def test_a_staged_build_leaves_the_library_pending_then_equals_a_full_build(tmp_path, rebuilt):
    from n00bqa.retrieval import build_index, index_status, load_index

    study = make_root(tmp_path / "staged")
    first = build_index(study, later=("library",))
    assert first.items_pending == ["torch-embedding"] and set(first.items_embedded) == set(NOTES)
    index = load_index(study)
    assert index.manifest["pending"] == ["torch-embedding"]
    assert {c.item_id for c in index.chunks} == set(NOTES)
    status = index_status(study)
    assert status["pending"] == ["torch-embedding"] and not status["up_to_date"]
    assert {r["id"]: r["state"] for r in status["items"]}["torch-embedding"] == "pending"
    assert not build_index(study, later=("library",)).changed  # staged again: nothing new to do
    done = build_index(study)
    assert done.items_embedded == ["torch-embedding"] and done.items_pending == []
    assert set(done.items_reused) == set(NOTES)
    manifest, files = index_files(study.root)
    full_manifest, full_files = index_files(rebuilt)
    assert manifest["items"] == full_manifest["items"] and manifest["pending"] == full_manifest["pending"] == []
    assert files.keys() == full_files.keys()
    for name in files:  # passages, offsets, vectors and BM25, byte for byte
        assert files[name] == full_files[name], name
    assert index_status(study)["up_to_date"]


def test_chunks_are_parsed_when_first_used(rebuilt):
    from n00bqa.retrieval import load_index
    from n00bqa.retrieval.index import ChunkList

    study = Study(rebuilt)
    index = load_index(study)
    assert isinstance(index.chunks, ChunkList) and index.chunks._parsed == {}
    records = json.loads(index_files(rebuilt)[1]["chunks.json"])  # still one JSON list
    assert len(index.chunks) == len(records) == index.dense.ntotal
    assert index.chunks[3].to_record() == records[3] and list(index.chunks._parsed) == [3]
    assert [c.to_record() for c in index.chunks] == records
    assert index.chunks[-1].to_record() == records[-1] and index.chunks[1:3] == [index.chunks[1], index.chunks[2]]
    with pytest.raises(IndexError):
        index.chunks[len(records)]


def test_an_index_written_before_the_offsets_still_loads(tmp_path, rebuilt):
    from n00bqa.retrieval import integrity
    from n00bqa.retrieval.index import CHUNK_OFFSETS, load_index

    root = tmp_path / "old"
    shutil.copytree(rebuilt, root)
    folder = root / ".n00bqa" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / manifest["generation"] / CHUNK_OFFSETS).unlink()
    del manifest["files"][CHUNK_OFFSETS]
    del manifest["pending"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    integrity.forget()
    index = load_index(Study(root))
    assert isinstance(index.chunks, list) and len(index.chunks) == index.dense.ntotal


def test_the_first_ask_answers_from_the_notes_then_completes_the_index(study_root, rebuilt):
    from n00bqa.cli import app

    shutil.rmtree(study_root / "questions")
    shutil.rmtree(study_root / "corpus")
    make_root(study_root)
    result = runner.invoke(app, ["ask", "why does an embedding table get a sparse gradient", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert {p["source"] for p in answer["passages"]} <= {f"corpus/notes/{n}.md" for n in NOTES}
    assert "1 library source is not indexed yet (torch-embedding)" in result.stderr
    assert "the index of the notes (" in result.stderr and "Indexing the 1 library source now" in result.stderr
    assert "The index is complete" in result.stderr
    assert index_files(study_root)[1] == index_files(rebuilt)[1]
    again = runner.invoke(app, ["ask", "why does an embedding table get a sparse gradient", "--json"])
    assert "not indexed yet" not in again.stderr and "Indexing" not in again.stderr


def test_a_full_ask_without_staging_builds_everything(study_root):
    from n00bqa.ask import ask

    shutil.rmtree(study_root / "questions")
    shutil.rmtree(study_root / "corpus")
    study = make_root(study_root)
    answer = ask(study, "why does an embedding table get a sparse gradient")  # the library API: not staged
    assert answer.pending == [] and any("retrieval index" in b for b in answer.built)


def test_the_same_passages_give_the_same_files_in_every_process(tmp_path, rebuilt):
    """bm25s's vocabulary order follows the hash seed; ours follows the passages."""
    import os
    import subprocess
    import sys

    files = []
    for seed in ("1", "2"):
        root = tmp_path / f"seed-{seed}"
        make_root(root)
        code = f"from n00bqa.retrieval import build_index\nfrom n00bqa.study import Study\nbuild_index(Study.find({str(root)!r}))\n"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
        files.append(index_files(root)[1])
    assert files[0] == files[1] == index_files(rebuilt)[1]


def test_search_names_what_a_stopped_first_ask_left_unindexed(study_root, monkeypatch):
    from n00bqa.cli import app
    from n00bqa.retrieval import build_index

    shutil.rmtree(study_root / "questions")
    shutil.rmtree(study_root / "corpus")
    build_index(make_root(study_root), later=("library",))  # what an ask stopped after its answer leaves
    result = runner.invoke(app, ["search", "sparse gradient rows", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pending"] == ["torch-embedding"]
    assert "1 library source not indexed yet (torch-embedding) and not searched" in result.stderr
    build_index(Study(study_root))
    done = runner.invoke(app, ["search", "sparse gradient rows", "--json"])
    assert json.loads(done.stdout)["pending"] == [] and "not indexed yet" not in done.stderr
