"""How do Hugging Face Datasets load, index, slice, iterate and map data, and why is it fast?

Measured on the installed `datasets` with files the probe writes into a temporary folder (removed
at the end): the science-exam questions n00bqa ships, as JSON-lines train and test files, and a
generated Arrow table of `--table-mb` megabytes. Nothing is downloaded.

1. `load_dataset("json", data_files={...})` gives a DatasetDict of splits; `split="train[:10%]"`
   and friends slice (and `+` concatenates) at load time.
2. Indexing: a row is a dict; a slice of rows is a dict of lists (columns); a column is a lazy
   `Column` whose slices are lists.
3. `streaming=True` gives an IterableDataset: no len(), rows come from iter() / next().
4. `map` unbatched (one Python call per row) vs batched (one call per 1,000 rows) on a tokenizer
   and on a cheap function; the second identical `map` is read back from the cache file.
5. Memory-mapping: in a fresh process, `Dataset.from_file` on the big table costs a small fraction
   of its size in resident memory (RSS); `in_memory=True` costs at least the whole table.

(`import datasets` below is the Hugging Face package: imports are absolute, so this module,
n00bqa.probes.datasets, never imports itself.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.data import science_questions

# test[:35%] of the 16 test rows asks for 5.6 rows: it exercises the rounding (closest: 6; floor: 5).
SLICES = ("train[:10]", "train[:10%]", "train[-5:]", "train[10%:20%]", "train[:50%]+test[:2]", "test[:35%]")
TEST_ROWS = 16  # the last questions of science_mc.json form the test split
VECTOR_WIDTH = 256  # float32 entries per row of the big table: 1 KiB a row
SMALL_FRACTION = 0.1  # "a small fraction of its size": under a tenth


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    table_mb: int = field(default=200, metadata={"help": "Size of the generated Arrow table to memory-map, in MiB."})
    map_rows: int = field(default=2000, metadata={
        "help": "Rows (the questions repeated) for the map timings; each map is timed twice, the faster kept."})
    tmp_dir: str = field(default="", metadata={
        "help": "Folder for the probe's temporary files (default: the system temp folder); removed afterwards."})


def check(opts: Options) -> None:
    check_ranges(opts, {"table_mb": (1, 512), "map_rows": (100, 20_000)})
    if opts.tmp_dir and not Path(opts.tmp_dir).expanduser().is_dir():
        raise ProbeError(f"--tmp-dir {opts.tmp_dir!r} is not a folder; pass an existing folder or leave it out")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class MapTiming:
    """Seconds of one function mapped over the rows: the faster of two runs each."""

    unbatched: float  # one Python call per row
    batched: float  # one call per 1,000 rows


@dataclass
class Rss:
    """A fresh process's resident memory after one step, in bytes (-1024 where the OS does not say)."""

    total: int
    anon: int  # anonymous pages: the process's own copy
    file: int  # file-backed pages: memory-mapped, the kernel may drop and re-read them


