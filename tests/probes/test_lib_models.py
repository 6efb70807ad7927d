"""lib/models against independent readings of the same files: the safetensors checkpoint opened with
safetensors itself, and tokenizer.json run by the `tokenizers` library (no transformers in between)."""

from __future__ import annotations

import json

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.lib.models import (BUNDLED_NAME, load_model, load_task_model, load_tokenizer, model_label,
                                      resolve_model_dir)
from n00bqa.study import bundled_model_path


def checkpoint_tensors() -> dict:
    from safetensors import safe_open

    with safe_open(str(bundled_model_path() / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_the_bundled_folder_and_its_name():
    assert resolve_model_dir(None) == bundled_model_path()
    assert json.loads((resolve_model_dir(None) / "config.json").read_text())["hidden_size"] == 384
    assert model_label(None) == BUNDLED_NAME == "all-MiniLM-L6-v2"


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(ProbeError, match="does not exist") as missing:
        resolve_model_dir(tmp_path / "nope")
    assert "\n" not in str(missing.value) and "--model" in str(missing.value)
    with pytest.raises(ProbeError, match="has no config.json"):
        resolve_model_dir(tmp_path)
    assert model_label(tmp_path) == str(tmp_path.resolve())


def test_the_model_holds_the_checkpoints_weights(minilm):
    _, model = minilm
    assert load_model(None) is model  # cached: one load per process
    tensors = checkpoint_tensors()
    params = dict(model.named_parameters())
    assert set(params) <= set(tensors)
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.bias", "pooler.dense.weight"):
        assert (params[name].detach() == tensors[name]).all()
    assert sum(p.numel() for p in params.values()) == sum(tensors[n].numel() for n in params)  # 22.7M
    assert not model.training


def test_the_tokenizer_gives_the_tokenizers_librarys_ids(minilm):
    from tokenizers import Tokenizer

    tokenizer, _ = minilm
    rust = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    rust.no_padding()
    rust.no_truncation()
    text = "The mitochondria is the powerhouse of the cell."
    assert tokenizer(text)["input_ids"] == rust.encode(text).ids
    assert load_tokenizer(None) is tokenizer


def test_a_task_model_names_the_weights_it_adds():
    from transformers import BertForMultipleChoice

    model, new = load_task_model(BertForMultipleChoice)
    tensors = checkpoint_tensors()
    # independently: the model's weights whose names are not in the checkpoint (under the bert. prefix)
    absent = sorted(n for n in dict(model.named_parameters()) if n.removeprefix("bert.") not in tensors)
    assert new == absent == ["classifier.bias", "classifier.weight"]
    assert not model.training
    second, _ = load_task_model(BertForMultipleChoice)
    assert second is not model  # a fresh head each call


def test_a_folder_that_is_no_model_is_a_one_line_error(tmp_path):
    from transformers import BertForMultipleChoice

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ProbeError, match="cannot load BertForMultipleChoice") as err:
        load_task_model(BertForMultipleChoice, str(tmp_path))
    assert "\n" not in str(err.value)
