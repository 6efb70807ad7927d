"""The probe framework: what a probe is, what it returns, and where its runs are cached.

A probe is one module under `n00bqa/probes/` that answers one question by measuring it. It
declares its options as a dataclass and a `run(options, ctx)` function that returns
`Measured` (never prints). `run_probe` adds the environment, timing and cache, giving a
`ProbeResult` that rich renders and `--json` serialises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

from n00bqa.atomic import atomic_write_text
from n00bqa.errors import ProbeError
from n00bqa.progress import NullReporter, Reporter


@dataclass
class Table:
    """A small table of measured values: `rows` are lists of str/int/float/bool, one per row."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Measured:
    """What a probe's `run` returns: the findings, in the learner's words, with numbers inline."""

    summary: str
    findings: list[str]
    metrics: dict[str, float | int | bool]
    tables: list[Table] = field(default_factory=list)
    model: str = ""  # the model measured, e.g. "all-MiniLM-L6-v2" or a folder path


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeResult":
        tables = [Table(**t) for t in data["tables"]]
        return cls(**{**data, "tables": tables})

    @property
    def measured_at(self) -> str:
        return self.environment.get("measured_at", "")


@dataclass
class Context:
    """Handed to a probe's `run`: its seed and a progress reporter."""

    seed: int = 0
    reporter: Reporter = field(default_factory=NullReporter)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return self.reporter.task(description, total)


@dataclass(frozen=True)
class Probe:
    """A registered probe.

    Args:
        name: what the user types: `n00bqa probe NAME`.
        question: the id of the question in questions/ it answers.
        title: one line for `n00bqa probes`.
        options: a dataclass type; each field has a default and `metadata={"help": ...}`.
        run: `run(options, ctx) -> Measured`.
        check: optional `check(options)` raising ProbeError for bad values (before any heavy import).
        threads: torch threads for the run, or None for torch's default. Probes of tiny models set 1:
            their matrices are too small to gain from a second thread, and on a busy 2-core machine
            the threads' hand-offs made training steps up to 10x slower in our measurements.
    """

    name: str
    question: str
    title: str
    options: type
    run: Callable[[Any, Context], Measured]
    check: Callable[[Any], None] | None = None
    threads: int | None = None

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


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _versions() -> dict[str, str]:
    return {
        "n00bqa": package_version("n00bqa"),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "python": platform.python_version(),
    }


def cache_key(probe: Probe, opts: Any, seed: int) -> str:
    payload = {"probe": probe.name, "options": dataclasses.asdict(opts), "seed": seed, **_versions()}
    blob = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cache_dir() -> Path:
    from n00bqa.paths import state_dir

    return state_dir("probe-cache")


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_probe(probe: Probe, opts: Any, seed: int = 0, reporter: Reporter | None = None,
              cache: bool = True) -> ProbeResult:
    """Run `probe` with validated `opts`, measure it, and (by default) cache the result on disk."""
    import torch

    ctx = Context(seed=seed, reporter=reporter or NullReporter())
    seed_everything(seed)
    default_threads = torch.get_num_threads()
    threads = probe.threads or default_threads
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        measured = probe.run(opts, ctx)
    finally:
        torch.set_num_threads(default_threads)
    seconds = round(time.perf_counter() - start, 3)
    environment = {
        **_versions(),
        "model": measured.model,
        "seed": seed,
        "options": dataclasses.asdict(opts),
        "device": "cpu",
        "threads": threads,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    result = ProbeResult(
        probe=probe.name,
        question=probe.question,
        summary=measured.summary,
        findings=measured.findings,
        tables=measured.tables,
        metrics=measured.metrics,
        environment=environment,
        seconds=seconds,
    )
    if cache:
        save_result(probe, opts, seed, result)
    return result


def save_result(probe: Probe, opts: Any, seed: int, result: ProbeResult) -> None:
    text = json.dumps(result.to_dict(), indent=2, default=str)
    folder = _cache_dir()
    atomic_write_text(folder / f"{probe.name}-{cache_key(probe, opts, seed)}.json", text)
    atomic_write_text(folder / f"{probe.name}.latest.json", text)


def cached_result(probe: Probe, opts: Any, seed: int = 0) -> ProbeResult | None:
    """The cached run for exactly these options, seed and versions, if any."""
    return _read(_cache_dir() / f"{probe.name}-{cache_key(probe, opts, seed)}.json")


def last_result(probe_name: str) -> ProbeResult | None:
    """The last run of a probe, whatever its options (what `show` and `ask` display)."""
    return _read(_cache_dir() / f"{probe_name}.latest.json")


def _read(path: Path) -> ProbeResult | None:
    if not path.is_file():
        return None
    try:
        return ProbeResult.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        # A cache entry from an older n00bqa or a damaged file is just a cache miss.
        return None
