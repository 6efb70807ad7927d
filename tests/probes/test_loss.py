"""The loss probe's facts, checked independently: MAP@3 by hand, cross-entropy equalities, ln V at init."""

from __future__ import annotations

import math

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.probes.lib.metrics import average_precision_at_3, map_at_3, top_k_labels
from tests.support.probes import assert_output_whole, finding_stating, finding_with


def test_map_at_3_ranks_1_2_3_miss_by_hand():
    predictions = [["A", "B", "C"], ["B", "A", "C"], ["C", "D", "A"], ["B", "C", "D"]]
    answers = ["A", "A", "A", "A"]
    assert map_at_3(predictions, answers) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)


def test_map_at_3_ignores_guesses_after_the_first_correct_and_beyond_three():
    assert average_precision_at_3(["A", "A", "A"], "A") == 1.0
    assert average_precision_at_3(["B", "B", "A"], "A") == pytest.approx(1 / 3)
    assert average_precision_at_3(["B", "C", "D", "A"], "A") == 0.0  # 4th guess never counts
    assert average_precision_at_3([], "A") == 0.0


def test_top_k_labels_breaks_ties_by_choice_order():
    assert top_k_labels([1.0, 2.0, 2.0, 0.0, 0.0], "ABCDE") == ["B", "C", "A"]
    assert top_k_labels([0.0, 1.0, 1.0, 1.0, 1.0], "ABCDE") == ["B", "C", "D"]
    assert top_k_labels([0.1, 0.5, 0.3], "ABC", k=2) == ["B", "C"]


def test_metric_input_errors_name_the_bad_value():
    with pytest.raises(ProbeError, match="2 prediction lists but 1 answers"):
        map_at_3([["A"], ["B"]], ["A"])
    with pytest.raises(ProbeError, match="no questions"):
        map_at_3([], [])
    with pytest.raises(ProbeError, match="3 scores for 2 labels"):
        top_k_labels([1, 2, 3], "AB")


def test_loss_options_are_checked():
    from n00bqa.probes import find_probe

    probe = find_probe(None, "loss")
    with pytest.raises(ProbeError, match="not divisible"):
        probe.make_options(n_embd=30, n_head=4)
    with pytest.raises(ProbeError, match="label-smoothing"):
        probe.make_options(label_smoothing=1.5)
    with pytest.raises(ProbeError, match="--init-draws must be between 2 and 100"):
        probe.make_options(init_draws=1)


def test_causal_lm_loss_by_hand_matches_a_loop():
    import torch

    from n00bqa.probes.loss import IGNORE_INDEX, causal_lm_loss_by_hand

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[1, 2, 3, 4, 5], [6, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    loss, _ = causal_lm_loss_by_hand(logits, labels)
    # A plain loop over (row, position): position t predicts labels[t+1].
    terms = []
    for b in range(2):
        for t in range(4):
            target = int(labels[b, t + 1])
            if target != IGNORE_INDEX:
                terms.append(-math.log(math.exp(logits[b, t, target]) / float(logits[b, t].exp().sum())))
    assert len(terms) == 5
    assert float(loss) == pytest.approx(sum(terms) / len(terms), abs=1e-5)


@pytest.fixture(scope="module")
def loss_result():
    from tests.support.runs import default_run

    return default_run("loss")  # the verdict harness's run at the defaults, shared


def test_output_is_whole_and_every_number_is_measured(loss_result):
    assert_output_whole(loss_result)


def test_probe_loss_facts(loss_result, minilm):
    m = loss_result.metrics
    tokenizer, _ = minilm
    assert m["vocab_size"] == len(tokenizer) == 30522
    assert m["ln_vocab"] == pytest.approx(math.log(30522))
    # the hand-written cross-entropy is the model's loss
    assert m["manual_vs_model_loss_abs_diff"] < 1e-5
    assert m["manual_loss"] == pytest.approx(m["model_loss"], abs=1e-5)
    # near-uniform init: within 4 standard errors of ln V, and the logit std is 0.02*sqrt(64)
    assert abs(m["init_loss"] - m["ln_vocab"]) < 4 * m["init_loss_standard_error"] + 0.02
    assert m["init_logit_std"] == pytest.approx(0.02 * math.sqrt(64), rel=0.15)
    assert m["init_logit_std_predicted"] == pytest.approx(0.02 * math.sqrt(64))
    # a wide init is far from uniform and starts well above ln V
    assert m["wide_init_loss"] > m["ln_vocab"] + 1
    assert m["wide_init_excess_standard_errors"] == pytest.approx(
        (m["wide_init_loss"] - m["ln_vocab"]) / m["wide_init_loss_standard_error"])
    assert m["perplexity"] == pytest.approx(math.exp(m["trained_loss"]))
    assert m["init_perplexity"] == pytest.approx(math.exp(m["init_loss"]))
    assert m["init_perplexity_over_vocab"] == pytest.approx(math.exp(m["init_loss"]) / 30522)
    assert m["trained_loss"] < m["init_loss"] - 1  # the default 30 steps move it
    # label smoothing: the formula by hand matches torch, and it raises a confident model's loss
    smoothing = loss_result.numbers.label_smoothing
    assert smoothing["trained"].by_hand_abs_diff < 1e-4
    assert smoothing["init"].by_hand_abs_diff < 1e-4
    assert m["label_smoothing.trained.increase"] > m["label_smoothing.init.increase"] > 0
    assert m["label_smoothing_increase_ratio"] == pytest.approx(
        smoothing["trained"].increase / smoothing["init"].increase)
    for stage in smoothing.values():
        assert stage.increase == pytest.approx(stage.loss - stage.plain)
    finding_stating(loss_result, "label_smoothing.trained.increase", "Label smoothing")
    assert m["mc_loss_by_hand_abs_diff"] < 1e-5
    assert m["map3.random"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 5)
    # the worked example (chosen scores, no model): ranks 1, 2, 3, 4 (miss), 2 (tie), 4 (tie miss)
    assert m["map3.worked"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 0 + 1 / 2 + 0) / 6)
    assert m["worked_questions"] == 6
    assert "map3.worked" in m and "map3.model" not in m  # a worked value is never named like a model's score


