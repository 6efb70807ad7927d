"""One run of each probe at each set of options per test session, shared by the tests that read it.

`probe_run("nanogpt", steps=50)` runs the probe once (seed 0, no cache, no study root) and hands every
later caller with the same probe and options the same `ProbeResult`; `default_run("attention")` is the
run at the defaults. The probe's own tests, the verdict harness (tests/probes/test_verdicts.py, whose
Try commands and range ends land on the same keys) and the living-numbers test (tests/test_claims.py,
whose `metric PROBE KEY` claims read the default run) pay for one run of each between them. Options
equal to a default are dropped from the key, so `probe_run("loss", train_steps=30)` is the default run.
Callers read a shared result and never change it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from n00bqa.probes.base import ProbeResult


def probe_run(name: str, **options: Any) -> ProbeResult:
    """The session's run of probe `name` at `options` (the others at their defaults)."""
    from n00bqa.probes import find_probe

    defaults = find_probe(None, name).make_options()
    changed = {key: value for key, value in options.items() if getattr(defaults, key) != value}
    return _run(name, tuple(sorted(changed.items())))


def default_run(name: str) -> ProbeResult:
    """The session's run of probe `name` at its defaults."""
    return _run(name, ())


@cache
def _run(name: str, options: tuple[tuple[str, Any], ...]) -> ProbeResult:
    from n00bqa.probes import find_probe
    from n00bqa.probes.runs import run_probe

    probe = find_probe(None, name)
    return run_probe(None, probe, probe.make_options(**dict(options)), seed=0, cache=False)


def default_metric(name: str, key: str) -> float | int | bool:
    """A metric of the session's default run of probe `name` (the `metric PROBE KEY` claim source)."""
    from n00bqa.claims import ClaimError

    metrics = default_run(name).metrics
    if key not in metrics:
        raise ClaimError(f"probe {name!r} has no metric {key!r} at its defaults")
    return metrics[key]
