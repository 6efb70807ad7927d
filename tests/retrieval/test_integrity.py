"""State files are checked against the sha256 recorded when they were written (fault campaign,
issue 12 item 1): a same-size overwrite of the ONNX export, the question vectors or an index file
is never used, and the check hashes a file only once per change."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from n00bqa.retrieval import encoder, integrity


@pytest.fixture(autouse=True)
def _fresh_memo():
    integrity.forget()
    yield
    integrity.forget()


def _same_size_overwrite(path, offset: int = 100) -> None:
    """Flip bytes in place: same size, same inode (what a stray `dd conv=notrunc` does)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_a_file_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    (tmp_path / "data.bin").write_bytes(b"x" * 5000)
    digest = integrity.sha256_file(tmp_path / "data.bin")
    integrity.record(tmp_path, {"data.bin": digest})
    calls = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: calls.append(p) or real(p))
    integrity.forget()  # a new process: only the stamp file on disk remembers
    for _ in range(5):
        assert integrity.matches(tmp_path, "data.bin", digest)
    assert calls == []  # the stamp (inode, size, mtime, ctime) matched: never read
    _same_size_overwrite(tmp_path / "data.bin")
    assert not integrity.matches(tmp_path, "data.bin", digest)
    assert len(calls) == 1
    assert not integrity.matches(tmp_path, "data.bin", digest)  # still refused, hashed again
    # mtime put back as it was (touch -r): the ctime still tells
    st = (tmp_path / "data.bin").stat()
    os.utime(tmp_path / "data.bin", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not integrity.matches(tmp_path, "data.bin", digest)


def test_a_file_verified_in_a_read_only_folder_is_remembered_in_process(tmp_path, monkeypatch):
    (tmp_path / "data.bin").write_bytes(b"y" * 100)
    digest = integrity.sha256_file(tmp_path / "data.bin")
    from n00bqa.errors import WriteError

    def refuse(*_a, **_k):
        raise WriteError("cannot write: Permission denied")

    monkeypatch.setattr("n00bqa.atomic.atomic_write_text", refuse)
    assert integrity.matches(tmp_path, "data.bin", digest)  # no stamp file: hashed, write refused quietly
    calls = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: calls.append(p) or real(p))
    assert integrity.matches(tmp_path, "data.bin", digest)
    assert calls == []


# --- the ONNX export --------------------------------------------------------------------------


def _fake_export(study, data: bytes = b"onnx bytes " * 1000) -> None:
    """An export folder whose manifest matches the bundled model (the bytes need not be ONNX here)."""
    folder = study.state_dir("onnx")
    (folder / encoder.MODEL_FILE).write_bytes(data)
    manifest = {**encoder._source_fingerprint(encoder._model_dir()), "onnx_sha256": integrity.sha256_bytes(data)}
    (folder / encoder.MANIFEST_FILE).write_text(json.dumps(manifest))
    integrity.record(folder, {encoder.MODEL_FILE: manifest["onnx_sha256"]})


def test_same_size_overwritten_export_is_not_used(study):
    _fake_export(study)
    assert encoder.is_exported(study)
    _same_size_overwrite(encoder.export_dir(study) / encoder.MODEL_FILE)
    assert not encoder.is_exported(study)
    assert "differs from the checksum" in encoder.export_problem(study)


@pytest.mark.parametrize("manifest", ["[]", "{}", '"text"', "{not json", '{"onnx_sha256": 3}'])
def test_wrong_shape_export_manifest_means_export_again(study, manifest):
    _fake_export(study)
    (encoder.export_dir(study) / encoder.MANIFEST_FILE).write_text(manifest)
    assert encoder.read_manifest(study) is None
    assert not encoder.is_exported(study)


def test_a_corrupt_export_is_rebuilt(study, monkeypatch):
    _fake_export(study)
    _same_size_overwrite(encoder.export_dir(study) / encoder.MODEL_FILE)
    exported = []

    def fake_export(study_, reporter=None, force=False):
        exported.append(True)
        _fake_export(study_)
        return encoder.export_dir(study_) / encoder.MODEL_FILE

    monkeypatch.setattr(encoder, "export", fake_export)
    monkeypatch.setattr(encoder, "_session", lambda *a: "session")
    assert encoder._ready_session(study) == "session"
    assert exported == [True]


def test_a_corrupt_export_that_cannot_be_rebuilt_is_named_with_its_remedy(study, monkeypatch):
    from n00bqa.errors import RetrievalIndexError, WriteError

    _fake_export(study)
    _same_size_overwrite(encoder.export_dir(study) / encoder.MODEL_FILE)

    def refuse(study_, reporter=None, force=False):
        raise WriteError(f"cannot write {str(encoder.export_dir(study_))!r}: Permission denied")

    monkeypatch.setattr(encoder, "export", refuse)
    with pytest.raises(RetrievalIndexError, match="differs from the checksum.*delete") as err:
        encoder._ready_session(study)
    assert str(encoder.export_dir(study)) in str(err.value)


# --- the index's data files -------------------------------------------------------------------


