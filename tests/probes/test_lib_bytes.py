"""n00bqa/probes/lib/bytes.py: the ring formulas, collective names, and model-state bytes measured
from real tensors against numel x element size counted by hand."""

from __future__ import annotations

import pytest

from n00bqa.probes.lib.bytes import collective_kind, model_state_bytes, ring_bytes, tensor_bytes


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_ring_bytes_are_the_textbook_fractions(n):
    full = 1200
    assert ring_bytes("all-gather", full, n) == pytest.approx((n - 1) / n * full)
    assert ring_bytes("reduce-scatter", full, n) == pytest.approx((n - 1) / n * full)
    assert ring_bytes("all-reduce", full, n) == pytest.approx(2 * (n - 1) / n * full)
    # an all-reduce is a reduce-scatter then an all-gather
    assert ring_bytes("all-reduce", full, n) == pytest.approx(
        ring_bytes("reduce-scatter", full, n) + ring_bytes("all-gather", full, n))
    assert ring_bytes("collective-permute", full, n) == full  # one send of the whole buffer


def test_collective_names_from_c10d_and_functional_ops():
    assert collective_kind("c10d._allgather_base_") == "all-gather"
    assert collective_kind("_c10d_functional.all_gather_into_tensor") == "all-gather"
    assert collective_kind("c10d._reduce_scatter_base_") == "reduce-scatter"
    assert collective_kind("_c10d_functional.all_reduce") == "all-reduce"
    assert collective_kind("c10d.alltoall_") == "all-to-all"
    assert collective_kind("c10d.broadcast_") == "broadcast"
    assert collective_kind("aten.mm") == "aten.mm"


def test_model_state_bytes_are_counted_from_the_tensors():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Linear(3, 2, bias=False))
    optimizer = torch.optim.Adam(model.parameters())
    params = 5 * 3 + 3 + 3 * 2
    before = model_state_bytes(model, optimizer)
    assert before == {"params": 4 * params, "grads": 0, "optimizer": 0, "total": 4 * params, "scalar_optimizer": 0}
    model(torch.randn(4, 5)).sum().backward()
    optimizer.step()
    tensors = 3  # Adam: exp_avg and exp_avg_sq per parameter, plus a 0-d float32 step per tensor
    after = model_state_bytes(model, optimizer)
    assert after == {"params": 4 * params, "grads": 4 * params, "optimizer": 8 * params + 4 * tensors,
                     "total": 16 * params + 4 * tensors, "scalar_optimizer": 4 * tensors}
    assert tensor_bytes(torch.zeros(7, dtype=torch.float16)) == 14
