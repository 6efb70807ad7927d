"""The task-heads probe: heads on MiniLM, the multiple-choice collator, and a short fine-tuning run."""

from __future__ import annotations

import ast

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe
from support.probes import assert_output_whole, finding_stating, finding_with
from n00bqa.probes.task_heads import (ALPHA, LETTERS, binomial_tail, chance_verdict, change_verdict,
                                      collate_multiple_choice, features, load_questions, split_questions)
from tests.support.runs import default_run


def exact_tail(k: int, n: int, p) -> float:
    """P(X >= k), X ~ Binomial(n, p), in exact rational arithmetic (an independent reference)."""
    import math
    from fractions import Fraction

    p = Fraction(p)
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.fixture(scope="module")
def run():
    """One default run (about 15-25 s on 2 busy cores), shared by the module."""
    probe = find_probe(None, "task-heads")
    return default_run(probe.name)


@pytest.fixture(scope="module")
def result(run):
    """The same run in its `--json` shape."""
    return run.to_dict()


@pytest.mark.slow
def test_every_number_in_a_finding_is_measured_and_the_output_is_whole(run):
    assert_output_whole(run)
    assert run.numbers.heads["MultipleChoice"].new_keys == ["classifier.bias", "classifier.weight"]
    assert [e.epoch for e in run.numbers.epochs] == [1, 2, 3, 4]


def table(result: dict, title: str) -> dict:
    """The one table of the --json result whose title contains `title`."""
    [hit] = [t for t in result["tables"] if title in t["title"]]
    return hit


def test_old_metric_names_resolve_to_the_nested_ones():
    probe = find_probe(None, "task-heads")
    assert probe.metric_name("mc_new_params") == "heads.MultipleChoice.new_params"
    assert {p.metric for p in probe.predictions} <= set(probe.renamed_metrics.values())


def test_question_set_is_shipped_and_well_formed():
    questions = load_questions()
    assert 30 <= len(questions) <= 60
    assert len({q["prompt"] for q in questions}) == len(questions)
    for q in questions:
        assert q["answer"] in LETTERS
        assert len({q[c] for c in LETTERS}) == 5  # five distinct choices
    train, test = split_questions(0, 16)
    assert len(test) == 16 and len(train) == len(questions) - 16
    assert not {q["prompt"] for q in train} & {q["prompt"] for q in test}


def test_collator_pads_across_choices_and_changes_the_layout(minilm):
    import torch

    tokenizer, _ = minilm
    questions = load_questions()[:3]
    examples = [features(tokenizer, q) for q in questions]
    assert isinstance(examples, list) and all(len(ex["input_ids"]) == 5 for ex in examples)
    lengths = [len(ids) for ex in examples for ids in ex["input_ids"]]
    assert len(set(lengths)) > 1  # the choices really differ in length before collation
    batch = collate_multiple_choice(tokenizer, examples)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert tuple(batch["input_ids"].shape) == (3, 5, max(lengths))
    assert tuple(batch["labels"].shape) == (3,)
    assert batch["labels"].tolist() == [LETTERS.index(q["answer"]) for q in questions]
    for b, ex in enumerate(examples):
        for c, ids in enumerate(ex["input_ids"]):
            row = batch["input_ids"][b, c]
            assert row[:len(ids)].tolist() == ids  # the tokens are kept, in place
            assert (row[len(ids):] == tokenizer.pad_token_id).all()  # then right padding
            assert int(batch["attention_mask"][b, c].sum()) == len(ids)
    # the same question text starts every choice of an example
    first = examples[0]["input_ids"]
    question_len = first[0].index(tokenizer.sep_token_id)
    assert all(ids[:question_len] == first[0][:question_len] for ids in first)
    assert batch["input_ids"].dtype == torch.long