@pytest.fixture
def indexed(study_root, study, tmp_path_factory):
    """This test's own copy of a small built index (the shared one must stay sound)."""
    from support.shared_study import shared_root

    shared = shared_root(tmp_path_factory)
    shutil.copytree(shared / ".n00bqa" / "index", study_root / ".n00bqa" / "index")
    (study_root / ".n00bqa" / ".gitignore").write_text("*\n")
    shutil.copy(shared / "corpus" / "reading-list.yaml", study_root / "corpus" / "reading-list.yaml")
    return study_root / ".n00bqa" / "index"


def _generation(folder):
    return folder / json.loads((folder / "manifest.json").read_text())["generation"]


@pytest.mark.parametrize("victim", ["chunks.json", "dense.faiss", "lexical/vocab.index.json"])
def test_same_size_overwritten_index_file_is_refused_and_status_says_so(indexed, study, victim):
    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import index_status, load_index, search
    from n00bqa.retrieval import index as index_module

    index_module._cache.clear()
    assert index_status(study)["up_to_date"]
    path = _generation(indexed) / victim
    _same_size_overwrite(path, offset=os.path.getsize(path) // 2)
    with pytest.raises(RetrievalIndexError, match="corrupt .checksum differs.*n00bqa index build --rebuild"):
        load_index(study)
    with pytest.raises(RetrievalIndexError, match="corrupt"):
        search(study, "embedding gradient", mode="lexical")
    status = index_status(study)
    assert not status["up_to_date"]
    assert any(victim.split("/")[-1] in p and "corrupt" in p for p in status["problems"])


def test_index_status_reports_a_missing_data_file(indexed, study):
    from n00bqa.retrieval import index_status

    (_generation(indexed) / "dense.faiss").unlink()
    status = index_status(study)
    assert not status["up_to_date"]
    assert any("dense.faiss" in p and "missing" in p for p in status["problems"])


def test_index_status_cli_names_the_damage_and_the_remedy(indexed):
    from typer.testing import CliRunner

    from n00bqa.cli import app

    (_generation(indexed) / "chunks.json").write_text("[]")
    result = CliRunner().invoke(app, ["index", "status"])
    assert result.exit_code == 1, result.output  # not usable: a non-zero exit
    assert "Up to date." not in result.output
    assert "chunks.json" in result.output and "corrupt" in result.output
    assert "n00bqa index build --rebuild" in result.output


@pytest.mark.parametrize("manifest", ["[]", '{"generation": "../../x", "items": {}, "files": {}, "chunks_total": 0}',
                                      '{"generation": "gen-1", "items": [], "files": {}, "chunks_total": 0}',
                                      '{"generation": "gen-1", "items": {}, "files": {"a": 1}, "chunks_total": 0}'])
def test_wrong_shape_index_manifest_is_corrupt_not_a_crash(indexed, study, manifest):
    from n00bqa.errors import RetrievalIndexError
    from n00bqa.retrieval import index_status, load_index

    (indexed / "manifest.json").write_text(manifest)
    with pytest.raises(RetrievalIndexError, match="is corrupt"):
        load_index(study)
    status = index_status(study)
    assert not status["up_to_date"] and "corrupt" in status["problem"]


def test_a_verified_index_is_not_hashed_again(indexed, study, monkeypatch):
    from n00bqa.retrieval import index as index_module
    from n00bqa.retrieval import load_index

    index_module._cache.clear()
    load_index(study)  # verifies (hashing what the copy changed) and stamps
    integrity.forget()
    index_module._cache.clear()
    calls = []
    monkeypatch.setattr(integrity, "sha256_file", lambda p: calls.append(p) or "x")
    load_index(study)
    assert calls == []


def test_index_status_checks_the_onnx_export_and_exits_1_when_it_is_damaged(indexed, study):
    """Issue 25 item 10: a damaged model.onnx makes the index unusable (every query goes through it)."""
    from typer.testing import CliRunner

    from n00bqa.cli import app
    from n00bqa.retrieval import index_status

    _fake_export(study)
    assert index_status(study)["up_to_date"] and index_status(study)["export"] == "ok"
    sound = CliRunner().invoke(app, ["index", "status"])
    assert sound.exit_code == 0 and "Up to date." in sound.stdout
    _same_size_overwrite(encoder.export_dir(study) / encoder.MODEL_FILE)
    integrity.forget()  # a new process
    status = index_status(study)
    assert not status["usable"] and not status["up_to_date"] and "differs from the checksum" in status["export"]
    result = CliRunner().invoke(app, ["index", "status"])
    assert result.exit_code == 1, result.output
    assert "Up to date." not in result.output and "Not usable" in result.output
    assert "ONNX export" in result.output and "differs from the checksum" in result.output
    as_json = CliRunner().invoke(app, ["index", "status", "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["usable"] is False


def test_index_status_names_damaged_question_vectors(indexed, study):
    from n00bqa.retrieval import index_status

    folder = study.state_dir("routing")
    data = b"vectors " * 100
    (folder / "vectors.npy").write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps({"sha256": integrity.sha256_bytes(data)}))
    integrity.record(folder, {"vectors.npy": integrity.sha256_bytes(data)})
    assert index_status(study)["notes"] == []
    _same_size_overwrite(folder / "vectors.npy")
    integrity.forget()
    [note] = index_status(study)["notes"]
    assert "vectors.npy" in note and "next ask embeds" in note
