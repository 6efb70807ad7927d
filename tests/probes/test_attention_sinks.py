"""attention-sinks: the banded mask against a mask built by loops and against a plain forward, the
first token's share recomputed, the window's cost present in SmolLM2 and absent in its twin, and each
verdict on both sides of its threshold."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.attention_sinks import SINK_SHARE, Z_THRESHOLD, cache_mask, per_token_loss, report
from n00bqa.probes.runs import run_probe
from support.probes import assert_output_whole, finding_stating, finding_with

SMALL = {"tokens": 48, "window": 16, "sinks": 2}


@pytest.fixture(scope="module")
def result(smollm2):
    probe = find_probe(None, "attention-sinks")
    return run_probe(None, probe, probe.make_options(**SMALL), seed=0, cache=False)


def test_the_mask_is_a_cache_that_evicts_old_tokens():
    import torch

    n, window, sinks = 12, 5, 2
    mask = cache_mask(n, window, sinks, torch.float32)[0, 0]
    for q in range(n):
        visible = {k for k in range(q + 1) if k < sinks or q - k < window - sinks}
        assert {k for k in range(n) if mask[q, k] == 0} == visible
        assert len(visible) <= window
    plain = cache_mask(n, window, 0, torch.float32)[0, 0]
    assert all(((plain[q] == 0).sum().item() == min(q + 1, window)) for q in range(n))


def test_the_full_mask_gives_the_plain_forward_loss(smollm2):
    import torch

    ids = smollm2.tokenizer("The first token of a text is where the heads park attention.", return_tensors="pt").input_ids
    model = smollm2.model
    model.set_attn_implementation("eager")
    try:
        masked = per_token_loss(model, ids, cache_mask(ids.shape[1], ids.shape[1], 0, torch.float32))
        with torch.no_grad():
            plain = model(ids, labels=ids).loss.item()
    finally:
        model.set_attn_implementation("sdpa")
    assert masked.mean().item() == pytest.approx(plain, abs=1e-4)


def test_the_sink_and_the_windows_cost_are_real_and_absent_in_the_twin(result, smollm2):
    import torch

    from n00bqa.probes.lib.data import nanogpt_text

    n = result.numbers
    ids = smollm2.tokenizer(nanogpt_text(), return_tensors="pt").input_ids[:, : SMALL["tokens"]]
    model = smollm2.model
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            attentions = model(ids, output_attentions=True).attentions
    finally:
        model.set_attn_implementation("sdpa")
    for layer in (0, 15, 29):
        by_hand = attentions[layer][0, :, 1:, 0].sum().item() / (9 * (SMALL["tokens"] - 1))
        assert n.layers[layer].trained == pytest.approx(by_hand, abs=1e-5)
    assert n.sink_layers_trained > n.sink_layers_twin
    assert n.trained.window_extra_z >= Z_THRESHOLD > n.twin.window_extra_z
    finding_stating(result, "trained.window_extra_z", "costs more than noise")
    finding_stating(result, "twin.window_extra_z", "within noise")
    assert_output_whole(result)


def test_each_verdict_on_both_sides_of_its_threshold(result):
    n = result.numbers
    opts = find_probe(None, "attention-sinks").make_options(**SMALL)
    same = dataclasses.replace(n, sink_layers_twin=n.sink_layers_trained)
    assert "NOT shown to come from training" in " ".join(report(same, opts).findings)
    quiet = dataclasses.replace(n, trained=dataclasses.replace(n.trained, window_extra_z=Z_THRESHOLD - 0.01))
    assert sum("within noise" in f for f in report(quiet, opts).findings) == 2
    assert n.sink_layers_trained == sum(r.trained >= SINK_SHARE for r in n.layers.values())
    finding_with(result, "the sink comes from training")


@pytest.mark.parametrize("values, message", [
    ({"tokens": 31}, "--tokens must be between"),
    ({"window": 7}, "--window must be between"),
    ({"tokens": 64, "window": 60}, "raise --tokens to 76"),
    ({"window": 8, "sinks": 8}, "--sinks 8 must be smaller than --window 8"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "attention-sinks").make_options(**values)


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    words = verdict_words(result)
    n = result.numbers
    assert words[:3] == [("the twin's sink layers", "the sink comes from training."), ("z", "costs more than noise"),
                         ("z", "is within noise")]
    rows = [word for name, word in words[3:] if name == "sink share"]
    assert rows == ["yes" if r.trained >= SINK_SHARE else "no" for r in n.layers.values()]
    assert rows.count("yes") == n.sink_layers_trained and len(words) == 3 + len(n.layers)
