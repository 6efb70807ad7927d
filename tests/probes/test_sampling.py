"""sampling: on the real SmolLM2 (the session's `smollm2`), the entropy, top-1 and top-p counts
against the model's own logits computed here, the hand-written rules against their definitions,
and each temperature's word on both sides."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.probes.sampling import PROMPT, at_temperature, pick
from tests.support.probes import assert_output_whole, finding_stating


@pytest.fixture(scope="module")
def result(smollm2):
    probe = find_probe(None, "sampling")
    with pytest.MonkeyPatch.context() as patch:  # the session's model, never a second load
        patch.setattr("n00bqa.probes.lib.causal_lm.load_causal_lm", lambda *args, **kwargs: smollm2)
        return run_probe(None, probe, probe.make_options(samples=3, new_tokens=2), cache=False)


@pytest.fixture(scope="module")
def logits(smollm2):
    ids = smollm2.tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        return smollm2.model(ids).logits[0, -1].double().numpy()  # the model's own forward, (vocab,)


def test_the_distribution_against_the_models_own_logits(result, logits):
    n = result.numbers
    for key, t in (("0.25", 0.25), ("1", 1.0), ("4", 4.0)):
        z = logits / t
        p = np.exp(z - z.max())
        p /= p.sum()
        entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
        assert math.isclose(n.temperatures[key].entropy, entropy, rel_tol=1e-4, abs_tol=1e-6), key
        assert math.isclose(n.temperatures[key].top1_probability, p.max(), rel_tol=1e-4), key
    p = np.sort(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())[::-1]
    assert n.top_p_tokens == int(np.searchsorted(np.cumsum(p), 0.9)) + 1
    assert math.isclose(n.top_k_mass, p[:50].sum(), rel_tol=1e-6)
    assert n.vocab == 49_152 and math.isclose(n.max_entropy, math.log(49_152))
    assert [n.temperatures[k].word for k in ("0.25", "0.5", "1", "2", "4")] == \
        ["sharper", "sharper", "as trained", "flatter", "flatter"]
    assert n.rules["greedy"].distinct == 1
    finding_stating(result, "top_p_tokens", "top-p")
    assert_output_whole(result)


def test_the_rules_keep_what_they_say():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]]).repeat(200, 1)
    g = torch.Generator().manual_seed(0)
    assert pick(logits, dict(temperature=0.0, top_k=0, top_p=1.0), g).tolist() == [0] * 200
    assert set(pick(logits, dict(temperature=1.0, top_k=2, top_p=1.0), g).tolist()) == {0, 1}
    # softmax: p = 0.636, 0.234, 0.086, ...: top-p 0.8 needs the first two, 0.5 the first one
    assert set(pick(logits, dict(temperature=1.0, top_k=0, top_p=0.8), g).tolist()) == {0, 1}
    assert set(pick(logits, dict(temperature=1.0, top_k=0, top_p=0.5), g).tolist()) == {0}


def test_each_word_on_both_sides():
    logits = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    one = at_temperature(logits, 1.0, None)
    reference = (one.entropy, one.top1_probability)
    assert at_temperature(logits, 0.5, reference).word == "sharper"
    assert at_temperature(logits, 2.0, reference).word == "flatter"
    assert at_temperature(logits, 1.0, reference).word == "mixed"  # neither lower nor higher


def test_bad_options_are_one_line_errors():
    with pytest.raises(ProbeError, match="--top-p must be between 0.01 and 1"):
        find_probe(None, "sampling").make_options(top_p=1.5)


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    words = verdict_words(result)
    assert len(words) == 2 * 4  # entropy and top-1 against T = 1, at each other temperature
    assert [w for _, w in words] == ["sharper"] * 4 + ["flatter"] * 4  # T = 0.25, 0.5, then 2, 4
    table = next(t for t in result.tables if t.title.startswith("The next-token distribution"))
    assert [row[-1] for row in table.rows] == [a.word for a in result.numbers.temperatures.values()]


def test_entropy_and_top1_that_disagree_say_mixed():
    from n00bqa.probes.sampling import against_t1

    logits = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    one = at_temperature(logits, 1.0, None)
    odd = dataclasses.replace(at_temperature(logits, 0.5, None), entropy=one.entropy + 0.1)  # flatter by entropy only
    assert against_t1(odd, one) == "mixed"
    assert against_t1(at_temperature(logits, 0.5, None), one) == "sharper"


def test_top_p_one_keeps_the_whole_vocabulary():
    """Found by the verdict harness's high end: at --top-p 1 the float32 cumulative mass can stop just
    short of 1, and the count of kept tokens ran one past the vocabulary (an IndexError)."""
    from tests.support.runs import probe_run, tiny_llama

    result = probe_run("sampling", model=tiny_llama(), top_p=1.0, samples=2, new_tokens=2)
    assert result.numbers.top_p_tokens == result.numbers.vocab == 49_152
