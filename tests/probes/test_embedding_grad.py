"""embedding-grad: the gradient facts on MiniLM's real table, checked against independent counts."""

from __future__ import annotations

import pytest

from n00bqa.probes import find_probe
from n00bqa.probes.base import run_probe, unexplained_numbers
from n00bqa.probes.embedding_grad import OTHER_SENTENCES

SMALL_TIMING = dict(big_vocab=2000, big_dim=32, batch_tokens=128, reps=1)


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "embedding-grad")
    return run_probe(None, probe, probe.make_options(text="the cat sat on the mat", **SMALL_TIMING), cache=False)


def test_every_number_in_a_finding_is_measured(result):
    assert unexplained_numbers(result) == []


def test_rows_with_gradient_are_the_token_ids(result, minilm):
    tokenizer, model = minilm
    ids = tokenizer("the cat sat on the mat")["input_ids"]
    m = result.metrics
    assert m["vocab_size"] == model.embeddings.word_embeddings.weight.shape[0] == 30522
    assert m["tokens"] == len(ids) == 8
    assert m["unique_tokens"] == len(set(ids)) == 7
    assert m["nonzero_grad_rows"] == len(set(ids))
    assert m["grad_rows_are_token_ids"] is True


def test_repeat_sum_and_one_hot(result):
    m = result.metrics
    assert m["repeat_grad_is_sum"] is True
    assert m["repeat_grad_max_abs_diff"] < 1e-5
    assert m["onehot_output_max_abs_diff"] == 0.0
    assert m["onehot_grad_max_abs_diff"] < 1e-5
    assert "'the' appears 2 times" in result.findings[2]


def test_sparse_gradient_sizes(result):
    m = result.metrics
    d = 384
    assert m["dense_grad_bytes"] == 30522 * d * 4
    # COO: one int64 index and one row of d float32 values per position; coalesced: per unique id.
    assert m["sparse_grad_bytes"] == 8 * (8 + d * 4)
    assert m["coalesced_nnz"] == 7
    assert m["coalesced_grad_bytes"] == 7 * (8 + d * 4)
    assert m["sparse_grad_equals_dense"] is True


def test_optimizers_and_row_movement(result, minilm):
    tokenizer, _ = minilm
    m = result.metrics
    assert m["sgd_accepts_sparse"] and m["adagrad_accepts_sparse"] and m["sparseadam_accepts_sparse"]
    assert not m["adam_accepts_sparse"] and not m["adamw_accepts_sparse"]
    assert m["sparseadam_rows_moved_without_grad"] == 0
    assert m["adam_rows_moved_without_grad"] > 0  # momentum from earlier steps
    # AdamW's weight decay moves every row without a gradient in each of the three steps.
    batches = ["the cat sat on the mat", *OTHER_SENTENCES]
    without_grad = sum(30522 - len(set(tokenizer(s)["input_ids"])) for s in batches)
    assert m["adamw_rows_moved_without_grad"] == without_grad
    assert m["dense_adam_step_ms"] > 0 and m["sparse_adam_step_ms"] > 0


def test_text_without_repeats():
    probe = find_probe(None, "embedding-grad")
    res = run_probe(None, probe, probe.make_options(text="one two three", **SMALL_TIMING), cache=False)
    assert unexplained_numbers(res) == []
    assert res.metrics["repeat_grad_is_sum"] is False
    assert res.metrics["nonzero_grad_rows"] == res.metrics["unique_tokens"] == res.metrics["tokens"] == 5
    assert any("No token repeats" in f for f in res.findings)