def test_loss_at_init_is_tested_over_independent_inits(loss_result):
    """The draws' mean and standard error, recomputed with the statistics module from the table."""
    import statistics

    m = loss_result.metrics
    draws = next(t for t in loss_result.tables if t.title.startswith("First loss of"))
    losses = [d["loss"] for d in loss_result.numbers.draws]
    assert [row[1] for row in draws.rows] == [round(x, 6) for x in losses]
    assert len(losses) == m["init_draws"] == 8
    assert len(set(losses)) == len(losses)  # independent inits, not one model repeated
    assert statistics.mean(losses) == pytest.approx(m["init_draws_mean_loss"], abs=1e-6)
    standard_error = statistics.stdev(losses) / math.sqrt(len(losses))
    assert standard_error == pytest.approx(m["init_draws_standard_error"], rel=1e-4)
    assert m["init_excess_standard_errors"] == pytest.approx((statistics.mean(losses) - math.log(30522))
                                                             / standard_error, rel=1e-3)
    stds = [d["logit_std"] for d in loss_result.numbers.draws]
    predicted = math.log(30522) + statistics.mean(stds) ** 2 / 2
    assert m["init_draws_predicted_loss"] == pytest.approx(predicted, abs=1e-5)
    # the expected excess is s^2/2 ~ 0.013 for s ~ 0.16: the draws agree with it within 3 standard errors
    assert abs(m["init_vs_predicted_standard_errors"]) < 3


def test_noise_verdict_on_both_sides_of_its_threshold(loss_result):
    from n00bqa.probes.loss import NOISE_STANDARD_ERRORS, noise_verdict

    assert NOISE_STANDARD_ERRORS == 2.0
    for z in (1.9, -1.9, 0.0):
        assert noise_verdict(z).startswith("within 2 standard errors")
    for z in (2.1, -2.1, 13.0):
        assert noise_verdict(z).startswith("beyond 2 standard errors")
    # the probe's words are the verdict of its own numbers
    m = loss_result.metrics
    finding = finding_stating(loss_result, "init_draws_mean_loss", "independent random inits")
    assert f"{m['init_excess_standard_errors']:+.2f} standard errors: {noise_verdict(m['init_excess_standard_errors'])}" \
        in finding
    assert "within the noise" not in " ".join(loss_result.findings)
    assert noise_verdict(m["wide_init_excess_standard_errors"]) in finding_stating(
        loss_result, "wide_init_loss", "initializer_range")


def test_nearly_uniform_only_when_the_test_says_so(loss_result):
    """--n-embd 1024 put the loss 5 standard errors above ln V while the finding still said "nearly uniform":
    the words now follow the test, on each side of NOISE_STANDARD_ERRORS."""
    import dataclasses

    from n00bqa.probes import find_probe
    from n00bqa.probes.loss import report

    opts = find_probe(None, "loss").make_options()
    n = loss_result.numbers
    for z, words in ((1.9, "so softmax is nearly uniform"), (5.0, "NOT small enough to call the softmax uniform")):
        findings = report(dataclasses.replace(n, init_excess_standard_errors=z), opts).findings
        assert any(words in f for f in findings), z
    said = "nearly uniform" in " ".join(loss_result.findings)
    assert said == (abs(loss_result.metrics["init_excess_standard_errors"]) <= 2.0)