@dataclass
class Numbers:
    # 1. load_dataset and split slicing
    splits: dict[str, int]  # split -> rows
    slice_rows: dict[str, int]  # split expression -> rows
    slices_match_python: bool  # every slice holds the rows plain list slicing gives
    slices_differing: int  # slice expressions whose rows are NOT the rows plain list slicing gives
    fractional_slices: dict[str, float]  # expression -> rows asked for, when not a whole number
    # 2. indexing
    types: dict[str, str]  # expression -> the type it returns: ds[0], ds[:3], ds["prompt"], ...
    row_keys: list[str]
    features: dict[str, str]
    # 3. IterableDataset
    iterable_has_len: bool
    iterable_first_row_equal: bool  # next(iter(streamed)) == ds[0]
    iterable_first_row_keys_differing: int  # keys of ds[0] and the streamed first row whose values differ
    iterable_take_rows: int
    # 4. map
    map_rows: int
    map_seconds: dict[str, MapTiming]  # by function: "tokenize", "word count"
    batched_map_speedup: float  # tokenizer: unbatched seconds / batched seconds
    cheap_batched_map_speedup: float
    map_outputs_equal: bool  # batched and unbatched give the same input_ids
    map_rows_differing: int  # rows whose input_ids differ between the unbatched and the batched map
    first_input_ids: list[int]  # row 0 of the mapped dataset (question, choice A)
    map_first_seconds: float  # the first map: fingerprint, compute, write its cache file
    map_cached_seconds: float  # the identical map again
    map_cache_hit: bool
    cache_files_before: int  # arrow files in the cache folder before the second map
    cache_files_after: int
    cache_files_changed: int  # cache files added or removed by the second map, + 1 if it read another file
    # 5. memory mapping, measured in a fresh process
    table_bytes: int
    table_rows: int
    rss: dict[str, Rss]  # by step: "before", "mmap", "in_memory"
    mmap_rss_fraction: float  # (RSS after mmap - before) / table bytes
    in_memory_rss_fraction: float
    small_fraction: float


# --- 3. measure ---------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def python_slice(rows: dict[str, list], expression: str) -> list:
    """What `split=expression` should hold, by plain list slicing (percent rounded to the closest row)."""
    picked = []
    for part in expression.split("+"):
        name, spec = part.rstrip("]").split("[")
        start, stop = spec.split(":")
        n = len(rows[name])

        def bound(text: str, default: int) -> int:
            if not text:
                return default
            return round(float(text[:-1]) * n / 100) if text.endswith("%") else int(text)

        picked += rows[name][slice(bound(start, 0), bound(stop, n))]
    return picked


def measure(opts: Options, ctx: Context) -> Numbers:
    import tempfile

    import datasets

    bars_were_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # the probe reports its own progress
    try:
        with tempfile.TemporaryDirectory(prefix="n00bqa-datasets-", dir=opts.tmp_dir or None) as tmp:
            return _measure(opts, ctx, Path(tmp))
    finally:
        if not bars_were_off:
            datasets.enable_progress_bars()


