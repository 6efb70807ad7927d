"""The tokenizer probe, checked against the `tokenizers` library itself on the bundled tokenizer.json
(the Rust tokenizer without transformers in between)."""

from __future__ import annotations

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.tokenizer import LETTERS, PROBE, science_questions, span_matches, split_verdict
from tests.support.runs import default_run
from support.probes import assert_output_whole


@pytest.fixture(scope="module")
def run(smollm2):
    """(result, Numbers) of one default run (smollm2: the session's one conversion, whose tokenizer it reads)."""
    result = default_run(PROBE.name)
    return result, result.numbers


@pytest.fixture()
def rust():
    """A fresh tokenizers.Tokenizer from the bundled file, with its own padding/truncation switched off."""
    from tokenizers import Tokenizer

    from n00bqa.study import bundled_model_path

    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads and truncates to 128 for sentence-transformers
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture()
def opts():
    return PROBE.make_options()


def test_every_number_in_the_findings_is_a_metric_or_cell(run):
    assert_output_whole(run[0])


def test_one_text_matches_the_rust_tokenizer(run, rust, opts):
    _, n = run
    enc = rust.encode(opts.text)
    assert n.input_ids == enc.ids
    assert n.tokens == enc.tokens
    assert n.token_type_ids == enc.type_ids
    assert n.attention_mask == enc.attention_mask
    assert [tuple(o) for o in n.offsets] == enc.offsets
    assert n.tokens[0] == "[CLS]" and n.tokens[-1] == "[SEP]"
    assert n.input_ids[0] == rust.token_to_id("[CLS]") and n.input_ids[-1] == rust.token_to_id("[SEP]")
    assert n.offsets_matched == n.offsets_checked == len(n.tokens) - 2


def test_wordpiece_split_matches_the_rust_tokenizer(run, rust, opts):
    _, n = run
    pieces = rust.encode(opts.word, add_special_tokens=False).tokens
    assert n.word_pieces == pieces
    assert rust.token_to_id(opts.word) is None  # unseen: not one vocabulary entry
    assert n.word_piece_count == len(pieces) > 1
    assert all(p.startswith("##") for p in pieces[1:])
    assert "".join(p.removeprefix("##") for p in pieces) == opts.word.lower()


def test_pair_lengths_and_segments_match_the_rust_tokenizer(run, rust, opts):
    result, n = run
    enc = rust.encode(opts.text, opts.pair)
    assert result.metrics["pair_length"] == len(enc.ids)
    assert result.metrics["segment_b_length"] == sum(enc.type_ids)
    assert result.metrics["segment_a_length"] == len(enc.ids) - sum(enc.type_ids)
    assert n.pair_tokens == enc.tokens
    assert enc.tokens.count("[SEP]") == 2


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
def test_each_truncation_strategy_matches_the_rust_tokenizer(run, rust, opts, strategy):
    result, _ = run
    rust.enable_truncation(opts.max_length, strategy=strategy)
    enc = rust.encode(opts.text, opts.pair)
    m = result.metrics
    assert m[f"truncation.{strategy}.length"] == len(enc.ids) == opts.max_length
    assert m[f"truncation.{strategy}.segment_b"] == sum(enc.type_ids)


def test_do_not_truncate_keeps_the_whole_pair(run):
    m = run[0].metrics
    assert m["truncation.do_not_truncate.length"] == m["pair_length"]
    assert m["pair_length"] > PROBE.make_options().max_length


def test_padding_matches_the_rust_tokenizer(run, rust, opts):
    _, n = run
    rust.enable_padding()  # to the longest of the batch
    batch = rust.encode_batch([opts.text, opts.pair])
    assert [r.longest for r in n.padding.values()] == [len(e.ids) for e in batch]
    assert [r.mask_zeros for r in n.padding.values()] == [e.attention_mask.count(0) for e in batch]
    rust.enable_padding(length=opts.max_length)
    rust.enable_truncation(opts.max_length)
    assert [r.max_length for r in n.padding.values()] == [len(e.ids) for e in rust.encode_batch([opts.text, opts.pair])]


def test_multiple_choice_batch_reshapes_to_batch_choices_seq(run, rust, opts):
    result, _ = run
    questions = science_questions()[:opts.questions]
    rust.enable_padding()
    flat = rust.encode_batch([(q["prompt"], q[c]) for q in questions for c in LETTERS])
    m = result.metrics
    assert (m["mc_batch"], m["mc_num_choices"], m["mc_seq_len"]) == (len(questions), 5, len(flat[0].ids))
    assert m["mc_flat_rows"] == len(flat)
    assert m["mc_row_matches"] is True
    # each padded row is the pair encoded alone, then pad ids: the Rust tokenizer agrees row by row
    assert m["mc_rows_differing"] == 0
    assert f"is question b paired with choice c, padded (0 of the {len(flat)} rows differ" in " ".join(result.findings)


def test_multiple_choice_verdict_on_both_sides(run, opts):
    import dataclasses

    from n00bqa.probes.tokenizer import report

    _, numbers = run
    off = dataclasses.replace(numbers, mc_rows_differing=2, mc_row_matches=False)
    words = " ".join(report(off, opts).findings)
    assert "row [b, c] is NOT question b paired with choice c, padded (2 of the" in words


def test_recorded_verdicts_follow_from_the_run(run):
    from tests.support.recorded_verdicts import verdict_words

    result, numbers = run
    split = "is split" if numbers.word_piece_count > 1 else "is NOT split"
    assert verdict_words(result) == [("pieces", split), ("exact", "is")]


def test_verdicts_and_helpers_on_both_sides():
    assert split_verdict(3) == "is split"
    assert split_verdict(1) == "is NOT split"
    assert span_matches("##och", "och") and span_matches("the", "The") and span_matches("cafe", "Café")
    assert not span_matches("the", "cell")


def test_a_short_pair_is_a_one_line_error():
    from n00bqa.probes.base import Context

    with pytest.raises(ProbeError, match="--max-length"):
        PROBE.measure(PROBE.make_options(max_length=200), Context())


@pytest.mark.parametrize("values, message", [
    ({"text": " "}, "--text"),
    ({"word": "two words"}, "--word"),
    ({"max_length": 2}, "--max-length"),
    ({"questions": 0}, "--questions"),
])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        PROBE.make_options(**values)


def test_byte_level_bpe_beside_wordpiece(run, rust, opts, smollm2):
    """SmolLM2's own tokenizer (the session's) and the Rust WordPiece, without the probe in between."""
    from n00bqa.probes.lib.data import nanogpt_text

    b = run[1].bpe
    notes = nanogpt_text()[:opts.notes_chars]
    bpe = smollm2.tokenizer
    assert b.notes_words == len(notes.split())
    assert b.notes_tokens["bpe"] == len(bpe(notes, add_special_tokens=False)["input_ids"])
    assert b.notes_tokens["wordpiece"] == len(rust.encode(notes, add_special_tokens=False).ids)
    assert b.word_pieces == bpe.tokenize(opts.word) and len(b.word_pieces) > 1
    wordpiece = rust.encode(opts.symbols, add_special_tokens=False).tokens
    assert b.wordpiece_unknown == wordpiece.count("[UNK]") > 0
    ids = bpe(opts.symbols, add_special_tokens=False)["input_ids"]
    assert b.bpe_unknown == 0 and bpe.decode(ids) == opts.symbols and b.bpe_round_trip
    assert b.symbol_tokens["bpe"] == len(ids) > len(opts.symbols.split())
