"""One run of each probe at its default options per test session, shared by the tests that read it.

`default_run("attention")` runs the probe once (seed 0, no cache, no study root) and hands every later
caller the same `ProbeResult`: the probe's own tests, the verdict harness (tests/probes/test_verdicts.py)
and the living-numbers test (tests/test_claims.py, whose `metric PROBE KEY` claims read it) pay for one
default run between them.
"""

from __future__ import annotations

from functools import cache

from n00bqa.probes.base import ProbeResult


@cache
def default_run(name: str) -> ProbeResult:
    """The session's run of probe `name` at its defaults."""
    from n00bqa.probes import find_probe
    from n00bqa.probes.runs import run_probe

    probe = find_probe(None, name)
    return run_probe(None, probe, probe.make_options(), seed=0, cache=False)


def default_metric(name: str, key: str) -> float | int | bool:
    """A metric of the session's default run of probe `name` (the `metric PROBE KEY` claim source)."""
    from n00bqa.claims import ClaimError

    metrics = default_run(name).metrics
    if key not in metrics:
        raise ClaimError(f"probe {name!r} has no metric {key!r} at its defaults")
    return metrics[key]
