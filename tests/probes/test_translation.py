"""The translation probe: a toy encoder-decoder trained live and its cross-attention against the known alignment."""

from __future__ import annotations

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import Context, ProbeResult, flat_metrics
from n00bqa.probes.lib.seq2seq import ADJECTIVES, EOS, TGT_VOCAB, Sentence, encode_batch
from n00bqa.probes.translation import (ALPHA, Options, alignment_scores, alignment_verdict, analyse,
                                       chance_hit_probabilities, log10_tail_at_least, report, train, walk)
from tests.support.probes import assert_output_whole, finding_stating, finding_with


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
    return train(Options(), Context(seed=0))


def result_of(trained, opts: Options) -> ProbeResult:
    """The probe's result for a training run, as run_probe builds it (without training again)."""
    import dataclasses

    numbers = analyse(trained, opts)
    rep = report(numbers, opts)
    return ProbeResult(probe="translation", question="encoder-decoder", summary=rep.summary, findings=rep.findings,
                       tables=rep.tables, metrics=flat_metrics(numbers),
                       environment={"options": dataclasses.asdict(opts), "seed": 0}, seconds=0.0, numbers=numbers)


@pytest.fixture(scope="module")
def measured(trained):
    return result_of(trained, Options())


@pytest.mark.slow
def test_output_is_whole_and_every_number_is_measured(measured):
    assert_output_whole(measured)


@pytest.mark.slow
def test_default_options_reach_95_percent_exact_match(trained, measured):
    assert trained.accuracy >= 0.95
    assert measured.metrics["accuracy"] == round(trained.accuracy, 4)
    finding_stating(measured, "correct_sentences", "held-out sentences exactly")
    # the probe's own exact-match count, recomputed independently with the walk's step-by-step decoder
    right = sum([t for t in walk(trained.model, s)["tokens"] if t != EOS] == s.target for s in trained.test[:60])
    assert right / 60 >= 0.95
    assert trained.curve[-1][1] < trained.curve[0][1]  # training loss went down


@pytest.mark.slow
def test_final_train_loss_is_the_last_steps_own(trained, measured):
    m = measured.metrics
    assert len(trained.losses) == Options().steps
    assert m["final_train_loss"] == round(trained.losses[-1], 4)
    # the curve's points are means over the last loss_interval steps, and are named so
    interval = m["loss_interval"]
    assert interval == 300 // 5
    mean_last = sum(trained.losses[-interval:]) / interval
    assert m["final_interval_mean_loss"] == pytest.approx(mean_last, abs=1e-4)
    assert measured.tables[0].columns[1] == f"mean loss, last {interval} steps"


@pytest.mark.slow
def test_walk_shapes_and_attention_rows_sum_to_one(trained):
    opts = Options()
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
    assert (m["alignment.layer"], m["alignment.head"]) == (best_layer + 1, best_head + 1)
    # ... and its reported share is counted on the scoring split, one sentence at a time
    hits, words = hits_one_by_one(trained.model, scoring, best_layer, best_head)
    assert (m["alignment.hits"], m["alignment.words"]) == (hits, words)
    assert m["alignment.share"] == round(hits / words, 4)
    assert 0 <= m["alignment.mean_share"] <= 1
    # chance: a uniformly random most-attended word hits 1/S; S target words per sentence, so 1 hit each
    assert m["alignment.chance_hits"] == pytest.approx(len(scoring))
    assert m["alignment.chance"] == pytest.approx(sum(len(s.target) / len(s.source) for s in scoring) / words)
    assert m["alignment.log10_p_value"] == pytest.approx(
        log10_tail_at_least(hits, [1 / len(s.source) for s in scoring for _ in s.target]))
    # a trained translator's chosen head follows the alignment far above chance
    assert m["alignment.share"] > 3 * m["alignment.chance"]
    finding = finding_stating(measured, "alignment.hits", "Cross-attention, scored only")
    assert alignment_verdict(m["alignment.log10_p_value"]) in finding
    assert "follows the word alignment more often than chance" in finding
    # the heatmap table rows: one per decoding step, one cell per source word
    heat = next(t for t in measured.tables if t.title.startswith("Cross-attention heatmap"))
    assert all(len(row) == len(heat.columns) for row in heat.rows)
    assert set(m) >= {"accuracy", "alignment.share", "alignment.mean_share", "train_seconds"}
    table = next(t for t in measured.tables if t.title.startswith("Alignment"))
    cells = [v for row in table.rows for v in row[1:-1]]
    assert cells == pytest.approx([v for row in measured.numbers.alignment.scores for v in row], abs=5e-4)


def test_old_metric_names_resolve():
    probe = find_probe(None, "translation")
    assert probe.metric_name("alignment_best_head") == "alignment.share"
    assert probe.metric_name("verb_weight") == "walk.verb_weight"
    assert probe.metric_name("accuracy") == "accuracy"


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
    opts = Options(steps=1, test_sentences=20)
    trained = train(opts, Context(seed=0))
    result = result_of(trained, opts)
    m = result.metrics
    assert m["correct_sentences"] == sum(trained.correct) < 2
    assert result.numbers.alignment is None
    assert "alignment.share" not in m and "alignment.log10_p_value" not in m
    finding_with(result, "alignment is not scored")
    assert not any("follows" in f for f in result.findings)
    assert_output_whole(result)


@pytest.mark.slow
def test_same_seed_same_numbers():
    opts = Options(steps=20, test_sentences=20)
    a, b = train(opts, Context(seed=5)), train(opts, Context(seed=5))
    assert a.curve == b.curve
    assert a.accuracy == b.accuracy


def test_bad_options_are_probe_errors(tmp_path):
    probe = find_probe(None, "translation")
    with pytest.raises(ProbeError, match="--d-model 30"):
        probe.make_options(d_model=30, heads=4)
    with pytest.raises(ProbeError, match="--steps 0"):
        probe.make_options(steps=0)
