"""zero-memory's accounting against what fsdp measures on real ranks, for the same parameter count and N.

fsdp trains its GPT block with fp32 Adam and no mixed precision: 4 bytes of weights + 4 of gradients +
8 of Adam moments = 16 bytes per parameter, which is `zero-memory --precision fp32 --k 8`. Two things
the calculator's even split Ψ/N leaves out, both accounted for here from the block's shapes:

- FSDP2 cuts each parameter along dim 0 in torch.chunk pieces of ceil(d0/N) rows, so when N does not
  divide d0 rank 0 holds more than Ψ/N (d_model 33 makes most dims odd on purpose);
- Adam keeps a 0-d fp32 `step` counter per parameter tensor, whole on every rank (4 bytes each).
"""

from __future__ import annotations

import math

import pytest

from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.probes.lib.block import build_block

D_MODEL, N_HEAD, NPROC = 33, 3, 2
STEP_COUNTER_BYTES = 4  # Adam's 0-d float32 step, one per parameter tensor


@pytest.fixture(scope="module")
def fsdp():
    probe = find_probe(None, "fsdp")
    opts = probe.make_options(d_model=D_MODEL, n_head=N_HEAD, nproc=NPROC, steps=1, batch=2, seq_len=4)
    return run_probe(None, probe, opts, cache=False).metrics


def zero_memory(params: int, gpus: int) -> dict:
    probe = find_probe(None, "zero-memory")
    opts = probe.make_options(params=str(params), gpus=gpus, precision="fp32", k=8)
    return run_probe(None, probe, opts, cache=False).metrics


@pytest.fixture(scope="module")
def shapes():
    return {name: tuple(p.shape) for name, p in build_block(D_MODEL, N_HEAD, 0).named_parameters()}


def chunk_numel(shape: tuple, n: int) -> int:
    """Rank 0's piece of one parameter under torch.chunk along dim 0: ceil(d0 / n) rows."""
    return math.ceil(shape[0] / n) * math.prod(shape[1:])


def test_same_parameter_count(fsdp, shapes):
    assert fsdp["full_param_numel"] == sum(math.prod(s) for s in shapes.values())
    assert fsdp["param_numel_by_rank.rank0"] == sum(chunk_numel(s, NPROC) for s in shapes.values())
    assert fsdp["param_numel_by_rank.rank0"] + fsdp["param_numel_by_rank.rank1"] == fsdp["full_param_numel"]


def test_plain_data_parallel_is_stage_0(fsdp, shapes):
    psi, counters = fsdp["full_param_numel"], STEP_COUNTER_BYTES * len(shapes)
    calc = zero_memory(psi, NPROC)
    assert calc["bytes_per_param"] == 16.0
    assert fsdp["unsharded_state_bytes"] == counters
    assert fsdp["full_state_bytes"] - counters == calc["stages.0.bytes"] == 16 * psi


def test_each_rank_holds_stage_3_of_its_padded_share(fsdp, shapes):
    psi, counters = fsdp["full_param_numel"], STEP_COUNTER_BYTES * len(shapes)
    calc = zero_memory(psi, NPROC)
    # Summed over the ranks, the shards are exactly the unsharded states: N x Ψ/N x 16.
    total_sharded = sum(fsdp[f"param_numel_by_rank.rank{r}"] for r in range(NPROC)) * 16
    assert total_sharded == calc["stages.3.bytes"] * NPROC
    # The largest rank (rank 0: torch.chunk puts the extra rows first) holds the padded share:
    # zero-memory with Ψ rounded up to N equal ceil-chunks is exact.
    padded_psi = NPROC * sum(chunk_numel(s, NPROC) for s in shapes.values())
    assert padded_psi > psi  # d_model 33: the padding is real
    assert fsdp["per_rank_state_bytes"] - counters == zero_memory(padded_psi, NPROC)["stages.3.bytes"]
    assert fsdp["state_by_rank.rank0.params"] == fsdp["state_by_rank.rank0.grads"] == 4 * padded_psi // NPROC
    assert fsdp["state_by_rank.rank0.optimizer"] - counters == 8 * padded_psi // NPROC
    # The even split is below the largest rank by exactly the padding.
    assert fsdp["per_rank_state_bytes"] - counters - calc["stages.3.bytes"] == 16 * (padded_psi - psi) / NPROC


def test_communication_matches_stage_0_and_stage_3(fsdp, shapes):
    psi = fsdp["full_param_numel"]
    calc = zero_memory(psi, NPROC)
    # DDP's all-reduce of fp32 gradients, ring: 2Ψ x 4 B x (N-1)/N, the calculator's stage 0.
    assert fsdp["ddp_bytes_sent_per_rank"] == calc["stages.0.ring_bytes_sent"]
    # Stage 3: 3Ψ per step. FSDP2 moves padded shards, and its root unit (the LayerNorms) keeps its
    # gathered weights from forward to backward, so those are gathered once, not twice.
    padded_psi = NPROC * sum(chunk_numel(s, NPROC) for s in shapes.values())
    root_padded = NPROC * sum(chunk_numel(s, NPROC) for name, s in shapes.items()
                              if not name.startswith(("attn.", "mlp.")))
    padded = zero_memory(padded_psi, NPROC)
    not_regathered = 4 * root_padded * padded["ring_fraction"]
    assert fsdp["comm_bytes_sent_per_rank"] == pytest.approx(padded["stages.3.ring_bytes_sent"] - not_regathered)
    assert abs(fsdp["comm_vs_ddp"] - calc["stage3_comm_ratio"]) <= fsdp["ratio_tolerance"]
