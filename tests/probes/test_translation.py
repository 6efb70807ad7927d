"""The translation probe: a toy encoder-decoder trained live, its cross-attention, and --model on a HF seq2seq."""

from __future__ import annotations

import json

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import Context, ProbeResult, flat_metrics, unexplained_numbers
from n00bqa.probes.runs import run_probe
from n00bqa.probes.translation import (ADJECTIVES, ALPHA, EOS, LEXICON, TGT_VOCAB, Sentence, TranslationOptions,
                                       alignment_scores, alignment_verdict, analyse, chance_hit_probabilities,
                                       encode_batch, log10_tail_at_least, make_data, make_sentence, report, train,
                                       walk)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train on one thread, as run_probe does for this probe (Probe.threads): on a busy 2-core machine a
    second thread makes these tiny matmuls several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread):
    """One training run with the default options, shared by the module (about 20-40 s on 2 busy cores)."""
    return train(TranslationOptions(), Context(seed=0))


def result_of(trained, opts: TranslationOptions) -> ProbeResult:
    """The probe's result for a training run, as run_probe builds it (without training again)."""
    import dataclasses

    numbers = analyse(trained, opts)
    rep = report(numbers, opts)
    return ProbeResult(probe="translation", question="encoder-decoder", summary=rep.summary, findings=rep.findings,
                       tables=rep.tables, metrics=flat_metrics(numbers),
                       environment={"options": dataclasses.asdict(opts), "seed": 0}, seconds=0.0)


@pytest.fixture(scope="module")
def measured(trained):
    return result_of(trained, TranslationOptions())


@pytest.mark.slow
def test_every_number_in_a_finding_is_measured(measured):
    assert unexplained_numbers(measured) == []


def test_toy_language_alignment_is_a_reordering_permutation():
    import random

    rng = random.Random(3)
    reordered = 0
    for _ in range(200):
        s = make_sentence(rng)
        assert sorted(s.alignment) == list(range(len(s.source)))
        assert s.target == [LEXICON[s.source[i]] for i in s.alignment]
        reordered += s.alignment != sorted(s.alignment)
    assert reordered == 200  # the verb always moves to the end


def test_held_out_sentences_never_appear_in_training():
    batch, test = make_data(0, 50)
    held_out = {tuple(s.source) for s in test}
    assert len(held_out) == 50
    assert not any(tuple(s.source) in held_out for s in batch(2000))


@pytest.mark.slow
def test_default_options_reach_95_percent_exact_match(trained, measured):
    assert trained.accuracy >= 0.95
    assert measured.metrics["accuracy"] == round(trained.accuracy, 4)
    # the probe's own exact-match count, recomputed independently with the walk's step-by-step decoder
    right = sum([t for t in walk(trained.model, s)["tokens"] if t != EOS] == s.target for s in trained.test[:60])
    assert right / 60 >= 0.95
    assert trained.curve[-1][1] < trained.curve[0][1]  # training loss went down


@pytest.mark.slow
def test_final_train_loss_is_the_last_steps_own(trained, measured):
    m = measured.metrics
    assert len(trained.losses) == TranslationOptions().steps
    assert m["final_train_loss"] == round(trained.losses[-1], 4)
    # the curve's points are means over the last loss_interval steps, and are named so
    interval = m["loss_interval"]
    assert interval == 300 // 5
    mean_last = sum(trained.losses[-interval:]) / interval
    assert m["final_interval_mean_loss"] == pytest.approx(mean_last, abs=1e-4)
    assert measured.tables[0].columns[1] == f"mean loss, last {interval} steps"


@pytest.mark.slow
def test_walk_shapes_and_attention_rows_sum_to_one(trained):
    opts = TranslationOptions()
    sentence = next(s for s in trained.test if any(w in ADJECTIVES for w in s.source))
    path = walk(trained.model, sentence)
    S, t = len(sentence.source), len(path["steps"])
    assert path["memory_shape"] == (1, S, opts.d_model)
    assert path["encoder_self_shape"] == (1, opts.heads, S, S)
    assert path["decoder_self_shape"] == (1, opts.heads, t, t)
    assert path["cross_shape"] == (1, opts.heads, t, S)
    for i, step in enumerate(path["steps"]):
        assert len(step["prefix"]) == i + 1
        for self_row, cross_row in zip(step["self"], step["cross"]):
            assert tuple(self_row.shape) == (opts.heads, i + 1)
            assert tuple(cross_row.shape) == (opts.heads, S)
            assert self_row.sum(-1).sub(1).abs().max() < 1e-5
            assert cross_row.sum(-1).sub(1).abs().max() < 1e-5


