"""Every built-in probe's predictions name a metric the probe produces (what `quiz` reveals).

Metrics are `flat_metrics(numbers)`: the numeric leaves of the probe's Numbers, dotted. Running all
probes would take minutes, so each metric name is resolved through the Numbers type's fields
(nested dataclasses and dicts), and the resolver is held to real runs: the template's and
zero-memory's (instant) and param-count's (the study-loop tests' shared run).
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing

import pytest

from n00bqa.probes import BUILTIN_PROBES, find_probe
from n00bqa.probes.base import flat_metrics
from n00bqa.probes.runs import run_probe

NUMERIC = (int, float, bool)
# Probes whose Numbers is a dict named by the run (model names with hyphens): the keys the default
# run uses and the type of each value.
DICT_NUMBERS = {
    "n00bqa.probes.variants": lambda m: (m.MODELS, m.ModelCount),
}


def numeric(tp) -> bool:
    if tp in NUMERIC:
        return True
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return all(numeric(a) or a is type(None) for a in args) and any(numeric(a) for a in args)
    return False


def resolve(tp, parts: list[str]) -> tuple[bool, str]:
    """Can `parts` (a dotted metric name) be a numeric leaf of a value of type `tp`? (ok, why)."""
    if not parts:
        return numeric(tp), f"ends at {tp}, not a number"
    head, rest = parts[0], parts[1:]
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        if head not in hints:
            return False, f"{tp.__name__} has no field {head!r}"
        return resolve(hints[head], rest)
    if tp is dict or typing.get_origin(tp) is dict:
        args = typing.get_args(tp)
        if not args:  # a bare dict: any key, any value; only a run can tell
            return True, ""
        return resolve(args[1], rest)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return any(resolve(a, parts)[0] for a in options), f"no member of {tp} has {head!r}"
    return False, f"{tp} has no part {head!r}"


def numbers_type(module):
    hints = typing.get_type_hints(module.PROBE.measure)
    return hints.get("return") or module.Numbers


def check_metric(module, metric: str) -> tuple[bool, str]:
    tp = numbers_type(module)
    if module.__name__ in DICT_NUMBERS:
        keys, value_type = DICT_NUMBERS[module.__name__](module)
        head = next((k for k in keys if metric.startswith(f"{k}.")), None)
        if head is None:
            return False, f"{metric!r} starts with none of the run's keys {keys}"
        return resolve(value_type, metric[len(head) + 1:].split("."))
    if dataclasses.is_dataclass(tp):
        return resolve(tp, metric.split("."))
    return True, "checked by a run"  # param-count's dict of models: see the run-based test below


PREDICTIONS = [(mod, p.metric) for mod in (*BUILTIN_PROBES, "n00bqa.probes.template")
               for p in importlib.import_module(mod).PROBE.predictions]


def test_every_builtin_probe_declares_predictions():
    for mod in BUILTIN_PROBES:
        probe = importlib.import_module(mod).PROBE
        assert 1 <= len(probe.predictions) <= 3, probe.name
        for p in probe.predictions:
            assert p.scoring in ("relative", "log10") and p.prompt.strip(), (probe.name, p)


@pytest.mark.parametrize("module, metric", PREDICTIONS, ids=[f"{m.rsplit('.', 1)[1]}:{k}" for m, k in PREDICTIONS])
def test_prediction_metric_is_a_metric_of_the_probe(module, metric):
    ok, why = check_metric(importlib.import_module(module), metric)
    assert ok, f"{module}: prediction metric {metric!r}: {why}"


@pytest.mark.parametrize("name", ["template", "zero-memory"])
def test_resolver_agrees_with_real_runs(study, name):
    module = importlib.import_module(f"n00bqa.probes.{name.replace('-', '_')}")
    probe = module.PROBE
    result = run_probe(None, probe, probe.make_options(), seed=0, cache=False)
    for p in probe.predictions:
        assert p.metric in result.metrics and check_metric(module, p.metric)[0]
    assert not check_metric(module, "no_such_metric")[0]
    for key in list(result.metrics)[:20]:  # every real metric resolves
        assert check_metric(module, key)[0], key


def test_param_count_predictions_are_metrics_of_its_run(tmp_path_factory):
    from n00bqa.probes.runs import last_result
    from n00bqa.study import Study
    from support.study_loop import param_count_root

    study = Study(param_count_root(tmp_path_factory))
    result = last_result(study, "param-count")
    assert result is not None
    for p in find_probe(study, "param-count").predictions:
        assert p.metric in result.metrics, p.metric
    assert flat_metrics({"gpt2": {"total": 1}}) == {"gpt2.total": 1}
