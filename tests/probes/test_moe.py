"""moe: routing against the router's own arithmetic, touched weights against the active-parameter formula,
the load-balancing loss against transformers', and each verdict on both sides."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.moe import record_routing, report, tiny_config
from tests.support.probes import assert_output_whole, finding_stating
from tests.support.runs import probe_run


def run(**options):
    """(numbers, result, options) of one run, as `n00bqa probe moe` makes it."""
    result = probe_run("moe", **options)  # shared with the verdict harness (tests/support/runs.py)
    return result.numbers, result, find_probe(None, "moe").make_options(**options)


@pytest.fixture(scope="module")
def default():
    return run()


def test_every_token_goes_to_top_k_experts(default):
    n, result, opts = default
    m = result.metrics
    assert m["router_topk"] == m["distinct_experts_min"] == opts.top_k == 2
    assert m["tokens"] == len(opts.text.encode())
    assert m["top_k_weight_sum_max_dev"] < 1e-6
    for layer in n.load.values():  # every token slot lands on some expert
        assert sum(layer.values()) == n.tokens * opts.top_k
    assert m["load_max_over_uniform"] == pytest.approx(max(max(v.values()) for v in n.load.values()) / n.load_uniform)


def test_touched_weights_equal_the_active_parameter_formula(default):
    n, result, opts = default
    m = result.metrics
    L, k, E, H, I = 2, 2, 8, 64, 128  # noqa: E741 - the intermediate size, as the papers name it
    assert m["expert_params_touched_per_token"] == m["expert_params_touched_min"] == m["expert_params_touched_max"]
    assert m["expert_params_touched_per_token"] == L * k * 3 * H * I == 98_304
    assert m["experts_touched_per_token_per_layer"] == k
    assert m["touched_equals_formula"] is True
    # the tiny model by hand: tables in and out, per layer q, k, v, o (4 heads of 16, 2 K/V heads),
    # a router, E SwiGLU experts, two RMSNorms; a final norm.
    attention = H * H + 2 * H * 2 * 16 + H * H
    total = 2 * 256 * H + L * (attention + E * H + E * 3 * H * I + 2 * H) + H
    assert m["total_params"] == total == 451_904
    assert m["active_params_measured"] == m["active_params_formula"] == total - L * (E - k) * 3 * H * I


def test_router_is_topk_of_softmax_and_experts_compute_only_the_chosen():
    import torch
    import torch.nn.functional as F
    from transformers import MixtralForCausalLM

    probe = find_probe(None, "moe")
    opts = probe.make_options(text="routing")
    torch.manual_seed(0)
    model = MixtralForCausalLM(tiny_config(opts)).eval()
    ids = torch.tensor([list(opts.text.encode())])
    seen, _ = record_routing(model, ids)
    for layer, s in zip(model.model.layers, seen):
        probs = F.softmax(s["hidden"] @ layer.mlp.gate.weight.T, dim=-1)  # (T, E)
        top = torch.topk(probs, opts.top_k, dim=-1)
        assert torch.equal(top.indices, s["experts"])
        assert torch.allclose(top.values / top.values.sum(-1, keepdim=True), s["weights"])
        # token 0 through its two experts by hand: sum_j w_j * down_j(silu(gate_j h) * up_j h)
        h, ex = s["hidden"][0], layer.mlp.experts
        by_hand = sum(w * ex.down_proj[e] @ (F.silu(ex.gate_up_proj[e][:opts.intermediate] @ h)
                                              * (ex.gate_up_proj[e][opts.intermediate:] @ h))
                      for e, w in zip(s["experts"][0], s["weights"][0]))
        with torch.no_grad():
            out = ex(h[None], s["experts"][:1], s["weights"][:1])[0]
        assert torch.allclose(out, by_hand, atol=1e-6)


def test_aux_loss_equals_transformers(default):
    m = default[1].metrics
    assert m["aux_loss_by_hand"] == pytest.approx(m["aux_loss_transformers"], abs=1e-6)
    assert m["aux_loss_balanced"] == 2.0


def test_mixtral_8x7b_at_published_size(default):
    m = default[1].metrics
    assert m["mixtral_8x7b.expert_params_per_token"] == 32 * 2 * 3 * 4096 * 14336 == 11_274_289_152
    assert m["mixtral_8x7b.active_formula"] == m["mixtral_8x7b.active_counted"] == 12_879_925_248


def test_verdicts_on_both_sides(default):
    n, result, opts = default
    assert "98,304: equal." in finding_stating(result, "expert_params_formula", "Backpropagating one token")
    worse = report(dataclasses.replace(n, touched_equals_formula=False,
                                       expert_params_touched_min=n.expert_params_formula - 3072), opts)
    assert sum("98,304: NOT equal." in f for f in worse.findings) == 1
    assert ": equal within" in finding_stating(result, "aux_loss_by_hand", "That loss")
    off = report(dataclasses.replace(n, aux_loss_diff=2 * n.tolerance), opts)
    assert sum("NOT equal within" in f for f in off.findings) == 1


def test_other_sizes_follow_the_formula():
    n, result, _ = run(text="top one of four", experts=4, top_k=1, layers=1, hidden=32, intermediate=48)
    assert n.router_topk == 1 and n.experts_touched_per_token_per_layer == 1
    assert n.expert_params_touched_per_token == 1 * 1 * 3 * 32 * 48
    assert unexplained_numbers(result) == []


def test_default_output_is_whole(default):
    assert_output_whole(default[1])


@pytest.mark.parametrize("options, message", [({"top_k": 9}, "--top-k"), ({"experts": 1}, "--experts"),
                                              ({"hidden": 30}, "--hidden"), ({"text": ""}, "--text")])
def test_bad_options(options, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "moe").make_options(**options)


def test_every_verdict_is_recorded_with_its_numbers_printed(default):
    from tests.support.recorded_verdicts import verdict_words

    n, result, opts = default
    assert verdict_words(result) == [("tolerance", "sum to 1"), ("exact", "every token the same"), ("exact", "equal"),
                                     ("tolerance", "equal"), ("exact", "equal")]
    worse = report(dataclasses.replace(n, expert_params_touched_min=n.expert_params_formula - 3072), opts)
    assert "(from 95,232 to 98,304)" in " ".join(worse.findings) and "NOT equal to the active" in worse.summary
