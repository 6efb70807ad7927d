"""Tests for the probe `template`: `python -m pytest probes/` in the study root runs them.

`n00bqa probe new NAME` writes this file beside the new probe, so a new probe starts with the two
checks every probe in n00bqa has: each number in a finding is a number of the same run (a metric, a
table cell or an option), and each verdict's words follow from its numbers on both sides of its
threshold. Edit them as the probe grows.
"""

from __future__ import annotations

import importlib

from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe
from n00bqa.study import Study

NAME = "template"


def load():
    study = Study.find()
    probe = find_probe(study, NAME)
    return probe, importlib.import_module(probe.measure.__module__)


def test_every_number_in_a_finding_is_measured():
    probe, _ = load()
    result = run_probe(None, probe, probe.make_options(), seed=0)
    assert unexplained_numbers(result) == []


def test_the_facts_against_a_closed_form():
    probe, _ = load()
    opts = probe.make_options()
    metrics = run_probe(None, probe, opts, seed=0).metrics
    assert metrics["params"] == opts.in_features * opts.out_features + opts.out_features
    assert (metrics["output_rows"], metrics["output_cols"]) == (opts.batch, opts.out_features)
    assert metrics["tensors.weight.count"] == opts.in_features * opts.out_features


def test_the_verdict_follows_the_numbers_on_both_sides():
    probe, module = load()
    opts = probe.make_options()
    tensors = {"weight": module.TensorSize("32 x 64", 2048), "bias": module.TensorSize("32", 32)}
    close = module.Numbers(8, 32, 2080, 2080, max_abs_diff=0.0, tolerance=1e-6, tensors=tensors)
    apart = module.Numbers(8, 32, 2080, 2080, max_abs_diff=1e-3, tolerance=1e-6, tensors=tensors)
    assert any("are equal within" in f for f in module.report(close, opts).findings)
    assert any("NOT equal within" in f for f in module.report(apart, opts).findings)
