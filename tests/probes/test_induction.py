"""induction: the copy losses and the best head's score recomputed from the real model, the hook's
ablation against zeroing o_proj's weight columns, the drop present in SmolLM2 and absent in its random
twin, and each verdict on both sides of its threshold."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.induction import DROP_THRESHOLD, FIRST_TOKEN_ID, report
from n00bqa.probes.runs import run_probe
from support.probes import assert_output_whole, finding_stating, finding_with

SMALL = {"sequences": 1, "length": 24, "ablate": 4, "draws": 2}


@pytest.fixture(scope="module")
def result(smollm2):  # smollm2: the conversion is made once per session, the probe then loads it in ~1 s
    probe = find_probe(None, "induction")
    return run_probe(None, probe, probe.make_options(**SMALL), seed=0, cache=False)


def tokens_of_seed_0(vocab: int):
    import torch

    gen = torch.Generator().manual_seed(0)
    block = torch.randint(FIRST_TOKEN_ID, vocab, (SMALL["sequences"], SMALL["length"]), generator=gen)
    return torch.cat([block, block], dim=1)


def copy_losses_by_hand(model, tokens, length):
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(model(tokens).logits, dim=-1)  # (B, 2L, V)
    nll = -logp[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]  # (B, 2L-1)
    return nll[:, : length - 1].mean().item(), nll[:, length:].mean().item()


def test_the_drop_is_there_in_smollm2_and_not_in_its_twin(result, smollm2):
    n, length = result.numbers, SMALL["length"]
    first, second = copy_losses_by_hand(smollm2.model, tokens_of_seed_0(smollm2.model.config.vocab_size), length)
    assert n.trained.first_copy == pytest.approx(first, abs=1e-3)
    assert n.trained.second_copy == pytest.approx(second, abs=1e-3)
    assert n.trained.drop > DROP_THRESHOLD > n.twin.drop
    assert n.heads_total == 30 * 9
    finding_stating(result, "trained.drop", "copies from the first copy")
    finding_with(result, "random weights do not copy")  # the twin's drop may print negative
    assert_output_whole(result)


def test_the_best_heads_score_recomputed_from_the_attention_weights(result, smollm2):
    import torch

    model, length, top = smollm2.model, SMALL["length"], result.numbers.top_heads[0]
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            attn = model(tokens_of_seed_0(model.config.vocab_size), output_attentions=True).attentions[top.layer]
    finally:
        model.set_attn_implementation("sdpa")
    by_hand = sum(attn[0, top.head, length + j, j + 1].item() for j in range(length - 1)) / (length - 1)
    assert top.score == pytest.approx(by_hand, abs=1e-5)
    assert result.numbers.best_by_layer[top.layer] == pytest.approx(top.score)


def test_the_hook_ablation_equals_zeroing_the_heads_columns_of_o_proj(result, smollm2):
    """Zeroing a head's input slice of o_proj (the hook) = zeroing the same columns of its weight."""
    import torch

    n, model, length = result.numbers, smollm2.model, SMALL["length"]
    saved = {}
    try:
        with torch.no_grad():
            for h in n.top_heads[: SMALL["ablate"]]:
                weight = model.model.layers[h.layer].self_attn.o_proj.weight  # (D, H*head_dim)
                saved.setdefault(h.layer, weight.clone())
                weight[:, h.head * 64:(h.head + 1) * 64] = 0.0
        first, second = copy_losses_by_hand(model, tokens_of_seed_0(model.config.vocab_size), length)
    finally:
        with torch.no_grad():
            for layer, weight in saved.items():
                model.model.layers[layer].self_attn.o_proj.weight.copy_(weight)
    assert n.top_ablation.second_copy == pytest.approx(second, abs=1e-3)
    assert n.top_ablation.removed == pytest.approx((n.trained.drop - (first - second)) / n.trained.drop, abs=1e-3)


def test_each_verdict_on_both_sides_of_its_threshold(result):
    n, opts = result.numbers, find_probe(None, "induction").make_options(**SMALL)
    flat = dataclasses.replace(n, trained=dataclasses.replace(n.trained, drop=DROP_THRESHOLD - 0.01))
    assert "does not copy from the first copy" in " ".join(report(flat, opts).findings)
    copying_twin = dataclasses.replace(n, twin=dataclasses.replace(n.twin, drop=DROP_THRESHOLD))
    assert "random weights copy too" in " ".join(report(copying_twin, opts).findings)
    tie = dataclasses.replace(n, top_ablation=dataclasses.replace(n.top_ablation, removed=n.random_removed_max))
    assert "do NOT remove more than every random draw" in " ".join(report(tie, opts).findings)
    assert n.top_beats_every_draw == (n.top_ablation.removed > n.random_removed_max)
    finding_with(result, "remove more than every random draw")


@pytest.mark.parametrize("flag, value", [("sequences", 0), ("length", 7), ("length", 401), ("ablate", 33), ("draws", 0)])
def test_options_out_of_range_are_one_line_errors(flag, value):
    with pytest.raises(ProbeError, match=f"--{flag} must be between"):
        find_probe(None, "induction").make_options(**{flag: value})


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    assert verdict_words(result) == [("drop, nats", "at least"), ("drop, nats", "below"),
                                     ("largest random removal", "the top heads remove more than every random draw")]


def test_no_copy_anywhere_says_so_without_crediting_training(result):
    n, opts = result.numbers, find_probe(None, "induction").make_options(**SMALL)
    flat = dataclasses.replace(n, trained=dataclasses.replace(n.trained, drop=0.5))
    words = " ".join(report(flat, opts).findings)
    assert "random weights do not copy either" in words and "training made" not in words