def test_the_random_tiny_model_is_named_for_what_it_is(loss_result):
    from n00bqa.probes import find_probe

    text = " ".join([loss_result.summary, *loss_result.findings])
    assert "GPT-2's loss" not in text and "GPT-2's loss" not in find_probe(None, "loss").title
    assert finding_stating(loss_result, "model_loss", "returned loss").startswith("A randomly initialised tiny GPT-2")
    finding_stating(loss_result, "map3.worked", "worked example", "MAP@3")
    worked = next(t for t in loss_result.tables if t.title.startswith("MAP@3, worked"))
    assert "worked example" in worked.title


def test_probe_loss_tables_and_findings(loss_result):
    worked = next(t for t in loss_result.tables if t.title.startswith("MAP@3, worked"))
    assert [w["rank"] for w in loss_result.numbers.worked] == [1, 2, 3, 4, 2, 4]  # rank of the answer
    assert [row[worked.columns.index("rank")] for row in worked.rows] == [1, 2, 3, 4, 2, 4]
    mc = next(t for t in loss_result.tables if t.title.startswith("Multiple choice"))
    assert len(mc.rows) == 6 and len(mc.rows[0]) == 1 + 5 + 4
    mc_aps = [row[mc.columns.index("AP@3")] for row in mc.rows]
    assert sum(mc_aps) / len(mc_aps) == pytest.approx(loss_result.metrics["map3.mc"], abs=1e-3)
    assert len(loss_result.findings) == 7
    finding_stating(loss_result, "ln_vocab", "At initialisation")
    finding_with(loss_result, "Multiple choice is cross-entropy over the choices")


def test_old_metric_names_resolve(loss_result):
    from n00bqa.probes import find_probe

    probe = find_probe(None, "loss")
    assert len(probe.renamed_metrics) == 9
    assert probe.metric_name("label_smoothing_init_increase") == "label_smoothing.init.increase"
    assert probe.metric_name("worked_map_at_3") == "map3.worked"
    assert all(new in loss_result.metrics for new in probe.renamed_metrics.values())


def test_cli_probe_loss_rejects_bad_option():
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["probe", "loss", "--n-embd", "30"])
    assert result.exit_code == 2  # a refused option value is a usage error (README: exit codes)
    assert "not divisible" in result.output


def test_recorded_verdicts_follow_from_the_run(loss_result):
    """The three noise tests against 2 standard errors, the label-smoothing ratio against 1 and the
    formula by hand against the tolerance: each word from its printed numbers."""
    import dataclasses

    from n00bqa.probes.loss import report
    from tests.support.recorded_verdicts import verdict_words

    m, n = loss_result.metrics, loss_result.numbers
    noise = ["beyond" if abs(m[k]) > 2 else "within" for k in (
        "init_excess_standard_errors", "init_vs_predicted_standard_errors", "wide_init_excess_standard_errors")]
    words = verdict_words(loss_result)
    assert [name for name, _ in words] == ["standard errors", "increase ratio", "standard errors",
                                           "standard errors", "tolerance"]
    assert [w.split()[0] for name, w in words if name == "standard errors"] == noise
    ratio = m["label_smoothing_increase_ratio"]
    assert words[1][1] == (f"{ratio:,.0f}× less" if ratio > 1 else f"NOT less ({ratio:.3g}×)")
    assert m["tolerance"] == 1e-5 and words[-1][1] == "matches"
    assert "matches torch within 1e-05 (largest difference" in " ".join(loss_result.findings)
    # the other side of each: a ratio under 1 drops the 'because'; a large by-hand gap does not match
    opts = find_probe_options(loss_result)
    flipped = dataclasses.replace(n, label_smoothing_increase_ratio=0.5, tolerance=1e-12)
    text = " ".join(report(flipped, opts).findings)
    assert "NOT less (0.5×)" in text and "because near-uniform" not in text and "does NOT match torch" in text


def find_probe_options(result):
    from n00bqa.probes import find_probe

    return find_probe(None, "loss").make_options(**result.options)


def test_no_smoothing_and_the_narrowest_model_are_handled():
    """Found by the verdict harness's low ends: --label-smoothing 0 divided by an increase of zero,
    and --n-embd 1 gave every init the same loss (a LayerNorm over one feature outputs its bias), so
    the standard error was zero. The first is reported without a ratio; the second is refused."""
    probe = find_probe(None, "loss")
    result = run_probe(None, probe, probe.make_options(n_embd=16, n_layer=1, train_steps=2, init_draws=2,
                                                       label_smoothing=0.0), seed=0, cache=False)
    assert result.numbers.label_smoothing_increase_ratio is None
    assert "label_smoothing_increase_ratio" not in result.metrics
    with pytest.raises(ProbeError, match="--n-embd must be between 2 and 512"):
        probe.make_options(n_embd=1, n_head=1)
