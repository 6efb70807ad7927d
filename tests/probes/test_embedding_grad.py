"""embedding-grad: the gradient facts on MiniLM's real table, checked against independent counts."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.probes.embedding_grad import OTHER_SENTENCES
from tests.support.probes import assert_output_whole, finding_stating, finding_with
from tests.support.verdicts import problems

SMALL_TIMING = dict(big_vocab=2000, big_dim=32, batch_tokens=128, reps=1)
V, D = 30522, 384


@pytest.fixture(scope="module")
def run():
    """One run through the framework, with its Numbers (to word verdicts from edited copies)."""
    probe = find_probe(None, "embedding-grad")
    opts = probe.make_options(text="the cat sat on the mat", **SMALL_TIMING)
    result = run_probe(None, probe, opts, cache=False)
    return result, result.numbers, opts


@pytest.fixture(scope="module")
def result(run):
    return run[0]


def _batches(tokenizer):
    return [set(tokenizer(s)["input_ids"]) for s in ["the cat sat on the mat", *OTHER_SENTENCES]]


def test_output_is_whole_and_every_number_is_measured(result):
    assert_output_whole(result)


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
    assert "'the' appears 2 times" in finding_stating(result, "repeat_grad_max_abs_diff", "sum of those positions")


def test_sparse_gradient_sizes(result):
    m = result.metrics
    d = D
    assert m["dense_grad_bytes"] == 30522 * d * 4
    # COO: one int64 index and one row of d float32 values per position; coalesced: per unique id.
    assert m["sparse_grad_bytes"] == 8 * (8 + d * 4)
    assert m["coalesced_nnz"] == 7
    assert m["coalesced_grad_bytes"] == 7 * (8 + d * 4)
    # ... but coalesce narrows buffers allocated for the 8 entries before deduplication
    assert m["coalesced_grad_storage_bytes"] == 8 * (8 + d * 4)
    assert m["sparse_grad_equals_dense"] is True
    assert m["one_hot_bytes"] == 8 * 30522 * 4


def test_optimizers_and_row_movement(result, minilm):
    tokenizer, _ = minilm
    m = result.metrics
    assert m["optimizers.sgd.accepts_sparse"] and m["optimizers.adagrad.accepts_sparse"] and m["optimizers.sparseadam.accepts_sparse"]
    assert m["optimizers.sgd_momentum.accepts_sparse"]
    assert not m["optimizers.adam.accepts_sparse"] and not m["optimizers.adamw.accepts_sparse"] and not m["optimizers.rmsprop.accepts_sparse"]
    assert m["optimizers.sparseadam.rows_moved_without_grad"] == 0
    assert m["optimizers.adam.rows_moved_without_grad"] > 0  # momentum from earlier steps
    # AdamW's weight decay moves every row without a gradient in each of the three steps.
    batches = _batches(tokenizer)
    moved = next(t for t in result.tables if t.title.startswith("Rows moved"))
    adamw = next(row for row in moved.rows if row[0] == "AdamW")
    assert adamw[1:4] == [30522 - len(b) for b in batches]
    assert sum(adamw[1:4]) == sum(30522 - len(b) for b in batches)
    assert m["timed.dense.step_ms"] > 0 and m["timed.sparse.step_ms"] > 0
    assert result.numbers.optimizers["adamw"].moved_per_step == [30522 - len(b) for b in batches]


def test_distinct_rows_moved_without_grad_against_the_batches(result, minilm):
    """Independent: which rows each rule must move, from the three batches' ids alone."""
    tokenizer, model = minilm
    m = result.metrics
    batches = _batches(tokenizer)
    # Momentum (SGD+momentum, Adam): a row seen in an earlier step keeps moving in a step without it.
    momentum = set().union(*[set().union(*batches[:s]) - batches[s] for s in range(1, len(batches))])
    assert m["optimizers.sgd_momentum.rows_moved_without_grad"] == len(momentum)
    assert m["optimizers.adam.rows_moved_without_grad"] == len(momentum)
    # Decoupled weight decay (AdamW): every non-zero row absent from some step.
    table = model.embeddings.word_embeddings.weight.detach()
    nonzero = set((table != 0).any(dim=1).nonzero().flatten().tolist())
    assert m["optimizers.adamw.rows_moved_without_grad"] == len(nonzero - set.intersection(*batches))
    # An update of this step's gradient alone: nothing moves without a gradient.
    for key in ("sgd", "adagrad", "rmsprop", "sparseadam"):
        assert m[f"optimizers.{key}.rows_moved_without_grad"] == 0, key
    # Distinct counts never exceed the vocabulary (the old per-step sums did).
    assert all(m[f"optimizers.{k}.rows_moved_without_grad"] <= V for k in ("adamw", "adam", "sgd_momentum"))


