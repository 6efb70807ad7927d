"""Running a probe, and the cache of its runs under the study root.

`run_probe` seeds, measures, reports and (for a study root) caches; the cache is keyed by the
probe's source hash (the probe file and the `n00bqa.probes.lib` helpers it imports, found by the
registry without importing them), so `show` and `ask` never display a run of code that has since
changed. This module sits above the registry; `base.py`, which every probe imports, sits below it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from n00bqa.atomic import atomic_write_text
from n00bqa.errors import N00bqaError, ProbeError
from n00bqa.guards import is_probe_name
from n00bqa.probes.base import Context, Probe, ProbeResult, flat_metrics, report_with_verdicts
from n00bqa.reporter import NullReporter, Reporter
from n00bqa.study import Study


def package_version(name: str) -> str:
    # importlib.metadata here, not at the top: `n00bqa show` reads a cached run without it (~15 ms)
    from importlib.metadata import PackageNotFoundError, version

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


def probe_sha256(study: Study | None, name: str) -> str:
    """The hash of probe `name`'s source file, found without importing it."""
    from n00bqa.probes import spec_of

    spec = spec_of(study, name)
    return spec.source_sha256() if spec is not None else ""


def cache_key(probe_name: str, options: dict[str, Any], seed: int, source_sha256: str) -> str:
    payload = {"probe": probe_name, "options": options, "seed": seed, "probe_sha256": source_sha256,
               **_versions()}
    blob = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_probe(study: Study | None, probe: Probe, opts: Any, seed: int = 0, reporter: Reporter | None = None,
              cache: bool = True) -> ProbeResult:
    """Run `probe` with validated `opts`, measure it, and (if `cache` and a study) cache the result."""
    import torch

    ctx = Context(seed=seed, reporter=reporter or NullReporter())
    seed_everything(seed)
    default_threads = torch.get_num_threads()
    threads = probe.threads or default_threads
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        numbers = _step(study, probe, "measure", probe.measure, opts, ctx)
    finally:
        torch.set_num_threads(default_threads)
    seconds = round(time.perf_counter() - start, 3)
    report, verdicts = report_with_verdicts(
        lambda n, o: _step(study, probe, "report", probe.report, n, o), numbers, opts)
    environment = {
        **_versions(),
        "probe_sha256": probe_sha256(study, probe.name),
        "model": report.model,
        "seed": seed,
        "options": dataclasses.asdict(opts),
        "device": "cpu",
        "threads": threads,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    result = ProbeResult(
        probe=probe.name,
        question=probe.question,
        summary=report.summary,
        findings=report.findings,
        tables=report.tables,
        metrics=flat_metrics(numbers),
        environment=environment,
        seconds=seconds,
        numbers=numbers,
        verdicts=verdicts,
    )
    if cache and study is not None:
        save_result(study, result)
    return result


def _step(study: Study | None, probe: Probe, step: str, function: Any, *args: Any) -> Any:
    """`function(*args)`; a probe's own bug (any exception but a ProbeError it raises on purpose)
    becomes one ProbeError naming the probe file's line that raised it, with the original as its
    cause (N00BQA_DEBUG=1 prints both)."""
    try:
        return function(*args)
    except N00bqaError:
        raise
    except Exception as exc:  # noqa: BLE001 - the probe is the learner's code: anything can happen in it
        raise ProbeError(f"probe {probe.name} failed in {step}: {_where(study, function, exc)}: "
                         f"{type(exc).__name__}: {exc} (N00BQA_DEBUG=1 shows the traceback)") from exc


def _where(study: Study | None, function: Any, exc: BaseException) -> str:
    """`probes/x.py:LINE`: the last line of the probe's own file in the traceback (else the last line)."""
    import inspect
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    try:
        source = Path(inspect.getsourcefile(function) or "").resolve()
    except TypeError:  # a builtin or a C function: no source file
        source = None
    own = [f for f in frames if source is not None and Path(f.filename).resolve() == source]
    frame = (own or frames)[-1]
    path = Path(frame.filename)
    if study is not None:
        try:
            path = path.resolve().relative_to(Path(study.root).resolve())
        except ValueError:
            pass
    return f"{path}:{frame.lineno}"


def _cache_dir(study: Study) -> Path:
    return study.state_dir("probe-cache")


def _key_of(result: ProbeResult) -> str:
    env = result.environment
    return cache_key(result.probe, env.get("options") or {}, env.get("seed", 0), env.get("probe_sha256", ""))


def save_result(study: Study, result: ProbeResult) -> None:
    if not is_probe_name(result.probe):
        return
    text = json.dumps(result.to_dict(), indent=2, default=str)
    folder = _cache_dir(study)
    atomic_write_text(folder / f"{result.probe}-{_key_of(result)}.json", text)
    atomic_write_text(folder / f"{result.probe}.latest.json", text)


def cached_result(study: Study, probe: Probe, opts: Any, seed: int = 0) -> ProbeResult | None:
    """The cached run for exactly these options, seed, versions and probe source, if any."""
    if not is_probe_name(probe.name):
        return None
    key = cache_key(probe.name, dataclasses.asdict(opts), seed, probe_sha256(study, probe.name))
    return _read(study.state_path("probe-cache", f"{probe.name}-{key}.json"))


def last_result(study: Study, probe_name: str) -> ProbeResult | None:
    """The last run of a probe, whatever its options (what `show` and `ask` display), or None if
    there is none or the probe's source has changed since (a stale result is never shown). A name
    that is no probe name (`../../x`, from a shared root's front matter) has none: no path is built."""
    if not is_probe_name(probe_name):
        return None
    result = _read(study.state_path("probe-cache", f"{probe_name}.latest.json"))
    if result is None or result.environment.get("probe_sha256") != probe_sha256(study, probe_name):
        return None
    return result


def cached_runs(study: Study, probe_name: str) -> list[ProbeResult]:
    """Every cached run of a probe's current source (any options), oldest first."""
    if not is_probe_name(probe_name):
        return []
    folder = study.state_path("probe-cache")
    sha = probe_sha256(study, probe_name)
    runs = [r for path in sorted(folder.glob(f"{probe_name}-*.json")) if (r := _read(path)) is not None
            and r.probe == probe_name and r.environment.get("probe_sha256") == sha]
    return sorted(runs, key=lambda r: r.measured_at)


def _read(path: Path) -> ProbeResult | None:
    if not path.is_file():
        return None
    try:
        return ProbeResult.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, OSError):
        # A cache entry from an older n00bqa or a damaged file is just a cache miss.
        return None