def _measure(opts: Options, ctx: Context, tmp: Path) -> Numbers:
    import datasets

    from n00bqa.probes.lib.models import load_tokenizer

    advance = ctx.task("loading, mapping and memory-mapping datasets", 5)
    questions = science_questions()
    files = {"train": tmp / "train.jsonl", "test": tmp / "test.jsonl"}
    write_jsonl(files["train"], questions[:-TEST_ROWS])
    write_jsonl(files["test"], questions[-TEST_ROWS:])
    data_files = {k: str(v) for k, v in files.items()}
    cache_dir = str(tmp / "hf-cache")  # load_dataset's Arrow files (and map's cache files) go here

    # -- 1. load_dataset: splits, and slices of them at load time ------------------------------------------
    splits = datasets.load_dataset("json", data_files=data_files, cache_dir=cache_dir)  # DatasetDict
    train = splits["train"]
    slice_rows, differing_slices, fractional = {}, 0, {}
    by_split = {"train": questions[:-TEST_ROWS], "test": questions[-TEST_ROWS:]}
    for expression in SLICES:
        part = datasets.load_dataset("json", data_files=data_files, cache_dir=cache_dir, split=expression)
        slice_rows[expression] = len(part)
        if "+" not in expression:  # a percent bound that falls between rows (one piece: its rows are the bound)
            name, spec = expression.rstrip("]").split("[")
            for bound in spec.split(":")[1:] if spec.startswith(":") else []:
                if bound.endswith("%") and float(bound[:-1]) * len(by_split[name]) % 100:
                    fractional[expression] = float(bound[:-1]) * len(by_split[name]) / 100
        differing_slices += list(part["prompt"]) != [q["prompt"] for q in python_slice(by_split, expression)]
    advance()

    # -- 2. indexing: rows are dicts, row slices and columns are columns -----------------------------------
    row = train[0]  # {"prompt": ..., "A": ..., ...}
    rows = train[:3]  # {"prompt": [3 values], "A": [...], ...}
    column = train["prompt"]  # a lazy Column over the Arrow data
    column_slice = column[:3]  # a plain list

    # -- 3. IterableDataset: stream the same file, no len(), iter()/next() ---------------------------------
    streamed = datasets.load_dataset("json", data_files=data_files, cache_dir=cache_dir, split="train", streaming=True)
    first_streamed = next(iter(streamed))
    try:
        len(streamed)
        has_len = True
    except TypeError:
        has_len = False
    taken = list(streamed.take(3))
    advance()

    # -- 4. map: one call per row vs one call per batch; then the cache ------------------------------------
    tokenizer = load_tokenizer(None)
    write_jsonl(tmp / "many.jsonl", [questions[i % len(questions)] for i in range(opts.map_rows)])
    many = datasets.load_dataset("json", data_files={"train": str(tmp / "many.jsonl")}, cache_dir=cache_dir,
                                 split="train")

    def tokenize_row(example):  # one question and its choice A -> input_ids, token_type_ids, attention_mask
        return tokenizer(example["prompt"], example["A"])

    def tokenize_batch(batch):  # lists of 1,000 questions and choices in one tokenizer call
        return tokenizer(batch["prompt"], batch["A"])

    def words_row(example):
        return {"words": len(example["prompt"].split())}

    def words_batch(batch):
        return {"words": [len(p.split()) for p in batch["prompt"]]}

    def timed_map(fn, batched: bool, name: str):
        """(seconds of the faster of two maps, the mapped dataset), recomputed each time. `new_fingerprint`
        names the output directly, so the time is the work itself, not hashing the function (that is
        timed below, with the cache)."""
        seconds = []
        for run in range(2):  # a busy machine makes single timings noisy
            start = time.perf_counter()
            out = many.map(fn, batched=batched, new_fingerprint=f"timing-{name}-{run}", load_from_cache_file=False)
            seconds.append(time.perf_counter() - start)
        return min(seconds), out

    start = time.perf_counter()
    mapped = many.map(tokenize_row)  # the usual call: fingerprint, compute, write cache-<fingerprint>.arrow
    first_seconds = time.perf_counter() - start
    timings, results = {}, {}
    for label, one, batched_fn in (("tokenize", tokenize_row, tokenize_batch), ("word count", words_row, words_batch)):
        (unbatched, _), (batched, results[label]) = timed_map(one, False, f"{label}-row"), timed_map(
            batched_fn, True, f"{label}-batch")
        timings[label] = MapTiming(unbatched, batched)
    batched_first = results["tokenize"]
    differing_ids = sum(a != b for a, b in zip(mapped["input_ids"][:], batched_first["input_ids"][:], strict=True))
    advance()

    cache_folder = Path(many.cache_files[0]["filename"]).parent
    before = sorted(cache_folder.glob("cache-*.arrow"))
    start = time.perf_counter()
    again = many.map(tokenize_row)  # identical function and data: same fingerprint, so the cache file is read
    cached_seconds = time.perf_counter() - start
    after = sorted(cache_folder.glob("cache-*.arrow"))
    changed = len(set(before) ^ set(after)) + (again.cache_files[0]["filename"] != mapped.cache_files[0]["filename"])
    advance()

    # -- 5. memory-mapping a big Arrow table, measured in a fresh process ---------------------------------
    table_path, table_rows = write_big_table(tmp / "big.arrow", opts.table_mb, ctx.seed)
    warm_path, _ = write_big_table(tmp / "warm.arrow", 1, ctx.seed)
    rss = rss_in_fresh_process(table_path, warm_path)
    size = table_path.stat().st_size
    advance()

    return Numbers(
        splits={name: len(ds) for name, ds in splits.items()},
        slice_rows=slice_rows,
        slices_match_python=differing_slices == 0,
        slices_differing=differing_slices,
        fractional_slices=fractional,
        types={"ds[0]": type(row).__name__, "ds[:3]": f"{type(rows).__name__} of {type(rows['prompt']).__name__}s",
               'ds["prompt"]': type(column).__name__, 'ds["prompt"][:3]': type(column_slice).__name__,
               "load_dataset(..., streaming=True)": type(streamed).__name__},
        row_keys=list(row),
        features={k: str(v) for k, v in train.features.items()},
        iterable_has_len=has_len,
        iterable_first_row_equal=first_streamed == row,
        iterable_first_row_keys_differing=sum(first_streamed.get(k) != row.get(k) for k in {*first_streamed, *row}),
        iterable_take_rows=len(taken),
        map_rows=len(many),
        map_seconds=timings,
        batched_map_speedup=timings["tokenize"].unbatched / timings["tokenize"].batched,
        cheap_batched_map_speedup=timings["word count"].unbatched / timings["word count"].batched,
        map_outputs_equal=differing_ids == 0,
        map_rows_differing=differing_ids,
        first_input_ids=list(batched_first[0]["input_ids"]),
        map_first_seconds=first_seconds,
        map_cached_seconds=cached_seconds,
        map_cache_hit=changed == 0,
        cache_files_before=len(before),
        cache_files_after=len(after),
        cache_files_changed=changed,
        table_bytes=size,
        table_rows=table_rows,
        rss={step: Rss(**r) for step, r in rss.items()},
        mmap_rss_fraction=(rss["mmap"]["total"] - rss["before"]["total"]) / size,
        in_memory_rss_fraction=(rss["in_memory"]["total"] - rss["before"]["total"]) / size,
        small_fraction=SMALL_FRACTION,
    )


