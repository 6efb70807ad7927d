"""word-embedding: lookup = one-hot × table, neighbours, static vs contextual, positions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import run_probe, unexplained_numbers


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "word-embedding")
    return run_probe(None, probe, probe.make_options(), cache=False)


def test_every_number_in_a_finding_is_measured(result):
    assert unexplained_numbers(result) == []


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
    assert m["sinusoidal_neighbour_cosine"] == pytest.approx(dot / norms, abs=1e-5)
    assert m["sinusoidal_neighbour_cosine_spread"] < 1e-5
    learned = model.embeddings.position_embeddings.weight.detach()
    assert m["learned_neighbour_cosine"] == pytest.approx(
        float(F.cosine_similarity(learned[:-1], learned[1:], dim=1).mean()), abs=1e-6)
    assert m["learned_neighbour_cosine_spread"] > 10 * m["sinusoidal_neighbour_cosine_spread"]


def test_bad_words():
    probe = find_probe(None, "word-embedding")
    with pytest.raises(ProbeError, match="single token"):
        run_probe(None, probe, probe.make_options(word="unbelievableness", text="a | b"), cache=False)
    with pytest.raises(ProbeError, match="does not contain"):
        run_probe(None, probe, probe.make_options(text="a river bank | a cat"), cache=False)
