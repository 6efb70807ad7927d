"""Checks every probe's tests make on a result: findings picked by the metric they state (never by
position), and the rendered output whole at 60, 80 and 120 columns (no number or label cropped)."""

from __future__ import annotations

from n00bqa.probes.base import ProbeResult, _printed_matches, numbers_in, unexplained_numbers

WIDTHS = (60, 80, 120)


def finding_stating(result: ProbeResult, metric: str, *words: str) -> str:
    """The one finding that prints the value of `metric` (at the digits it shows) and contains every
    word of `words`; fails if none or several do."""
    value = result.metrics[metric]
    hits = [f for f in result.findings
            if all(w in f for w in words)
            and any(_printed_matches(printed, float(value)) for printed in numbers_in(f))]
    assert len(hits) == 1, f"{len(hits)} findings state {metric}={value!r} with {words}: {hits or result.findings}"
    return hits[0]


def finding_with(result: ProbeResult, *words: str) -> str:
    """The one finding that contains every word of `words` (for verdicts that print no number)."""
    hits = [f for f in result.findings if all(w in f for w in words)]
    assert len(hits) == 1, f"{len(hits)} findings contain {words}: {hits or result.findings}"
    return hits[0]


def assert_output_whole(result: ProbeResult) -> None:
    """Every table cell, header and title shows whole at each width, no line is wider than it, and
    every number in a finding is a metric, a table cell or an option of the same run."""
    from n00bqa.render import cropped_words, probe_result_view, rendered_text

    for width in WIDTHS:
        assert cropped_words(result, width) == [], (result.probe, width)
        printed = rendered_text(probe_result_view(result), width)
        assert max(len(line) for line in printed.splitlines()) <= width, (result.probe, width)
    assert unexplained_numbers(result) == []
