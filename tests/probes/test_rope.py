"""rope: on the real SmolLM2 (the session's `smollm2`), the hand rotation is transformers' own, the
frequencies are 1 / theta^(2i/d) computed here, a shared shift keeps every score, and each verdict is
worded from its test on both sides."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.rope import layer0_queries_keys, report, rotate
from n00bqa.probes.runs import run_probe
from tests.support.probes import assert_output_whole, finding_stating, finding_with


@pytest.fixture(scope="module")
def result(smollm2):
    probe = find_probe(None, "rope")
    with pytest.MonkeyPatch.context() as patch:  # the session's model, never a second load
        patch.setattr("n00bqa.probes.lib.causal_lm.load_causal_lm", lambda *args, **kwargs: smollm2)
        return run_probe(None, probe, probe.make_options(tokens=12, offset=500), cache=False)


def test_the_hand_rotation_is_transformers_own(smollm2):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    q, k = layer0_queries_keys(smollm2, 6)  # float64
    positions = torch.arange(6) + 7
    cos, sin = smollm2.model.model.rotary_emb(q.float(), positions[None, :])  # (1, 6, 64)
    q_ref, k_ref = apply_rotary_pos_emb(q.float(), k.float(), cos, sin)
    frequency = smollm2.model.model.rotary_emb.inv_freq.double()
    assert torch.allclose(rotate(q, positions, frequency).float(), q_ref, atol=1e-4)
    assert torch.allclose(rotate(k, positions, frequency).float(), k_ref, atol=1e-4)


def test_frequencies_norms_and_shifts(result):
    n = result.numbers
    assert (n.theta, n.head_dim, n.heads, n.kv_heads, n.tokens) == (100_000.0, 64, 9, 3, 12)
    for i, pair in n.pairs.items():
        assert math.isclose(pair.frequency, 100_000.0 ** (-2 * i / 64), rel_tol=1e-12)
        assert math.isclose(pair.period, 2 * math.pi * 100_000.0 ** (2 * i / 64), rel_tol=1e-12)
    assert n.frequencies_match and n.norms_kept and n.both_shift_unchanged and n.keys_shift_changes
    assert n.both_shifted_max_rel_change <= 1e-9 < n.keys_shifted_max_rel_change
    finding_stating(result, "both_shifted_max_rel_change", "unchanged")
    finding_with(result, "keys alone", "changes them")
    assert_output_whole(result)


def test_each_verdict_on_both_sides(result):
    opts = find_probe(None, "rope").make_options(tokens=12, offset=500)
    flipped = dataclasses.replace(result.numbers, frequency_max_rel_diff=1e-3, norm_max_rel_change=1e-3,
                                  both_shifted_max_rel_change=1e-3, keys_shifted_max_rel_change=1e-12)
    text = " ".join(report(flipped, opts).findings)
    for words in ("do NOT match", "does NOT keep", "scores CHANGED", "does NOT change them"):
        assert words in text


def test_bad_options_are_one_line_errors():
    with pytest.raises(ProbeError, match="--offset must be between 1 and 100000"):
        find_probe(None, "rope").make_options(offset=0)


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    assert result.metrics["frequency_tolerance"] == 1e-6
    assert verdict_words(result) == [("frequency tolerance", "match"), ("tolerance", "keeps"),
                                     ("tolerance", "unchanged"), ("tolerance", "changes them")]
