"""The sharding probe on 2 real gloo ranks: the collective behind each DTensor placement change, the
bytes each rank holds, a Megatron MLP against one done by hand, and the launcher's edges: a busy port,
every port busy, the wall-clock deadline and Ctrl-C, none of which may leave a rank behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from support.distributed import alive, assert_no_ranks_left, wait_for_ranks
from support.probes import assert_output_whole, finding_stating
from support.verdicts import problems

from n00bqa.errors import ProbeError
from n00bqa.probes.lib import launcher as dist_launcher
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe

N, ROWS, COLS, D_MODEL, BATCH, SEQ = 2, 256, 64, 64, 4, 16


@pytest.fixture(scope="module")
def busy_port():
    """A port something already listens on: the probe is asked for it and must move to another."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


@pytest.fixture(scope="module")
def sharding_run(busy_port):
    probe = find_probe(None, "sharding")
    result = run_probe(None, probe, probe.make_options(port=busy_port), seed=0, cache=False)
    return result, dist_launcher.last_pids()


@pytest.mark.slow
def test_each_placement_change_is_one_collective(sharding_run):
    m = sharding_run[0].metrics
    assert m["moves.shard_to_replicate.of_kind"] == m["moves.shard_to_replicate.collectives"] == 1
    assert m["moves.partial_to_replicate.of_kind"] == m["moves.partial_to_replicate.collectives"] == 1
    assert m["moves.replicate_to_shard.collectives"] == 0
    assert m["moves.shard0_to_shard1.collectives"] == 1  # gloo: DTensor's all-gather + chunk fallback
    moves = sharding_run[0].numbers.moves
    assert (moves["shard_to_replicate"].issued, moves["partial_to_replicate"].issued) == ("all-gather", "all-reduce")
    # measured ring bytes agree with the formula over the whole matrix
    assert m["moves.shard_to_replicate.ring_bytes_per_rank"] == m["allgather_ring_bytes_per_rank"]
    assert m["moves.partial_to_replicate.ring_bytes_per_rank"] == m["allreduce_ring_bytes_per_rank"]
    assert m["shard_to_replicate_equal"] is True
    assert m["partial_sum"] == m["partial_sum_expected"] == N * (N + 1) / 2


@pytest.mark.slow
def test_gloo_runs_all_to_all_and_dtensor_still_gathers(sharding_run):
    """torch 2.13: gloo runs both all-to-alls (each rank gets block r from every rank, checked on the ranks);
    DTensor's Shard(0) -> Shard(1) on a CPU mesh issues an all-gather all the same."""
    result, _ = sharding_run
    m = result.metrics
    assert (m["raw_all_to_all.all_to_all_single"], m["raw_all_to_all.all_to_all"]) == (True, True)
    assert result.numbers.moves["shard0_to_shard1"].issued == "all-gather" and result.numbers.mesh_device == "cpu"
    sentence = finding_stating(result, "moves.shard0_to_shard1.ring_bytes_per_rank", "DTensor's choice")
    assert "dist.all_to_all_single and dist.all_to_all ran" in sentence and "no all-to-all" not in sentence


def test_transpose_sentence_when_the_backend_fails():
    """The other side: a backend whose all-to-all raises is named as failing, with its error."""
    from n00bqa.probes.sharding import Move, _transpose_sentence

    gather = Move(kind="all-to-all", of_kind=0, collectives=1, issued="all-gather", ring_bytes_per_rank=1.0)
    numbers = type("N", (), {"raw_all_to_all": {"all_to_all_single": False, "all_to_all": True},
                             "raw_all_to_all_errors": {"all_to_all_single": "not supported", "all_to_all": ""},
                             "mesh_device": "cpu"})()
    sentence = _transpose_sentence(gather, numbers, "gloo")
    assert "dist.all_to_all_single failed (not supported)" in sentence and "DTensor's choice" not in sentence
    assert "dist.all_to_all ran" in sentence


