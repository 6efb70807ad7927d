"""The datasets probe: splits, indexing, streaming, map and memory-mapping, checked against plain Python,
the `tokenizers` library and the sizes of the files it wrote."""

from __future__ import annotations

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.runs import run_probe
from n00bqa.probes.datasets import (PROBE, SMALL_FRACTION, TEST_ROWS, VECTOR_WIDTH, fraction_verdict,
                                    science_questions, speed_verdict)
from support.probes import assert_output_whole, finding_stating

TABLE_MB = 32  # small enough to write in a moment, large enough that the mapped fraction is clearly small


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run with a small table, its temporary files in a folder we can inspect afterwards.

    Returns (result, the measured Numbers, the folder).
    """
    folder = tmp_path_factory.mktemp("datasets-probe")
    opts = PROBE.make_options(table_mb=TABLE_MB, map_rows=1000, tmp_dir=str(folder))
    result = run_probe(None, PROBE, opts, seed=0, cache=False)
    return result, result.numbers, folder


@pytest.fixture(scope="module")
def result(run):
    return run[0]


def test_every_number_in_the_findings_is_a_metric_or_cell(result):
    assert_output_whole(result)


def test_old_metric_names_resolve_to_the_nested_ones(result):
    """Review logs and predictions from before issue 21 name `rss_after_mmap` and `rss_parts.mmap.file`."""
    assert PROBE.metric_name("rss_after_mmap") == "rss.mmap.total"
    for old, new in PROBE.renamed_metrics.items():
        assert new in result.metrics, old
    m = result.metrics
    assert m["mmap_rss_fraction"] == pytest.approx((m["rss.mmap.total"] - m["rss.before.total"]) / m["table_bytes"])


def test_the_probe_removes_what_it_wrote(run):
    folder = run[2]
    assert list(folder.iterdir()) == []


def test_splits_and_slices_match_plain_list_slicing(result):
    train = len(science_questions()) - TEST_ROWS
    m = result.metrics
    assert m["splits.train"] == train and m["splits.test"] == TEST_ROWS
    assert m["slice_rows.train[:10]"] == 10
    assert m["slice_rows.train[:10%]"] == round(train * 0.10)
    assert m["slice_rows.train[-5:]"] == 5
    assert m["slice_rows.train[10%:20%]"] == round(train * 0.20) - round(train * 0.10)
    assert m["slice_rows.train[:50%]+test[:2]"] == round(train * 0.5) + 2
    # 35 % of the 16 test rows is 5.6: the closest row is 6 (a floor would give 5)
    assert m["fractional_slices.test[:35%]"] == pytest.approx(5.6) and m["slice_rows.test[:35%]"] == 6
    finding_stating(result, "fractional_slices.test[:35%]", "rounded to the closest row")
    assert m["slices_match_python"] is True and m["slices_differing"] == 0
    finding_stating(result, "slices_differing", "each holding the rows plain list slicing gives (0 of the 6 differ)")


def test_rows_are_dicts_and_column_slices_are_lists(result):
    types = {row[0]: row[1] for row in next(t for t in result.tables if t.title == "What indexing returns").rows}
    assert types == result.numbers.types
    assert types["ds[0]"] == "dict"
    assert types["ds[:3]"] == "dict of lists"
    assert types['ds["prompt"][:3]'] == "list"
    assert types["load_dataset(..., streaming=True)"] == "IterableDataset"
    assert result.metrics["iterable_has_len"] is False
    assert result.metrics["iterable_first_row_equal"] is True
    assert result.metrics["iterable_first_row_keys_differing"] == 0
    assert "len() on it raises TypeError" in " ".join(result.findings)
    assert result.metrics["iterable_take_rows"] == 3


def test_map_outputs_are_the_tokenizers_own_ids(run):
    from tokenizers import Tokenizer

    from n00bqa.study import bundled_model_path

    result, numbers, _ = run
    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads and truncates to 128 for sentence-transformers
    tokenizer.no_truncation()
    q = science_questions()[0]
    assert numbers.first_input_ids == tokenizer.encode(q["prompt"], q["A"]).ids
    m = result.metrics
    assert m["map_outputs_equal"] is True and m["map_rows_differing"] == 0
    assert m["batched_map_speedup"] == pytest.approx(m["map_seconds.tokenize.unbatched"]
                                                     / m["map_seconds.tokenize.batched"])
    assert m["map_rows"] == 1000


def test_second_identical_map_reads_the_cache(result):
    m = result.metrics
    assert m["map_cache_hit"] is True
    assert m["cache_files_after"] == m["cache_files_before"] and m["cache_files_changed"] == 0
    assert "the cache was reused" in result.summary


def test_memory_mapping_costs_a_small_fraction_and_in_memory_the_whole(result):
    m = result.metrics
    rows = TABLE_MB * 1024 * 1024 // (VECTOR_WIDTH * 4)
    assert m["table_rows"] == rows
    assert m["table_bytes"] >= rows * (VECTOR_WIDTH * 4 + 8)  # vectors plus int64 ids, plus Arrow framing
    assert m["mmap_rss_fraction"] < SMALL_FRACTION
    assert m["in_memory_rss_fraction"] > 0.9


def test_verdicts_on_both_sides_of_their_thresholds():
    assert fraction_verdict(0.05, SMALL_FRACTION) == "a small fraction"
    assert fraction_verdict(0.5, SMALL_FRACTION) == "NOT a small fraction"
    assert speed_verdict(2.0) == "faster"
    assert speed_verdict(0.9) == "NOT faster"


@pytest.mark.parametrize("values, message", [
    ({"table_mb": 0}, "--table-mb"),
    ({"map_rows": 5}, "--map-rows"),
    ({"tmp_dir": "/no/such/folder"}, "--tmp-dir"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        PROBE.make_options(**values)


def test_exact_verdicts_on_both_sides(run):
    import dataclasses

    from n00bqa.probes.datasets import report

    result, numbers, _ = run
    opts = PROBE.make_options(**result.options)
    off = dataclasses.replace(numbers, slices_differing=2, slices_match_python=False,
                              iterable_first_row_keys_differing=1, map_rows_differing=3, cache_files_changed=1,
                              map_cache_hit=False, batched_map_speedup=0.8, mmap_rss_fraction=0.5)
    words = report(off, opts)
    text = " ".join(words.findings)
    assert "NOT each holding the rows plain list slicing gives (2 of the 6 differ)." in text
    assert "(NOT the same dict as ds[0]: 1 keys differ)" in text
    assert "0.8x NOT faster; the outputs are NOT identical (3 rows' input_ids differ)" in text
    assert "the cache was NOT reused" in text and "fingerprint" not in text
    assert "NOT a small fraction (small: under" in text
    assert "0.8x NOT faster, the cache was NOT reused" in words.summary and "(NOT a small fraction)" in words.summary


def test_recorded_verdicts_follow_from_the_run(result):
    from tests.support.recorded_verdicts import verdict_words

    assert verdict_words(result) == [
        ("exact", "the cache was reused"), ("speedup", "faster"), ("small_fraction", "a small fraction"),
        ("exact", "each holding"), ("exact", "the same dict as ds[0]"), ("exact", "identical")]