def test_optimizer_state_bytes(result, minilm):
    tokenizer, _ = minilm
    m = result.metrics
    table = V * D * 4
    assert m["table_bytes"] == table
    assert m["optimizers.sgd.state_bytes"] == 0  # plain SGD keeps nothing
    assert m["optimizers.sgd_momentum.state_bytes"] == table  # one momentum buffer
    assert table <= m["optimizers.adagrad.state_bytes"] < table + 64 and table <= m["optimizers.rmsprop.state_bytes"] < table + 64
    for key in ("adam", "adamw", "sparseadam"):  # two moments, full size (+ a step counter)
        assert 2 * table <= m[f"optimizers.{key}.state_bytes"] < 2 * table + 64, key
    # SparseAdam's moments are full-size, but only the rows that ever had a gradient are non-zero.
    seen = set().union(*_batches(tokenizer))
    assert m["sparseadam_nonzero_moment_rows"] == m["rows_with_grad_any_step"] == len(seen)
    # the timed table: a dense gradient of the whole table vs one COO entry per looked-up token
    big = SMALL_TIMING["big_vocab"] * SMALL_TIMING["big_dim"] * 4
    assert m["timed.dense.grad_bytes"] == big
    assert m["timed.sparse.grad_bytes"] == SMALL_TIMING["batch_tokens"] * (8 + SMALL_TIMING["big_dim"] * 4)
    assert 2 * big <= m["timed.sparse.state_bytes"] < 2 * big + 64 and 2 * big <= m["timed.dense.state_bytes"] < 2 * big + 64


def test_no_only_claim_and_the_untouched_list_is_computed(result):
    text = " ".join([result.summary, *result.findings])
    assert "only SparseAdam" not in text
    assert "SGD, Adagrad, RMSprop and SparseAdam left every row whose gradient was zero exactly as it was (0 rows" \
        in text
    assert "AdamW moved 30,520 distinct such rows" in text
    assert "momentum (SGD+momentum, Adam) keeps pushing" in text and "AdamW's decoupled weight decay" in text
    assert "RMSprop, Adam and AdamW refuse it" in text


def test_verdicts_follow_the_numbers_on_both_sides(run):
    from n00bqa.probes.base import report_with_verdicts
    from n00bqa.probes.embedding_grad import report

    _, numbers, opts = run
    def words(**changes):
        return " ".join(report(dataclasses.replace(numbers, **changes), opts).findings)

    assert "sparse is faster in this run (dense / sparse time = 3.00, against 1)" in words(sparse_speedup=3.0)
    assert "sparse is not faster in this run (dense / sparse time = 0.50" in words(sparse_speedup=0.5)
    assert "the same table gradient as the lookup within 1e-05" in words(onehot_grad_max_abs_diff=0.0)
    assert "NOT the same table gradient as the lookup within 1e-05" in words(onehot_grad_max_abs_diff=1e-3)
    assert "its row's gradient equals the sum" in words(repeat_grad_max_abs_diff=0.0)
    assert "its row's gradient does NOT equal the sum" in words(repeat_grad_max_abs_diff=1e-3)
    assert "and does NOT equal the dense gradient within 1e-05" in words(sparse_grad_max_abs_diff=1e-3)
    assert "— NOT the 7 distinct token ids (2 rows" in words(grad_rows_off_token_ids=2)
    still = {k: dataclasses.replace(r, rows_moved_without_grad=0) for k, r in numbers.optimizers.items()}
    nobody = report(dataclasses.replace(numbers, optimizers=still), opts)
    text = " ".join(nobody.findings)
    assert "SGD, SGD+momentum, Adagrad, RMSprop, Adam, AdamW and SparseAdam left every row" in text
    assert "momentum (" not in text and "weight decay" not in text  # no reason given for a move not seen
    # the run's own verdicts, recomputed from its metrics
    result, m = run[0], run[0].metrics
    recorded = {v.name: v for v in result.verdicts}
    assert recorded["rows off the token ids"].value == m["grad_rows_off_token_ids"] == 0
    assert recorded["dense / sparse time"].value == m["sparse_speedup"]
    assert recorded["rows AdamW moved without a gradient"].word == "moved"
    assert recorded["rows SGD moved without a gradient"].word == "left"
    tolerances = [v for v in result.verdicts if v.name == "tolerance"]
    assert sorted(v.value for v in tolerances) == sorted([
        max(m["onehot_output_max_abs_diff"], m["onehot_grad_max_abs_diff"]), m["repeat_grad_max_abs_diff"],
        m["sparse_grad_max_abs_diff"]])
    assert all(v.word in ("the same", "equals") for v in tolerances)
    _, words_recorded = report_with_verdicts(report, dataclasses.replace(numbers, sparse_speedup=0.5), opts)
    assert [v.word for v in words_recorded if v.name == "dense / sparse time"] == ["not faster"]
    assert problems(result) == []


def test_text_without_repeats():
    probe = find_probe(None, "embedding-grad")
    res = run_probe(None, probe, probe.make_options(text="one two three", **SMALL_TIMING), cache=False)
    assert_output_whole(res)
    assert res.metrics["repeat_grad_is_sum"] is False
    assert res.metrics["nonzero_grad_rows"] == res.metrics["unique_tokens"] == res.metrics["tokens"] == 5
    finding_with(res, "No token repeats")


def test_old_metric_names_resolve(result):
    probe = find_probe(None, "embedding-grad")
    assert probe.metric_name("adamw_rows_moved_without_grad") == "optimizers.adamw.rows_moved_without_grad"
    assert probe.metric_name("dense_timed_state_bytes") == "timed.dense.state_bytes"
    assert all(new in result.metrics for new in probe.renamed_metrics.values())
    assert len(probe.renamed_metrics) == 7 * 3 + 2 + 4