@pytest.mark.slow
def test_greedy_walk_equals_the_models_argmax_at_every_step(trained):
    import torch

    sentence = trained.test[7]
    path = walk(trained.model, sentence)
    src, _, _ = encode_batch([sentence])
    ids = [TGT_VOCAB.index("<s>")] + [TGT_VOCAB.index(t) for t in path["tokens"]]
    with torch.no_grad():  # one teacher-forced pass over the whole decoded sequence (causal, so equal per step)
        logits, _, _ = trained.model(src, torch.tensor([ids[:-1]]))
    assert logits[0].argmax(-1).tolist() == ids[1:]
    for i, step in enumerate(path["steps"]):
        assert torch.allclose(step["logits"], logits[0, i], atol=1e-4)


def correct_sentences(trained) -> list[Sentence]:
    """The held-out sentences decoded exactly right, found again with the walk's step-by-step decoder."""
    return [s for s in trained.test if [t for t in walk(trained.model, s)["tokens"] if t != EOS] == s.target]


def hits_one_by_one(model, sentences, layer: int, head: int) -> tuple[int, int]:
    """The alignment hits of one head, one sentence at a time (no batching, no padding)."""
    import torch

    hits = words = 0
    for s in sentences:
        src, tgt_in, _ = encode_batch([s])
        with torch.no_grad():
            _, _, cross = model(src, tgt_in, need_weights=True)  # per layer (1, heads, T+1, S)
        most = cross[layer][0, head, :len(s.target)].argmax(-1).tolist()
        hits += sum(m == a for m, a in zip(most, s.alignment))
        words += len(s.target)
    return hits, words


@pytest.mark.slow
def test_alignment_is_scored_on_correct_decodings_with_the_head_chosen_elsewhere(trained, measured):
    m = measured.metrics
    matched = correct_sentences(trained)
    assert m["correct_sentences"] == len(matched)
    selection, scoring = matched[0::2], matched[1::2]
    assert not {tuple(s.source) for s in selection} & {tuple(s.source) for s in scoring}  # disjoint splits
    assert (m["selection_sentences"], m["scoring_sentences"]) == (len(selection), len(scoring))
    # the head is the best one on the selection split ...
    selection_scores = alignment_scores(trained.model, selection)
    assert tuple(selection_scores.shape) == (2, 4)
    best_layer, best_head = divmod(int(selection_scores.argmax()), 4)
    assert (m["best_layer"], m["best_head"]) == (best_layer + 1, best_head + 1)
    # ... and its reported share is counted on the scoring split, one sentence at a time
    hits, words = hits_one_by_one(trained.model, scoring, best_layer, best_head)
    assert (m["alignment_hits"], m["alignment_words"]) == (hits, words)
    assert m["alignment_best_head"] == round(hits / words, 4)
    assert 0 <= m["alignment_mean"] <= 1
    # chance: a uniformly random most-attended word hits 1/S; S target words per sentence, so 1 hit each
    assert m["alignment_chance_hits"] == pytest.approx(len(scoring))
    assert m["alignment_chance"] == pytest.approx(sum(len(s.target) / len(s.source) for s in scoring) / words)
    assert m["alignment_log10_p_value"] == pytest.approx(
        log10_tail_at_least(hits, [1 / len(s.source) for s in scoring for _ in s.target]))
    # a trained translator's chosen head follows the alignment far above chance
    assert m["alignment_best_head"] > 3 * m["alignment_chance"]
    finding = next(f for f in measured.findings if f.startswith("Cross-attention, scored only"))
    assert alignment_verdict(m["alignment_log10_p_value"]) in finding
    assert "follows the word alignment more often than chance" in finding
    # the heatmap table rows: one per decoding step, one cell per source word
    heat = next(t for t in measured.tables if t.title.startswith("Cross-attention heatmap"))
    assert all(len(row) == len(heat.columns) for row in heat.rows)
    assert set(m) >= {"accuracy", "alignment_best_head", "alignment_mean", "train_seconds"}


def test_exact_tail_against_enumeration_and_the_binomial():
    """log10 P(X >= k) for a sum of Bernoullis, against brute force and against math.comb."""
    import itertools
    import math
    import random
    from fractions import Fraction

    rng = random.Random(0)
    for _ in range(5):
        probs = [Fraction(1, rng.randint(2, 9)) for _ in range(10)]
        for k in (0, 3, 7, 10):
            exact = Fraction(0)
            for outcome in itertools.product((0, 1), repeat=len(probs)):
                if sum(outcome) >= k:
                    term = Fraction(1)
                    for hit, p in zip(outcome, probs):
                        term *= p if hit else 1 - p
                    exact += term
            assert log10_tail_at_least(k, [float(p) for p in probs]) == pytest.approx(
                math.log10(exact.numerator) - math.log10(exact.denominator), abs=1e-9)
    # equal probabilities: the binomial tail, exactly, far below what a float can hold
    n, k, p = 1000, 900, Fraction(1, 7)
    tail = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
    assert log10_tail_at_least(k, [1 / 7] * n) == pytest.approx(
        math.log10(tail.numerator) - math.log10(tail.denominator), abs=1e-6)


