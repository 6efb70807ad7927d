"""The probe framework: what a probe is, what it returns, and where its runs are cached.

A probe is one module that answers a question by measuring it, written in one way
(`n00bqa/probes/template.py` is the example to copy):

1. an options dataclass (each field a default and `metadata={"help": ...}`), and `check(opts)`;
2. `measure(opts, ctx) -> Numbers`: runs the experiment and fills a small dataclass of what it
   measured (numbers, plus any labels or rows the report needs);
3. `report(numbers, opts) -> Report`: the summary, findings and tables, every number in them
   read from `numbers` (never retyped), every verdict computed from them.

The metrics are derived from `numbers` by the framework (`flat_metrics`), so a finding, a table
cell and a `--json` metric can never disagree. `run_probe` adds the environment (versions, the
probe's source hash, options, seed), timing and the cache, giving a `ProbeResult` that rich
renders and `--json` serialises. A test checks, for every probe, that each number printed in a
finding is a metric, a table cell or an option of the same run (`unexplained_numbers`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from n00bqa.errors import ProbeError
from n00bqa.reporter import NullReporter, Reporter


@dataclass
class Table:
    """A small table of measured values: `rows` are lists of str/int/float/bool, one per row.

    Build it from records by name with `Table.of`, not by column position.
    """

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    @classmethod
    def of(cls, title: str, records: Any, columns: dict[str, Any], note: str = "") -> "Table":
        """A table with one row per record, each column read from the record by name.

        Args:
            records: a list of records (dataclasses or dicts), or a dict of them; for a dict the
                key is available to the columns as the name `key` (e.g. the swept d_k).
            columns: header -> a field name of the record (or `"key"`), or a function of
                (key, record) for a computed or formatted cell.
        Example:
            Table.of("√d_k sweep", n.sweep, {"d_k": "key", "entropy": "entropy_scaled"})
        """
        items = list(records.items()) if isinstance(records, dict) else list(enumerate(records))
        rows = []
        for key, record in items:
            row = []
            for spec in columns.values():
                if callable(spec):
                    row.append(spec(key, record))
                elif spec == "key":
                    row.append(key)
                else:
                    row.append(record[spec] if isinstance(record, dict) else getattr(record, spec))
            rows.append(row)
        return cls(title, list(columns), rows, note)


@dataclass
class Report:
    """What a probe's `report` returns: words and tables written from the measured numbers."""

    summary: str
    findings: list[str]
    tables: list[Table] = field(default_factory=list)
    model: str = ""  # the model measured, e.g. "all-MiniLM-L6-v2" or a folder path


@dataclass(frozen=True)
class Verdict:
    """A verdict word and the test it came from: `word` is `above` when value > threshold, else `below`."""

    name: str  # what the threshold is, e.g. "tolerance" or "2 standard errors"
    value: float
    threshold: float
    above: str
    below: str
    word: str

    def holds(self) -> bool:
        return self.word == (self.above if self.value > self.threshold else self.below)


_verdicts: list[Verdict] | None = None  # set by run_probe while a probe's `report` runs


def verdict(value: float, threshold: float, above: str, below: str, name: str = "threshold") -> str:
    """The word for a computed test: `above` if value > threshold, else `below`.

    Use it for every verdict a finding prints ("equal within" / "NOT equal within", "starves" /
    "does not starve"): the run records (word, value, threshold), and the verdict harness
    (tests/probes/test_verdicts.py) recomputes each word at every option it tries.
    Example:
        word = verdict(n.max_abs_diff, n.tolerance, "NOT equal within", "equal within", "tolerance")
    """
    word = above if value > threshold else below
    if _verdicts is not None:
        _verdicts.append(Verdict(name, float(value), float(threshold), above, below, word))
    return word


def report_with_verdicts(report: Callable[[Any, Any], "Report"], numbers: Any,
                         opts: Any) -> tuple["Report", list[Verdict]]:
    """Call a probe's `report` and return it with the verdicts it computed through `verdict`."""
    global _verdicts
    _verdicts = []
    try:
        return report(numbers, opts), _verdicts
    finally:
        _verdicts = None


@dataclass(frozen=True)
class Prediction:
    """A number the learner guesses before the probe reveals it (`n00bqa quiz`).

    Args:
        prompt: the question, in the learner's words.
        metric: the metric (a key of the result's `metrics`) that reveals the answer.
        unit: shown after the number, e.g. "parameters", "bytes", "rows".
        scoring: "relative" (|guess - value| / |value|) or "log10" (orders of magnitude apart).
    """

    prompt: str
    metric: str
    unit: str = ""
    scoring: str = "relative"