def write_big_table(path: Path, megabytes: int, seed: int) -> tuple[Path, int]:
    """An Arrow stream file (the format datasets caches in) of `megabytes` MiB: id, vector[256] float32.

    One random block of rows is written again and again with new ids, so generating it costs
    little; the file's bytes are real and all of them are on disk.
    """
    import numpy as np
    import pyarrow as pa

    rows = max(1, megabytes * 1024 * 1024 // (VECTOR_WIDTH * 4))
    block = 4096
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), VECTOR_WIDTH))])
    values = np.random.default_rng(seed).standard_normal(block * VECTOR_WIDTH, dtype=np.float32)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(values[: n * VECTOR_WIDTH]), VECTOR_WIDTH)
            writer.write_batch(pa.record_batch([pa.array(np.arange(start, start + n)), vectors], schema=schema))
    return path, rows


# Runs in a fresh interpreter, so the numbers are not blurred by this process's own allocations.
# A small table is opened first, so lazily imported code is loaded before the baseline is taken.
RSS_SCRIPT = r"""
import json, sys

def rss():
    # resident memory in bytes: total, and (Linux) anonymous vs file-backed (memory-mapped) pages
    try:
        with open("/proc/self/status") as status:
            kb = {line.split(":")[0]: int(line.split()[1]) for line in status
                  if line.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
        return {"total": kb["VmRSS"] * 1024, "anon": kb.get("RssAnon", -1) * 1024, "file": kb.get("RssFile", -1) * 1024}
    except (OSError, KeyError):
        import psutil
        return {"total": psutil.Process().memory_info().rss, "anon": -1024, "file": -1024}

import datasets

big, warm = sys.argv[1], sys.argv[2]
w = datasets.Dataset.from_file(warm)
w[0], w[len(w) - 1]
del w
before = rss()
ds = datasets.Dataset.from_file(big)  # memory-mapped: pages are read only when touched
n = len(ds)
ds[0], ds[n // 2], ds[n - 1]
mmap = rss()
del ds
mem = datasets.Dataset.from_file(big, in_memory=True)  # read into this process's memory
mem[0]
in_memory = rss()
print(json.dumps({"before": before, "mmap": mmap, "in_memory": in_memory}))
"""


