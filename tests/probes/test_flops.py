"""flops: the formula written out again here, FlopCounterMode on transformers' GPT-2 (a model we did not
write), the CPU SDPA gap against torch's own registry, MFU arithmetic, and Chinchilla's Table 3 as printed."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import report_with_verdicts
from n00bqa.probes.flops import report, within
from support.probes import assert_output_whole, finding_stating
from support.verdicts import problems
from tests.support.runs import default_run

# The defaults: the verdict harness runs them anyway, and `result` reads that same run (tests/support/runs.py).
DEFAULTS = dataclasses.asdict(find_probe(None, "flops").make_options())

# Hoffmann et al. 2022, Table 3, typed again from the paper: (params, FLOPs, tokens)
TABLE_3 = {"400M": (4e8, 1.92e19, 8.0e9), "1B": (1e9, 1.21e20, 20.2e9), "10B": (1e10, 1.23e22, 205.1e9),
           "67B": (6.7e10, 5.76e23, 1.5e12), "175B": (1.75e11, 3.85e24, 3.7e12), "280B": (2.8e11, 9.90e24, 5.9e12),
           "520B": (5.2e11, 3.43e25, 11.0e12), "1T": (1e12, 1.27e26, 21.2e12), "10T": (1e13, 1.30e28, 216.2e12)}


@pytest.fixture(scope="module")
def result():
    return default_run("flops")


def formula(L, d, V, T, tokens):
    """Written out: each matmul weight 2 FLOPs forward + 4 backward; attention QKᵀ and AV 2·T·d each per
    token per layer forward, times 3 with backward."""
    n_matrix = L * (d * 3 * d + d * d + d * 4 * d + 4 * d * d) + d * V
    return 6 * n_matrix * tokens + 3 * L * (2 * T * d + 2 * T * d) * tokens, n_matrix


def test_every_number_in_a_finding_is_measured(result):
    assert_output_whole(result)


def test_counted_flops_equal_the_formula(result):
    m = result.metrics
    tokens = DEFAULTS["batch_size"] * DEFAULTS["seq_len"]
    total, n_matrix = formula(DEFAULTS["n_layer"], DEFAULTS["n_embd"], DEFAULTS["vocab_size"], DEFAULTS["seq_len"], tokens)
    assert m["matrix_params"] == n_matrix
    assert m["counted_flops"] == m["formula_flops"] == total
    assert m["counted_over_formula"] == 1.0
    assert m["six_n_t_flops"] == 6 * n_matrix * tokens
    assert m["attention_share"] == pytest.approx(m["attention_flops"] / total)
    ops = result.numbers.flops_by_op
    assert sum(ops.values()) == m["counted_flops"] and ops["bmm"] == m["attention_flops"]
    table = next(t for t in result.tables if t.title.startswith("FLOPs by op"))
    assert {row[0]: row[1] for row in table.rows} == ops
    finding_stating(result, "counted_flops", "(exactly equal)")


def test_the_formula_also_counts_transformers_gpt2():
    """Not our model: HF GPT-2 with eager attention (Conv1D = addmm, whose bias add FlopCounterMode ignores)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    L, d, V, T, B = 2, 64, 120, 16, 3
    config = GPT2Config(vocab_size=V, n_positions=T, n_embd=d, n_layer=L, n_head=4, bos_token_id=None,
                        eos_token_id=None, attn_implementation="eager")
    model = GPT2LMHeadModel(config)
    assert model.config._attn_implementation == "eager"
    idx = torch.randint(V, (B, T))
    with FlopCounterMode(display=False) as counter:
        model(idx, labels=idx).loss.backward()
    assert counter.get_total_flops() == formula(L, d, V, T, B * T)[0]


def test_cpu_sdpa_is_invisible_to_flop_counter(result):
    m = result.metrics
    registry = FlopCounterMode(display=False).flop_registry
    assert (torch.ops.aten._scaled_dot_product_flash_attention_for_cpu in registry) == m["cpu_sdpa_has_formula"]
    assert m["cpu_sdpa_has_formula"] is False
    assert m["sdpa_counted_flops"] == m["six_n_t_flops"]  # exactly the attention term goes missing


def test_peak_and_mfu_arithmetic(result):
    m = result.metrics
    assert m["matmul_peak_gflops"] >= m["matmul_median_gflops"] > 0
    assert m["achieved_gflops"] == pytest.approx(m["counted_flops"] / m["step_seconds"] / 1e9)
    assert m["mfu"] == pytest.approx(m["achieved_gflops"] / m["matmul_peak_gflops"])
    assert 0 < m["mfu"] < 2  # a noisy shared CPU can time one matmul slow; never orders of magnitude off


def test_attention_crossover_is_computed(result):
    """The attention term equals 6·N at T = N / (2·L·d): recomputed from the counted matrix weights, and the
    sentence places T against it (no fixed "comparable")."""
    m = result.metrics
    opts = DEFAULTS
    cross = m["matrix_params"] / (2 * opts["n_layer"] * opts["n_embd"])
    assert m["attention_crossover_len"] == pytest.approx(cross)
    assert 12 * opts["n_layer"] * cross * opts["n_embd"] == pytest.approx(6 * m["matrix_params"])
    assert m["seq_len_over_crossover"] == pytest.approx(opts["seq_len"] / cross)
    finding = finding_stating(result, "attention_crossover_len", "would equal them")
    assert "comparable" not in finding


