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
from n00bqa.probes.attention import D_KS, Numbers, one_head, report, saturated, softmax_stats
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "attention")
    return run_probe(None, probe, probe.make_options(), seed=0, cache=False)


def test_every_number_in_a_finding_is_measured(result):
    assert unexplained_numbers(result) == []


def test_head_by_hand_equals_sdpa_and_mha(result):
    m = result.metrics
    assert m["by_hand_vs_sdpa_max_abs_diff"] <= m["tolerance"]
    assert m["by_hand_vs_mha_max_abs_diff"] <= m["tolerance"]
    assert m["weights_vs_mha_max_abs_diff"] <= m["tolerance"]
    assert m["d_k"] == 64 // 4


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


def test_score_variance_is_d_k_raw_and_one_scaled(result):
    m = result.metrics
    for dk in (8, 64, 512):
        assert m[f"score_var_unscaled_dk{dk}"] == pytest.approx(dk, rel=0.1)
        assert m[f"score_var_scaled_dk{dk}"] == pytest.approx(1.0, rel=0.1)


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
    assert m["entropy_scaled_dk512"] == pytest.approx(numpy_entropy(1.0), abs=0.05)
    assert m["entropy_scaled_dk8"] == pytest.approx(numpy_entropy(1.0), abs=0.05)
    assert m["entropy_unscaled_dk512"] == pytest.approx(numpy_entropy(math.sqrt(512)), rel=0.3)
    assert m["entropy_unscaled_dk64"] == pytest.approx(numpy_entropy(8.0), rel=0.3)
    assert m["entropy_unscaled_dk512"] < m["entropy_unscaled_dk64"] < m["entropy_unscaled_dk8"]
    assert saturated(m["entropy_unscaled_dk512"], m["ln_keys"])
    assert not saturated(m["entropy_scaled_dk512"], m["ln_keys"])
    sweep = next(t for t in result.tables if t.title.startswith("√d_k"))
    assert [row[0] for row in sweep.rows] == list(D_KS)


def test_softmax_stats_against_autograd_jacobian():
    torch.manual_seed(3)
    scores = torch.randn(5, 9, dtype=torch.float64) * 3
    entropy, top, jac, dead = softmax_stats(scores)
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


def test_saturation_starves_gradient(result):
    m = result.metrics
    assert m["softmax_grad_unscaled_dk512"] < m["softmax_grad_scaled_dk512"]
    assert m["no_grad_rows_unscaled_dk512"] > m["no_grad_rows_scaled_dk512"]
    assert m["max_weight_unscaled_dk512"] > 0.8 > m["max_weight_scaled_dk512"]


def test_verdicts_each_side_of_their_threshold(result):
    assert saturated(0.3, math.log(64)) and not saturated(0.5, math.log(64))  # threshold 0.416
    probe = find_probe(None, "attention")
    opts = probe.make_options()
    m = result.metrics
    fields = {f.name for f in dataclasses.fields(Numbers)}
    n = Numbers(**{k: m[k] for k in fields if k in m}, weights=[[1.0] + [0.0] * 5] * 6, sweep=[])
    assert "It is equal to" in report(n, opts).findings[0]
    broken = dataclasses.replace(n, by_hand_vs_sdpa_max_abs_diff=0.1, entropy_unscaled_dk512=3.0)
    words = report(broken, opts).findings
    assert "NOT equal" in words[0] and "NOT saturated" in words[4].split("Scaled")[0]


@pytest.mark.parametrize("values, message", [
    (dict(d_model=30, n_head=4), "not divisible"),
    (dict(seq_len=1), "--seq-len"),
    (dict(keys=1), "--keys"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "attention").make_options(**values)
