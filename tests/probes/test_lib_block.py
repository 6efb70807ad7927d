"""n00bqa/probes/lib/block.py: the GPT block ddp and fsdp train, checked against closed forms and
against itself (the same seed gives the same block, equal slices make the full batch)."""

from __future__ import annotations

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.lib.block import (
    BlockOptions,
    block_param_count,
    build_block,
    check_block,
    equal_within,
    make_batch,
    max_abs_diff,
    max_weight_change,
    rank_slice,
    train_single_process,
)


@pytest.mark.parametrize("d_model, n_head", [(8, 2), (33, 3), (64, 4)])
def test_param_count_is_the_closed_form(d_model, n_head):
    block = build_block(d_model, n_head, seed=0)
    assert sum(p.numel() for p in block.parameters()) == block_param_count(d_model) == 12 * d_model**2 + 10 * d_model


def test_the_same_seed_builds_the_same_block_and_batch():
    import torch

    a, b = build_block(16, 2, seed=3), build_block(16, 2, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(build_block(16, 2, seed=4).mlp.c_fc.weight, a.mlp.c_fc.weight)
    x1, y1 = make_batch(4, 5, 16, seed=3)
    x2, y2 = make_batch(4, 5, 16, seed=3)
    assert x1.shape == y1.shape == (4, 5, 16) and torch.equal(x1, x2) and torch.equal(y1, y2)


def test_rank_slices_are_contiguous_and_cover_the_batch():
    import torch

    x = torch.arange(12).reshape(6, 2)
    slices = [rank_slice(x, r, 3) for r in range(3)]
    assert [s[:, 0].tolist() for s in slices] == [[0, 2], [4, 6], [8, 10]]
    assert torch.equal(torch.cat(slices), x)


def test_the_reference_trains_and_the_diffs_measure_it():
    model, optimizer, losses = train_single_process(16, 2, global_batch=4, seq_len=5, steps=3, lr=1e-2, seed=0)
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert len(optimizer.state) == len(list(model.parameters()))
    weights = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
    assert max_abs_diff(weights, model) == 0.0
    weights["ln_1.bias"] = weights["ln_1.bias"] + 0.25
    assert max_abs_diff(weights, model) == pytest.approx(0.25)
    opts = BlockOptions(d_model=16, n_head=2)
    moved = max_weight_change(model, opts, seed=0)
    initial = build_block(16, 2, seed=0)
    by_hand = max(float((p - q).abs().max()) for p, q in zip(model.parameters(), initial.parameters()))
    assert moved == by_hand > 0
    assert equal_within(1e-6, 1e-5) and not equal_within(2e-5, 1e-5)


def test_bad_block_options_are_one_line():
    for changes, match in [(dict(d_model=30, n_head=4), "--d-model must be 8-8192 and divisible by --n-head 4"),
                           (dict(batch=5), "--batch 5 does not split evenly across --nproc 2"),
                           (dict(lr=0), "--lr must be in")]:
        with pytest.raises(ProbeError, match=match) as caught:
            check_block(BlockOptions(**changes), sharded=False)
        assert "\n" not in str(caught.value)