def test_pooler_is_in_the_checkpoint():
    from safetensors import safe_open

    from n00bqa.study import bundled_model_path

    with safe_open(str(bundled_model_path() / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert {"pooler.dense.weight", "pooler.dense.bias"} <= keys


@pytest.mark.slow
def test_head_parameter_counts(run, result):
    m = result["metrics"]
    hidden = 384
    assert m["heads.MultipleChoice.head_params"] == m["heads.MultipleChoice.new_params"] == hidden + 1 == 385
    assert m["heads.QuestionAnswering.head_params"] == m["heads.QuestionAnswering.new_params"] == 2 * hidden + 2
    # num_labels=3; the pooler is loaded, not new
    assert m["heads.SequenceClassification.new_params"] == 3 * (hidden + 1)
    assert m["pooler_loaded"] is True
    assert finding_stating(run, "heads.MultipleChoice.new_params", "multiple choice adds")
    heads = table(result, "One checkpoint, three heads")
    assert [row[0] for row in heads["rows"]] == ["MultipleChoice", "QuestionAnswering",
                                                   "SequenceClassification"]
    # QA has no pooler: the loaded part is MiniLM minus the pooler's 384*384+384 weights
    loaded = {row[0]: row[-1] for row in heads["rows"]}
    assert loaded["MultipleChoice"] - loaded["QuestionAnswering"] == hidden * hidden + hidden
    assert loaded["MultipleChoice"] == m["heads.MultipleChoice.loaded"]


@pytest.mark.slow
def test_hand_traced_multiple_choice_matches_the_model(result):
    m = result["metrics"]
    assert m["mc_logits_max_diff"] < 1e-5
    trace = {row[0]: row[1] for row in table(result, "traced by hand")["rows"]}
    batch, choices, seq = ast.literal_eval(trace["input_ids"])  # a shape tuple such as (1, 5, 16)
    assert (batch, choices) == (1, 5)
    assert trace["flattened"] == str((5, seq))
    assert trace["pooled [CLS]"] == "(5, 384)"
    assert trace["classifier"] == "(5, 1)"
    assert trace["logits"] == "(1, 5)"
    probs = [float(p) for p in trace["softmax"].split()]
    assert abs(sum(probs) - 1) < 5e-3


@pytest.mark.slow
def test_collator_in_the_run_matches_transformers(result):
    m = result["metrics"]
    assert m["collator_matches_hf"] is True and m["collator_entries_differing"] == 0
    assert m["collator_pad_tokens"] == sum(row[3] for row in table(result, "before and after padding")["rows"])


@pytest.mark.slow
def test_fine_tuning_lowers_the_training_loss(run, result):
    m = result["metrics"]
    assert m["train_loss_last_epoch"] < m["train_loss_first_epoch"]
    assert m["train_accuracy_after"] > m["train_accuracy_before"]
    assert 0 <= m["accuracy_before"] <= 1 and 0 <= m["accuracy_after"] <= 1
    assert m["held_out_questions"] == 16
    finding_with(run, f"{m['accuracy_before']:.0%} -> {m['accuracy_after']:.0%}", "Fine-tuning the head")


@pytest.mark.slow
def test_heldout_accuracy_is_tested_against_chance(run, result):
    from fractions import Fraction

    m = result["metrics"]
    assert m["n_choices"] == 5 and m["heldout_total"] == 16
    assert m["heldout_correct"] == round(m["accuracy_after"] * 16)
    assert m["heldout_correct_before"] == round(m["accuracy_before"] * 16)
    assert m["heldout_p_value"] == pytest.approx(exact_tail(m["heldout_correct"], 16, Fraction(1, 5)), rel=1e-12)
    assert m["heldout_p_value_before"] == pytest.approx(exact_tail(m["heldout_correct_before"], 16, Fraction(1, 5)),
                                                        rel=1e-12)
    # the sign test on the questions that changed
    changed = m["newly_right"] + m["newly_wrong"]
    assert m["heldout_correct"] - m["heldout_correct_before"] == m["newly_right"] - m["newly_wrong"]
    assert m["change_p_value"] == pytest.approx(exact_tail(m["newly_right"], changed, Fraction(1, 2)), rel=1e-12)
    # the words are the verdicts of these numbers
    finding = finding_with(run, "one-sided exact binomial test")
    assert chance_verdict(m["heldout_p_value"]) in finding
    assert change_verdict(m["change_p_value"]) in finding
    assert "mostly noise" not in finding


def test_binomial_tail_is_exact():
    from fractions import Fraction

    for n in (0, 1, 5, 16, 40):
        for k in range(n + 1):
            for p in (Fraction(1, 5), Fraction(1, 2), Fraction(1, 4)):
                assert binomial_tail(k, n, float(p)) == pytest.approx(exact_tail(k, n, p), rel=1e-12, abs=1e-300)
    assert binomial_tail(0, 16, 0.2) == 1.0
    assert binomial_tail(16, 16, 0.2) == pytest.approx(0.2 ** 16)


def test_verdicts_on_both_sides_of_the_threshold():
    assert ALPHA == 0.05
    assert chance_verdict(0.049).startswith("better than chance at p = 0.049")
    assert chance_verdict(0.051).startswith("not distinguishable from chance (p = 0.051")
    assert change_verdict(0.049).startswith("a gain distinguishable from no change")
    assert change_verdict(0.051).startswith("not distinguishable from no change")


@pytest.mark.slow
def test_no_fine_tuning_is_reported_as_such():
    from fractions import Fraction

    probe = find_probe(None, "task-heads")
    run0 = run_probe(None, probe, probe.make_options(epochs=0), seed=0, cache=False)
    assert unexplained_numbers(run0) == []
    m = run0.metrics
    assert m["accuracy_after"] == m["accuracy_before"] and m["newly_right"] == m["newly_wrong"] == 0
    assert m["heldout_p_value"] == pytest.approx(exact_tail(m["heldout_correct"], 16, Fraction(1, 5)), rel=1e-12)
    finding = finding_with(run0, "No fine-tuning (--epochs 0)")
    assert finding.startswith("No fine-tuning (--epochs 0)")
    assert chance_verdict(m["heldout_p_value"]) in finding
    assert "mostly noise" not in finding and "sign test" not in finding


@pytest.mark.slow
def test_collator_finding_reads_its_lengths_from_the_run(run, result, minilm):
    tokenizer, _ = minilm
    train, _ = split_questions(0, 16)
    lengths = [[len(ids) for ids in features(tokenizer, q)["input_ids"]] for q in train[:2]]
    m = result["metrics"]
    assert m["collator_shortest_choice"] == min(min(x) for x in lengths)
    assert m["collator_longest_choice"] == m["collator_padded_length"] == max(max(x) for x in lengths)
    assert m["collator_pad_tokens"] == sum(m["collator_padded_length"] - n for x in lengths for n in x)
    finding = finding_stating(run, "collator_pad_tokens", "The collator turns")
    assert f"example 1: lengths {', '.join(map(str, lengths[0]))}" in finding
    assert f"padded to {max(max(x) for x in lengths)} tokens" in finding


def test_bad_options_are_probe_errors():
    probe = find_probe(None, "task-heads")
    with pytest.raises(ProbeError, match="--train-layers 9"):
        probe.make_options(train_layers=9)
    with pytest.raises(ProbeError, match="--head-lr 0"):
        probe.make_options(head_lr=0.0)


@pytest.mark.slow
def test_recorded_verdicts_follow_from_the_run(run):
    """The logits match within the tolerance, the collator's padding and DataCollatorWithPadding as counts
    vs 0, and both held-out tests against alpha, each word from the printed numbers."""
    from tests.support.recorded_verdicts import verdict_words

    m = run.metrics
    chance = chance_verdict(m["heldout_p_value"], m["alpha"])
    change = change_verdict(m["change_p_value"], m["alpha"])
    assert m["tolerance"] == 1e-5 and "match the model's own forward within 1e-05" in " ".join(run.findings)
    longest = "the batch's longest" if m["collator_padded_length"] == m["collator_longest_choice"] else "NOT the batch's longest"
    assert verdict_words(run) == [
        ("tolerance", "match" if m["mc_logits_max_diff"] <= m["tolerance"] else "do NOT match"),
        ("exact", longest), ("exact", "equals"), ("alpha", chance), ("alpha", change), ("alpha", chance)]
    assert "equals DataCollatorWithPadding on the flattened choices (0 input_ids differ)" in " ".join(run.findings)
