"""The encoder: the ONNX query side gives sentence-transformers' vectors (the document side),
truncates where it does, and caches its export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.shared_study import link_state, shared_root

from n00bqa.retrieval import encoder


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


@pytest.fixture(scope="module")
def sentence_transformer():
    from sentence_transformers import SentenceTransformer

    from n00bqa.study import bundled_model_path

    return SentenceTransformer(str(bundled_model_path()), device="cpu")


def varied_texts() -> list[str]:
    """60 texts: one word to far past 256 tokens, code, numbers, accents, odd spacing."""
    base = [
        "hi", "x", "How large is a transformer model?", "How is words embedding calculated?",
        "def forward(self, input_ids): return self.embed(input_ids)  # (B, T) -> (B, T, C)",
        "Ünïcödé façade naïve café — 東京 and emoji 🙂", "   leading and trailing spaces   ",
        "MAP@3 = 1 + 1/2 + 1/3; ln(50257) ≈ 10.82", "UPPER CASE SHOUTING ABOUT GRADIENTS",
        "weight.grad[ids[i]] += grad_output[i]",
    ]
    words = "attention embedding gradient decoder encoder softmax token layer parameter memory".split()
    generated = [" ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i * 9)) for i in range(40)]
    long_texts = [  # well past 256 tokens: the encoder must truncate where sentence-transformers does
        "The encoder reads the whole source sentence once. " * 60,
        " ".join(f"token{i}" for i in range(900)),
        "A word embedding is one row of a learned matrix; " * 80,
        "x " * 5000,
        ("Backpropagation through an index lookup scatters the gradient into the rows used. " * 30
         + "This final sentence lies past the window and must not change the vector."),
    ]
    return base + generated + long_texts + [f"question number {i}?" for i in range(5)]


def test_vectors_equal_sentence_transformers(ready, study, sentence_transformer):
    texts = varied_texts()
    assert len(texts) >= 50
    ours = encoder.encode(study, texts)  # (60, DIM)
    theirs = sentence_transformer.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == theirs.shape == (len(texts), encoder.DIM)
    assert sentence_transformer.get_embedding_dimension() == encoder.DIM
    cosines = np.sum(ours * theirs, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosines.min() >= 0.9999, f"worst text: {texts[int(cosines.argmin())][:80]!r}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # one query alone (no padding) equals the same text inside a padded batch
    np.testing.assert_allclose(encoder.encode_query(study, texts[2]), ours[2], atol=1e-5)
    # the document side (index builds) gives the same vectors
    np.testing.assert_allclose(encoder.encode_documents(study, texts[:10]), ours[:10], atol=1e-4)


def test_truncates_at_sentence_transformers_max_seq_length(ready, study, sentence_transformer):
    assert encoder.max_seq_length() == sentence_transformer.max_seq_length == 256
    long_text = varied_texts()[-6]  # its last sentence lies past 256 tokens
    prefix = long_text.rsplit("This final", 1)[0]
    np.testing.assert_allclose(encoder.encode(study, [long_text])[0], encoder.encode(study, [prefix])[0], atol=1e-6)
    tokenizer = encoder._tokenizer(str(encoder._model_dir()), 256)
    assert len(tokenizer.encode(long_text).ids) == 256


def test_export_is_cached_with_a_manifest(ready, study):
    manifest = encoder.read_manifest(study)
    assert manifest["opset"] == encoder.OPSET and manifest["max_seq_length"] == 256
    assert manifest["model_path"] == str(encoder._model_dir())
    assert len(manifest["weights_sha256"]) == 64 and "torch" in manifest["versions"]
    assert encoder.is_exported(study)


def test_stale_manifest_means_not_exported(study_root, study, tmp_path_factory):
    shared = shared_root(tmp_path_factory)
    folder = study_root / ".n00bqa" / "onnx"
    folder.mkdir(parents=True)
    (folder / "model.onnx").symlink_to(shared / ".n00bqa" / "onnx" / "model.onnx")
    manifest = json.loads((shared / ".n00bqa" / "onnx" / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "weights_size": manifest["weights_size"] + 1}))
    assert not encoder.is_exported(study)  # another model file: would be exported again
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert encoder.is_exported(study)
