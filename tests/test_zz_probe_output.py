"""Every built-in probe's default output, rendered at 60, 80 and 120 columns, shows every table
cell, header and title whole (issue 11: no number or label cropped at any width >= 60).

Named to run after tests/probes/: it reuses the default runs those tests made (recorded by
conftest.py); a probe with no recorded run (this file run alone) is run here with its defaults.
"""

from __future__ import annotations

import pytest

from conftest import DEFAULT_RUNS
from n00bqa.probes import find_probe, probe_names
from n00bqa.probes.base import run_probe
from n00bqa.render import cropped_words, probe_result_view, rendered_text

WIDTHS = (60, 80, 120)


@pytest.mark.parametrize("name", probe_names(None))
def test_default_output_is_never_cropped(name):
    result = DEFAULT_RUNS.get(name)
    if result is None:
        probe = find_probe(None, name)
        result = run_probe(None, probe, probe.make_options(), seed=0)
    for width in WIDTHS:
        assert cropped_words(result, width) == [], (name, width)
        printed = rendered_text(probe_result_view(result), width)
        assert max(len(line) for line in printed.splitlines()) <= width, (name, width)
