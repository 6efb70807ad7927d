"""The fsdp probe on 2 real gloo ranks: shard sizes against the ceil split of each parameter's dim 0,
model-state bytes against 16 bytes per local parameter, the collectives of a step, weights against a
single-process reference, and no rank left after a collective times out."""

from __future__ import annotations

import math

import pytest
from support.distributed import assert_no_ranks_left
from support.probes import assert_output_whole, finding_stating

from n00bqa.errors import ProbeError
from n00bqa.probes.lib import launcher as dist_launcher
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe
from tests.support.runs import default_run

# d_model 27 makes most dim 0s odd (27, 81), so the split across 2 ranks is uneven.
D_MODEL, N_HEAD, N = 27, 3, 2


@pytest.fixture(scope="module")
def fsdp_run():
    probe = find_probe(None, "fsdp")
    result = run_probe(None, probe, probe.make_options(d_model=D_MODEL, n_head=N_HEAD, steps=3), seed=0, cache=False)
    return result, dist_launcher.last_pids()


@pytest.fixture(scope="module")
def block():
    from n00bqa.probes.lib.block import build_block

    return build_block(D_MODEL, N_HEAD, seed=0)


def _rows_on(rank: int, dim0: int, n: int) -> int:
    """torch.chunk's split of dim 0: pieces of ceil(dim0 / n) rows, the last ones shorter (or empty)."""
    size = math.ceil(dim0 / n)
    return max(0, min(dim0, (rank + 1) * size) - rank * size)


