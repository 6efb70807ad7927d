"""lib/configs: the published configs give the published parameter counts (independent figures from
the model cards), the twins keep what decides gradient rows, and a folder's config reads back."""

from __future__ import annotations

import pytest

from n00bqa.probes.lib.configs import (SIZE_MODELS, TWIN_VOCAB, build_model, folder_config, model_positions,
                                       published_architectures, published_configs, tiny_kv_models, twin_config)
from n00bqa.probes.lib.counting import count_parameters


@pytest.mark.parametrize("name, published", [("gpt2", 124_439_808), ("bert-base-uncased", 109_482_240),
                                             ("t5-small", 60_506_624), ("llama-2-7b", 6_738_415_616)])
def test_published_configs_give_the_published_counts(name, published):
    config, cls = published_configs()[name]
    assert count_parameters(build_model(config, cls)) == published


def test_size_models_and_their_twins():
    archs = published_architectures()
    assert [a[0] for a in archs] == list(SIZE_MODELS)
    for name, config, cls in archs:
        twin = twin_config(name, config)
        assert type(twin) is type(config) and twin.vocab_size == TWIN_VOCAB
        assert getattr(twin, "tie_word_embeddings", None) == getattr(config, "tie_word_embeddings", None)
        assert model_positions(twin) == model_positions(config)
        assert type(build_model(twin, cls, "cpu")).__name__ == cls


def test_a_folder_config_and_its_one_layer_twin():
    folder, config, cls = folder_config(None)
    assert cls == "BertModel" and config.num_hidden_layers == 6
    assert twin_config("my-folder", config).num_hidden_layers == 1
    assert model_positions(config) == 512


def test_tiny_kv_models_differ_only_in_kv_heads():
    tiny = tiny_kv_models()
    assert [tiny[k][0].num_key_value_heads for k in ("mha", "gqa", "mqa")] == [8, 2, 1]
    assert tiny["sliding"][0].sliding_window == 4 and tiny["mla"][0].kv_lora_rank == 16
