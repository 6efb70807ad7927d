"""activation-memory: saved bytes counted independently, the paper's formula written out here, checkpointing."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.activation_memory import SavedTensorLedger, build_layer, report
from n00bqa.probes.base import report_with_verdicts
from n00bqa.probes.runs import run_probe
from support.probes import assert_output_whole, finding_with
from support.verdicts import problems
from tests.support.recorded_verdicts import verdicts_by_name

H, A, SEQS, BATCHES, P = 64, 4, (32, 64), (1, 2), 0.1


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "activation-memory")
    opts = probe.make_options(n_embd=H, n_head=A, seq_lens="32,64", batches="1,2", dropout=P)
    return run_probe(None, probe, opts, cache=False)


def korthikanti(s, b, h, a):
    """Korthikanti et al. 2022, eq. (1): activations per layer, 16-bit, no parallelism: sbh(34 + 5as/h)."""
    return s * b * h * (34 + 5 * a * s / h)


def expected_saved(s, b, h, a, e):
    """What this backend saves, counted tensor by tensor (e bytes per activation element).

    Layer norm 1 and 2: input (sbh) + mean and rstd (sb each); QKV and output projections' inputs (sbh
    each); Q, K, V (3sbh); the scores after softmax and after dropout (a s^2 b each); GELU input and the
    MLP down-projection's input (4sbh each); the MLP up-projection's input (sbh); CPU dropout's
    multiplier tensors, in the activations' dtype (a s^2 b and 2 x sbh); the bool causal mask (s^2).
    """
    sbh, sb, as2b = s * b * h, s * b, a * s * s * b
    layer_norms = 2 * (sbh + 2 * sb)
    projections = sbh + sbh + 3 * sbh + sbh  # c_attn input, Q K V, c_proj input, c_fc input
    scores = 2 * as2b
    mlp = 4 * sbh + 4 * sbh
    dropout_masks = as2b + 2 * sbh
    return e * (layer_norms + projections + scores + mlp + dropout_masks) + s * s


def test_every_number_in_a_finding_is_measured(result):
    assert_output_whole(result)


def test_each_case_saves_what_the_ops_save(result):
    m = result.metrics
    for s in SEQS:
        for b in BATCHES:
            key = f"cases.s{s}_b{b}"
            assert m[f"{key}.saved_bytes"] == expected_saved(s, b, H, A, e=2)
            assert m[f"{key}.formula_bytes"] == korthikanti(s, b, H, A)
            assert m[f"{key}.ratio"] == pytest.approx(expected_saved(s, b, H, A, 2) / korthikanti(s, b, H, A))
    s, b = SEQS[-1], BATCHES[-1]
    assert m["activation_formula_ratio"] == m[f"cases.s{s}_b{b}.ratio"] > 1
    assert m["gap.unexplained_bytes"] == 0
    assert m["gap.dropout_mask_extra_bytes"] == A * s * s * b + 2 * s * b * H  # 2-byte masks where the paper has 1
    assert m["gap.layernorm_stats_bytes"] == 2 * 2 * s * b * 2
    assert m["gap.causal_mask_bytes"] == s * s


def test_fp32_against_the_adjusted_formula(result):
    m, s, b = result.metrics, SEQS[-1], BATCHES[-1]
    sbh, as2b = s * b * H, A * s * s * b
    assert m["fp32.formula_bytes"] == 4 * (16 * sbh + 2 * as2b) + 2 * sbh + as2b == sbh * (66 + 9 * A * s / H)
    assert m["fp32.saved_bytes"] == expected_saved(s, b, H, A, e=4)


def test_ledger_counts_a_storage_once_and_skips_weights():
    w = torch.randn(4, 4, requires_grad=True)
    x = torch.randn(4, 4, requires_grad=True)
    ledger = SavedTensorLedger([w])
    with ledger.hooks():
        base = x * 2  # mul by a Python number saves nothing
        top, bottom = base[:2], base[2:]  # two views of one 64-byte storage
        out = (top * top).sum() + (bottom * bottom).sum() + (base @ w).sum()  # base@w saves base and w
    assert ledger.total() == base.untyped_storage().nbytes() == 64
    del out


def test_fused_attention_saves_no_square_tensor(result):
    m, s, b = result.metrics, SEQS[-1], BATCHES[-1]
    sbh, as2b = s * b * H, A * s * s * b
    # Written out: Q, K, V, the scores after softmax and after dropout, the 2-byte dropout mask, the bool mask.
    assert m["explicit_attention_bytes"] == 2 * (3 * sbh + 3 * as2b) + s * s
    # Fused: Q, K, V (one storage), the output, one fp32 logsumexp per query row and head; nothing s x s.
    assert m["sdpa.logsumexp_bytes"] == 4 * b * A * s
    assert m["sdpa.attention_bytes"] == 2 * (3 * sbh + sbh) + 4 * b * A * s
    assert m["sdpa.saved_bytes"] < m["saved_bytes"]


def test_checkpoint_keeps_only_the_layer_input(result):
    m, s, b = result.metrics, SEQS[-1], BATCHES[-1]
    assert m["checkpoint.saved_bytes"] == m["checkpoint.formula_bytes"] == 2 * s * b * H
    assert m["checkpoint.saved_fraction"] > 0
    assert m["checkpoint.saved_fraction"] == pytest.approx(1 - 2 * s * b * H / m["saved_bytes"])
    # Selective: everything but the core, plus the core's inputs Q, K, V; no s x s term.
    as2b = A * s * s * b
    core = 2 * (2 * as2b) + 2 * as2b + s * s  # softmax and dropout outputs, the dropout mask, the causal mask
    assert m["selective.saved_bytes"] == expected_saved(s, b, H, A, e=2) - core
    assert m["selective.formula_bytes"] == 34 * s * b * H


def test_recompute_flops_against_flop_counter_mode(result):
    m, s, b = result.metrics, SEQS[-1], BATCHES[-1]
    layer = build_layer(H, A, P).train().to(torch.bfloat16)
    x = torch.randn(b, s, H, dtype=torch.bfloat16, requires_grad=True)
    with FlopCounterMode(display=False) as counter:  # torch's counter itself, not the probe's lib/counting
        layer(x)
    forward = counter.get_total_flops()
    assert forward == 24 * b * s * H * H + 4 * b * s * s * H == m["forward_flops"] == m["forward_flops_formula"]
    assert m["checkpoint.recompute_flops"] == m["checkpoint.recompute_flops_no_early_stop"] == forward  # rerun once
    assert m["checkpoint.early_stop_skipped_flops"] == 0  # the last dropout's mask is saved at the very end
    assert m["train_step_flops"] == 3 * forward  # backward costs two forwards
    assert m["selective.recompute_flops"] == 2 * b * s * s * H  # Q·Kᵀ only: early stop skips scores·V
    assert m["selective.recompute_flops_no_early_stop"] == m["selective.recompute_formula"] == 4 * b * s * s * H
    assert m["checkpoint.grad_max_abs_diff"] == 0.0
    assert m["selective.grad_max_abs_diff"] == 0.0
    finding_with(result, "exactly one forward", "equal", "bit-identical")


def test_the_verdicts_on_each_side(result):
    n = result.numbers  # flip each test on the run's own numbers
    text = " ".join(report(n, None).findings)
    assert "explained to the byte" in text and "exactly one forward" in text and "bit-identical" in text
    flipped = dataclasses.replace(
        n, gap=dataclasses.replace(n.gap, unexplained_bytes=8), forward_flops_formula=n.forward_flops + 1,
        checkpoint=dataclasses.replace(n.checkpoint, recompute_flops_no_early_stop=n.forward_flops + 1,
                                       grad_max_abs_diff=0.5))
    text = " ".join(report(flipped, None).findings)
    assert "NOT fully explained (8 bytes left)" in text and "NOT one forward" in text
    assert "NOT equal" in text and "NOT identical" in text
    made, recorded = report_with_verdicts(report, flipped, None)
    assert {v.name: v.word for v in recorded}["bytes unexplained"] == "NOT fully explained"
    assert [v.word for v in recorded if v.name == "exact"] == ["NOT identical"]


def test_recorded_verdicts_follow_from_the_run(result):
    m = result.metrics
    by_name = verdicts_by_name(result)
    assert [v.value for v in by_name["bytes unexplained"]] == [abs(m["gap.unexplained_bytes"])] == [0]
    assert by_name["bytes over the formula"][0].value == m["gap.total_bytes"]
    assert by_name["bytes over the formula"][0].word == ("excess" if m["gap.total_bytes"] > 0 else "shortfall")
    apart = [v.value for v in by_name["FLOPs apart"]]
    assert apart == [abs(m["checkpoint.recompute_flops_no_early_stop"] - m["forward_flops"]),
                     abs(m["forward_flops"] - m["forward_flops_formula"]),
                     abs(m["selective.recompute_flops_no_early_stop"] - m["selective.recompute_formula"])] == [0, 0, 0]
    fused = by_name["the bytes written out"][0]
    assert (fused.value, fused.threshold) == (m["sdpa.attention_bytes"], m["explicit_attention_bytes"])
    assert fused.word == ("more than" if m["sdpa.attention_bytes"] > m["explicit_attention_bytes"] else "less than")
    [qk] = by_name["FLOPs beyond Q·Kᵀ"]  # Q·Kᵀ alone: 2bs^2h of the paper's 4bs^2h
    assert qk.value == abs(m["selective.recompute_flops"] - m["selective.recompute_formula"] / 2) == 0
    assert by_name["exact"][0].word == "bit-identical"
    ratio = by_name["the bf16 ratio"][0]
    assert (ratio.value, ratio.threshold) == (m["fp32.ratio"], m["activation_formula_ratio"])
    assert problems(result) == []


def test_old_metric_names_still_resolve(result):
    probe = find_probe(None, "activation-memory")
    for old, new in {"checkpoint_saved_fraction": "checkpoint.saved_fraction", "fp32_ratio": "fp32.ratio",
                     "selective_recompute_formula": "selective.recompute_formula", "gap_bytes": "gap.total_bytes",
                     "unexplained_bytes": "gap.unexplained_bytes", "sdpa_logsumexp_bytes": "sdpa.logsumexp_bytes",
                     "saved_bytes": "saved_bytes"}.items():
        assert probe.metric_name(old) == new and new in result.metrics


@pytest.mark.parametrize("options, message", [
    ({"n_embd": 64, "n_head": 5}, "--n-head 5 must divide --n-embd 64"),
    ({"seq_lens": "a,b"}, "--seq-lens 'a,b' must be whole numbers"),
    ({"batches": "0"}, "--batches '0' must list sizes between 1 and 64"),
    ({"dropout": 1.0}, "--dropout 1 must be at least 0 and below 1"),
    ({"seq_lens": "4096", "batches": "64"}, "would save about"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ProbeError, match=message) as err:
        find_probe(None, "activation-memory").make_options(**options)
    assert "\n" not in str(err.value)


def test_without_dropout_the_gap_is_still_explained():
    probe = find_probe(None, "activation-memory")
    s, b = 32, 2
    m = run_probe(None, probe, probe.make_options(n_embd=H, n_head=A, seq_lens=str(s), batches=str(b), dropout=0.0),
                  cache=False).metrics
    sbh, as2b = s * b * H, A * s * s * b
    assert m["gap.unexplained_bytes"] == 0
    assert m["gap.dropout_mask_extra_bytes"] == -(as2b + 2 * sbh)  # no masks at all, where the paper counts 1 byte
    assert m["gap.shared_scores_bytes"] == 2 * as2b  # scores·V keeps softmax's own output
    # No mask after the last matmul: early stop skips it, 2 x (b s) x 4h x h FLOPs.
    assert m["checkpoint.early_stop_skipped_flops"] == 8 * b * s * H * H
    assert m["checkpoint.recompute_flops_no_early_stop"] == m["forward_flops"]
