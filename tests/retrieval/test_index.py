"""The index: incremental builds, the manifest check, interrupted and concurrent builds, corrupt files,
and search over a small real corpus (two notes, a duplicate pair and torch's real sparse.py).

The index is built once per session into a shared folder and copied into each test's study root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from support.shared_study import tiny_root

from n00bqa.study import Study

NOTES = {
    "embeddings": """# Embeddings

## Lookup table

An embedding layer is a table with one row per token id. The forward pass only reads the rows of the
tokens in the batch, so the backward pass only writes gradient into those rows: the gradient of the
weight is mostly zero, which is why torch can return it as a sparse tensor.

## Size

A vocabulary of 30522 tokens and width 384 gives 11.7 million parameters.
""",
    "attention": """# Attention

## Scaled dot-product

Queries meet keys in a dot product, divided by the square root of the key width, then a softmax
weights the values. Multi-head attention runs several of these side by side.
""",
    "dup-a": "# Copy\n\nLabel smoothing spreads a little probability mass over every wrong class.\n",
    # one word differs: not the same text, but a look-alike vector (cosine ~0.97)
    "dup-b": "# Copy\n\nLabel smoothing spreads a little probability mass over each wrong class.\n",
}


def _make_root(root: Path) -> None:
    tiny_root(root, NOTES)


@pytest.fixture(scope="session")
def built_root(tmp_path_factory) -> Path:
    """A tiny study root with its index built once for the whole session."""
    root = tmp_path_factory.mktemp("indexed") / "study"
    _make_root(root)
    from n00bqa.retrieval import build_index

    report = build_index(Study(root))
    assert report.changed and not report.items_skipped
    return root


@pytest.fixture
def root(built_root, study_root) -> Path:
    """This test's own copy of the built tiny root (the autouse study_root points N00BQA_ROOT here)."""
    shutil.rmtree(study_root / "corpus")
    shutil.copytree(built_root / "corpus", study_root / "corpus")
    shutil.copytree(built_root / ".n00bqa", study_root / ".n00bqa")
    return study_root


def _index_dir(root: Path) -> Path:
    return root / ".n00bqa" / "index"


def _gen(root: Path) -> Path:
    folder = _index_dir(root)
    return folder / json.loads((folder / "manifest.json").read_text())["generation"]