@dataclass
class ProbeResult:
    """One probe run. `to_dict()` is exactly the `--json` shape."""

    probe: str
    question: str
    summary: str
    findings: list[str]
    tables: list[Table]
    metrics: dict[str, float | int | bool]
    environment: dict[str, Any]
    seconds: float
    # What `measure` returned, kept for tests and the quiz (a run read back from the cache has
    # None): read `result.numbers.sweep[512]` instead of measuring again. Not part of --json.
    numbers: Any = field(default=None, repr=False, compare=False)
    # The verdicts `report` computed through `verdict` (word, value, threshold), for the verdict
    # harness; like `numbers`, not part of --json and empty for a cached run.
    verdicts: list[Verdict] = field(default_factory=list, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(dataclasses.replace(self, numbers=None, verdicts=[]))  # numbers may hold tensors
        del data["numbers"], data["verdicts"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeResult":
        tables = [Table(**t) for t in data["tables"]]
        return cls(**{**data, "tables": tables})

    @property
    def measured_at(self) -> str:
        return self.environment.get("measured_at", "")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.environment.get("options") or {})


@dataclass
class Context:
    """Handed to a probe's `measure`: its seed and a progress reporter."""

    seed: int = 0
    reporter: Reporter = field(default_factory=NullReporter)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return self.reporter.task(description, total)


@dataclass(frozen=True)
class Probe:
    """A registered probe.

    Args:
        name: what the user types: `n00bqa probe NAME`; also its file's name (`-` for `_`).
        question: the id of the question in questions/ it was written for (questions name their
            probes in their own front matter; a probe may serve several).
        title: one line for `n00bqa probes`.
        options: a dataclass type; each field has a default and `metadata={"help": ...}`.
        measure: `measure(options, ctx) -> numbers`, a dataclass instance of what was measured.
        report: `report(numbers, options) -> Report`, the words and tables, written from `numbers`.
        check: optional `check(options)` raising ProbeError for bad values (before any heavy import).
        threads: torch threads for the run, or None for torch's default. Probes of tiny models set 1:
            their matrices are too small to gain from a second thread, and on a busy 2-core machine
            the threads' hand-offs made training steps up to 10x slower in our measurements.
        predictions: numbers the learner can guess before seeing them (`n00bqa quiz`).
        renamed_metrics: old metric name -> its name now, for metrics a probe has renamed, so a
            review log or a prediction written before the rename still finds its number.
    """

    name: str
    question: str
    title: str
    options: type
    measure: Callable[[Any, Context], Any]
    report: Callable[[Any, Any], Report]
    check: Callable[[Any], None] | None = None
    threads: int | None = None
    predictions: tuple[Prediction, ...] = ()
    renamed_metrics: dict[str, str] = field(default_factory=dict)

    def metric_name(self, name: str) -> str:
        """The metric's current name (a name from before a rename maps to its new one)."""
        return self.renamed_metrics.get(name, name)

    def make_options(self, **values: Any) -> Any:
        names = {f.name for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - names)
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise ProbeError(f"probe {self.name!r} has no option {unknown[0]!r}; its options are: {known}")
        opts = self.options(**values)
        if self.check is not None:
            self.check(opts)
        return opts


# --- Checking options: the one-line errors a probe's `check` raises ---------------------------
def flag(name: str) -> str:
    """The command-line spelling of an options field: `n_embd` -> `--n-embd`."""
    return "--" + name.replace("_", "-")


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_ranges(opts: Any, limits: dict[str, tuple]) -> None:
    """Refuse the first option outside its closed range, in one line quoting it.

    Args:
        opts: the options dataclass.
        limits: field name -> (low, high), or (low, high, words) where `words` follow the range:
            `{"context": (1, 10_000_000, "tokens")}` refuses 0 with
            "--context must be between 1 and 10000000 tokens, got 0".
    """
    if _declared is not None:
        _declared.update(limits)
    for name, (low, high, *words) in limits.items():
        value = getattr(opts, name)
        if not low <= value <= high:
            after = "".join(f" {w}" for w in words)
            raise ProbeError(f"{flag(name)} must be between {_plain(low)} and {_plain(high)}{after}, "
                             f"got {_plain(value)}")


_declared: dict[str, tuple] | None = None  # set while `declared_ranges` reads a probe's check


def declared_ranges(probe: "Probe") -> dict[str, tuple[float, float]]:
    """The option ranges a probe's `check` declares through `check_ranges`: field -> (low, high).

    Read by calling `check` on the default options (a range declared only on a branch the defaults
    do not take is not seen). The verdict harness (tests/probes/test_verdicts.py) runs each probe at
    both ends of each range it finds here, so a probe exposes its ranges just by using check_ranges.
    """
    global _declared
    _declared = {}
    try:
        if probe.check is not None:
            probe.check(probe.options())
    except ProbeError:
        pass  # refused after its ranges (a missing optional package): the ranges seen so far stand
    finally:
        found, _declared = _declared, None
    return {name: (spec[0], spec[1]) for name, spec in found.items()}


def check_heads_divide(opts: Any, width: str, heads: str = "n_head") -> None:
    """Refuse a width that the head count does not divide (every head gets width / heads columns)."""
    w, h = getattr(opts, width), getattr(opts, heads)
    if w % h:
        raise ProbeError(f"{flag(width)} {w} is not divisible by {flag(heads)} {h}; "
                         f"pick a {flag(width)} that is a multiple of {h}")


def flat_metrics(numbers: Any, prefix: str = "") -> dict[str, float | int | bool]:
    """The numeric leaves of a measurement, flattened: `{"gpt2": {"total": 1}}` -> `{"gpt2.total": 1}`.

    Numbers may nest: a record per model, a dict keyed by the swept value (`{512: Sweep(...)}`
    gives `sweep.512.entropy`). Dataclasses and dicts nest with `.`; numbers and booleans become
    metrics; strings, lists and None are for the report only (labels, rows, curves). NaN and
    infinities are kept out: JSON has no spelling for them.
    """
    if dataclasses.is_dataclass(numbers) and not isinstance(numbers, type):
        items = ((f.name, getattr(numbers, f.name)) for f in dataclasses.fields(numbers))
    elif isinstance(numbers, dict):
        items = numbers.items()
    else:
        return {}
    metrics: dict[str, float | int | bool] = {}
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, bool) or (isinstance(value, int)):
            metrics[name] = value
        elif isinstance(value, float):
            if math.isfinite(value):
                metrics[name] = value
        elif hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a 0-d tensor or numpy scalar
            item = value.item()
            if not isinstance(item, float) or math.isfinite(item):
                metrics[name] = item
        else:
            metrics.update(flat_metrics(value, prefix=f"{name}."))
    return metrics


