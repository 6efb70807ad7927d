"""zero-memory: the ZeRO paper's Figure 1 reproduced, counts parsed, DeepSpeed's estimator outputs, bad values."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.zero_memory import matches_figure_1, parse_count, report, same_traffic
from support.probes import assert_output_whole, finding_with
from support.verdicts import problems
from tests.support.runs import probe_run


def run(**options):
    """The session's run at these options, shared with the verdict harness (tests/support/runs.py)."""
    return probe_run("zero-memory", **options)


@pytest.fixture(scope="module")
def figure_1():
    return run()


def test_figure_1_is_reproduced_exactly(figure_1):
    m = figure_1.metrics
    psi, nd, k = 7.5e9, 64, 12  # the paper's Figure 1: Ψ = 7.5B, N_d = 64, K = 12, fp16 weights and gradients
    # The paper's formulas, written out here, and its printed per-GPU GB.
    assert m["stages.0.gb"] == (2 + 2 + k) * psi / 1e9 == 120.0
    assert m["stages.1.gb"] == ((2 + 2) * psi + k * psi / nd) / 1e9 == 31.40625
    assert m["stages.2.gb"] == (2 * psi + (2 + k) * psi / nd) / 1e9 == 16.640625
    assert m["stages.3.gb"] == (2 + 2 + k) * psi / nd / 1e9 == 1.875
    printed = {0: 120, 1: 31.4, 2: 16.6, 3: 1.9}
    assert {s: round(m[f"stages.{s}.gb"], 1) for s in printed} == printed
    assert m["paper_settings"] is True
    finding_with(figure_1, "match the printed 120, 31.4, 16.6 and 1.9 GB", "4 of 4")
    assert_output_whole(figure_1)


def test_communication_volume_per_stage(figure_1):
    m, psi = figure_1.metrics, 7_500_000_000
    assert [m[f"stages.{s}.comm_elements"] for s in range(4)] == [2 * psi, 2 * psi, 2 * psi, 3 * psi]
    assert [m[f"stages.{s}.comm_bytes"] for s in range(4)] == [4 * psi, 4 * psi, 4 * psi, 6 * psi]  # 2-byte elements
    assert m["stage3_comm_ratio"] == 1.5
    assert m["stages.0.ring_bytes_sent"] == pytest.approx(4 * psi * 63 / 64)  # ring all-reduce: 2(N-1)/N × Ψ × 2 B


def test_every_number_in_a_finding_is_measured(figure_1):
    assert unexplained_numbers(figure_1) == []
    offloaded = run(offload_optimizer=True, offload_param=True, largest_layer_params="1M")
    assert unexplained_numbers(offloaded) == []
    assert not any("Figure 1" in f for f in offloaded.findings)


def with_stage(n, stage: int, **changes):
    """The numbers with one stage's record changed (the other side of a verdict)."""
    return dataclasses.replace(n, stages={**n.stages, stage: dataclasses.replace(n.stages[stage], **changes)})


def test_the_verdicts_on_each_side(figure_1):
    n = figure_1.numbers
    assert matches_figure_1(n) == [True] * 4
    off = with_stage(n, 2, gb=16.7)
    assert matches_figure_1(off) == [True, True, False, True]
    assert any("do NOT match" in f and "3 of 4" in f for f in report(off, None).findings)
    assert same_traffic(n)
    assert not same_traffic(with_stage(n, 1, comm_elements=1))
    assert any("NOT the same" in f for f in report(with_stage(n, 1, comm_elements=1), None).findings)


def test_recorded_verdicts_follow_from_the_run(figure_1):
    m = figure_1.metrics
    recorded = {v.name: v for v in figure_1.verdicts}
    differ = sum(round(m[f"stages.{s}.gb"], 1) != g for s, g in {0: 120, 1: 31.4, 2: 16.6, 3: 1.9}.items())
    assert (recorded["stages that differ"].value, recorded["stages that differ"].word) == (differ, "match") == (0, "match")
    apart = max(abs(m[f"stages.{s}.comm_elements"] - m["stages.0.comm_elements"]) for s in (1, 2))
    assert (recorded["elements apart"].value, recorded["elements apart"].word) == (apart, "the same") == (0, "the same")
    assert problems(figure_1) == []
    # all of ZeRO-3's model state offloaded: the reduction is no number, and the finding says so
    offloaded = run(offload_optimizer=True, offload_param=True)
    assert "0 GB (nothing left on the GPU)" in finding_with(offloaded, "ZeRO-3 (FSDP's full sharding)")
    assert problems(offloaded) == []
    assert [v.value for v in figure_1.verdicts if v.name.startswith("plain DP / ")] == [
        m["stages.0.bytes"] / m[f"stages.{s}.bytes"] for s in (1, 2, 3)]
    assert "(3.82x less)" in finding_with(figure_1, "ZeRO-1 shards")
    one_gpu = run(gpus=1)  # nothing to shard over: every stage keeps what plain DP keeps
    assert "(1x, no less)" in finding_with(one_gpu, "ZeRO-1 shards")
    assert [v.word for v in one_gpu.verdicts if v.name.startswith("plain DP / ")] == [", no less"] * 3
    assert problems(one_gpu) == []


def test_old_metric_names_still_resolve(figure_1):
    probe = find_probe(None, "zero-memory")
    for old, new in {"stage0_gb": "stages.0.gb", "stage3_gb": "stages.3.gb", "stage1_host_gb": "stages.1.host_gb",
                     "stage0_ring_bytes_sent": "stages.0.ring_bytes_sent", "figure_1": "paper_settings"}.items():
        assert probe.metric_name(old) == new and new in figure_1.metrics


