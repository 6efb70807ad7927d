"""word-embedding: lookup = one-hot × table, neighbours, static vs contextual, positions."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from tests.support.probes import assert_output_whole, finding_stating, finding_with


@pytest.fixture(scope="module")
def run():
    """One run through the framework, with its Numbers (to word verdicts from edited copies)."""
    probe = find_probe(None, "word-embedding")
    opts = probe.make_options()
    result = run_probe(None, probe, opts, cache=False)
    return result, result.numbers, opts


@pytest.fixture(scope="module")
def result(run):
    return run[0]


def test_output_is_whole_and_every_number_is_measured(result):
    assert_output_whole(result)


def test_lookup_and_learned_table(result, minilm):
    tokenizer, model = minilm
    m = result.metrics
    assert m["word_id"] == tokenizer.convert_tokens_to_ids("bank")
    assert m["onehot_lookup_max_abs_diff"] == 0.0
    table = model.embeddings.word_embeddings.weight.detach()
    assert m["trained_std"] == pytest.approx(float(table.std()))
    assert m["trained_std"] > 2 * m["init_std"]  # training moved the table far from N(0, 0.02²)


def test_neighbours_are_cosine_top_k(result, minilm):
    tokenizer, model = minilm
    table = model.embeddings.word_embeddings.weight.detach()
    king = tokenizer.convert_tokens_to_ids("king")
    # Independent: cosine of every row with 'king', computed row by row in float64.
    t64 = table.double()
    cos = (t64 @ t64[king]) / (t64.norm(dim=1) * t64[king].norm())
    cos[king] = -2
    top = tokenizer.convert_ids_to_tokens(torch.topk(cos, 5).indices.tolist())
    neighbours = next(t for t in result.tables if t.title.startswith("Nearest"))
    row = next(r for r in neighbours.rows if r[0] == "king")
    assert [part.rsplit(" ", 1)[0] for part in row[1].split(", ")] == top
    assert [name for name, _ in result.numbers.neighbours["king"]] == top
    assert "king → " + ", ".join(top[:3]) in finding_with(result, "Nearest neighbours by cosine")


def test_static_vs_contextual(result, minilm):
    tokenizer, model = minilm
    sentences = ["He sat on the bank of the river.", "She asked the bank for a loan."]
    vectors = []
    for s in sentences:
        enc = tokenizer(s, return_tensors="pt")
        pos = enc["input_ids"][0].tolist().index(tokenizer.convert_tokens_to_ids("bank"))
        with torch.no_grad():
            vectors.append(model(**enc).last_hidden_state[0, pos])
    expected = float(F.cosine_similarity(vectors[0], vectors[1], dim=0))
    m = result.metrics
    assert m["contextual_cosine.1_2"] == pytest.approx(expected, abs=1e-5)
    assert m["contextual_cosine.1_2"] < 0.99  # one static row, two different contextual vectors
    assert m["contextual_cosine.2_3"] > m["contextual_cosine.1_2"]  # loan/mortgage closer than river/loan


def test_positions(result, minilm):
    _, model = minilm
    d = 384
    # Independent: the paper's formula at p = 0 and 1 by plain Python.
    pe = [[math.sin(p / 10000 ** (2 * (i // 2) / d)) if i % 2 == 0 else math.cos(p / 10000 ** (2 * (i // 2) / d))
           for i in range(d)] for p in (0, 1)]
    dot = sum(a * b for a, b in zip(*pe))
    norms = math.sqrt(sum(a * a for a in pe[0])) * math.sqrt(sum(b * b for b in pe[1]))
    m = result.metrics
    assert m["positions.sinusoidal.1.mean"] == pytest.approx(dot / norms, abs=1e-5)
    assert m["positions.sinusoidal.1.spread"] < 1e-5
    learned = model.embeddings.position_embeddings.weight.detach()
    for k in (1, 64):
        assert m[f"positions.learned.{k}.mean"] == pytest.approx(
            float(F.cosine_similarity(learned[:-k], learned[k:], dim=1).mean()), abs=1e-6)
    assert m["positions.learned.1.spread"] > 10 * m["positions.sinusoidal.1.spread"]
    finding_stating(result, "positions.sinusoidal.1.mean", "Position, sinusoidal")


def test_old_metric_names_resolve(result):
    probe = find_probe(None, "word-embedding")
    assert probe.metric_name("sinusoidal_distance_64_cosine") == "positions.sinusoidal.64.mean"
    assert probe.metric_name("learned_neighbour_cosine_spread") == "positions.learned.1.spread"
    assert all(new in result.metrics for new in probe.renamed_metrics.values())
    assert len(probe.renamed_metrics) == 6


def test_bad_words():
    probe = find_probe(None, "word-embedding")
    with pytest.raises(ProbeError, match="single token"):
        run_probe(None, probe, probe.make_options(word="unbelievableness", text="a | b"), cache=False)
    with pytest.raises(ProbeError, match="does not contain"):
        run_probe(None, probe, probe.make_options(text="a river bank | a cat"), cache=False)


def test_names_and_ranges_are_what_was_measured(result, minilm):
    _, model = minilm
    text = " ".join([result.summary, *result.findings])
    assert "BERT's learned position table" not in text
    assert "MiniLM's learned position table (512 × 384, 196,608 parameters)" in text
    assert model.embeddings.position_embeddings.weight.shape == (512, 384)
    m = result.metrics
    assert m["position_params"] == 512 * 384
    # three sentences: a real range, its ends the smallest and largest pair cosines
    pairs = [m["contextual_cosine.1_2"], m["contextual_cosine.1_3"], m["contextual_cosine.2_3"]]
    assert (m["contextual_cosine_min"], m["contextual_cosine_max"]) == (min(pairs), max(pairs))
    assert f"ranges from {min(pairs):.3f} (1 vs 3) to {max(pairs):.3f} (2 vs 3)" in text
    # the fresh table's mean row length: std 0.02 over 384 columns gives about 0.02 * sqrt(384)
    assert m["init_row_norm_mean"] == pytest.approx(0.02 * math.sqrt(384), rel=0.01)


def test_verdicts_follow_the_numbers_on_both_sides(run):
    from n00bqa.probes.word_embedding import report

    _, numbers, opts = run
    # one pair of sentences: no "range from x to x"
    def in_context(n):
        return next(f for f in report(n, opts).findings if "has one static row" in f)

    def position_finding(n):
        return next(f for f in report(n, opts).findings if f.startswith("Position, sinusoidal"))

    first_pair = dict(list(numbers.pair_cosines.items())[:1])
    one_pair = dataclasses.replace(numbers, pair_cosines=first_pair, sentences=numbers.sentences[:2],
                                   contextual_cosine_min=0.9, contextual_cosine_max=0.9)
    words = in_context(one_pair)
    assert "between the two sentences the last-layer cosine is 0.900" in words and "ranges" not in words
    tied = dataclasses.replace(numbers, contextual_cosine_min=0.9001, contextual_cosine_max=0.9004)
    assert "is 0.900 for every pair" in in_context(tied)
    # different vs the same contextual vectors
    assert "3 different vectors" in in_context(numbers)
    gap = 1 - numbers.contextual_cosine_max
    assert numbers.contextual_cosine_gap == pytest.approx(gap) and f"pair is {gap:.3g} below cosine 1" in in_context(numbers)
    same = dataclasses.replace(numbers, contextual_cosine_max=1.0, contextual_cosine_min=1.0, contextual_cosine_gap=0.0)
    assert "the same vector in all 3 sentences" in in_context(same)
    edge = dataclasses.replace(numbers, contextual_cosine_gap=numbers.same_cosine * 1.01)
    assert "3 different vectors" in in_context(edge)
    # the same for every position vs varying, on the measured spreads
    position = position_finding(numbers)
    assert "0.9727, the same for every position" in position or ", the same for every position" in position
    assert "varying with the position (spread" in position
    learned = {**numbers.positions["learned"], 1: dataclasses.replace(numbers.positions["learned"][1], spread=1e-7)}
    flat = dataclasses.replace(numbers, positions={**numbers.positions, "learned": learned})
    assert position_finding(flat).count("the same for every position") == 2
    # falling vs rising with distance: cosine at distance 1 minus at 64, from the table's own means
    for name in ("sinusoidal", "learned"):
        drop = numbers.positions[name][1].mean - numbers.positions[name][64].mean
        assert numbers.distance_64_drop[name] == pytest.approx(drop)
        assert f"falling by {drop:.4f} to {numbers.positions[name][64].mean:.4f}" in position
    rising = dataclasses.replace(numbers, distance_64_drop={"sinusoidal": -0.25, "learned": 0.0})
    assert "rising by 0.2500" in position_finding(rising) and position_finding(rising).count("rising by") == 2
    # the one-hot equality
    assert "equals the lookup within" in " ".join(report(numbers, opts).findings)
    off = dataclasses.replace(numbers, onehot_lookup_max_abs_diff=1e-3)
    assert "does NOT equal the lookup" in " ".join(report(off, opts).findings)


def test_recorded_verdicts_follow_from_the_run(result):
    from tests.support.recorded_verdicts import verdict_words

    assert verdict_words(result) == [
        ("tolerance", "equals"), ("same_cosine", "3 different vectors"),
        ("same_spread", "the same for every position"), ("distance-64 drop", "falling"),
        ("same_spread", "varying with the position"), ("distance-64 drop", "falling")]
