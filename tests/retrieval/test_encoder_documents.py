"""The index's passages go through the ONNX export too: sentence-transformers' vectors, no torch in
the build, a vector that depends only on its own item, and one export per user and model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.shared_study import link_state, shared_root

from n00bqa.retrieval import encoder
from n00bqa.study import Study


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def passages() -> list[str]:
    words = "attention embedding gradient decoder encoder softmax token layer parameter memory".split()
    short = [" ".join(words[(i * 3 + j) % len(words)] for j in range(2 + i * 5)) for i in range(30)]
    long = ["The encoder reads the whole source sentence once. " * 60, " ".join(f"t{i}" for i in range(700)),
            "def forward(self, x):\n    return self.proj(x)  # (B, T, C) -> (B, T, C)\n" * 20]
    return short + long


def test_document_vectors_equal_sentence_transformers(ready, study):
    texts = passages()
    ours = encoder.encode_documents(study, texts, group_sizes=[10, 10, len(texts) - 20])
    theirs = encoder._sentence_transformer().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())][:60]
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_vector_depends_only_on_its_own_group(ready, study):
    texts = passages()
    alone = encoder.encode_documents(study, texts[:7])
    together = encoder.encode_documents(study, texts[:7] + texts[7:], group_sizes=[7, len(texts) - 7])
    np.testing.assert_array_equal(alone, together[:7])  # to the bit: a staged build equals a full one
    mixed = encoder.encode_documents(study, texts)  # one group: other batch partners, other padding
    assert np.sum(alone * mixed[:7], axis=1).min() >= 0.9999


def test_batches_stay_within_the_token_budget(ready, study, monkeypatch):
    shapes = []
    session = encoder._ready_session(study)

    class Recording:
        def run(self, outputs, feed):
            shapes.append(feed["input_ids"].shape)
            return session.run(outputs, feed)

    monkeypatch.setattr(encoder, "_ready_session", lambda study_, reporter=None: Recording())
    texts = passages()
    encoder.encode_documents(study, texts)
    assert sum(b for b, _ in shapes) == len(texts)
    assert all(b * t <= encoder.DOCUMENT_BATCH_TOKENS or b == 1 for b, t in shapes), shapes
    assert all(b <= encoder.DOCUMENT_BATCH_SIZE for b, _ in shapes)
    assert [t for _, t in shapes] == sorted((t for _, t in shapes), reverse=True)  # longest first


def test_group_sizes_must_cover_the_texts(ready, study):
    with pytest.raises(ValueError, match="do not add up"):
        encoder.encode_documents(study, ["a", "b"], group_sizes=[1])


def test_an_index_build_imports_no_torch(ready, study_root):
    (study_root / ".n00bqa" / "index").unlink()  # this root builds its own index (notes only)
    code = (
        "import sys\n"
        "from n00bqa.retrieval import build_index\n"
        "from n00bqa.study import Study\n"
        f"report = build_index(Study.find({str(study_root)!r}), rebuild=True)\n"
        "assert report.chunks_embedded > 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- one export per user and model -------------------------------------------------------------


@pytest.fixture
def fake_exporter(tmp_path, monkeypatch):
    """A private user cache and an exporter that writes bytes instead of running torch."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []

    def fake(folder, model_dir, reporter=None, weights_sha=None):
        calls.append(folder)
        (folder / encoder.MODEL_FILE).write_bytes(b"onnx bytes " * 100)
        return {**encoder._source_fingerprint(model_dir), "weights_sha256": weights_sha or "x" * 64,
                "onnx_sha256": encoder.integrity.sha256_file(folder / encoder.MODEL_FILE), "versions": {}}

    monkeypatch.setattr(encoder, "_make_export", fake)
    return calls


def make_root(path: Path) -> Study:
    (path / "questions").mkdir(parents=True)
    return Study(path)


def test_two_roots_share_one_export(fake_exporter, tmp_path):
    first, second = make_root(tmp_path / "a"), make_root(tmp_path / "b")
    encoder.export(first)
    encoder.export(second)
    assert len(fake_exporter) == 1  # exported once, for the user
    shared = fake_exporter[0]
    assert shared.parent == tmp_path / "cache" / "n00bqa" / "onnx"
    assert shared.name.startswith(f"{encoder.MODEL_NAME}-") and shared.name.endswith(f"-opset{encoder.OPSET}-v{encoder.EXPORT_FORMAT}")
    for study in (first, second):
        linked = encoder.export_dir(study) / encoder.MODEL_FILE
        assert linked.is_symlink() and linked.resolve() == (shared / encoder.MODEL_FILE).resolve()
        assert encoder.is_exported(study)
        manifest = encoder.read_manifest(study)
        assert manifest["shared_export"] == str(shared)
        assert manifest["weights_sha256"] == encoder.weights_sha256(encoder._weights_file(encoder._model_dir()))


def test_the_shared_export_is_keyed_by_the_model_files_hash(fake_exporter, tmp_path, monkeypatch):
    encoder.export(make_root(tmp_path / "a"))
    monkeypatch.setattr(encoder, "weights_sha256", lambda weights: "f" * 64)  # another model file
    encoder.export(make_root(tmp_path / "b"))
    assert len(fake_exporter) == 2 and fake_exporter[0] != fake_exporter[1]
    assert fake_exporter[1].name == encoder.shared_export_dir("f" * 64).name


def test_a_corrupt_shared_export_is_made_again(fake_exporter, tmp_path):
    first = make_root(tmp_path / "a")
    encoder.export(first)
    shared_file = fake_exporter[0] / encoder.MODEL_FILE
    shared_file.write_bytes(b"ONNX BYTES " * 100)  # same size, other bytes
    assert not encoder.is_exported(first)
    encoder.export(make_root(tmp_path / "b"))
    assert len(fake_exporter) == 2  # never linked as it was


def test_the_model_file_is_hashed_once_per_change(fake_exporter, tmp_path, monkeypatch):
    weights = encoder._weights_file(encoder._model_dir())
    expected = encoder.weights_sha256(weights)
    hashed = []
    real = encoder.integrity.sha256_file
    monkeypatch.setattr(encoder.integrity, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert encoder.weights_sha256(weights) == expected
    assert weights not in hashed
    memo = json.loads((tmp_path / "cache" / "n00bqa" / "onnx" / "weights.json").read_text())
    assert memo[str(weights)]["sha256"] == expected


def test_no_writable_user_cache_means_an_export_in_the_root(fake_exporter, tmp_path, monkeypatch):
    from n00bqa.errors import WriteError

    def refuse(model_dir, reporter=None, force=False):
        raise WriteError("cannot write the user cache")

    monkeypatch.setattr(encoder, "shared_export", refuse)
    study = make_root(tmp_path / "a")
    encoder.export(study)
    own = encoder.export_dir(study) / encoder.MODEL_FILE
    assert fake_exporter == [own.parent] and not own.is_symlink() and encoder.is_exported(study)


def test_the_first_ask_says_whether_it_exported_or_linked(fake_exporter, tmp_path):
    from n00bqa.ask import ensure_ready

    said = []
    for name in ("a", "b"):
        study = make_root(tmp_path / name)
        (study.state_dir("index") / "manifest.json").write_text("{}")  # an index is there: only the export runs
        assert encoder.has_shared_export() == (name == "b")
        said += ensure_ready(study)
    assert said == ["the ONNX export of MiniLM (once per user)", "a link to your ONNX export of MiniLM"]
    assert len(fake_exporter) == 1
