"""What a probe's own tests check on the verdicts its run recorded through `base.verdict`: each word
follows from its value and threshold, and both numbers are printed somewhere in the run's words."""

from __future__ import annotations

import re

from n00bqa.probes.base import ProbeResult, _printed_matches, numbers_in

_SHORT = re.compile(r"(\d+(?:\.\d+)?)([KMB])\b")  # a figure as printed in short: "37B", "7.07B", "124M"
_UNIT = {"K": 1e3, "M": 1e6, "B": 1e9}


def _printed(result: ProbeResult, value: float) -> bool:
    texts = [result.summary, *result.findings]
    for table in result.tables:
        texts += [table.title, table.note, *table.columns]
        for row in table.rows:
            if any(isinstance(c, (int, float)) and not isinstance(c, bool) and _printed_matches(f"{c}", value)
                   for c in row):
                return True
            texts += [c for c in row if isinstance(c, str)]
    short = any(_printed_matches(m.group(1), value / _UNIT[m.group(2)]) for t in texts for m in _SHORT.finditer(t))
    return short or any(_printed_matches(n, value) for t in texts for n in numbers_in(t))


def verdict_words(result: ProbeResult) -> list[tuple[str, str]]:
    """(name, word) of every verdict the run recorded, in order, after checking each one: the word
    follows from value vs threshold, and value and threshold are printed (small counts up to 10 and
    a threshold of 0 excepted: "exactly 0", "2 of 2")."""
    for v in result.verdicts:
        assert v.holds(), v
        for number in (v.value, v.threshold):
            small = float(number).is_integer() and 0 <= number <= 10
            assert small or _printed(result, number), f"{v.name}: {number:g} is not printed ({v})"
    return [(v.name, v.word) for v in result.verdicts]


def verdicts_by_name(result: ProbeResult) -> dict[str, list]:
    """The run's recorded verdicts grouped by their threshold's name, in the order they were worded."""
    out: dict[str, list] = {}
    for v in result.verdicts:
        out.setdefault(v.name, []).append(v)
    return out
