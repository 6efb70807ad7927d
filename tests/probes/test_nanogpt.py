"""nanogpt: counts against closed forms and published figures, the loss facts recomputed independently
(ln V, unigram entropy), the verdicts both ways. The model itself is tested in test_lib_gpt.py."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
import torch

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.lib.gpt import GPT, GPTConfig
from n00bqa.probes.nanogpt import load_text, near_ln_vocab, report, uses_context
from support.probes import assert_output_whole, finding_stating
from tests.support.runs import default_run, probe_run

# The defaults: the verdict harness runs them anyway, and `result` reads that same run (tests/support/runs.py).
DEFAULTS = dataclasses.asdict(find_probe(None, "nanogpt").make_options())


@pytest.fixture(scope="module")
def result():
    return default_run("nanogpt")


def closed_form(V, T, C, L, bias):
    """Counted by hand: tables V·C and T·C; per block qkv C·3C, proj C·C, MLP C·4C + 4C·C and two
    LayerNorm scales; biases 3C + C + 4C + C + 2C per block; ln_f C (+ C); the tied head 0."""
    per_block = 3 * C * C + C * C + 4 * C * C + 4 * C * C + 2 * C + ((3 + 1 + 4 + 1 + 2) * C if bias else 0)
    return V * C + T * C + L * per_block + C + (C if bias else 0)


def test_every_number_in_a_finding_is_measured(result):
    assert_output_whole(result)


def test_vocabulary_and_ln_v_from_the_shipped_text(result):
    text = load_text()
    m = result.metrics
    assert m["vocab_size"] == len(set(text))
    assert m["ln_vocab"] == pytest.approx(math.log(len(set(text))))
    assert m["text_chars"] == len(text) and m["train_chars"] == int(0.9 * len(text))
    assert m["train_chars"] + m["val_chars"] == len(text)


def test_unigram_entropy_recomputed_with_counter(result):
    text = load_text()
    train = text[:int(0.9 * len(text))]
    counts = Counter(train)
    entropy = -sum(c / len(train) * math.log(c / len(train)) for c in counts.values())
    assert result.metrics["unigram_entropy"] == pytest.approx(entropy, rel=1e-9)
    assert entropy < result.metrics["ln_vocab"]  # characters are not equally common
    table = next(t for t in result.tables if t.title.startswith("Characters by frequency"))
    top_char, top_count = counts.most_common(1)[0]
    top = result.numbers.char_counts[0]
    assert (top.char, top.count) == (repr(top_char), top_count)
    assert table.rows[0][:2] == [repr(top_char), top_count]


def test_initial_loss_sits_near_ln_v_for_the_reason_given(result):
    m = result.metrics
    assert abs(m["initial_loss"] - m["ln_vocab"]) <= m["init_tolerance"]
    assert m["initial_loss_expected"] == pytest.approx(m["ln_vocab"] + m["init_logit_std"] ** 2 / 2)
    assert m["init_logit_std_predicted"] == pytest.approx(0.02 * math.sqrt(DEFAULTS["n_embd"]))
    assert m["init_logit_std"] == pytest.approx(m["init_logit_std_predicted"], rel=0.3)
    # the same fact on a fresh model, any vocabulary: test_lib_gpt.py::test_step_zero_loss_is_near_ln_vocab


def test_training_moves_the_loss_and_the_curve_table_matches(result):
    m = result.metrics
    points = result.numbers.curve
    assert points[0].step == 0 and points[-1].step == DEFAULTS["steps"]
    assert points[0].train == pytest.approx(m["initial_loss"], abs=1e-4)
    assert points[-1].val == m["final_val_loss"] and points[-1].train == m["final_train_loss"]
    curve = next(t for t in result.tables if t.title.startswith("Loss during training"))
    assert curve.rows == [[p.step, p.train, p.val] for p in points]
    assert m["final_val_loss"] < m["initial_loss"] - 1
    assert m["val_below_floor"] == pytest.approx(m["val_floor"] - m["final_val_loss"])
    assert m["tokens_per_step"] == DEFAULTS["batch_size"] * DEFAULTS["block_size"]
    assert m["train_seconds"] > 0
    lines = curve.note.splitlines()
    assert len(lines) >= 10 and max(len(line) for line in lines) <= 60
    assert "train" in curve.note and "val" in curve.note and "\x1b" not in curve.note


def test_sample_is_text_over_the_vocabulary(result):
    table = next(t for t in result.tables if t.title.startswith("Generated sample"))
    assert all(len(row[0]) <= 60 for row in table.rows)
    vocab = set(load_text())
    assert set("".join(row[0] for row in table.rows)) <= vocab


def test_params_equal_the_closed_form(result):
    m = result.metrics
    V = m["vocab_size"]
    expected = closed_form(V, DEFAULTS["block_size"], DEFAULTS["n_embd"], DEFAULTS["n_layer"], bias=False)
    assert m["params"] == m["params_formula"] == expected
    assert m["non_embedding_params"] == expected - DEFAULTS["block_size"] * DEFAULTS["n_embd"]
    model = GPT(GPTConfig(block_size=DEFAULTS["block_size"], vocab_size=V, n_layer=DEFAULTS["n_layer"],
                          n_head=DEFAULTS["n_head"], n_embd=DEFAULTS["n_embd"]))
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: one tensor
    assert sum(p.numel() for p in model.parameters()) == expected


def test_shakespeare_char_counted_as_nanogpt_prints_it(result):
    m = result.metrics
    total = closed_form(65, 256, 384, 6, bias=False)
    assert m["shakespeare_char.params"] == total == 10_745_088
    assert m["shakespeare_char.non_embedding_params"] == total - 256 * 384 == 10_646_784
    assert f"{m['shakespeare_char.non_embedding_params'] / 1e6:.2f}M" == "10.65M"  # nanoGPT's start-up line
    assert m["shakespeare_char.published_val_loss"] == 1.4697  # nanoGPT README, quick start
    assert m["shakespeare_char.published_cpu_val_loss"] == 1.88


def test_gpt2_count_matches_transformers_on_meta(result):
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        hf = GPT2LMHeadModel(GPT2Config())
    hf_count = sum(p.numel() for p in hf.parameters())
    m = result.metrics
    assert m["gpt2.params"] == hf_count == m["gpt2.published_params"] == 124_439_808
    assert m["gpt2.params_formula"] == closed_form(50257, 1024, 768, 12, bias=True)
    assert m["gpt2.non_embedding_params"] == hf_count - 1024 * 768
    assert m["gpt2.padded_non_embedding_params"] == hf_count + (50304 - 50257) * 768 - 1024 * 768
    assert f"{m['gpt2.padded_non_embedding_params'] / 1e6:.2f}M" == "123.69M"


def test_verdicts_each_side_of_their_threshold(result):
    assert near_ln_vocab(4.65, 4.615) and not near_ln_vocab(6.0, 4.615)
    assert uses_context(2.1, 3.3, 0.01) and not uses_context(3.4, 3.3, 0.01)
    assert not uses_context(3.29, 3.3, 0.01) and not uses_context(2.1, 3.3, None)  # within 2 SE; no SE
    opts = find_probe(None, "nanogpt").make_options(**DEFAULTS)
    m, base = result.metrics, result.numbers
    assert "NOT within" not in finding_stating(result, "initial_loss", "within the tolerance")
    bad_init = dataclasses.replace(base, initial_loss=m["ln_vocab"] + 1, initial_minus_ln_vocab=1.0)
    assert any("NOT within the tolerance" in f for f in report(bad_init, opts).findings)
    # the default run ends well below the floor, and the Try section's --steps 50 run does not (that run
    # is the verdict harness's, shared): each verdict says so
    assert uses_context(m["final_val_loss"], m["val_floor"], m["val_loss_se"])
    finding_stating(result, "val_floor", "below it, so the model uses the characters")
    short = probe_run("nanogpt", steps=50, sample_chars=400, temperature=1.0)
    s = short.metrics
    assert not uses_context(s["final_val_loss"], s["val_floor"], s["val_loss_se"])
    finding_stating(short, "val_floor", "NOT more than 2 standard errors below it")
    learned = dataclasses.replace(base, final_val_loss=m["val_floor"] - 0.1, val_below_floor=0.1, val_loss_se=0.01,
                                  val_below_floor_se=10.0)
    assert any("below it, so the model uses the characters" in f for f in report(learned, opts).findings)
    # the --steps 50 case: a loss 0.0116 below the floor with standard error 0.0066 is no evidence
    stuck = dataclasses.replace(base, final_val_loss=m["val_floor"] - 0.0116, val_below_floor=0.0116,
                                val_loss_se=0.0066, val_below_floor_se=0.0116 / 0.0066)
    assert any("NOT more than 2 standard errors below it" in f for f in report(stuck, opts).findings)
    one_batch = dataclasses.replace(base, val_loss_se=None, val_below_floor_se=None)
    assert any("no claim is made" in f for f in report(one_batch, opts).findings)


def test_context_free_baselines_on_the_held_out_text(result):
    """Recomputed independently: the training frequencies (add-one) on the whole held-out tail, and the
    floor lies below it (any context-free model scores at least the entropy of what it is scored on)."""
    text = load_text()
    n_train = int(0.9 * len(text))
    train, val = Counter(text[:n_train]), text[n_train:]
    V = len(set(text))
    cross = -sum(math.log((train[c] + 1) / (n_train + V)) for c in val) / len(val)
    m = result.metrics
    assert m["unigram_train_on_val"] == pytest.approx(cross, rel=1e-9)
    assert m["val_floor"] < m["unigram_train_on_val"] < m["unigram_entropy"]


@pytest.mark.parametrize("values, message", [
    (dict(n_embd=30, n_head=4), "not divisible"),
    (dict(steps=0), "--steps"),
    (dict(temperature=0), "--temperature"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "nanogpt").make_options(**values)


@pytest.mark.parametrize("options", [{}, {"steps": 50, "sample_chars": 400, "temperature": 1.0}],
                         ids=["defaults", "try --steps 50"])
def test_every_verdict_is_recorded_with_its_numbers_printed(options):
    from tests.support.recorded_verdicts import verdict_words

    result = probe_run("nanogpt", **options)  # the verdict harness's runs, shared
    m = result.metrics
    assert m["val_below_floor_se"] == pytest.approx(m["val_below_floor"] / m["val_loss_se"])
    side = "above" if m["final_val_loss"] > m["val_floor"] else "below"
    uses = m["val_below_floor_se"] > 2  # the default run: yes; --steps 50: no
    assert uses == (not options)
    assert verdict_words(result) == [
        ("init tolerance", "within"), ("ln V", "below ln V"), ("exact", "equal"),
        ("exact", "equal to"), ("context-free floor", side),
        ("standard errors", "More than 2 standard errors below it" if uses
         else "That is NOT more than 2 standard errors below it")]
