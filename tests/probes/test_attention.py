"""attention: the head by hand against torch's SDPA and nn.MultiheadAttention built here, the mask's zeros,
the score variance against d_k, the entropy recomputed with numpy, the Jacobian against autograd."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.probes.attention import D_KS, one_head, report, saturated, softmax_stats
from tests.support.probes import assert_output_whole, finding_stating, finding_with
from tests.support.runs import default_run


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "attention")
    return default_run(probe.name)


def test_output_is_whole_and_every_number_is_measured(result):
    assert_output_whole(result)


def test_head_by_hand_equals_sdpa_and_mha(result):
    m = result.metrics
    assert m["by_hand_vs_sdpa_max_abs_diff"] <= m["tolerance"]
    assert m["by_hand_vs_mha_max_abs_diff"] <= m["tolerance"]
    assert m["weights_vs_mha_max_abs_diff"] <= m["tolerance"]
    assert m["d_k"] == 64 // 4
    assert "It is equal to" in finding_stating(result, "by_hand_vs_sdpa_max_abs_diff", "scaled_dot_product_attention")


def test_one_head_matches_sdpa_in_float64_and_without_mask():
    torch.manual_seed(1)
    x = torch.randn(7, 12, dtype=torch.float64)
    w_q, w_k, w_v = (torch.randn(12, 5, dtype=torch.float64) for _ in range(3))
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    for causal in (True, False):
        out, weights = one_head(x, w_q, w_k, w_v, causal=causal)
        ref = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=causal)[0]
        assert torch.allclose(out, ref, atol=1e-12)
    # and a plain loop: each row's softmax over the allowed keys, written out
    out, weights = one_head(x, w_q, w_k, w_v)
    for t in range(7):
        s = [float(q[t] @ k[j]) / math.sqrt(5) for j in range(t + 1)]
        e = [math.exp(v_ - max(s)) for v_ in s]
        assert [float(w) for w in weights[t, :t + 1]] == pytest.approx([v_ / sum(e) for v_ in e], abs=1e-12)


def test_mha_with_other_shapes_equals_heads_by_hand():
    torch.manual_seed(2)
    d, h, T = 24, 3, 5
    mha = torch.nn.MultiheadAttention(d, h, bias=False, batch_first=True)
    x = torch.randn(1, T, d)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    with torch.no_grad():
        ref, _ = mha(x, x, x, attn_mask=mask)
        W_q, W_k, W_v = mha.in_proj_weight.split(d)
        heads = [one_head(x[0], W_q[i * 8:(i + 1) * 8].T, W_k[i * 8:(i + 1) * 8].T, W_v[i * 8:(i + 1) * 8].T)[0]
                 for i in range(h)]
        mine = torch.cat(heads, -1) @ mha.out_proj.weight.T
    assert torch.allclose(mine, ref[0], atol=1e-5)


def test_future_weights_are_exactly_zero(result):
    assert result.metrics["future_weight_max"] == 0.0
    weights = next(t for t in result.tables if t.title.startswith("Attention weights"))
    for i, row in enumerate(weights.rows):
        assert all(w == 0.0 for w in row[1 + i + 1:])
        assert sum(row[1:]) == pytest.approx(1.0, abs=0.01)  # rounded to 3 decimals
    assert result.metrics["row_sum_max_error"] < 1e-6
    finding_with(result, "mask works by value", "is exactly 0 (0.0")


def test_score_variance_is_d_k_raw_and_one_scaled(result):
    m = result.metrics
    for dk in D_KS:
        assert m[f"sweep.{dk}.unscaled.score_var"] == pytest.approx(dk, rel=0.1)
        assert m[f"sweep.{dk}.scaled.score_var"] == pytest.approx(1.0, rel=0.1)
    finding_stating(result, "sweep.512.unscaled.score_var", "variance grows with d_k")


def numpy_entropy(std, keys=64, rows=4000, seed=0):
    """Mean entropy of softmax over `keys` Gaussian scores of standard deviation `std`, with numpy."""
    z = np.random.default_rng(seed).normal(0.0, std, size=(rows, keys))
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return float(-(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1).mean())


def test_entropies_recomputed_separately(result):
    m = result.metrics
    assert m["ln_keys"] == pytest.approx(math.log(64))
    # scaled scores have std 1 whatever d_k; raw ones std √d_k (q·k of unit components is ~Gaussian here)
    sweep = result.numbers.sweep
    assert sweep[512].scaled.entropy == pytest.approx(numpy_entropy(1.0), abs=0.05)
    assert sweep[8].scaled.entropy == pytest.approx(numpy_entropy(1.0), abs=0.05)
    assert sweep[512].unscaled.entropy == pytest.approx(numpy_entropy(math.sqrt(512)), rel=0.3)
    assert sweep[64].unscaled.entropy == pytest.approx(numpy_entropy(8.0), rel=0.3)
    assert sweep[512].unscaled.entropy < sweep[64].unscaled.entropy < sweep[8].unscaled.entropy
    assert saturated(m["sweep.512.unscaled.entropy"], m["ln_keys"])
    assert not saturated(m["sweep.512.scaled.entropy"], m["ln_keys"])
    finding_stating(result, "sweep.512.unscaled.entropy", "is saturated", "Scaled it is NOT saturated")
    table = next(t for t in result.tables if t.title.startswith("√d_k"))
    assert [row[0] for row in table.rows] == list(D_KS)


def test_old_metric_names_resolve_to_the_same_values(result):
    probe = find_probe(None, "attention")
    assert len(probe.renamed_metrics) == 18
    assert probe.metric_name("entropy_unscaled_dk512") == "sweep.512.unscaled.entropy"
    assert probe.metric_name("no_grad_rows_scaled_dk512") == "sweep.512.scaled.no_grad_rows"
    assert all(new in result.metrics for new in probe.renamed_metrics.values())
    assert all(p.metric in result.metrics for p in probe.predictions)


def test_softmax_stats_against_autograd_jacobian():
    torch.manual_seed(3)
    scores = torch.randn(5, 9, dtype=torch.float64) * 3
    stats = softmax_stats(scores)
    entropy, top, jac, dead = stats.entropy, stats.max_weight, stats.softmax_grad, stats.no_grad_rows
    norms, entropies = [], []
    for row in scores:
        J = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), row)  # (9, 9)
        norms.append(float(J.norm()))
        p = torch.softmax(row, -1)
        entropies.append(float(-(p * p.log()).sum()))
    assert jac == pytest.approx(sum(norms) / 5, rel=1e-9)
    assert entropy == pytest.approx(sum(entropies) / 5, rel=1e-9)
    assert top == pytest.approx(float(torch.softmax(scores, -1).amax(-1).mean()))
    assert dead == pytest.approx(sum(n < 0.01 for n in norms) / 5)
    assert stats.score_var == pytest.approx(float(scores.var()))


def test_saturation_starves_gradient(result):
    wide = result.numbers.sweep[512]
    assert wide.unscaled.softmax_grad < wide.scaled.softmax_grad
    assert wide.unscaled.no_grad_rows > wide.scaled.no_grad_rows
    assert wide.unscaled.max_weight > 0.8 > wide.scaled.max_weight
    finding_stating(result, "sweep.512.unscaled.softmax_grad", "Both say saturation starves the gradient")


def test_starves_verdict_on_both_sides(result):
    """--keys 1024: the unscaled norm (0.133) is above the scaled one (0.051), so the probe must not say
    "starves"; the uniform softmax's norm is recomputed from its Jacobian."""
    import torch

    from n00bqa.probes.attention import starves

    assert starves(0.095, 0.183, 0.52, 0.0) and not starves(0.133, 0.051, 0.42, 0.0)
    assert not starves(0.05, 0.1, 0.0, 0.0)  # lower norm but no more dead rows: the measures disagree
    probe = find_probe(None, "attention")
    wide = run_probe(None, probe, probe.make_options(keys=1024, queries=64), seed=0, cache=False)
    m = wide.metrics
    p = torch.full((1024,), 1 / 1024, dtype=torch.float64)
    assert m["uniform_softmax_grad"] == pytest.approx(float(torch.linalg.norm(torch.diag(p) - torch.outer(p, p))))
    sentence = finding_stating(wide, "uniform_softmax_grad", "do NOT both say saturation starves")
    assert (m["sweep.512.unscaled.softmax_grad"] > m["sweep.512.scaled.softmax_grad"]) and "above the scaled" in sentence


