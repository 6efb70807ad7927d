"""Verdicts at every option (issue 24): each built-in probe runs at the options of every Try command
of the built-in questions and at both ends of every range its `check` declares, and no run may leave
a `{...}` placeholder unfilled, print NaN, print a number the run does not explain, or word a verdict
its own numbers contradict (tests/support/verdicts.py says what is run and what is skipped, and why).

A new probe is covered by registering it: its cases are read from its Try commands and its ranges.
Every case runs in the default `python -m pytest`; a case is skipped only with a reason in `SKIP`
(empty: `pytest -rs` would list it).
"""

from __future__ import annotations

import pytest

from n00bqa.probes import BUILTIN_PROBES, find_probe, probe_name_for
from n00bqa.probes.base import ProbeResult, Report, Verdict, verdict
from n00bqa.probes.runs import run_probe
from tests.support.runs import probe_run, tiny_llama
from tests.support.verdicts import TINY_LM, Case, cases, problems

NAMES = [probe_name_for(m.rsplit(".", 1)[1] + ".py") for m in BUILTIN_PROBES]
# the cases on the tiny Llama last, together: the decoder probes keep one model loaded (lib.causal_lm)
CASES = sorted((case for name in NAMES for case in cases(find_probe(None, name))),
               key=lambda case: TINY_LM in case.options.values())


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=c.known)) if c.known else c
                                  for c in CASES], ids=lambda c: c.id)
def test_no_run_contradicts_its_own_numbers(case: Case):
    if case.skip:
        pytest.skip(case.skip)
    # shared with the probe's own tests when they run the same options (tests/support/runs.py)
    options = {name: tiny_llama() if value == TINY_LM else value for name, value in case.options.items()}
    assert problems(probe_run(case.probe, **options)) == []


def test_every_builtin_probe_runs_at_its_defaults_here():
    assert {c.probe for c in CASES if c.label == "defaults" and not c.skip} == set(NAMES)


def test_every_skipped_or_known_case_names_a_case_that_exists():
    from tests.support.verdicts import KNOWN, SKIP

    ids = {(case.probe, case.label) for case in CASES}
    assert [key for key in (*SKIP, *KNOWN) if key not in ids] == []


def test_every_numeric_option_declares_its_range():
    from tests.support.verdicts import unranged_options

    assert {name: unranged_options(find_probe(None, name)) for name in NAMES} == {name: [] for name in NAMES}


def test_a_try_line_s_options_are_the_ones_it_names():
    from tests.support.verdicts import try_options

    probe = find_probe(None, "generate")
    assert try_options(probe, "n00bqa probe generate --context 256 --repeats 1") == {"context": 256, "repeats": 1}
    assert try_options(probe, "n00bqa probe generate") == {}
    # a $(...) is expanded by bash, as in the learner's shell
    assert try_options(find_probe(None, "param-count"), "n00bqa probe param-count --model \"$(echo /a/b)\"") == {
        "model": "/a/b"}


def _result(findings: list[str], verdicts: list[Verdict] = ()) -> ProbeResult:
    return ProbeResult("x", "", "summary", findings, [], {"loss": 2.5}, {"options": {}}, 0.0,
                       verdicts=list(verdicts))


def test_the_checks_catch_a_placeholder_a_nan_and_an_unexplained_number():
    found = problems(_result(["Across {opts.layers} layers the loss is nan.", "The loss is 2.5, not 7.25."]))
    assert any("'{opts.layers}'" in p for p in found)
    assert any("'nan'" in p for p in found)
    assert any("'7.25'" in p for p in found)
    assert problems(_result(["The loss is 2.5."])) == []


def test_verdict_words_each_side_of_its_threshold_and_a_contradicting_word_is_caught():
    from n00bqa.probes.base import report_with_verdicts

    def report(n, opts):
        word = verdict(n, 0.1, "starves", "does not starve", "gradient ratio")
        return Report("s", [f"Saturation {word} the gradient."])

    for value, word in ((0.5, "starves"), (0.1, "does not starve"), (0.01, "does not starve")):
        made, recorded = report_with_verdicts(report, value, None)
        assert recorded == [Verdict("gradient ratio", value, 0.1, "starves", "does not starve", word)]
        assert problems(_result(made.findings, recorded)) == []
    wrong = Verdict("gradient ratio", 0.01, 0.1, "starves", "does not starve", "starves")
    assert any("does not follow" in p for p in problems(_result(["Saturation starves the gradient."], [wrong])))
    silent = Verdict("gradient ratio", 0.5, 0.1, "starves", "does not starve", "starves")
    assert any("never printed" in p for p in problems(_result(["Nothing."], [silent])))


def test_the_template_records_its_verdict_and_the_word_follows_from_it():
    from n00bqa.probes import template

    result = run_probe(None, template.PROBE, template.PROBE.make_options(), seed=0, cache=False)
    [recorded] = result.verdicts
    assert (recorded.name, recorded.word) == ("tolerance", "equal within")
    assert recorded.value == result.metrics["max_abs_diff"] and recorded.threshold == result.metrics["tolerance"]
    assert problems(result) == []
    assert "verdicts" not in result.to_dict()  # --json keeps its shape