@pytest.mark.parametrize("text", ["7.5B", "7.5e9", "7.5E9", "7500000000", "7,500,000,000", "7_500_000_000", "7.5G",
                                  "7500M", " 7.5 b "])
def test_params_parse_to_the_same_count(text):
    assert parse_count(text, "--params") == 7_500_000_000


def test_params_suffixes():
    assert parse_count("350M", "--params") == 350_000_000
    assert parse_count("1.5T", "--params") == 1_500_000_000_000
    assert parse_count("124,439,808", "--params") == 124_439_808
    assert parse_count("2K", "--params") == 2000


def test_fp32_adam_is_16_bytes_per_parameter():
    m = run(params="1M", gpus=4, precision="fp32", k=8).metrics
    assert (m["weight_bytes"], m["grad_bytes"], m["bytes_per_param"]) == (4, 4, 16.0)
    assert m["stages.0.bytes"] == 16_000_000
    assert m["stages.1.bytes"] == 8 * 10**6 + 8 * 10**6 / 4
    assert m["stages.2.bytes"] == 4 * 10**6 + 12 * 10**6 / 4
    assert m["stages.3.bytes"] == 16 * 10**6 / 4
    assert m["stages.0.comm_bytes"] == 8 * 10**6  # fp32 gradients all-reduced: 2Ψ × 4 B


def test_offload_moves_the_optimizer_and_then_the_weights_to_the_host():
    psi, n, largest = 10**9, 8, 10**7
    plain = run(params="1B", gpus=n, largest_layer_params="10M").metrics
    opt = run(params="1B", gpus=n, largest_layer_params="10M", offload_optimizer=True).metrics
    both = run(params="1B", gpus=n, largest_layer_params="10M", offload_optimizer=True, offload_param=True).metrics
    assert plain["stages.3.bytes"] == 16 * psi / n + 4 * largest  # the gathered layer's fp16 weights and gradients
    assert opt["stages.1.bytes"] == 4 * psi and opt["stages.1.host_gb"] == 12 * psi / n / 1e9
    assert opt["stages.2.bytes"] == 2 * psi and opt["stages.2.host_gb"] == 14 * psi / n / 1e9
    assert opt["stages.3.bytes"] == 2 * psi / n + 4 * largest and opt["stages.3.host_gb"] == 14 * psi / n / 1e9
    assert both["stages.3.bytes"] == 4 * largest and both["stages.3.host_gb"] == 16 * psi / n / 1e9
    assert opt["stages.0.bytes"] == plain["stages.0.bytes"]  # no ZeRO, no offload


# DeepSpeed's estimate_zero3_model_states_mem_needs_all_live printed for t5-small on 1 GPU
# (60,506,624 parameters, largest layer the 32,128 x 512 shared embedding), in its GiB, as reproduced at
# https://blog.csdn.net/u012327567/article/details/132278598 : (per CPU, per GPU) with zero_init=1.
DEEPSPEED_T5_SMALL = {(True, True): (1.52, 0.06), (False, True): (1.35, 0.17), (False, False): (0.09, 1.08)}


@pytest.mark.parametrize("offload", list(DEEPSPEED_T5_SMALL))
def test_deepspeed_estimator_reproduces_its_printed_t5_small_figures(offload):
    offload_param, offload_optimizer = offload
    m = run(params="60,506,624", largest_layer_params=str(32128 * 512), gpus=1,
            offload_optimizer=offload_optimizer, offload_param=offload_param).metrics
    gib = 2**30 / 1e9  # our GB are 1e9 bytes; DeepSpeed prints 2**30
    cpu, gpu = DEEPSPEED_T5_SMALL[offload]
    assert round(m["deepspeed.zero3_host_gb"] / gib, 2) == cpu
    assert round(m["deepspeed.zero3_gpu_gb"] / gib, 2) == gpu


def test_deepspeed_zero2_formula_by_hand():
    psi, n = 7.5e9, 64
    m = run().metrics
    assert m["deepspeed.zero2_gpu_gb"] == pytest.approx((2 * psi + 18 * psi / n) / 1e9)
    m = run(offload_optimizer=True).metrics
    assert m["deepspeed.zero2_gpu_gb"] == 2 * psi / 1e9
    assert m["deepspeed.zero2_host_gb"] == pytest.approx(psi * max(4 * n, 16) * 1.5 / 1e9)


@pytest.mark.parametrize("options, message", [
    ({"params": "lots"}, "--params 'lots' is not a count"),
    ({"params": "1.2345K"}, "not a whole number"),
    ({"params": "0"}, "must be between 1 and 1e15"),
    ({"params": "7.5.1B"}, "is not a count"),
    ({"gpus": 0}, "--gpus must be between 1 and 1000000, got 0"),
    ({"k": -1.0}, "--k must be between 0 and 64 bytes per parameter .*, got -1"),
    ({"precision": "fp8"}, "--precision 'fp8' must be one of: mixed, fp32"),
    ({"offload_param": True}, "--offload-param needs --offload-optimizer"),
    ({"params": "1M", "largest_layer_params": "2M"}, "cannot hold more parameters than the model"),
    ({"gpus": 12, "gpus_per_node": 8}, "--gpus 12 does not fill machines of --gpus-per-node 8"),
])
def test_bad_values_are_one_line_errors(options, message):
    with pytest.raises(ProbeError, match=message) as err:
        find_probe(None, "zero-memory").make_options(**options)
    assert "\n" not in str(err.value)


def test_listing_the_calculator_imports_no_torch():
    code = "import sys, n00bqa.probes.zero_memory as z; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