def test_verdicts_each_side_of_their_threshold(result):
    assert saturated(0.3, math.log(64)) and not saturated(0.5, math.log(64))  # threshold 0.416
    probe = find_probe(None, "attention")
    opts = probe.make_options()
    n = result.numbers
    assert any("It is equal to" in f for f in report(n, opts).findings)
    wide = n.sweep[512]
    broken_sweep = {**n.sweep, 512: dataclasses.replace(wide, unscaled=dataclasses.replace(wide.unscaled, entropy=3.0))}
    broken = dataclasses.replace(n, by_hand_vs_sdpa_max_abs_diff=0.1, sweep=broken_sweep)
    words = report(broken, opts).findings
    assert any("It is NOT equal to" in f for f in words)
    assert any("Unscaled at d_k = 512 the softmax over 64 keys is NOT saturated" in f for f in words)


@pytest.mark.parametrize("values, message", [
    (dict(d_model=30, n_head=4), "not divisible"),
    (dict(seq_len=1), "--seq-len"),
    (dict(keys=1), "--keys"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "attention").make_options(**values)


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    assert verdict_words(result) == [
        ("tolerance", "equal"), ("tolerance", "equal"), ("exact", "exactly 0"), ("tolerance", "sums to 1"),
        ("saturation entropy", "saturated"), ("saturation entropy", "NOT saturated"),
        ("scaled Jacobian norm", "below"), ("scaled share of rows below the floor", "more"),
        ("measures that must agree, of 2", "Both say saturation starves the gradient")]
    probe = find_probe(None, "attention")
    wide = run_probe(None, probe, probe.make_options(keys=1024, queries=64), seed=0, cache=False)
    words = dict(verdict_words(wide)[-3:])
    assert words["scaled Jacobian norm"] == "above"  # 0.133 vs 0.051 at --keys 1024 (issue 24 item 6)
    assert words["measures that must agree, of 2"].startswith("They do NOT both say")
