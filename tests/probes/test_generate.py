"""generate: on the real SmolLM2 (the session's `smollm2`), cached and uncached greedy tokens agree,
the cache's bytes equal the GQA formula computed here by hand, the FLOP counts grow linearly with
the cache and quadratically without, and each verdict is worded from its test on both sides."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.generate import report
from n00bqa.probes.runs import run_probe
from tests.support.probes import assert_output_whole, finding_stating, finding_with


@pytest.fixture(scope="module")
def result(smollm2):
    probe = find_probe(None, "generate")
    with pytest.MonkeyPatch.context() as patch:  # the session's model, never a second load
        patch.setattr("n00bqa.probes.lib.causal_lm.load_causal_lm", lambda *args, **kwargs: smollm2)
        return run_probe(None, probe, probe.make_options(new_tokens=4, context=16, repeats=1), cache=False)


def test_cached_and_uncached_greedy_tokens_are_the_same(result):
    g = result.numbers.greedy
    assert len(g.cached_ids) == 4 and g.cached_ids == g.uncached_ids and g.same_tokens
    assert "the same tokens" in finding_with(result, "Greedy generation")


def test_the_cache_generate_kept_weighs_the_gqa_formula(result):
    c = result.numbers.cache
    tokens = result.numbers.greedy.prompt_tokens + 4 - 1  # the last new token is never fed back
    assert c.cached_tokens == tokens and c.key_shape == f"1 x 3 x {tokens} x 64"
    assert c.measured_bytes == 2 * 30 * 3 * 64 * tokens * 4  # layers, K/V heads (not 9), head_dim, fp32
    assert result.metrics["cache.bytes_per_token"] == 46_080 and result.metrics["cache.bytes_per_token_if_mha"] == 138_240
    finding_stating(result, "cache.measured_bytes", "equal to")


def test_flops_linear_with_the_cache_quadratic_without(result):
    n = result.numbers
    assert list(n.lengths) == [1, 4, 16]
    per_pair = 4 * 30 * 9 * 64  # QK^T and AV: 2 x head_dim each, per head and layer
    for a, b in ((1, 4), (4, 16)):
        assert n.lengths[b].cached_flops - n.lengths[a].cached_flops == per_pair * (b - a)
    # Uncached: the attention part is per_pair x (L+1)^2, the rest is linear in L+1: the second difference
    # over L = 1, 4, 16 isolates it.
    u = {L: n.lengths[L].uncached_flops for L in n.lengths}
    second = ((u[16] - u[4]) / 12 - (u[4] - u[1]) / 3) / 15
    assert second == per_pair and n.uncached_quadratic and n.cached_linear
    finding_stating(result, "uncached_curvature", "quadratically")
    assert_output_whole(result)


def test_each_verdict_on_both_sides(result):
    n, opts = result.numbers, find_probe(None, "generate").make_options(new_tokens=4, context=16, repeats=1)
    flipped = dataclasses.replace(
        n, greedy=dataclasses.replace(n.greedy, same_tokens=False, first_difference=2,
                                      uncached_ids=[*n.greedy.cached_ids[:2], -1, -1]),
        cache=dataclasses.replace(n.cache, equal=False, formula_bytes=n.cache.measured_bytes + 4),
        cached_linear=False, cached_slope_max_rel_diff=0.5, uncached_quadratic=False, uncached_curvature_rel_diff=0.5)
    text = " ".join(report(flipped, opts).findings)
    assert "DIFFERENT tokens with and without the cache (2 of them)" in text and "NOT equal to" in text
    assert "NOT linear" in text and "NOT quadratically" in text
    assert "no measure of the timing's noise, so this run draws no conclusion" in text  # one repeat
    three = dataclasses.replace(opts, repeats=3)
    for (short, long), word in ((((1.0, 1.2), (1.5, 2.0)), "grows with the context beyond that noise"),
                                (((1.0, 1.6), (1.5, 2.0)), "does NOT clearly grow"),  # the ranges overlap
                                (((1.0, 1.2), (0.5, 0.9)), "does NOT clearly grow")):
        lengths = dict(n.lengths)
        lengths[1] = dataclasses.replace(n.lengths[1], ratio_low=short[0], ratio_high=short[1])
        lengths[16] = dataclasses.replace(n.lengths[16], ratio_low=long[0], ratio_high=long[1])
        found = " ".join(report(dataclasses.replace(n, lengths=lengths), three).findings)
        assert f"{short[0]:.2f}-{short[1]:.2f}x at L = 1 and {long[0]:.2f}-{long[1]:.2f}x at L = 16" in found
        assert f"the saving {word}" in found, found


def test_the_ratio_range_spans_every_repeat(result):
    at = result.numbers.lengths[16]  # one repeat: the range is that one ratio
    assert at.ratio_low == at.ratio_high == pytest.approx(at.uncached_seconds / at.cached_seconds)


def test_bad_options_are_one_line_errors():
    probe = find_probe(None, "generate")
    with pytest.raises(ProbeError, match="--context must be between 16 and 1024"):
        probe.make_options(context=8)
    with pytest.raises(ProbeError, match="does not exist"):
        probe.make_options(model="/nonexistent/model.gguf")


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    n = result.numbers
    assert n.cached_slope_max_rel_diff == 0.0 and n.uncached_curvature_rel_diff == 0.0  # integer FLOP counts
    words = verdict_words(result)
    # one repeat: no noise measured, so no verdict on the trend of the wall time (test above)
    assert words == [("tokens that differ", "the same"), ("exact", "equal to"), ("relative tolerance", "grow linearly"),
                     ("relative tolerance", "quadratically")]
