"""The views: tables never crop a number, a label or a header at any width from 60 columns, and
a probe run says which options it ran with."""

from __future__ import annotations

import pytest

from n00bqa.probes.base import ProbeResult, Table
from n00bqa.render import FitTable, cropped_words, option_flags, probe_result_view, rendered_text

WIDTHS = (60, 80, 120)


def wide_result() -> ProbeResult:
    """A run whose tables are too wide for 80 columns: long labels, ten-digit counts, many columns."""
    per_table = Table(
        "Lookup tables and the rows their gradient reaches, per architecture",
        ["table (architecture, tying)", "parameters", "bytes at fp32", "share of all parameters", "gradient rows"],
        [["gpt2 wte, tied to lm_head (every row gets gradient)", 38_597_376, 154_389_504, 0.3102, "all 50,257"],
         ["llama-2-7b embed_tokens, untied", 131_072_000, 524_288_000, 0.01945, "only the rows used"],
         ["t5-base shared, tied", 24_674_304, 98_697_216, 0.1106, "all 32,128"]],
        note="bytes = parameters x 4 (fp32 weights, no optimizer state)")
    many = Table("Every layer's parameter count", [f"layer {i} parameters" for i in range(8)],
                 [[536_870_912 + i for i in range(8)], [2_147_483_648 + i for i in range(8)]])
    narrow = Table("Two columns", ["model", "total"], [["bert-base-uncased", 109_482_240]])
    return ProbeResult("param-count", "model-size", "Counts every parameter.",
                       ["gpt2 has 124,439,808 parameters."], [per_table, many, narrow], {"gpt2.total": 124439808},
                       {"options": {"seq_len": 1024, "tied": True, "model": None, "models": ["gpt2", "t5 base"]},
                        "seed": 7, "measured_at": "2026-01-01T00:00:00+00:00"}, 1.5)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_cell_header_or_title_is_cropped(width):
    result = wide_result()
    assert cropped_words(result, width) == []
    printed = rendered_text(probe_result_view(result), width)
    assert all(len(line) <= width for line in printed.splitlines())
    for number in ("536,870,912", "2,147,483,648", "2,147,483,655", "109,482,240"):
        assert number in printed.split()  # whole, never "2,147,483,64"


def test_the_checker_sees_a_cropped_number():
    """The check itself: a plain rich table squeezed into 60 columns cuts its numbers short."""
    from rich.table import Table as RichTable

    result = wide_result()
    squeezed = RichTable(*result.tables[1].columns)
    for row in result.tables[1].rows:
        squeezed.add_row(*(f"{v:,}" for v in row))
    tokens = set(rendered_text(squeezed, 60).split())
    assert "2,147,483,648" not in tokens


def test_a_table_that_fits_is_a_table_and_one_that_cannot_is_stacked():
    from rich.console import Console

    result = wide_result()
    console = Console(width=80)
    options = console.options
    table = result.tables[2]
    fits = FitTable(table.title, table.columns, table.rows)
    assert fits.fitted_widths(console, options, 80) is not None
    lines = [line.split() for line in rendered_text(fits, 80).splitlines()]
    assert ["model", "total"] in lines and ["bert-base-uncased", "109,482,240"] in lines  # a header row, a row
    many = FitTable(result.tables[1].title, result.tables[1].columns, result.tables[1].rows)
    assert many.fitted_widths(console, options, 80) is None  # 8 columns of 13-digit numbers
    stacked = rendered_text(many, 80)
    assert "layer 0 parameters: 536,870,912" in stacked and "  layer 7 parameters: 2,147,483,655" in stacked


def test_text_columns_wrap_at_spaces_to_fit():
    result = wide_result()
    printed = rendered_text(probe_result_view(result), 80)
    # the long label wrapped inside its column rather than pushing the numbers off the edge
    assert "gpt2 wte, tied to lm_head (every row gets gradient)" not in printed
    assert "38,597,376" in printed.split() and "154,389,504" in printed.split()


def test_the_view_says_which_options_the_run_used():
    result = wide_result()
    assert option_flags(result) == "--seq-len 1024 --tied --models gpt2 --models 't5 base' --seed 7"
    printed = " ".join(rendered_text(probe_result_view(result), 120).split())
    assert "ran with: --seq-len 1024 --tied --models gpt2 --models 't5 base' --seed 7" in printed