# --- Numbers in findings: each must be a number of the same run ------------------------------

# A number standing on its own: not part of a word or name ("fp32", "GPT-2", "MAP@3", "L6").
_NUMBER = re.compile(r"(?<![\w.@/\-])(\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w@]|\.\d)")
_SCALES = (1.0, 100.0, 1e-3, 1e-6, 1e-9, 1e-12, 1e3, 1e6, 1 / 1024, 1 / 1024**2, 1 / 1024**3)


def numbers_in(text: str) -> list[str]:
    """The numbers written in a finding, as printed (commas and all)."""
    return [m.group(1).rstrip(",") for m in _NUMBER.finditer(text)]


def _printed_matches(printed: str, value: float) -> bool:
    """Does `printed` show `value` (at some scale: %, k/M/G, ms, MiB) rounded to its own digits?"""
    text = printed.replace(",", "")
    try:
        shown = float(text)
    except ValueError:
        return False
    if "e" in text.lower():
        mantissa = text.lower().split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return math.isclose(shown, value, rel_tol=0.5 * 10 ** -digits * 1.01 + 1e-12) or shown == value
    digits = len(text.split(".")[1]) if "." in text else 0
    half = 0.5 * 10 ** -digits
    for scale in _SCALES:
        scaled = abs(value) * scale
        if abs(scaled - shown) <= half * 1.0001 + 1e-12:
            return True
    return False


def unexplained_numbers(result: ProbeResult, small: int = 10) -> list[str]:
    """Numbers printed in the findings that are no metric, table cell or option of this run.

    A printed number is explained when it equals one of those values rounded to the digits it
    shows, at some common scale (a percentage, thousands/millions/billions, ms, MiB). Integers up
    to `small` are taken as the explanation's own counts ("the 2 tables", "top 3"), and the
    years of cited papers (1950-2030) as citations.
    """
    values: list[float] = []
    values += [float(v) for v in result.metrics.values()]
    for table in result.tables:
        for row in table.rows:
            values += [float(v) for v in row if isinstance(v, (int, float)) and not isinstance(v, bool)]
            for cell in row:
                if isinstance(cell, str):
                    values += [float(n.replace(",", "")) for n in numbers_in(cell)]
    values += [float(v) for v in result.options.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    values.append(float(result.environment.get("seed", 0)))
    missing = []
    for finding in result.findings:
        for printed in numbers_in(finding):
            plain = printed.replace(",", "")
            if plain.isdigit() and (int(plain) <= small or ("," not in printed and 1950 <= int(plain) <= 2030)):
                continue
            if not any(_printed_matches(printed, v) for v in values):
                missing.append(f"{printed!r} in: {finding}")
    return missing




# --- Names that moved to runs.py (issue 21) ----------------------------------------------------
# A learner's probe or test written from the old template imports `run_probe` from here; it keeps
# working, read lazily from runs.py (which imports this module, so a plain import would be a cycle).
_MOVED_TO_RUNS = ("run_probe", "save_result", "cached_result", "last_result", "cached_runs",
                  "seed_everything", "cache_key", "probe_sha256", "package_version")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_RUNS:
        from n00bqa.probes import runs

        return getattr(runs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
