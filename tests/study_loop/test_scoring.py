"""Reading a guess, scoring it against the measurement, and the rating the score earns."""

from __future__ import annotations

import math

import pytest

from n00bqa.study_loop import scoring
from n00bqa.study_loop.scoring import (RATING_FLOORS, log10_error, parse_number, parse_rating, rating_for_score,
                                       relative_error, score)


@pytest.mark.parametrize("text, value", [
    ("124439808", 124439808), ("124e6", 124e6), ("1.24E+08", 1.24e8), ("124,000,000", 124e6),
    ("124_000_000", 124e6), ("124 000 000", 124e6), ("124M", 124e6), ("124 M", 124e6), ("1.2B", 1.2e9),
    ("1.2G", 1.2e9), ("38.6k", 38600), ("3 billion", 3e9), ("2^20", 2**20), ("10**9", 1e9), ("12%", 0.12),
    ("0.5", 0.5), (".5", 0.5), ("-3", -3), (" 7 ", 7), ("1,234.5", 1234.5),
])
def test_numbers_are_read_as_people_write_them(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "?", "12 apples", "1,2", "1,23,456", "M", "1e400", "nan", "inf", "--1"])
def test_what_is_not_a_number_is_refused(text):
    assert parse_number(text) is None


def test_relative_error_and_its_score():
    assert relative_error(110, 100) == pytest.approx(0.1)
    assert relative_error(90, 100) == pytest.approx(0.1)
    assert relative_error(0, 0) == 0 and relative_error(0.25, 0) == 0.25  # against 0: the absolute error
    assert score(110, 100, "relative") == pytest.approx(1 - math.log(1.1))
    assert score(300, 100, "relative") == 0.0  # floored at 0
    # symmetric: half the value and double the value are the same distance (issue 24)
    assert score(50, 100, "relative") == pytest.approx(score(200, 100, "relative")) == pytest.approx(1 - math.log(2))
    assert score(-100, 100, "relative") == 0.0 and score(0, 100, "relative") == 0.0
    assert score(None, 100, "relative") == 0.0  # "?" scores nothing


def test_log10_error_counts_orders_of_magnitude():
    assert log10_error(1e9, 1e8) == pytest.approx(1.0)
    assert log10_error(1e7, 1e8) == pytest.approx(1.0)
    assert log10_error(2e8, 1e8) == pytest.approx(math.log10(2))
    assert log10_error(-5, 5) == math.inf and log10_error(0, 5) == math.inf and log10_error(0, 0) == 0
    assert score(2e8, 1e8, "log10") == pytest.approx(1 - math.log10(2))
    assert score(1e10, 1e8, "log10") == 0.0


def test_unknown_scoring_is_a_one_line_error():
    from n00bqa.errors import ReviewError

    with pytest.raises(ReviewError, match="'linear' is not one of: relative, log10"):
        scoring.error(1, 1, "linear")


def test_each_rating_floor_on_both_sides():
    for (rating, floor), (worse, _) in zip(RATING_FLOORS, RATING_FLOORS[1:]):
        assert rating_for_score(floor) == rating
        assert rating_for_score(floor - 1e-9) == worse
    assert rating_for_score(1.0) == "easy" and rating_for_score(0.0) == "again"
    # in the learner's terms: 5 % off is easy, 20 % good, 50 % hard, double again; a factor either way alike
    assert [rating_for_score(score(p, 100, "relative")) for p in (105, 120, 150, 200)] == ["easy", "good", "hard",
                                                                                           "again"]
    assert [rating_for_score(score(100 * 100 / p, 100, "relative")) for p in (105, 120, 150, 200)] == [
        "easy", "good", "hard", "again"]


def test_ratings_typed_as_words_prefixes_or_digits():
    assert [parse_rating(t) for t in ("again", "H", "g", "3", "4", " Easy ")] == ["again", "hard", "good", "good",
                                                                                 "easy", "easy"]
    assert parse_rating("x") is None and parse_rating("") is None and parse_rating("5") is None


def test_format_number():
    assert scoring.format_number(124439808) == "124,439,808"
    assert scoring.format_number(0.66666) == "0.6667"
    assert scoring.format_number(1.34e10 + 0.5) == "1.34e+10"
    assert scoring.format_number(None) == "?"
