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
