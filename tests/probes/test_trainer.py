"""The trainer probe: each finding checked against the installed library or a closed form."""

from __future__ import annotations

import dataclasses
import inspect
import math

import pytest

from n00bqa.errors import ProbeError
from support.probes import assert_output_whole, finding_stating, finding_with
from n00bqa.probes.trainer import (PROBE, TINY_LLAMA, accumulated_gradient, causal_batch, clip_verdict,
                                   numeric_defaults, same_verdict, science_texts)
from tests.support.runs import default_run


@pytest.fixture(scope="module")
def result():
    """One default run, shared by the module (about 10-25 s on 2 busy cores)."""
    return default_run(PROBE.name)


def table(result, title: str):
    """The one table whose title contains `title`."""
    [hit] = [t for t in result.tables if title in t.title]
    return hit


@pytest.fixture(scope="module")
def bundled_tokenizers():
    """The `tokenizers` library itself on the bundled tokenizer.json (no transformers in between)."""
    from tokenizers import Tokenizer

    from n00bqa.study import bundled_model_path

    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads and truncates to 128 for sentence-transformers; count real tokens
    tokenizer.no_truncation()
    return tokenizer


def test_every_number_in_the_findings_is_a_metric_or_cell(result):
    assert_output_whole(result)
    assert [g.not_decayed_biases for g in result.numbers.decay.values()] == [
        result.metrics["decay.bert.not_decayed_biases"], result.metrics["decay.llama.not_decayed_biases"]]


def test_old_metric_names_resolve_to_the_nested_ones(result):
    """Review logs and predictions from before issue 21 name `default_learning_rate`."""
    assert PROBE.metric_name("default_learning_rate") == "defaults.learning_rate"
    for old, new in PROBE.renamed_metrics.items():
        assert new in result.metrics, old


def test_defaults_are_the_installed_training_arguments(result, tmp_path):
    from transformers import TrainingArguments

    installed = TrainingArguments(output_dir=str(tmp_path))
    numeric = {f.name: getattr(installed, f.name) for f in dataclasses.fields(installed)
               if isinstance(getattr(installed, f.name), (int, float))
               and not isinstance(getattr(installed, f.name), bool)}
    assert numeric == numeric_defaults(installed)
    for name, value in numeric.items():  # every numeric default is a metric, and none is missed
        assert result.metrics[f"defaults.{name}"] == value, name
    assert {k for k in result.metrics if k.startswith("defaults.")} == {f"defaults.{k}" for k in numeric}
    for name in ("learning_rate", "weight_decay", "max_grad_norm", "num_train_epochs",
                 "per_device_train_batch_size", "adam_beta2"):
        assert f"defaults.{name}" in result.metrics
    rows = {row[0]: row[1] for row in table(result, "TrainingArguments() defaults").rows}
    assert rows["optim"] == installed.optim.value
    assert rows["lr_scheduler_type"] == installed.lr_scheduler_type.value


def test_collator_pads_with_a_tokenizer_and_cannot_stack_without(result, bundled_tokenizers):
    lengths = [len(bundled_tokenizers.encode(q["prompt"]).ids) for q in science_texts()[:2]]
    assert lengths[0] != lengths[1]  # the point of the example: rows of unequal length
    assert result.metrics["padded_length"] == max(lengths)
    finding = finding_stating(result, "padded_length", "processing_class")
    assert "DataCollatorWithPadding" in finding and "default_data_collator" in finding and "fails" in finding


def test_decay_leaves_out_exactly_biases_and_norm_weights(result):
    import torch
    from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

    from n00bqa.probes.trainer import TINY_BERT

    bert = BertForSequenceClassification(BertConfig(vocab_size=1000, **TINY_BERT))
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=1000, **TINY_LLAMA))
    for label, model in (("bert", bert), ("llama", llama)):
        norms = {f"{m}.{p}" for m, mod in model.named_modules() for p, _ in mod.named_parameters(recurse=False)
                 if isinstance(mod, torch.nn.LayerNorm) or type(mod).__name__.endswith("RMSNorm")}
        biases = {n for n, _ in model.named_parameters() if n.endswith(".bias")}
        assert result.metrics[f"decay.{label}.not_decayed_biases"] == len(biases)
        assert result.metrics[f"decay.{label}.not_decayed_norm_weights"] == len(norms - biases)
        assert result.metrics[f"decay.{label}.not_decayed_tensors"] == len(biases | norms)
        assert (result.metrics[f"decay.{label}.decayed_tensors"] + len(biases | norms)
                == len(list(model.parameters())))