def test_gpt3_attention_share_closed_form(result):
    m = result.metrics
    L, d, T, V = 96, 12288, 2048, 50257
    attention = 12 * L * T * d
    assert m["gpt3.attention_share"] == pytest.approx(attention / (6 * (12 * L * d * d + V * d) + attention))
    assert 0.02 < m["gpt3.attention_share"] < 0.03


def test_chinchilla_rows_as_published(result):
    m = result.metrics
    for name, (params, flops, tokens) in TABLE_3.items():
        assert m[f"chinchilla.{name}.params"] == params
        assert m[f"chinchilla.{name}.published_flops"] == flops
        assert m[f"chinchilla.{name}.tokens"] == tokens
        assert m[f"chinchilla.{name}.flops_6nd"] == pytest.approx(6 * params * tokens)
        assert 19.9 < tokens / params < 22.5  # about 20 tokens per parameter
    within_1pct = [n for n, (p, f, t) in TABLE_3.items() if abs(6 * p * t / f - 1) <= 0.01]
    assert m["chinchilla_rows_within"] == len(within_1pct) == 8
    assert set(TABLE_3) - set(within_1pct) == {"67B"}
    finding_stating(result, "chinchilla_rows_within", "The 67B row is the exception")
    assert m["chinchilla.67B.implied_tokens"] == pytest.approx(5.76e23 / (6 * 6.7e10))
    assert m["chinchilla.67B.gopher_units"] == 1.0  # the table's "FLOPs (in Gopher unit)" column prints 1
    assert m["chinchilla.10T.gopher_units"] == pytest.approx(22515.9, rel=5e-3)  # printed 22515.9 (from unrounded FLOPs)
    # the paper's whole "FLOPs (in Gopher unit)" column (Hoffmann et al. 2022, Table 3), an outside figure per row:
    # its entries come from unrounded FLOPs, so the rounded FLOPs column reproduces them to within 2 %
    printed = {"400M": 1 / 29_968, "1B": 1 / 4_761, "10B": 1 / 46, "175B": 6.7, "280B": 17.2, "520B": 59.5,
               "1T": 221.3}
    for name, units in printed.items():
        assert m[f"chinchilla.{name}.gopher_units"] == pytest.approx(units, rel=0.02), name
    assert m["chinchilla.400M.cpu_years"] == pytest.approx(1.92e19 / (m["achieved_gflops"] * 1e9) / (365.25 * 86400))


def test_verdicts_each_side_of_their_threshold(result):
    assert within(1.009) and not within(1.047) and within(0.991) and not within(0.98)
    probe = find_probe(None, "flops")
    opts = probe.make_options(**DEFAULTS)
    n = result.numbers
    exactly = [f for f in report(n, opts).findings if "(exactly equal)" in f]
    assert len(exactly) == 1 and "FlopCounterMode counts" in exactly[0]
    off = report(dataclasses.replace(n, counted_flops=n.formula_flops + 1), opts).findings
    assert not any("(exactly equal)" in f for f in off) and any("(NOT exactly equal)" in f for f in off)
    counted = report(dataclasses.replace(n, sdpa_counted_flops=n.counted_flops, counted_over_six_n_t=1.0), opts)
    text = " ".join(counted.findings)
    assert "the attention FLOPs are all counted (0 missing)" in text and "6NT = 1.0000" in text
    assert ") does not undercount by that much" in text
    made, recorded = report_with_verdicts(report, n, opts)
    rows = {v.name: v for v in recorded if v.name.endswith("row's gap")}
    assert [name for name, v in rows.items() if v.word == "the exception"] == ["67B row's gap"]
    assert " The 67B row is the exception: " in " ".join(made.findings)


def test_recorded_verdicts_follow_from_the_run(result):
    m = result.metrics
    recorded = {v.name: v for v in result.verdicts}
    assert recorded["FLOPs apart"].value == abs(m["counted_flops"] - m["formula_flops"]) == 0
    assert (recorded["counted / 6NT"].value, recorded["counted / 6NT"].word) == (m["counted_over_six_n_t"],
                                                                                 "undercounts")
    assert recorded["attention FLOPs missing"].value == m["counted_flops"] - m["sdpa_counted_flops"] > 0
    for name, (params, printed, tokens) in TABLE_3.items():  # the table as typed here, not the probe's copy
        gap = abs(6 * params * tokens / printed - 1)
        assert recorded[f"{name} row's gap"].value == pytest.approx(gap)
        assert recorded[f"{name} row's gap"].word == ("the exception" if gap > 0.01 else "within")
    assert problems(result) == []


@pytest.mark.parametrize("values, message", [
    (dict(n_embd=30, n_head=4), "not divisible"),
    (dict(matmul_size=1), "--matmul-size"),
    (dict(repeats=0), "--repeats"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "flops").make_options(**values)