def test_alignment_verdict_on_both_sides_of_its_threshold():
    import math

    assert ALPHA == 0.01
    below, above = math.log10(0.009), math.log10(0.011)
    assert alignment_verdict(below).startswith("follows the word alignment more often than chance (p = 0.009")
    assert alignment_verdict(above).startswith("is not distinguishable from chance at the 0.01 level (p = 0.011")
    assert "10^-799" in alignment_verdict(-799.0)


def test_chance_is_one_over_the_source_length_per_target_word():
    s = Sentence(["the", "cat", "sees", "a", "dog"], ["le", "chat", "un", "chien", "voit"], [0, 1, 3, 4, 2])
    assert chance_hit_probabilities([s]) == [0.2] * 5


@pytest.mark.slow
def test_too_few_correct_decodings_leave_alignment_unscored():
    opts = TranslationOptions(steps=1, test_sentences=20)
    trained = train(opts, Context(seed=0))
    result = result_of(trained, opts)
    m = result.metrics
    assert m["correct_sentences"] == sum(trained.correct) < 2
    assert "alignment_best_head" not in m and "alignment_log10_p_value" not in m
    assert any("alignment is not scored" in f for f in result.findings)
    assert not any("follows" in f for f in result.findings)
    assert unexplained_numbers(result) == []


@pytest.mark.slow
def test_same_seed_same_numbers():
    opts = TranslationOptions(steps=20, test_sentences=20)
    a, b = train(opts, Context(seed=5)), train(opts, Context(seed=5))
    assert a.curve == b.curve
    assert a.accuracy == b.accuracy


def test_bad_options_are_probe_errors(tmp_path):
    probe = find_probe(None, "translation")
    with pytest.raises(ProbeError, match="--d-model 30"):
        probe.make_options(d_model=30, heads=4)
    with pytest.raises(ProbeError, match="--steps 0"):
        probe.make_options(steps=0)
    with pytest.raises(ProbeError, match="no config.json"):
        probe.make_options(model=str(tmp_path))


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A randomly initialised tiny T5, saved with the bundled MiniLM tokenizer (weights random: mechanics only)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from n00bqa.probes.lib.models import load_tokenizer

    tokenizer = load_tokenizer(None)
    torch.manual_seed(0)
    config = T5Config(vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                      num_decoder_layers=2, num_heads=4, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_model_path_walks_a_hf_encoder_decoder(tiny_t5):
    probe = find_probe(None, "translation")
    opts = probe.make_options(model=str(tiny_t5), text="the cat sees the dog", max_new_tokens=6)
    result = run_probe(None, probe, opts, cache=False)
    assert unexplained_numbers(result) == []
    m = result.metrics
    assert m["decoder_layers"] == 2 and m["heads"] == 4 and m["d_model"] == 32
    assert m["source_tokens"] == 7  # [CLS] the cat sees the dog [SEP]
    assert 1 <= m["steps"] <= 6
    assert m["matches_generate"] is True
    shapes = dict((row[0], row[1]) for row in result.tables[0].rows)
    assert shapes["encoder memory (last_hidden_state)"] == "(1, 7, 32)"
    assert shapes["cross-attention, per layer (last step)"] == f"(1, 4, {m['steps']}, 7)"
    heat = result.tables[2]
    assert len(heat.rows) == m["steps"]
    for row in heat.rows:  # each row is a distribution over the source tokens, in percent
        assert abs(sum(int(cell[1:]) for cell in row[1:]) - 100) <= len(row)


def test_model_path_without_tokenizer_is_a_clear_error(tiny_t5, tmp_path):
    import shutil

    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_t5 / name).exists():
            shutil.copy(tiny_t5 / name, folder / name)
    probe = find_probe(None, "translation")
    with pytest.raises(ProbeError, match="tokenizer"):
        probe.measure(probe.make_options(model=str(folder)), Context())


def test_cli_json_with_model(tiny_t5):
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["probe", "translation", "--model", str(tiny_t5), "--max-new-tokens", "3",
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["probe"] == "translation" and data["question"] == "encoder-decoder"
    assert data["metrics"]["steps"] <= 3


def test_cli_rejects_a_folder_without_config(tmp_path):
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["probe", "translation", "--model", str(tmp_path)])
    assert result.exit_code == 1
    assert "no config.json" in result.output
    assert "Traceback" not in result.output


def test_model_path_rejects_an_encoder_only_model():
    from n00bqa.study import bundled_model_path

    probe = find_probe(None, "translation")
    with pytest.raises(ProbeError, match="'bert' model, not an encoder-decoder"):
        probe.measure(probe.make_options(model=str(bundled_model_path())), Context())
