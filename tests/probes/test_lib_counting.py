"""lib/counting against independent counts: a closed form for parameters (tied once), and the
FLOPs of a matmul by hand (2·m·n·k) for FlopCounterMode."""

from __future__ import annotations

import torch

from n00bqa.probes.lib.counting import count_flops, count_parameters, parameter_groups


def test_parameters_count_a_tied_tensor_once():
    table = torch.nn.Embedding(100, 8)
    head = torch.nn.Linear(8, 100, bias=False)
    head.weight = table.weight  # tied, as GPT-2's LM head is
    model = torch.nn.ModuleDict({"wte": table, "lm_head": head, "ln": torch.nn.LayerNorm(8)})
    assert count_parameters(model) == 100 * 8 + 2 * 8
    groups = parameter_groups(model)
    assert [g.names for g in groups if len(g.names) > 1] == [["wte.weight", "lm_head.weight"]]
    assert sum(p.numel() for p in model.parameters()) == count_parameters(model)  # torch dedups too


def test_flops_of_a_linear_layer_are_two_m_n_k():
    layer = torch.nn.Linear(16, 32, bias=False)
    x = torch.randn(4, 16)
    count = count_flops(lambda: layer(x))
    assert count.total == 2 * 4 * 16 * 32
    assert count.by_op == {"mm": 2 * 4 * 16 * 32} and count.module("Linear") == count.total
    backward = count_flops(lambda: layer(x.requires_grad_()).sum().backward())
    assert backward.total == 3 * count.total  # forward, grad of input, grad of weight


# --- count_by_component: published architectures against their closed forms ------------------------

def _count(name):
    from n00bqa.probes.lib.configs import build_model, published_configs
    from n00bqa.probes.lib.counting import count_by_component

    config, cls = published_configs()[name]
    return config, count_by_component(build_model(config, cls))


def test_gpt2_closed_form_and_tied_head():
    config, counts = _count("gpt2")
    V, P, d, L = config.vocab_size, config.n_positions, config.n_embd, config.n_layer
    # per block: 2 LayerNorms, c_attn d×3d+3d, c_proj d×d+d, c_fc d×4d+4d, mlp c_proj 4d×d+d
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    assert counts.total == V * d + P * d + L * block + 2 * d
    assert counts.embedding == V * d + P * d
    assert ["transformer.wte.weight", "lm_head.weight"] in counts.tied
    assert counts.tied_output == V * d


def test_bert_closed_form_components():
    _, counts = _count("bert-base-uncased")
    V, P, T, d, ff, L = 30522, 512, 2, 768, 3072, 12
    c = counts.components
    assert c["embeddings"] == (V + P + T) * d
    assert c["attention"] == L * 4 * (d * d + d)
    assert c["mlp"] == L * (d * ff + ff + ff * d + d)
    assert c["norms"] == (2 * L + 1) * 2 * d
    assert c["heads"] == d * d + d  # the pooler
    assert c["other"] == 0
    assert counts.pooler_matrix == d * d


def test_llama_closed_form():
    _, counts = _count("llama-2-7b")
    V, d, ff, L = 32000, 4096, 11008, 32
    assert counts.total == 2 * V * d + L * (4 * d * d + 3 * d * ff + 2 * d) + d
    assert counts.embedding == V * d  # the untied LM head is dense
    assert counts.tied == []
    assert counts.one_d == L * 2 * d + d  # two RMSNorms per layer and the final one: no biases


def test_t5_ties_four_names_and_relative_tables():
    _, counts = _count("t5-small")
    assert sorted(max(counts.tied, key=len)) == sorted(
        ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"])
    assert counts.embedding == 32128 * 512 + 2 * 32 * 8
    assert sorted(t.short for t in counts.tables) == ["dec rel_bias", "enc rel_bias", "shared"]


def test_deberta_relative_table_is_read_whole():
    _, counts = _count("deberta-v3-base")
    rel = [t for t in counts.tables if "rel_embeddings" in t.name]
    assert rel and not rel[0].lookup and rel[0].shape == [512, 768]
    assert counts.embedding == 128_100 * 768
    assert counts.embedding_fraction == counts.embedding / counts.total


def test_count_by_component_agrees_with_count_parameters():
    from n00bqa.probes.lib.configs import build_model, published_configs
    from n00bqa.probes.lib.counting import count_by_component

    for name in ("gpt2", "t5-small", "mixtral-8x7b"):
        config, cls = published_configs()[name]
        model = build_model(config, cls)
        assert count_by_component(model).total == count_parameters(model) == sum(
            p.numel() for p in model.parameters())


def test_stored_buffers_are_the_persistent_ones():
    from n00bqa.probes.lib.counting import stored_buffers

    model = torch.nn.Module()
    model.register_buffer("kept", torch.zeros(3, 4))
    model.register_buffer("scratch", torch.zeros(5), persistent=False)
    assert stored_buffers(model) == 12
