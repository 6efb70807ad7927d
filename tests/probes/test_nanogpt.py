"""nanogpt: our GPT against transformers' GPT-2 with the same weights, counts against closed forms and
published figures, the loss facts recomputed independently (ln V, unigram entropy), the verdicts both ways."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
import torch

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe
from n00bqa.probes.nanogpt import (GPTConfig, build_gpt, load_text, near_ln_vocab, report, uses_context)

SMALL = dict(steps=80, n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=16, eval_batches=3, evals=4,
             sample_chars=120)


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "nanogpt")
    return run_probe(None, probe, probe.make_options(**SMALL), seed=0, cache=False)


def closed_form(V, T, C, L, bias):
    """Counted by hand: tables V·C and T·C; per block qkv C·3C, proj C·C, MLP C·4C + 4C·C and two
    LayerNorm scales; biases 3C + C + 4C + C + 2C per block; ln_f C (+ C); the tied head 0."""
    per_block = 3 * C * C + C * C + 4 * C * C + 4 * C * C + 2 * C + ((3 + 1 + 4 + 1 + 2) * C if bias else 0)
    return V * C + T * C + L * per_block + C + (C if bias else 0)


def test_every_number_in_a_finding_is_measured(result):
    assert unexplained_numbers(result) == []


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
    assert table.rows[0][0] == repr(top_char) and table.rows[0][1] == top_count


def test_initial_loss_sits_near_ln_v_for_the_reason_given(result):
    m = result.metrics
    assert abs(m["initial_loss"] - m["ln_vocab"]) <= m["init_tolerance"]
    assert m["initial_loss_expected"] == pytest.approx(m["ln_vocab"] + m["init_logit_std"] ** 2 / 2)
    assert m["init_logit_std_predicted"] == pytest.approx(0.02 * math.sqrt(SMALL["n_embd"]))
    assert m["init_logit_std"] == pytest.approx(m["init_logit_std_predicted"], rel=0.3)
    # the same fact on a fresh model: near-uniform softmax, every p close to 1/V
    model = build_gpt(GPTConfig(block_size=16, vocab_size=101, n_layer=1, n_head=2, n_embd=32)).eval()
    idx, targets = torch.randint(101, (4, 16)), torch.randint(101, (4, 16))  # targets unrelated to the inputs:
    with torch.no_grad():  # (with targets = inputs the tied table favours the input token itself)
        _, loss = model(idx, targets)
    assert float(loss) == pytest.approx(math.log(101), abs=0.05)


def test_training_moves_the_loss_and_the_curve_table_matches(result):
    m = result.metrics
    curve = next(t for t in result.tables if t.title.startswith("Loss during training"))
    assert curve.rows[0][0] == 0 and curve.rows[-1][0] == SMALL["steps"]
    assert curve.rows[0][1] == pytest.approx(m["initial_loss"], abs=1e-4)
    assert curve.rows[-1][2] == m["final_val_loss"] and curve.rows[-1][1] == m["final_train_loss"]
    assert m["final_val_loss"] < m["initial_loss"] - 1
    assert m["val_below_unigram"] == pytest.approx(m["unigram_entropy"] - m["final_val_loss"])
    assert m["tokens_per_step"] == SMALL["batch_size"] * SMALL["block_size"]
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
    expected = closed_form(V, SMALL["block_size"], SMALL["n_embd"], SMALL["n_layer"], bias=False)
    assert m["params"] == m["params_formula"] == expected
    assert m["non_embedding_params"] == expected - SMALL["block_size"] * SMALL["n_embd"]
    model = build_gpt(GPTConfig(block_size=SMALL["block_size"], vocab_size=V, n_layer=SMALL["n_layer"],
                                n_head=SMALL["n_head"], n_embd=SMALL["n_embd"]))
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


def test_our_gpt_computes_what_transformers_gpt2_computes():
    """GPT-2's weights copied into our GPT (Conv1D stores W transposed) give the same logits."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu")
    hf = GPT2LMHeadModel(cfg).eval()
    ours = build_gpt(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=4, n_embd=32, bias=True)).eval()
    hf_state = hf.state_dict()
    transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            source = hf_state[name]
            tensor.copy_(source.T if name.endswith(transposed) else source)
    idx = torch.randint(50, (2, 16))
    ours_logits, _ = ours(idx)
    assert torch.allclose(ours_logits, hf(idx).logits, atol=1e-5)


@pytest.mark.parametrize("flash", [True, False])
def test_attention_is_causal_and_both_paths_agree(flash):
    torch.manual_seed(0)
    model = build_gpt(GPTConfig(block_size=12, vocab_size=20, n_layer=2, n_head=2, n_embd=16, flash=flash)).eval()
    idx = torch.randint(20, (1, 12))
    changed = idx.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 20  # rewrite the future
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :8], b[:, :8])  # positions before 8 never saw it
    other = build_gpt(GPTConfig(block_size=12, vocab_size=20, n_layer=2, n_head=2, n_embd=16, flash=not flash))
    other.load_state_dict(model.state_dict())
    assert torch.allclose(other.eval()(idx)[0], a, atol=1e-5)


def test_verdicts_each_side_of_their_threshold(result):
    assert near_ln_vocab(4.65, 4.615) and not near_ln_vocab(6.0, 4.615)
    assert uses_context(2.1, 3.3) and not uses_context(3.4, 3.3)
    probe = find_probe(None, "nanogpt")
    opts = probe.make_options(**SMALL)
    from n00bqa.probes.nanogpt import Numbers

    fields = {f.name for f in dataclasses.fields(Numbers)}
    m = result.metrics
    base = Numbers(**{name: m.get(name) for name in fields if name in m},
                   char_counts=[["' '", 10, 0.5], ["'x'", 1, 0.05]], curve=[[0, 4.6, 4.6], [10, 3.0, 3.1]],
                   sample="", shakespeare_char={k.split(".", 1)[1]: v for k, v in m.items()
                                                if k.startswith("shakespeare_char.")},
                   gpt2={k.split(".", 1)[1]: v for k, v in m.items() if k.startswith("gpt2.")})
    bad_init = dataclasses.replace(base, initial_loss=m["ln_vocab"] + 1, initial_minus_ln_vocab=1.0)
    assert "NOT within" in report(bad_init, opts).findings[1]
    assert "within the tolerance" in report(base, opts).findings[1]
    stuck = dataclasses.replace(base, final_val_loss=m["unigram_entropy"] + 0.1)
    assert "NOT below the unigram entropy" in report(stuck, opts).findings[3]


@pytest.mark.parametrize("values, message", [
    (dict(n_embd=30, n_head=4), "not divisible"),
    (dict(steps=0), "--steps"),
    (dict(temperature=0), "--temperature"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "nanogpt").make_options(**values)
