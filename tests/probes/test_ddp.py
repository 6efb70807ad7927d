"""The ddp probe on 2 real gloo ranks: bytes against sum(grad numel) x 4, the ring formula, buckets,
weights against a single-process reference, and no rank left after a run or a failing rank."""

from __future__ import annotations

import os

import pytest
from support.distributed import assert_no_ranks_left
from support.probes import assert_output_whole, finding_stating, finding_with

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.lib import launcher as dist_launcher
from n00bqa.probes.runs import run_probe
from tests.support.runs import default_run

@pytest.fixture(scope="module")
def ddp_run():
    """One run of the probe at its defaults on 2 ranks (about 15-25 s here, mostly the ranks importing torch)."""
    probe = find_probe(None, "ddp")
    result = default_run(probe.name)
    return result, dist_launcher.last_pids()


def _table(result, title_start):
    return next(t for t in result.tables if t.title.startswith(title_start))


@pytest.mark.slow
def test_allreduce_bytes_are_every_gradient_once(ddp_run):
    import torch

    from n00bqa.probes.lib.block import block_param_count, build_block

    result, _ = ddp_run
    model = build_block(64, 4, seed=0)
    model(torch.randn(1, 2, 64)).sum().backward()
    grad_bytes = sum(p.grad.numel() * 4 for p in model.parameters())  # every parameter gets a gradient
    assert result.metrics["allreduce_bytes_per_step"] == grad_bytes
    assert result.metrics["param_bytes"] == grad_bytes == block_param_count(64) * 4
    assert result.metrics["allreduce_bytes_every_step_equal"] is True
    assert result.metrics["allreduce_bytes_step_spread"] == 0


@pytest.mark.slow
def test_ring_bytes_follow_the_formula(ddp_run):
    result, _ = ddp_run
    n, b = 2, result.metrics["allreduce_bytes_per_step"]
    assert result.metrics["ring_bytes_sent_per_rank"] == pytest.approx(2 * (n - 1) / n * b)


@pytest.mark.slow
def test_buckets_add_up_and_overlap_backward(ddp_run):
    result, _ = ddp_run
    buckets = result.numbers.buckets
    assert len(buckets) == result.metrics["bucket_count"] > 1  # --bucket-cap-mb 0.05 splits 200 kB into several
    assert len(_table(result, "Buckets").rows) == len(buckets)
    assert sum(b.bytes for b in buckets) == result.metrics["allreduce_bytes_per_step"]
    assert sum(b.tensors for b in buckets) == result.metrics["param_tensors"] == 11
    pending = [b.pending_grads for b in buckets]
    assert pending[0] > 0 and pending[-1] == 0  # the first bucket leaves mid-backward, the last at its end
    assert pending == sorted(pending, reverse=True)
    assert buckets[0].first_tensor.startswith("mlp.")  # the last layer's gradients are ready first


@pytest.mark.slow
def test_weights_match_one_process_with_the_full_batch(ddp_run):
    from n00bqa.probes.ddp import TOLERANCE

    result, _ = ddp_run
    m = result.metrics
    assert m["max_abs_diff_vs_single_process"] <= TOLERANCE
    assert m["max_abs_diff_between_ranks"] == 0.0  # every rank applies the same averaged gradient
    assert m["max_loss_diff_vs_single_process"] <= 1e-5
    assert m["max_weight_change"] > 100 * TOLERANCE  # the comparison is not trivial: the weights did move


@pytest.mark.slow
def test_output_is_whole_and_every_number_in_a_finding_is_measured(ddp_run):
    result, _ = ddp_run
    assert_output_whole(result)


@pytest.mark.slow
def test_findings_state_the_measured_bytes_and_the_verdict(ddp_run):
    result, _ = ddp_run
    assert "exactly the bytes of the parameters" in finding_stating(result, "allreduce_bytes_per_step", "totalling")
    assert "reduce-scatter" in finding_stating(result, "ring_bytes_sent_per_rank", "2(N-1)/N")
    assert "went out while autograd was still computing" in finding_with(result, "overlap")
    assert "equal within" in finding_stating(result, "max_abs_diff_vs_single_process", "largest difference")


@pytest.mark.slow
def test_no_rank_is_left_after_a_run(ddp_run):
    _, pids = ddp_run
    assert len(pids) == 2
    assert_no_ranks_left(pids)
    assert dist_launcher.last_folder() and not os.path.exists(dist_launcher.last_folder())  # the ranks' folder


@pytest.mark.slow
def test_a_failing_rank_is_one_line_naming_it_and_leaves_no_rank(monkeypatch):
    monkeypatch.setenv(dist_launcher.FAULT_ENV, "1:raise")
    probe = find_probe(None, "ddp")
    with pytest.raises(ProbeError) as caught:
        run_probe(None, probe, probe.make_options(steps=1), cache=False)
    message = str(caught.value)
    assert message.startswith("rank 1 of 2 failed: RuntimeError: injected failure")
    assert "\n" not in message
    assert_no_ranks_left(dist_launcher.last_pids())