def test_index_holds_every_item_with_its_chunks(root, study):
    from n00bqa.retrieval import index_status, load_index

    index = load_index(study)
    assert {c.item_id for c in index.chunks} == set(NOTES) | {"torch-embedding"}
    assert index.dense.ntotal == len(index.chunks)
    norms = np.linalg.norm(index.vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    status = index_status(study)
    assert status["up_to_date"] and all(r["state"] == "indexed" for r in status["items"])
    assert sum(r["chunks"] for r in status["items"]) == len(index.chunks)


def test_dense_vectors_equal_sentence_transformers_encode(root, study):
    from n00bqa.retrieval import load_index
    from n00bqa.retrieval.encoder import _sentence_transformer

    index = load_index(study)
    expected = _sentence_transformer().encode([c.embed_text for c in index.chunks[:8]], normalize_embeddings=True)
    np.testing.assert_allclose(index.vectors[:8], expected, atol=1e-5)


def test_no_change_build_reuses_everything(root, study):
    from n00bqa.retrieval import build_index

    before = _gen(root)
    report = build_index(study)
    assert not report.changed and report.chunks_embedded == 0 and report.items_embedded == []
    assert _gen(root) == before


def test_changing_one_note_re_embeds_only_it(root, monkeypatch, study):
    from n00bqa.retrieval import build_index, load_index
    from n00bqa.retrieval import encoder

    old = load_index(study)
    old_vectors = {(c.item_id, c.section, c.lines): old.vectors[i] for i, c in enumerate(old.chunks)}
    seen: list[str] = []
    real = encoder.encode_documents

    def spy(study_, texts, reporter=None, group_sizes=None):
        seen.extend(texts)
        return real(study_, texts, reporter, group_sizes)

    monkeypatch.setattr(encoder, "encode_documents", spy)
    note = root / "corpus" / "notes" / "attention.md"
    note.write_text(note.read_text() + "\n## Masks\n\nA causal mask hides the future tokens from each position.\n")
    report = build_index(study)
    assert report.changed and report.items_embedded == ["attention"]
    assert set(report.items_reused) == set(NOTES) - {"attention"} | {"torch-embedding"}
    new = load_index(study)
    attention_chunks = [c for c in new.chunks if c.item_id == "attention"]
    assert len(seen) == len(attention_chunks) == report.chunks_embedded
    assert any("causal mask" in c.text for c in attention_chunks)
    for i, c in enumerate(new.chunks):  # reused vectors are the very same numbers
        if c.item_id != "attention":
            np.testing.assert_array_equal(new.vectors[i], old_vectors[(c.item_id, c.section, c.lines)])


def test_manifest_mismatch_says_rebuild(root, study):
    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import load_index

    path = _index_dir(root) / "manifest.json"
    manifest = json.loads(path.read_text())
    for key, value in (("chunker_version", -1), ("model", "other-model"), ("dim", 768)):
        path.write_text(json.dumps({**manifest, key: value}))
        with pytest.raises(RetrievalIndexError, match="rebuild with: n00bqa index build --rebuild") as err:
            load_index(study)
        assert repr(value) in str(err.value)


def test_interrupted_build_leaves_the_previous_index_usable(root, study):
    from n00bqa.retrieval import build_index, load_index, search

    before = _gen(root)
    (root / "corpus" / "notes" / "embeddings.md").write_text(NOTES["embeddings"] + "\nA new paragraph.\n")
    with pytest.raises(KeyboardInterrupt):
        build_index(study, _fail_after_embed=True)
    assert _gen(root) == before
    passages = search(study, "label smoothing probability mass", k=2, mode="lexical")
    assert passages and passages[0].source.startswith("corpus/notes/dup-")
    assert len(load_index(study).chunks) > 0
    # and the next build finishes the job
    report = build_index(study)
    assert report.items_embedded == ["embeddings"]


def test_killed_build_leftovers_are_ignored_and_cleaned(root, study):
    from n00bqa.retrieval import build_index, load_index

    leftover = _index_dir(root) / ".tmp-gen-killed"
    leftover.mkdir()
    (leftover / "chunks.json").write_text("[half")
    load_index(study)
    (root / "corpus" / "notes" / "attention.md").write_text(NOTES["attention"] + "\nMore.\n")
    build_index(study)
    assert not leftover.exists()
    assert [p.name for p in _index_dir(root).iterdir() if p.name.startswith("gen-")] == [_gen(root).name]


@pytest.mark.parametrize("victim", ["manifest.json", "chunks.json", "dense.faiss", "missing dense.faiss"])
def test_corrupt_or_missing_file_is_one_clear_error(root, victim, study):
    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import load_index

    if victim == "manifest.json":
        path = _index_dir(root) / victim
        path.write_text("{not json")
    elif victim.startswith("missing"):
        path = _gen(root) / victim.split()[1]
        path.unlink()
    else:
        path = _gen(root) / victim
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(RetrievalIndexError) as err:
        load_index(study)
    message = str(err.value)
    assert str(path) in message and "n00bqa index build" in message and "\n" not in message
    result = CliRunner().invoke(__import__("n00bqa.cli", fromlist=["app"]).app, ["search", "embedding"])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Error:" in result.output


def test_missing_index_says_build(study_root, study):
    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import load_index

    with pytest.raises(RetrievalIndexError, match="build it with: n00bqa index build"):
        load_index(study)


def test_concurrent_build_refuses_clearly(root, study):
    from filelock import FileLock

    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import build_index

    held = FileLock(str(_index_dir(root) / "build.lock"))
    with held:
        events = []

        class Recorder:
            def task(self, description, total):
                events.append((description, total))
                return lambda n=1: None

        with pytest.raises(RetrievalIndexError, match="another `n00bqa index build` holds"):
            build_index(study, lock_timeout=0.2, reporter=Recorder())
        assert events == [("Waiting for another index build to finish", 0)]
    assert not build_index(study).changed  # once released, builds run again


def test_search_modes_and_duplicates(root, study):
    from n00bqa.errors import AskError
    from n00bqa.retrieval import search

    for mode in ("dense", "lexical", "hybrid"):
        passages = search(study, "label smoothing spreads probability over wrong classes", k=3, mode=mode)
        sources = [p.source for p in passages]
        # the two look-alike notes are one passage, not two
        assert sum(s.startswith("corpus/notes/dup-") for s in sources) == 1, (mode, sources)
        assert all(set(p.to_dict()) == {"source", "title", "section", "lines", "text", "score"} for p in passages)
    with pytest.raises(AskError):
        search(study, "   ")
    with pytest.raises(AskError):
        search(study, "x", mode="fuzzy")


def test_look_alikes_are_collapsed_by_vector(root, study):
    from n00bqa.retrieval import load_index
    from n00bqa.retrieval.search import DUPLICATE_COSINE, _distinct

    index = load_index(study)
    a, b = (next(i for i, c in enumerate(index.chunks) if c.item_id == note) for note in ("dup-a", "dup-b"))
    assert index.chunks[a].text != index.chunks[b].text
    cosine = float(index.vectors[a] @ index.vectors[b])
    assert DUPLICATE_COSINE <= cosine < 0.999
    assert [p.item_id for p in _distinct(index, [(a, 1.0), (b, 0.9)], 5)] == ["dup-a"]
    other = next(i for i, c in enumerate(index.chunks) if c.item_id == "attention")
    assert [p.item_id for p in _distinct(index, [(a, 1.0), (other, 0.9)], 5)] == ["dup-a", "attention"]


def test_added_item_is_indexed_by_the_next_build(root, tmp_path, study):
    from n00bqa.cli import app
    from n00bqa.retrieval import build_index, search

    page = tmp_path / "dropout.md"
    page.write_text("# Dropout\n\nDropout zeroes a random tenth of the activations while training.\n")
    runner = CliRunner()
    assert runner.invoke(app, ["corpus", "add", str(page)]).exit_code == 0
    rows = json.loads(runner.invoke(app, ["corpus", "list", "--json"]).output)
    assert next(r for r in rows if r["id"] == "dropout")["state"] == "new"
    report = build_index(study)
    assert report.items_embedded == ["dropout"]
    rows = json.loads(runner.invoke(app, ["corpus", "list", "--json"]).output)
    assert next(r for r in rows if r["id"] == "dropout") | {"size": None} == {
        **next(r for r in rows if r["id"] == "dropout"), "state": "indexed", "chunks": 1, "size": None}
    assert search(study, "dropout random activations", k=1)[0].source == "corpus/added/dropout.md"


def test_cli_search_json_cites_torch_embedding(root):
    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["search", "why is the embedding gradient sparse", "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["query"] == "why is the embedding gradient sparse"
    torch_hits = [p for p in data["passages"] if p["source"] == "torch/nn/modules/sparse.py"]
    assert torch_hits and any(p["section"].startswith("Embedding") for p in torch_hits)
    import torch

    source_lines = (Path(torch.__file__).parent / "nn/modules/sparse.py").read_text().splitlines()
    hit = torch_hits[0]
    start, end = map(int, hit["lines"].split("-"))
    assert hit["text"] == "\n".join(source_lines[start - 1:end])  # the citation points at the real lines
    assert torch.__version__.split("+")[0] in hit["title"]


def test_cli_search_shows_citations_and_versions(root):
    import torch

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["search", "why is the embedding gradient sparse", "-k", "3"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "torch/nn/modules/sparse.py:" in result.output
    assert f"[torch {torch.__version__.split('+')[0]}" in result.output  # brackets are not eaten as markup
    assert result.output.count("╭─") == 3


def test_cli_index_build_and_status(root):
    from n00bqa.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["index", "build", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changed"] is False
    status = runner.invoke(app, ["index", "status", "--json"])
    info = json.loads(status.output)
    assert info["up_to_date"] and info["model"] == "all-MiniLM-L6-v2" and info["dim"] == 384


def test_loading_and_searching_import_no_torch(root):
    # encode_query is stubbed (the real one is swapped for ONNX by the ask path): what is checked
    # is that the index side itself pulls in no torch, transformers or sentence_transformers
    code = (
        "import sys, numpy as np\n"
        "import n00bqa.retrieval.encoder as e\n"
        "e.encode_query = lambda study, t: np.ones(e.DIM, np.float32) / np.sqrt(e.DIM)\n"
        "from n00bqa.retrieval import search, load_index\n"
        "from n00bqa.study import Study\n"
        f"study = Study.find({str(root)!r})\n"
        "load_index(study); search(study, 'embedding gradient', mode='hybrid')\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_minmax_fusion_is_a_convex_combination_of_rescaled_scores():
    from n00bqa.retrieval.search import fuse_scores, hybrid_ranking

    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # cosine: rescaled to 1, 0.5, 0
    lexical = [(3, 12.0), (4, 4.0)]  # BM25: rescaled to 1, 0
    fused = dict(fuse_scores(dense, lexical, alpha=0.3, how="minmax"))
    assert fused[1] == pytest.approx(0.3 * 1.0)
    assert fused[2] == pytest.approx(0.3 * 0.5)
    assert fused[3] == pytest.approx(0.3 * 0.0 + 0.7 * 1.0)
    assert fused[4] == pytest.approx(0.0)
    by_top = dict(fuse_scores(dense, lexical, alpha=0.5, how="max"))
    assert by_top[2] == pytest.approx(0.5 * 0.7 / 0.9) and by_top[4] == pytest.approx(0.5 * 4.0 / 12.0)
    assert [i for i, _ in hybrid_ranking(dense, lexical, fusion="minmax", alpha=0.3)][:2] == [3, 1]
    # rrf: 1/(k + rank) per ranking, weighted
    rrf = dict(hybrid_ranking(dense, lexical, fusion="rrf", rrf_k=10, dense_weight=1.0, lexical_weight=2.0))
    assert rrf[3] == pytest.approx(1 / 13 + 2 / 11)


def test_search_rejects_an_unknown_fusion(study):
    from n00bqa.errors import AskError
    from n00bqa.retrieval.search import search

    with pytest.raises(AskError, match="'borda'"):
        search(study, "attention", fusion="borda", index=object())


def test_build_skips_a_missing_note_and_an_unreadable_file_and_indexes_the_rest(root, study, monkeypatch):
    """`n00bqa index build` with a note never written, a damaged PDF and a file it may not read:
    each is named on stderr, the rest is indexed, exit 0, no traceback."""
    from n00bqa.cli import app
    from n00bqa.retrieval import load_index

    listing = root / "corpus" / "reading-list.yaml"
    data = yaml.safe_load(listing.read_text())
    data["items"].append({"id": "not-written", "kind": "note", "title": "Not written", "note": "notes/not-written.md"})
    listing.write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "corpus" / "added").mkdir()
    (root / "corpus" / "added" / "damaged.pdf").write_bytes(b"%PDF-1.4 cut short")
    (root / "corpus" / "added" / "locked.md").write_text("# Locked\n\nNobody may read this file.\n")
    (root / "corpus" / "added.yaml").write_text(yaml.safe_dump({"items": [
        {"id": "damaged", "kind": "added", "title": "Damaged", "file": "added/damaged.pdf", "format": "pdf"},
        {"id": "locked", "kind": "added", "title": "Locked", "file": "added/locked.md", "format": "markdown"},
    ]}))
    # no permission to read it (chmod 000 does not stop root, so the refusal is made here)
    from n00bqa import guards

    locked, real_read, real_regular = root / "corpus" / "added" / "locked.md", Path.read_bytes, guards.read_regular

    def read_bytes(path: Path) -> bytes:
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    def read_regular(path: Path, limit: int) -> bytes:  # how an item's bytes are read
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_regular(path, limit)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(guards, "read_regular", read_regular)
    note = root / "corpus" / "notes" / "attention.md"
    note.write_text(note.read_text() + "\nOne more line, so something is embedded.\n")
    result = CliRunner().invoke(app, ["index", "build"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and result.exception is None
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert sorted(line.split(":")[0] for line in skipped) == ["skipped damaged", "skipped locked", "skipped not-written"]
    assert "corpus/notes/not-written.md is not written yet" in result.stderr
    assert "cannot read the PDF of item 'damaged'" in result.stderr and "Permission denied" in result.stderr
    assert "Indexed" in result.stdout and "embedded" in result.stdout
    index = load_index(study)
    assert {c.item_id for c in index.chunks} == set(NOTES) | {"torch-embedding"}
    assert any("One more line" in c.text for c in index.chunks)


def _add_by_hand(root: Path, files: dict[str, bytes]) -> None:
    """Copies in corpus/added/ listed in added.yaml without `corpus add` (which refuses some of them)."""
    added = root / "corpus" / "added"
    added.mkdir(exist_ok=True)
    entries = []
    for name, data in files.items():
        (added / name).write_bytes(data)
        fmt = {"md": "markdown", "txt": "text"}[name.rsplit(".", 1)[1]]
        entries.append({"id": name.rsplit(".", 1)[0], "kind": "added", "title": name, "file": f"added/{name}", "format": fmt})
    (root / "corpus" / "added.yaml").write_text(yaml.safe_dump({"items": entries}))


def test_an_empty_item_is_not_re_embedded_by_every_build(root, study):
    from n00bqa.retrieval import build_index

    _add_by_hand(root, {"empty.md": b""})
    first = build_index(study)
    assert first.changed and first.items_embedded == ["empty"] and first.chunks_embedded == 0
    gen = _gen(root)
    for _ in range(2):
        again = build_index(study)
        assert not again.changed and "empty" in again.items_reused and again.items_embedded == []
        assert _gen(root) == gen  # nothing rewritten


def test_a_binary_copy_is_skipped_never_indexed_as_garbage_and_never_rewrites_the_index(root, study):
    from n00bqa.retrieval import build_index, index_status, load_index

    _add_by_hand(root, {"blob.txt": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64})
    report = build_index(study)
    assert "NUL byte" in report.items_skipped["blob"] and "n00bqa corpus remove blob" in report.items_skipped["blob"]
    assert not report.changed  # only an unreadable item was new: the index stands as it was
    assert "blob" not in {c.item_id for c in load_index(study).chunks}
    assert next(r for r in index_status(study)["items"] if r["id"] == "blob")["state"] in ("new", "unreadable")


def test_killed_build_leftovers_are_cleaned_even_when_nothing_changed(root, study):
    from n00bqa.retrieval import build_index

    leftover = _index_dir(root) / ".tmp-gen-20250101T000000-1-2"
    leftover.mkdir()
    (leftover / "chunks.json").write_text("[half")
    report = build_index(study)
    assert not report.changed and not leftover.exists()


def test_index_status_on_a_corrupt_manifest_reports_it(root, study):
    from n00bqa.cli import app

    (_index_dir(root) / "manifest.json").write_text('{"generation": 3}')
    result = CliRunner().invoke(app, ["index", "status", "--json"])
    assert result.exit_code == 1, result.output  # not usable
    info = json.loads(result.output)
    assert not info["up_to_date"] and "is corrupt" in info["problems"][0]