def rss_in_fresh_process(big: Path, warm: Path) -> dict[str, dict[str, int]]:
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(big), str(warm)], capture_output=True, text=True,
                         env={**os.environ, "HF_DATASETS_CACHE": str(big.parent / "hf-cache")})
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProbeError(f"the memory-mapping subprocess failed: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- 4. report ----------------------------------------------------------------------------------
def fraction_verdict(fraction: float, small: float) -> str:
    return verdict(fraction, small, "NOT a small fraction", "a small fraction", "small_fraction")


def speed_verdict(speedup: float) -> str:
    return verdict(speedup, 1, "faster", "NOT faster", "speedup")


def report(n: Numbers, opts: Options) -> Report:
    mib = 1024 * 1024
    COLUMN = 'ds["prompt"]'  # noqa: N806 (a key of n.types, named to keep the f-strings 3.11-valid)
    before, mmap, in_memory = n.rss["before"], n.rss["mmap"], n.rss["in_memory"]
    tok, cheap = n.map_seconds["tokenize"], n.map_seconds["word count"]
    step_label = {"before": "imported", "mmap": "from_file", "in_memory": "in_memory=True"}
    share = {"before": 0, "mmap": f"{n.mmap_rss_fraction:.1%}", "in_memory": f"{n.in_memory_rss_fraction:.1%}"}
    tables = [
        Table.of("Splits and slices (load_dataset(..., split=...))", {**n.splits, **n.slice_rows},
                 {"split expression": "key", "rows": lambda _, rows: rows}),
        Table.of("What indexing returns", n.types, {"expression": "key", "type": lambda _, name: name}),
        Table.of(f"Dataset.map over {n.map_rows:,} rows (seconds)", n.map_seconds, {
            "function": "key", "unbatched": lambda _, t: round(t.unbatched, 3),
            "batched": lambda _, t: round(t.batched, 3), "speedup": lambda _, t: round(t.unbatched / t.batched, 2)}),
        Table.of("Memory-mapping, RSS in a fresh process (MiB)", n.rss, {
            "step": lambda step, _: step_label[step], "RSS": lambda _, r: round(r.total / mib, 1),
            "growth": lambda step, r: round((r.total - before.total) / mib, 1) if step != "before" else 0,
            "of table": lambda step, _: share[step], "anon": lambda _, r: round(r.anon / mib, 1),
            "file": lambda _, r: round(r.file / mib, 1)},
              note=f"table: {n.table_rows:,} rows of id + {VECTOR_WIDTH} float32, {n.table_bytes / mib:.1f} MiB; "
                   "from_file memory-maps it; anon = anonymous memory, file = file-backed (memory-mapped) pages "
                   "the kernel may drop and re-read (-1: not reported)"),
    ]
    reused = verdict(n.cache_files_changed, 0, "the cache was NOT reused", "the cache was reused", "exact")
    faster = speed_verdict(n.batched_map_speedup)
    small = fraction_verdict(n.mmap_rss_fraction, n.small_fraction)
    findings = [
        "load_dataset(\"json\", data_files=...) on the two files gives a DatasetDict with "
        + ", ".join(f"{name} ({rows} rows)" for name, rows in n.splits.items())
        + ". Split strings slice at load time: "
        + ", ".join(f"{e} has {r}" for e, r in n.slice_rows.items())
        + " rows, " + verdict(n.slices_differing, 0, "NOT each holding", "each holding", "exact")
        + f" the rows plain list slicing gives ({n.slices_differing} of the {len(n.slice_rows)} differ)"
        + (", with percentages rounded to the closest row: " + ", ".join(
            f"{e} asks for {v:g} rows and holds {n.slice_rows[e]}" for e, v in n.fractional_slices.items()) + "."
           if n.fractional_slices and n.slices_match_python else "."),
        f"Indexing: ds[0] is a {n.types['ds[0]']} with keys {', '.join(n.row_keys)}; ds[:3] is a "
        f"{n.types['ds[:3]']}, columns not rows, because the storage is columnar; ds[\"prompt\"] is a lazy "
        f"{n.types[COLUMN]} and ds[\"prompt\"][:3] a {n.types[COLUMN + '[:3]']}.",
        f"streaming=True gives an {n.types['load_dataset(..., streaming=True)']}: "
        + ("len() on it raises TypeError" if not n.iterable_has_len else "len() on it returns a length")
        + ", next(iter(ds)) returns the first row ("
        + verdict(n.iterable_first_row_keys_differing, 0, "NOT the same dict as ds[0]", "the same dict as ds[0]", "exact")
        + f": {n.iterable_first_row_keys_differing} keys differ)"
        + f", and take(3) yields {n.iterable_take_rows} rows; rows are read as you iterate.",
        f"map with the MiniLM tokenizer over {n.map_rows:,} rows: {tok.unbatched:.2f} s with one call per row, "
        f"{tok.batched:.2f} s batched (1,000 rows per call; the faster of two runs each, hashing excluded), "
        f"{n.batched_map_speedup:.1f}x "
        f"{faster}; the outputs are "
        + verdict(n.map_rows_differing, 0, "NOT identical", "identical", "exact")
        + f" ({n.map_rows_differing} rows' input_ids differ)."
        + f" A cheap word count gains {n.cheap_batched_map_speedup:.1f}x ({cheap.unbatched:.2f} s vs "
          f"{cheap.batched:.2f} s): per-row Python calls and row conversions are the overhead batching removes.",
        f"Running the identical map again took {n.map_cached_seconds:.2f} s instead of {n.map_first_seconds:.2f} s: "
        + reused
        + f" ({n.cache_files_before} cache files before and {n.cache_files_after} after; {n.cache_files_changed} "
          "added, removed or read in place of the first map's cache-*.arrow file)"
        + (": the fingerprint of the data plus the function is unchanged." if n.map_cache_hit else "."),
        f"Memory-mapping the {n.table_bytes / mib:.1f} MiB table and reading three rows grew a fresh process's RSS by "
        f"{(mmap.total - before.total) / mib:.1f} MiB, {n.mmap_rss_fraction:.1%} of its size, "
        f"{small} (small: under "
        f"{n.small_fraction:.0%}); loading it "
        f"with in_memory=True grew it by {(in_memory.total - before.total) / mib:.1f} MiB "
        f"({n.in_memory_rss_fraction:.0%})"
        + (f"; anonymous memory (a private copy) went from {before.anon / mib:.1f} to "
           f"{in_memory.anon / mib:.1f} MiB" if before.anon >= 0 else "")
        + ". A memory-mapped table is paged in from the file only where it is read.",
    ]
    return Report(
        summary=f"Datasets: splits and slices, dict rows and list columns, streaming, batched map "
                f"{n.batched_map_speedup:.1f}x {faster}, {reused}, memory-mapping costs "
                f"{n.mmap_rss_fraction:.1%} of the table in RSS ({small}).",
        findings=findings,
        tables=tables,
        model="science_mc.json and a generated Arrow table (MiniLM tokenizer for map)",
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="datasets",
    question="datasets-pipeline",
    title="Hugging Face Datasets: load_dataset splits and slices, indexing, streaming, map, cache, memory-mapping",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    renamed_metrics={  # before issue 21, one field per step of the memory measurement
        "rss_before": "rss.before.total", "rss_after_mmap": "rss.mmap.total",
        "rss_after_in_memory": "rss.in_memory.total",
        **{f"rss_parts.{step}.{kind}": f"rss.{step}.{kind}"
           for step in ("before", "mmap", "in_memory") for kind in ("anon", "file")},
    },
    predictions=(
        Prediction("How many times faster is a batched map than a row-by-row map with a tokenizer?",
                   "batched_map_speedup", "x"),
        Prediction("Memory-mapping a 200 MiB Arrow table and reading 3 rows: what fraction of it lands in RSS?",
                   "mmap_rss_fraction", "", scoring="log10"),
    ),
)