@pytest.mark.slow
def test_a_rank_that_dies_silently_is_named(monkeypatch):
    monkeypatch.setenv(dist_launcher.FAULT_ENV, "0:exit")
    probe = find_probe(None, "ddp")
    with pytest.raises(ProbeError, match=r"^rank 0 of 2 exited with code 17 before reporting a result"):
        run_probe(None, probe, probe.make_options(steps=1), cache=False)
    assert_no_ranks_left(dist_launcher.last_pids())


def test_verdict_equal_within_on_both_sides():
    from n00bqa.probes import ddp

    result = ddp.report(default_run("ddp").numbers, ddp.PROBE.make_options())
    assert "equal within" in " ".join(result.findings)
    words = ("NOT equal within", "equal within", "tolerance")
    assert ddp.verdict(9e-6, 1e-5, *words) == "equal within"  # the word ddp's report computes
    assert ddp.verdict(2e-5, 1e-5, *words) == "NOT equal within"


def test_bad_options_are_one_line_before_any_rank_starts():
    probe = find_probe(None, "ddp")
    for bad, match in [(dict(nproc=1), "--nproc must be 2, 3 or 4, got 1"),
                       (dict(nproc=5), "--nproc must be 2, 3 or 4, got 5"),
                       (dict(batch=7), "--batch 7 does not split evenly across --nproc 2"),
                       (dict(d_model=4096), "--d-model 4096 gives 201,367,552 parameters.*too large for --nproc 2"),
                       (dict(port=80), "--port must be 0"),
                       (dict(timeout=30, deadline=20), "--deadline must be more than --timeout"),
                       (dict(backend="mpi"), "--backend must be gloo or nccl")]:
        with pytest.raises(ProbeError, match=match) as caught:
            probe.make_options(**bad)
        assert "\n" not in str(caught.value)


def test_nccl_without_gpus_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA GPUs: --backend nccl is valid here")
    with pytest.raises(ProbeError, match="--backend nccl needs CUDA GPUs"):
        find_probe(None, "ddp").make_options(backend="nccl")


def _numbers(**changes):
    from n00bqa.probes.ddp import Bucket, Numbers

    base = dict(nproc=2, param_count=10, param_tensors=3, param_bytes=40, allreduce_bytes_per_step=40,
                allreduce_bytes_every_step_equal=True, allreduce_bytes_step_spread=0, bucket_count=2, bucket_cap_bytes=24,
                buckets=[Bucket(tensors=2, bytes=24, pending_grads=1, first_tensor="b"),
                         Bucket(tensors=1, bytes=16, pending_grads=0, first_tensor="a")],
                first_step_bucket_count=1, ring_bytes_sent_per_rank=40.0, max_abs_diff_vs_single_process=0.0,
                max_abs_diff_between_ranks=0.0, max_loss_diff_vs_single_process=0.0, max_weight_change=1.0,
                tolerance=1e-5, port=1, busy_ports=[])
    return Numbers(**{**base, **changes})


def test_overlap_and_bytes_words_on_both_sides():
    from n00bqa.probes.ddp import Bucket, Options, report

    overlapped = " ".join(report(_numbers(), Options()).findings)
    assert "1 of the 2 buckets went out while autograd was still computing" in overlapped
    assert "exactly the bytes of the parameters" in overlapped
    serial = " ".join(report(_numbers(bucket_count=1, buckets=[Bucket(tensors=3, bytes=40, pending_grads=0,
                                                                       first_tensor="a")],
                                      allreduce_bytes_per_step=44), Options()).findings)
    assert "No bucket went out before the last gradient was computed (1 bucket in all)" in serial
    assert "NOT the parameters' 40 bytes (off by +4)" in serial
    uneven = " ".join(report(_numbers(allreduce_bytes_every_step_equal=False, allreduce_bytes_step_spread=16),
                             Options()).findings)
    assert "40 bytes, NOT the same in every step (the steps' spread: 16 bytes)" in uneven


@pytest.mark.slow
def test_recorded_verdicts_follow_from_the_run(ddp_run):
    from tests.support.recorded_verdicts import verdict_words

    result, _ = ddp_run
    assert verdict_words(result) == [
        ("exact", "exactly the bytes of the parameters: one fp32 gradient per weight"),
        ("exact", "the same in every step"), ("tolerance", "equal within"), ("buckets sent early", "overlap")]
    assert "the same in every step (the steps' spread: 0 bytes)" in " ".join(result.findings)