def test_schedule_factors_follow_the_closed_forms(result):
    opts = PROBE.make_options()
    total, warmup = opts.schedule_steps, opts.warmup_steps

    def linear(step, w):
        return step / w if step < w else max(0.0, (total - step) / (total - w))

    def cosine(step, w):
        return step / w if step < w else 0.5 * (1 + math.cos(math.pi * (step - w) / (total - w)))

    steps = [int(k.rsplit(".", 1)[1]) for k in result.metrics if k.startswith("lr_factor.linear.")]
    assert {0, total // 2, total, warmup} <= set(steps)
    for step in steps:
        assert result.metrics[f"lr_factor.linear.{step}"] == pytest.approx(linear(step, 0), abs=1e-12)
        assert result.metrics[f"lr_factor.linear_warmup.{step}"] == pytest.approx(linear(step, warmup), abs=1e-12)
        assert result.metrics[f"lr_factor.cosine_warmup.{step}"] == pytest.approx(cosine(step, warmup), abs=1e-12)


def test_remove_unused_columns_keeps_only_forward_arguments(result):
    from transformers import BertForSequenceClassification

    forward_args = set(inspect.signature(BertForSequenceClassification.forward).parameters) | {"label"}
    columns = ["prompt", "A", "B", "C", "D", "E", "answer", "input_ids", "token_type_ids", "attention_mask", "label"]
    dropped = [c for c in columns if c not in forward_args]
    assert result.metrics["removed_columns"] == len(dropped)
    finding = finding_stating(result, "removed_columns", "remove_unused_columns=True")
    assert all(c in finding for c in dropped)


def test_one_step_happens_in_the_documented_order(result):
    order = [row[1] for row in table(result, "One trainer.train() step").rows]
    start = order.index("model.forward")
    expected = ["model.forward", "loss", "backward", "clip_grad_norm_", "on_pre_optimizer_step", "optimizer.step",
                "on_optimizer_step", "lr_scheduler.step", "model.zero_grad", "on_step_end"]
    positions = [order.index(e, start) for e in expected]
    assert positions == sorted(positions)
    assert order.index("on_step_begin") < start
    m = result.metrics
    assert m["trainer_step_max_abs_diff"] <= 1e-6  # the Trainer's update == the step by hand
    assert m["trace_lr"] == m["defaults.learning_rate"]  # linear, no warmup: factor 1 at step 0
    assert m["lr_after_step"] == 0.0  # (1 - 1) / 1 after the only step
    assert m["grad_norm_after_clip"] == pytest.approx(min(m["grad_norm_before_clip"], m["max_grad_norm"]), rel=1e-5)


def test_gradient_accumulation_is_exact_with_token_counts_and_not_naively(result, bundled_tokenizers):
    m = result.metrics
    questions = science_texts()
    # the tokens the loss predicts: every token but each sequence's first (labels are shifted by one)
    expected = sum(len(bundled_tokenizers.encode(f"{q['prompt']} {q[q['answer']]}").ids) - 1 for q in questions[:8])
    assert m["num_items_in_batch"] == expected
    for layout in ("1x8", "2x4", "4x2", "8x1"):
        assert m[f"accumulation.{layout}.num_items_in_batch"] == expected
        assert m[f"accumulation.{layout}.max_abs_diff"] < 1e-6
    assert m["grad_accum_max_abs_diff"] < 1e-6
    assert m["naive_grad_accum_max_abs_diff"] > 1e-4
    assert m["accumulation.8x1.naive_max_abs_diff"] < 1e-6  # one micro-batch: the mean is the batch mean


def test_naive_accumulation_is_the_mean_of_micro_batch_means(tmp_path):
    """The Trainer without num_items_in_batch == sum over micro-batches of grad(mean loss) / steps, by hand."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from n00bqa.probes.lib.models import load_tokenizer

    tokenizer = load_tokenizer(None)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id, **TINY_LLAMA)
    torch.manual_seed(0)
    init = LlamaForCausalLM(config).state_dict()
    encoded = [tokenizer(q["prompt"])["input_ids"] for q in science_texts()[:4]]
    naive, _ = accumulated_gradient(config, init, tokenizer, encoded, 2, 2, str(tmp_path), False)
    model = LlamaForCausalLM(config)
    model.load_state_dict(init)
    for i in (0, 2):
        (model(**causal_batch(tokenizer, encoded[i:i + 2])).loss / 2).backward()
    assert max(float((naive[n] - p.grad).abs().max()) for n, p in model.named_parameters()) < 1e-6


def test_verdicts_on_both_sides_of_their_thresholds():
    assert clip_verdict(2.0, 1.0) == "clipped"
    assert clip_verdict(0.5, 1.0) == "not clipped"
    assert clip_verdict(5.0, 0.0) == "not clipped"  # max_grad_norm 0 switches clipping off
    assert same_verdict(5e-7, 1e-6) == "the same"
    assert same_verdict(2e-6, 1e-6) == "NOT the same"


@pytest.mark.parametrize("values, message", [
    ({"accumulation": "1x8,2x3"}, "multiply to the same"),
    ({"accumulation": "eight"}, "not BATCHxSTEPS"),
    ({"warmup_steps": 100}, "--warmup-steps"),
    ({"weight_decay": 1.5}, "--weight-decay"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        PROBE.make_options(**values)


def test_recorded_verdicts_follow_from_the_run(result):
    """Each word from its printed numbers: the clip against max_grad_norm, each 'the same' against the
    tolerance; the naive mean's 'since' clause only when it is NOT the same."""
    from tests.support.recorded_verdicts import verdict_words

    m, n = result.metrics, result.numbers
    best = min(n.accumulation.values(), key=lambda a: a.naive_max_abs_diff).naive_max_abs_diff
    same = ["NOT the same" if d > m["tolerance"] else "the same" for d in (
        m["naive_grad_accum_max_abs_diff"], m["trainer_step_max_abs_diff"], m["grad_accum_max_abs_diff"], best)]
    clip = "clipped" if m["grad_norm_before_clip"] > m["max_grad_norm"] else "not clipped"
    assert verdict_words(result) == [("max_grad_norm", clip), *(("tolerance", w) for w in same)]
    naive = finding_with(result, "The naive mean of per-micro-batch means")
    assert ("since it weights a short micro-batch's tokens" in naive) == (same[0] == "NOT the same")