@pytest.mark.slow
def test_bytes_each_rank_holds_and_receives(sharding_run):
    result, _ = sharding_run
    m = result.metrics
    full = ROWS * COLS * 4
    assert m["matrix_bytes"] == full
    held = result.numbers.held_by_rank
    assert len(held) == N
    for rank in held:
        assert rank.shard == (ROWS // N) * COLS * 4
        assert rank.gathered == full and rank.received == full - rank.shard
    assert m["allgather_ring_bytes_per_rank"] == pytest.approx((N - 1) / N * full)
    assert m["allreduce_ring_bytes_per_rank"] == pytest.approx(2 * (N - 1) / N * full)


@pytest.mark.slow
def test_tp_mlp_is_one_allreduce_of_the_output(sharding_run):
    result, _ = sharding_run
    m = result.metrics
    assert m["tp_mlp_allreduces"] == m["tp_mlp_forward_collectives"] == 1
    assert m["tp_mlp_backward_allreduces"] == m["tp_mlp_backward_collectives"] == 1  # the input's gradient
    assert m["tp_allreduce_bytes"] == BATCH * SEQ * D_MODEL * 4  # measured payload = (B, T, d) fp32
    assert m["tp_allreduce_ring_bytes_per_rank"] == pytest.approx(2 * (N - 1) / N * m["tp_allreduce_bytes"])
    n = result.numbers
    assert n.fc_local_shape == [4 * D_MODEL // N, D_MODEL]  # column-parallel: a share of the output rows
    assert n.proj_local_shape == [D_MODEL, 4 * D_MODEL // N]  # row-parallel: the same share of its inputs
    assert n.hidden_local_shape == [BATCH, SEQ, 4 * D_MODEL // N]
    from n00bqa.probes.sharding import TOLERANCE

    assert m["tp_mlp_max_abs_diff"] <= TOLERANCE and m["tp_input_grad_max_abs_diff"] <= TOLERANCE


def test_megatron_split_by_hand_equals_the_full_mlp():
    """The maths the probe relies on, without ranks: split c_fc by output rows, c_proj by input columns;
    the sum of the N partial outputs is the MLP's output."""
    import torch

    from n00bqa.probes.lib.block import build_block

    mlp = build_block(D_MODEL, 1, seed=0).mlp
    x = torch.randn(BATCH, SEQ, D_MODEL)
    partials = []
    for w1, b1, w2 in zip(mlp.c_fc.weight.chunk(N, 0), mlp.c_fc.bias.chunk(N, 0), mlp.c_proj.weight.chunk(N, 1)):
        hidden = torch.nn.functional.gelu(x @ w1.T + b1)  # (B, T, 4d/N): no communication needed
        partials.append(hidden @ w2.T)  # (B, T, d): a partial sum of the output
    y = sum(partials) + mlp.c_proj.bias  # the all-reduce, then the bias once
    assert (y - mlp(x)).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_output_is_whole_and_findings_state_their_numbers(sharding_run):
    """The default run (only --port differs, to exercise the skip)."""
    result, _ = sharding_run
    assert_output_whole(result)
    assert "exactly the original" in finding_stating(result, "allgather_ring_bytes_per_rank", "Shard(0) -> Replicate")
    assert "the sum N(N+1)/2" in finding_stating(result, "partial_sum", "Partial -> Replicate")
    assert "partial sums of the output" in finding_stating(result, "tp_allreduce_bytes", "forward pass")
    assert "equal within" in finding_stating(result, "tp_mlp_max_abs_diff", "largest differences")


@pytest.mark.slow
def test_a_busy_port_is_skipped_and_said(sharding_run, busy_port):
    result, pids = sharding_run
    assert result.metrics["port"] != busy_port
    assert f"Port {busy_port} was busy, so the ranks met on port {result.metrics['port']} instead." in result.findings
    assert_no_ranks_left(pids)


def test_every_port_busy_is_one_line(monkeypatch, busy_port):
    monkeypatch.setattr(dist_launcher, "free_port", lambda: busy_port)
    probe = find_probe(None, "sharding")
    with pytest.raises(ProbeError, match=rf"could not bind a port on 127\.0\.0\.1: tried 3 \({busy_port}, "):
        run_probe(None, probe, probe.make_options(port=busy_port), cache=False)


@pytest.mark.slow
def test_the_deadline_ends_every_rank(monkeypatch):
    monkeypatch.setenv(dist_launcher.FAULT_ENV, "all:hang")  # no rank ever reports
    probe = find_probe(None, "sharding")
    with pytest.raises(ProbeError, match=r"^no result from rank 0, 1 within --deadline 6 s; every rank was ended"):
        run_probe(None, probe, probe.make_options(timeout=3, deadline=6), cache=False)
    assert_no_ranks_left(dist_launcher.last_pids())


@pytest.mark.slow
def test_ctrl_c_ends_every_rank(study_root):
    """Ctrl-C in a terminal signals the foreground process group: the probe's process, not its ranks
    (they run in their own sessions). The probe must end them before it exits."""
    code = ("from n00bqa.probes import find_probe; from n00bqa.probes.runs import run_probe; "
            "p = find_probe(None, 'sharding'); run_probe(None, p, p.make_options(), cache=False)")
    env = {**os.environ, dist_launcher.FAULT_ENV: "all:hang"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ranks = wait_for_ranks(proc.pid, N)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert [pid for pid in ranks if alive(pid)] == []


def test_old_metric_names_still_resolve():
    probe = find_probe(None, "sharding")
    assert probe.metric_name("shard_to_replicate_allgathers") == "moves.shard_to_replicate.of_kind"
    assert probe.metric_name("shard0_to_shard1_bytes_per_rank") == "moves.shard0_to_shard1.ring_bytes_per_rank"


def test_count_and_equality_words_on_both_sides():
    from n00bqa.probes.base import verdict
    from n00bqa.probes.sharding import count_words

    assert count_words(0, "collective") == "no collective"
    assert count_words(1, "all-reduce") == "exactly one all-reduce"
    assert count_words(2, "all-reduce") == "2 all-reduces"
    assert verdict(1e-6, 1e-5, "NOT equal within", "equal within") == "equal within"
    assert verdict(1e-3, 1e-5, "NOT equal within", "equal within") == "NOT equal within"


@pytest.mark.slow
def test_recorded_verdicts_follow_from_the_run(sharding_run):
    """Every verdict word the default run printed, recomputed from numbers computed here."""
    result, _ = sharding_run
    m = result.metrics
    words = {(v.name, v.word): v for v in result.verdicts}
    tp = words[("tolerance", "equal within")]
    assert tp.value == max(m["tp_mlp_max_abs_diff"], m["tp_input_grad_max_abs_diff"]) <= tp.threshold == m["tolerance"]
    assert words[("exact", "exactly the original")].value == m["shard_to_replicate_max_abs_diff"] == 0
    assert words[("exact", "the sum")].value == abs(m["partial_sum"] - N * (N + 1) / 2) == 0
    dearer = words[("all-gather's bytes", "the more expensive")]
    assert dearer.value == pytest.approx(2.0)  # ring: 2(N-1)/N against (N-1)/N of the same matrix
    forward_others = m["tp_mlp_forward_collectives"] - m["tp_mlp_allreduces"]
    assert [v.value for v in result.verdicts if v.name == "other forward collectives"] == [forward_others] * 2 == [0, 0]
    assert words[("failed all-to-all calls", "So the all-gather is DTensor's choice, not a gap in the backend: ")]
    assert "(0 of 2 calls failed)" in finding_stating(result, "moves.shard0_to_shard1.ring_bytes_per_rank",
                                                      "DTensor's choice")
    assert "largest difference 0)" in finding_stating(result, "shard_to_replicate_max_abs_diff", "exactly the original")
    assert problems(result) == []


def test_uneven_tensor_parallel_split_is_one_line():
    probe = find_probe(None, "sharding")
    with pytest.raises(ProbeError, match=r"--d-model 64: the MLP's 256 hidden units do not split evenly across "
                                         r"--nproc 3"):
        probe.make_options(nproc=3)
    probe.make_options(nproc=3, d_model=48)