def _shard_numel(param, rank: int, n: int) -> int:
    return _rows_on(rank, param.shape[0], n) * (param.numel() // param.shape[0])


@pytest.mark.slow
def test_shards_are_the_ceil_split_of_each_dim0(fsdp_run, block):
    result, _ = fsdp_run
    m = result.metrics
    params = dict(block.named_parameters())
    assert m["param_numel_by_rank.rank0"] == sum(_shard_numel(p, 0, N) for p in params.values())
    assert m["param_numel_by_rank.rank1"] == sum(_shard_numel(p, 1, N) for p in params.values())
    assert m["param_numel_by_rank.rank0"] != m["param_numel_by_rank.rank1"]  # uneven on purpose
    assert set(result.numbers.shard_numel) == set(params)
    for name, sizes in result.numbers.shard_numel.items():
        assert sizes == [_shard_numel(params[name], r, N) for r in range(N)], name
    assert sum(result.metrics[f"param_numel_by_rank.rank{r}"] for r in range(N)) == result.metrics["full_param_numel"]


@pytest.mark.slow
def test_state_bytes_are_16_per_local_parameter_plus_whole_step_counters(fsdp_run, block):
    from n00bqa.probes.lib.block import block_param_count

    result, _ = fsdp_run
    m = result.metrics
    tensors = len(list(block.parameters()))
    counters = 4 * tensors  # Adam keeps one fp32 0-d `step` per parameter tensor, unsharded
    per_rank = [16 * m[f"param_numel_by_rank.rank{r}"] + counters for r in range(N)]  # weight, grad, exp_avg, exp_avg_sq
    assert m["per_rank_state_bytes"] == max(per_rank)
    assert m["state_by_rank.rank0.params"] == m["state_by_rank.rank0.grads"] == 4 * m["param_numel_by_rank.rank0"]
    assert m["state_by_rank.rank0.optimizer"] == 8 * m["param_numel_by_rank.rank0"] + counters
    assert m["unsharded_state_bytes"] == counters
    assert m["full_state_bytes"] == 16 * block_param_count(D_MODEL) + counters


@pytest.mark.slow
def test_collectives_of_a_step(fsdp_run, block):
    result, _ = fsdp_run
    m = result.metrics
    units = m["fsdp_units"]
    assert units == 3  # attn, mlp, and the root (the LayerNorms)
    assert m["forward_allgathers"] == units
    assert m["backward_allgathers"] == units - 1  # the root does not reshard after forward
    assert m["allgather_count"] == 2 * units - 1
    assert m["reduce_scatter_count"] == units

    def padded_bytes(module, recurse=True):  # each parameter padded to N equal pieces of ceil(dim0 / N) rows
        return sum(4 * math.ceil(p.shape[0] / N) * N * (p.numel() // p.shape[0])
                   for p in module.parameters(recurse=recurse))

    everything = padded_bytes(block)
    re_gathered = padded_bytes(block.attn) + padded_bytes(block.mlp)
    assert m["comm_bytes_sent_per_rank"] == pytest.approx((N - 1) / N * (everything + re_gathered + everything))
    full = 4 * sum(p.numel() for p in block.parameters())
    assert m["ddp_bytes_sent_per_rank"] == pytest.approx(2 * (N - 1) / N * full)


@pytest.mark.slow
def test_weights_match_one_process_with_the_full_batch(fsdp_run):
    from n00bqa.probes.fsdp import TOLERANCE

    result, _ = fsdp_run
    assert result.metrics["max_abs_diff_vs_single_process"] <= TOLERANCE
    assert result.metrics["max_weight_change"] > 100 * TOLERANCE


@pytest.mark.slow
def test_every_number_in_a_finding_is_measured(fsdp_run):
    result, _ = fsdp_run
    assert unexplained_numbers(result) == []


@pytest.mark.slow
def test_the_default_run_is_whole_and_states_its_numbers():
    probe = find_probe(None, "fsdp")
    result = default_run(probe.name)
    assert_output_whole(result)
    assert "rank 0 holds" in finding_stating(result, "param_numel_by_rank.rank0", "fully_shard")
    assert "which follows 1/N" in finding_stating(result, "state_fraction", "Adam")
    assert "close to the ZeRO paper" in finding_stating(result, "comm_vs_ddp", "ring formula")
    assert "equal within" in finding_stating(result, "max_abs_diff_vs_single_process", "largest difference")
    assert result.metrics["param_numel_by_rank.rank0"] == result.metrics["param_numel_by_rank.rank1"]  # 64 divides
    assert_no_ranks_left(dist_launcher.last_pids())
    # every word from its printed numbers: the gaps recomputed from the metrics they come from
    from tests.support.recorded_verdicts import verdict_words

    m = result.metrics
    assert m["state_fraction_gap"] == pytest.approx(abs(m["state_fraction"] - 1 / m["nproc"]))
    assert m["comm_vs_zero3_gap"] == pytest.approx(abs(m["comm_vs_ddp"] - m["zero3_ratio"]))
    assert verdict_words(result) == [
        ("tolerance", "equal within"), ("fraction", "follows"), ("ratio", "close to"),
        ("uneven parameters", "Every dim 0 divides by 2")]


def test_old_metric_names_still_resolve():
    probe = find_probe(None, "fsdp")
    assert probe.metric_name("rank0_param_numel") == "param_numel_by_rank.rank0"
    assert probe.metric_name("rank0_adam_bytes") == "state_by_rank.rank0.optimizer"


@pytest.mark.slow
def test_no_rank_is_left_after_a_run(fsdp_run):
    assert_no_ranks_left(fsdp_run[1])


@pytest.mark.slow
def test_a_collective_timeout_is_one_line_and_leaves_no_rank(monkeypatch):
    monkeypatch.setenv(dist_launcher.FAULT_ENV, "1:hang")  # rank 1 never joins rank 0's first collective
    probe = find_probe(None, "fsdp")
    with pytest.raises(ProbeError) as caught:
        run_probe(None, probe, probe.make_options(steps=1, timeout=3), cache=False)
    message = str(caught.value)
    assert message.startswith("rank 0 of 2 failed:")
    assert "within --timeout 3 s" in message and "\n" not in message
    assert_no_ranks_left(dist_launcher.last_pids())


def test_verdicts_on_both_sides():
    from n00bqa.probes.fsdp import verdict

    words = ("NOT equal within", "equal within", "tolerance")  # the words fsdp's report computes
    assert verdict(1e-6, 1e-5, *words) == "equal within" and verdict(1e-4, 1e-5, *words) == "NOT equal within"


def test_a_model_too_large_for_the_shard_count_is_one_line():
    probe = find_probe(None, "fsdp")
    with pytest.raises(ProbeError, match=r"--d-model 4096 gives .* 1\.6 GB of model state per rank .* too large "
                                         r"for --nproc 2.*raise --nproc") as caught:
        probe.make_options(d_model=4096, nproc=2)
    assert "\n" not in str(caught.value)
    probe.make_options(d_model=4096, nproc=4)  # 0.8 GB per rank: sharded 4 ways it fits
