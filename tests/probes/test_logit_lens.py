"""logit-lens: the last layer's lens equals the model's own logits, the ranks recomputed from
transformers' own hidden states, and each verdict on both sides of its threshold."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.logit_lens import FLAT_SHARE, PROMPTS, TOLERANCE, report
from n00bqa.probes.runs import run_probe
from support.probes import assert_output_whole, finding_stating, finding_with

SMALL = {"prompts": 2}


@pytest.fixture(scope="module")
def result(smollm2):
    probe = find_probe(None, "logit-lens")
    return run_probe(None, probe, probe.make_options(**SMALL), seed=0, cache=False)


def test_the_last_layer_is_the_models_own_logits(result):
    n = result.numbers
    assert n.last_layer_max_diff <= TOLERANCE and n.twin_last_layer_max_diff <= TOLERANCE
    assert all(p.ranks[-1] == 1 and p.kls[-1] == pytest.approx(0, abs=1e-4) for p in n.prompts)
    finding_with(result, "equals the model's own logits")
    assert_output_whole(result)


def test_ranks_and_kl_recomputed_from_transformers_hidden_states(result, smollm2):
    """hidden_states[l] (l < L) is the stream after layer l; transformers' last one is already normed."""
    import torch

    model, tok = smollm2.model, smollm2.tokenizer
    for record in result.numbers.prompts:
        ids = tok(record.prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model(ids, output_hidden_states=True)
            final = out.logits[0, -1]
            eventual = final.argmax()
            assert tok.decode([eventual.item()]) == record.eventual
            for layer in (0, 10, 20, 29):
                lens = model.lm_head(model.model.norm(out.hidden_states[layer][0, -1]))
                assert record.ranks[layer] == (lens > lens[eventual]).sum().item() + 1
                kl = torch.nn.functional.kl_div(torch.log_softmax(lens, -1), torch.log_softmax(final, -1),
                                                log_target=True, reduction="sum").item()
                assert record.kls[layer] == pytest.approx(kl, rel=1e-3, abs=1e-3)
        assert record.first_top1 == min(i for i, r in enumerate(record.ranks) if r == 1)
    assert result.numbers.layers == 30
    finding_stating(result, "median_first_top1", "first ranks its eventual next token top-1")


def test_each_verdict_on_both_sides_of_its_threshold(result):
    n = result.numbers
    opts = find_probe(None, "logit-lens").make_options(**SMALL)
    off = dataclasses.replace(n, last_layer_max_diff=TOLERANCE * 2)
    assert "does NOT equal" in " ".join(report(off, opts).findings)
    peaked = dataclasses.replace(n, twin_final_entropy=(FLAT_SHARE - 0.01) * n.uniform_entropy)
    assert "NOT flat" in " ".join(report(peaked, opts).findings)
    assert n.twin_final_entropy >= FLAT_SHARE * n.uniform_entropy  # random weights: flat
    finding_stating(result, "twin_final_entropy", "flat")


def test_your_own_prompt_and_bad_options():
    probe = find_probe(None, "logit-lens")
    assert probe.make_options(prompt="Hello there").prompt == "Hello there"
    with pytest.raises(ProbeError, match="--prompts must be between"):
        probe.make_options(prompts=len(PROMPTS) + 1)
    with pytest.raises(ProbeError, match="--prompt must hold some text"):
        probe.make_options(prompt="   ")


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    n = result.numbers
    assert n.flat_entropy == pytest.approx(FLAT_SHARE * n.uniform_entropy)
    assert verdict_words(result) == [("tolerance", "equals"),
                                     ("flat entropy", f"at least 95% of uniform ({n.flat_entropy:.2f})")]
