"""A second study root of the same user reads the library sources' passages and vectors from the
user cache instead of embedding them (n00bqa.retrieval.shared_vectors): counted by the passages
handed to the encoder, and its index is a full build's, file for file."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from support.shared_study import tiny_root

from n00bqa.study import Study

NOTES = {
    "embeddings": "# Embeddings\n\n## Lookup table\n\nAn embedding layer is a table with one row per token id; the "
                  "backward pass writes gradient only into the rows of the tokens in the batch.\n",
    "attention": "# Attention\n\n## Scaled dot-product\n\nQueries meet keys in a dot product divided by the square "
                 "root of the key width, then a softmax weights the values.\n",
}
LIBRARY = "torch-embedding"


def make_root(root: Path, notes: dict[str, str] = NOTES) -> Study:
    tiny_root(root, notes, library_at=1)
    return Study(root)


def index_files(root: Path) -> dict[str, bytes]:
    folder = root / ".n00bqa" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    return {name: (folder / manifest["generation"] / name).read_bytes() for name in manifest["files"]}


@pytest.fixture
def embedded(monkeypatch) -> list[str]:
    """Every passage handed to the encoder by an index build, in order."""
    from n00bqa.retrieval import encoder

    seen: list[str] = []
    real = encoder.encode_documents

    def spy(study_, texts, reporter=None, group_sizes=None):
        seen.extend(texts)
        return real(study_, texts, reporter, group_sizes)

    monkeypatch.setattr(encoder, "encode_documents", spy)
    return seen


@pytest.fixture
def first_root(tmp_path) -> Study:
    """A first root, fully built: its library source is now in the (test's own) user cache."""
    from n00bqa.retrieval import build_index

    study = make_root(tmp_path / "first")
    report = build_index(study)
    assert report.items_embedded == ["embeddings", LIBRARY, "attention"] and report.items_shared == []
    return study


def library_passages(study: Study) -> list[str]:
    from n00bqa.retrieval import load_index

    return [c.embed_text for c in load_index(study).chunks if c.item_id == LIBRARY]


def note_passages(study: Study) -> list[str]:
    from n00bqa.retrieval import load_index

    return [c.embed_text for c in load_index(study).chunks if c.item_id != LIBRARY]


def test_a_second_root_embeds_only_its_notes_into_a_full_builds_index(tmp_path, first_root, embedded):
    from n00bqa.retrieval import build_index

    second = make_root(tmp_path / "second")
    report = build_index(second)
    assert report.items_shared == [LIBRARY] and report.items_embedded == ["embeddings", "attention"]
    assert LIBRARY in report.items_reused and report.items_pending == []
    # the encoder saw the notes' passages and not one of the library's
    assert embedded == note_passages(second) and report.chunks_embedded == len(embedded)
    assert not set(embedded) & set(library_passages(second)) and library_passages(second)
    # the same passages, vectors and BM25 as the first root's full build, and as its own rebuild
    assert index_files(second.root) == index_files(first_root.root)
    embedded.clear()
    rebuilt = build_index(second, rebuild=True)  # --rebuild re-embeds everything, the cache unread
    assert rebuilt.items_shared == [] and len(embedded) == rebuilt.chunks_total
    assert index_files(second.root) == index_files(first_root.root)


def test_other_notes_rank_as_in_a_full_build(tmp_path, first_root):
    from n00bqa.retrieval import build_index, search

    notes = {"dropout": "# Dropout\n\n## Training only\n\nDropout zeroes random activations while training and "
                        "scales the rest; at evaluation it does nothing.\n"}
    shared = make_root(tmp_path / "shared", notes)
    assert build_index(shared).items_shared == [LIBRARY]
    full = make_root(tmp_path / "full", notes)
    assert build_index(full, rebuild=True).items_shared == []
    assert index_files(shared.root) == index_files(full.root)
    for query in ("why is the embedding gradient sparse", "dropout at evaluation"):
        assert [p.to_dict() for p in search(shared, query, k=5)] == [p.to_dict() for p in search(full, query, k=5)]


def test_a_staged_first_build_of_a_second_root_leaves_nothing_pending(tmp_path, first_root, embedded):
    from n00bqa.retrieval import build_index

    second = make_root(tmp_path / "second")
    report = build_index(second, later=("library",))  # what the first ask does
    assert report.items_pending == [] and report.items_shared == [LIBRARY]
    assert embedded == note_passages(second)
    assert index_files(second.root) == index_files(first_root.root)


@pytest.mark.parametrize("damage", ["a payload byte", "the header", "truncated", "another item's entry"])
def test_a_damaged_shared_entry_is_embedded_again_and_rewritten(tmp_path, first_root, embedded,
                                                                shared_library_vectors, damage):
    from n00bqa.retrieval import build_index

    (entry,) = shared_library_vectors.glob("*/*.entry")
    sound = entry.read_bytes()
    if damage == "a payload byte":  # same size: only the checksum can tell
        position = len(sound) - 100
        entry.write_bytes(sound[:position] + bytes([sound[position] ^ 1]) + sound[position + 1:])
    elif damage == "the header":
        entry.write_bytes(sound.replace(b'"chunks": ', b'"chunks": 1', 1))
    elif damage == "truncated":
        entry.write_bytes(sound[: len(sound) // 2])
    else:  # a sound entry of another item, copied over this one's name
        header, _, payload = sound.partition(b"\n")
        entry.write_bytes(header.replace(b'"item": "', b'"item": "0', 1) + b"\n" + payload)
    second = make_root(tmp_path / "second")
    report = build_index(second)
    assert report.items_shared == [] and LIBRARY in report.items_embedded
    assert set(library_passages(second)) <= set(embedded)
    assert entry.read_bytes() == sound  # rewritten whole
    assert index_files(second.root) == index_files(first_root.root)


def test_another_title_is_another_entry(tmp_path, first_root, embedded):
    from n00bqa.retrieval import build_index, load_index

    second = make_root(tmp_path / "second")
    path = second.root / "corpus" / "reading-list.yaml"
    data = yaml.safe_load(path.read_text())
    for item in data["items"]:
        if item["id"] == LIBRARY:
            item["title"] = "Embedding and EmbeddingBag"  # every passage cites it
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = build_index(second)
    assert report.items_shared == [] and LIBRARY in report.items_embedded
    chunks = [c for c in load_index(second).chunks if c.item_id == LIBRARY]
    assert chunks and all(c.title.startswith("Embedding and EmbeddingBag [torch ") for c in chunks)


def test_an_unwritable_user_cache_only_means_embedding_everything(tmp_path, monkeypatch, embedded):
    from n00bqa.retrieval import build_index, shared_vectors

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n")
    monkeypatch.setattr(shared_vectors, "cache_root", lambda: blocker / "index")
    study = make_root(tmp_path / "root")
    report = build_index(study)
    assert report.changed and report.items_shared == [] and len(embedded) == report.chunks_total
    assert build_index(make_root(tmp_path / "again")).items_shared == []


def test_a_root_that_waited_for_the_lock_reads_what_the_other_root_wrote(tmp_path, embedded, monkeypatch):
    """The second look, under the lock: the other root embedded the library while this one waited."""
    from n00bqa.retrieval import build_index, shared_vectors

    other = make_root(tmp_path / "other")
    real_lock = shared_vectors.SharedVectors.lock

    def lock_after_the_other_root(self, reporter=None, timeout=shared_vectors.LOCK_TIMEOUT):
        monkeypatch.setattr(shared_vectors.SharedVectors, "lock", real_lock)
        build_index(other)  # runs to its end while "we wait"
        return real_lock(self, reporter, timeout)

    monkeypatch.setattr(shared_vectors.SharedVectors, "lock", lock_after_the_other_root)
    study = make_root(tmp_path / "root")
    report = build_index(study)
    assert report.items_shared == [LIBRARY] and report.items_embedded == ["embeddings", "attention"]
    assert embedded.count(library_passages(study)[0]) == 1  # once, by the other root
    assert index_files(study.root) == index_files(other.root)


def test_two_roots_building_at_once_embed_the_library_once(tmp_path, embedded, shared_library_vectors):
    from n00bqa.retrieval import build_index
    from n00bqa.retrieval.shared_vectors import SharedVectors

    roots = [make_root(tmp_path / name) for name in ("a", "b")]
    reports, errors = {}, []

    def build(study: Study) -> None:
        try:
            reports[study.root.name] = build_index(study)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(study,)) for study in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(len(r.items_shared) for r in reports.values()) == [0, 1]  # one embedded, one read
    library = library_passages(roots[0])
    assert [embedded.count(text) for text in library] == [1] * len(library)
    assert index_files(roots[0].root) == index_files(roots[1].root)
    shared = SharedVectors.open(roots[0])
    assert shared.read(_item(roots[0]), _item(roots[0]).content_hash()) is not None  # the entry is whole


def _item(study: Study):
    from n00bqa.retrieval.corpus import load_items

    return next(item for item in load_items(study) if item.id == LIBRARY)


# --- what a build says on stderr when it is not a terminal -------------------------------------


def test_index_build_says_each_step_in_one_line_when_stderr_is_not_a_terminal(tmp_path, first_root):
    from n00bqa.cli import app
    from n00bqa.retrieval import load_index

    runner = CliRunner()
    make_root(tmp_path / "cold")
    cold = runner.invoke(app, ["--root", str(tmp_path / "cold"), "index", "build", "--rebuild"])
    assert cold.exit_code == 0, cold.output
    total = len(load_index(Study(tmp_path / "cold")).chunks)
    assert cold.stderr.splitlines() == ["Chunking new and changed items (3)", f"Embedding passages ({total:,})",
                                        "Writing the index"]
    second = tmp_path / "second"
    make_root(second)
    warm = runner.invoke(app, ["--root", str(second), "index", "build"])
    assert warm.exit_code == 0, warm.output
    library = len(library_passages(Study(second)))
    assert warm.stderr.splitlines() == [
        f"Reusing {library:,} passages of 1 library source from your user cache",
        "Chunking new and changed items (2)", f"Embedding passages ({total - library:,})", "Writing the index"]
    assert "\r" not in cold.stderr + warm.stderr and "━" not in cold.stderr + warm.stderr


def test_a_first_ask_says_what_it_builds_when_stderr_is_not_a_terminal(study_root, first_root):
    from n00bqa.cli import app

    shutil.rmtree(study_root / "questions")
    shutil.rmtree(study_root / "corpus")
    make_root(study_root)
    result = CliRunner().invoke(app, ["ask", "why does an embedding table get a sparse gradient", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "index: Reusing" in lines[0] and "from your user cache" in lines[0]
    assert [line.split(" (")[0] for line in lines[1:4]] == ["index: Chunking new and changed items",
                                                          "index: Embedding passages", "index: Writing the index"]
    assert "not indexed yet" not in result.stderr and "Indexing the" not in result.stderr  # nothing left for later
    assert json.loads(result.stdout)["passages"]
