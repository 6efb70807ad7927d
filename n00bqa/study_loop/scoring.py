"""How close a learner's guess is to what the probe measured, and what that means for the schedule.

A probe's Prediction says how to score it:

- "relative": the log ratio |ln(guess / measured)| (a quantity the learner can know to a few percent:
  a parameter count, a loss at init). It is symmetric: a guess k times too big and one k times too
  small are the same distance (half the value and double the value both score 0.31), which the plain
  relative error |guess - measured| / |measured| is not (it scores half 0.5 and double 0); for small
  errors the two agree (10 % over is 0.095, 10 % under 0.105). The plain relative error is still
  reported beside the score, as the learner reads it;
- "log10": the distance in orders of magnitude |log10(guess) - log10(measured)| (a quantity only its
  size can be guessed: FLOPs, bytes, a speed-up).

Either error becomes a score from 0 to 1 (1 - error, floored at 0): a factor of 1.105 (about 10 %)
either way, or of 1.26 in log10 scoring, scores 0.9; a factor of e (2.72) either way, or of 10 in log10
scoring, scores 0. The mean score of one quiz maps to an FSRS rating by RATING_FLOORS, so a far-off
guess brings the question back sooner than a close one.

Numbers are read as people write them: `124e6`, `124,000,000`, `124M`, `1.2B`, `38.6k`, `2^20`, `12%`.
"""

from __future__ import annotations

import math
import re

from n00bqa.errors import ReviewError

RATINGS = ("again", "hard", "good", "easy")  # FSRS's four ratings, worst first (fsrs.Rating 1..4)
SCORINGS = ("relative", "log10")
# The lowest mean score that earns each rating, best first: within a factor 1.105 either way (or 1.26 in
# log10 scoring) is easy, 1.35 (or 2) good, 1.82 (or 4) hard; further off is again.
RATING_FLOORS = (("easy", 0.9), ("good", 0.7), ("hard", 0.4), ("again", 0.0))
DONT_KNOW = "?"  # typed instead of a number: no guess, scored 0

_SUFFIXES = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "b": 1e9, "B": 1e9, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12}
_WORDS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_PLAIN = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")  # 124,000,000 or 1,234.5
_POWER = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:\^|\*\*)\s*([+-]?\d+)$")  # 2^20, 10**9


def parse_number(text: str) -> float | None:
    """The number a learner typed, or None if it is not one (`?` is not a number either).

    Accepts plain and scientific notation (`0.5`, `124e6`), thousands separators (`124,000,000`,
    `124_000_000`, `124 000 000`), a scale suffix or word (`124M`, `1.2B`, `38.6k`, `3 billion`),
    a power (`2^20`, `10**9`) and a percentage (`12%` is 0.12).
    """
    s = text.strip().replace("\u2009", " ").replace("\u00a0", " ")
    if not s:
        return None
    scale = 1.0
    if s.endswith("%"):
        s, scale = s[:-1].strip(), 0.01
    lowered = s.lower()
    for word, factor in _WORDS.items():
        if lowered.endswith(word):
            s, scale = s[: -len(word)].strip(), scale * factor
            break
    else:
        if s and s[-1] in _SUFFIXES and len(s) > 1:
            s, scale = s[:-1].strip(), scale * _SUFFIXES[s[-1]]
    power = _POWER.match(s)
    if power:
        try:
            value = float(power.group(1)) ** int(power.group(2))
        except OverflowError:
            return None
        return value * scale if math.isfinite(value * scale) else None
    if "_" in s and re.fullmatch(r"[+-]?\d{1,3}(?:_\d{3})+(?:\.\d+)?", s):
        s = s.replace("_", "")
    elif " " in s and re.fullmatch(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?", s):
        s = s.replace(" ", "")
    elif _GROUPED.match(s):
        s = s.replace(",", "")
    if not _PLAIN.match(s):
        return None
    value = float(s) * scale
    return value if math.isfinite(value) else None


def relative_error(predicted: float, measured: float) -> float:
    """|predicted - measured| / |measured|; against a measured 0 the absolute error (0 when equal)."""
    if measured == 0:
        return abs(predicted)
    return abs(predicted - measured) / abs(measured)


def log_ratio_error(predicted: float, measured: float) -> float:
    """|ln(predicted / measured)|: how many times too big or too small, on a log scale, the same for
    both. Against a measured 0 the absolute error (0 when equal); opposite signs, or a 0 guess of a
    nonzero value, are infinitely far apart."""
    if measured == 0:
        return abs(predicted)
    if predicted == measured:
        return 0.0
    if predicted == 0 or (predicted < 0) != (measured < 0):
        return math.inf
    return abs(math.log(predicted / measured))


def log10_error(predicted: float, measured: float) -> float:
    """Orders of magnitude apart: |log10|predicted| - log10|measured||. Opposite signs, or one of the
    two 0, are infinitely far apart (both 0: no distance)."""
    if predicted == measured:
        return 0.0
    if predicted == 0 or measured == 0 or (predicted < 0) != (measured < 0):
        return math.inf
    return abs(math.log10(abs(predicted)) - math.log10(abs(measured)))


def error(predicted: float, measured: float, scoring: str) -> float:
    """The error the prediction is scored by: relative or log10 (see the module docstring)."""
    if scoring == "relative":
        return log_ratio_error(predicted, measured)
    if scoring == "log10":
        return log10_error(predicted, measured)
    raise ReviewError(f"scoring {scoring!r} is not one of: {', '.join(SCORINGS)}; fix the probe's Prediction")


def score(predicted: float | None, measured: float, scoring: str) -> float:
    """1 for a perfect guess down to 0 for one a factor of e (relative) or of 10 (log10) off either
    way, or no guess at all (None)."""
    if predicted is None:
        return 0.0
    return max(0.0, 1.0 - error(predicted, measured, scoring))


def rating_for_score(mean_score: float) -> str:
    """The FSRS rating a quiz earns: the first of RATING_FLOORS whose floor its mean score reaches."""
    for rating, floor in RATING_FLOORS:
        if mean_score >= floor:
            return rating
    return "again"


def parse_rating(text: str) -> str | None:
    """`again|hard|good|easy`, a prefix of one (`g`), or `1`-`4` -> the rating; None otherwise."""
    s = text.strip().lower()
    if s in ("1", "2", "3", "4"):
        return RATINGS[int(s) - 1]
    matches = [r for r in RATINGS if s and r.startswith(s)]
    return matches[0] if len(matches) == 1 else None


def format_number(value: float | int | None) -> str:
    """A value as the learner reads it: `124,439,808`, `0.6667`, `1.34e+10`."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1e6 or (magnitude and magnitude < 1e-3):
        return f"{value:.4g}"
    return f"{value:,.4g}" if magnitude >= 1000 else f"{value:.4g}"


def describe_error(predicted: float | None, measured: float, scoring_name: str) -> str:
    """The error in words: `off by 0.35 %`, `off by 0.30 orders of magnitude (x2.0)`, `no guess`."""
    if predicted is None:
        return "no guess"
    if scoring_name == "log10":
        distance = log10_error(predicted, measured)
        if math.isinf(distance):
            return "off by more than any factor (a sign or a zero differs)"
        return f"off by {distance:.2f} orders of magnitude (x{10 ** distance:.3g})"
    if measured == 0:
        return f"off by {format_number(abs(predicted))} (the measured value is 0)"
    return f"off by {relative_error(predicted, measured) * 100:.3g} %"
