"""A second study root's first `n00bqa ask` against the first root's, one run, one user cache.

    python benchmarks/second_root.py
    python benchmarks/second_root.py --json

In a temporary folder, with a new user cache that holds only a link to the user's ONNX export (made
first if this user has none; not timed), so no library vectors are cached yet:

  first root   `n00bqa init first`, then `n00bqa ask QUERY --json` in it; the clock stops when the
               ask exits, which is when its index is complete (it answers from the notes, then
               embeds the library sources)
  second root  the same in `second`, with the same user cache: the library sources' passages and
               vectors come from what the first root's build left there
               (n00bqa.retrieval.shared_vectors), so only the notes are embedded

Stderr is a pipe, so each ask says its steps in plain lines; the passages each embedded and reused
are read from those lines. Then both indexes are compared file by file (passages, vectors, BM25):
they must be identical. Target (issue 26): second <= 0.2x first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.2


def new_user_cache(folder: Path) -> Path:
    """A user cache with the user's ONNX export (a link to it) and nothing else."""
    from n00bqa.retrieval import encoder
    from n00bqa.study import user_cache_dir

    encoder.shared_export(encoder._model_dir())  # made now if this user has none yet (not timed)
    (folder / "n00bqa").mkdir(parents=True)
    os.symlink(user_cache_dir() / "onnx", folder / "n00bqa" / "onnx")
    return folder


def first_use(exe: str, root: Path, query: str, env: dict[str, str]) -> dict:
    """`n00bqa init ROOT` then `n00bqa ask QUERY --json` in it: seconds until the ask exited, and what it said."""
    started = time.perf_counter()
    init = subprocess.run([exe, "init", str(root)], capture_output=True, text=True, env=env)
    if init.returncode != 0:
        raise SystemExit(f"`n00bqa init {root}` failed (exit {init.returncode}): {init.stderr.strip()[-500:]}")
    ask = subprocess.run([exe, "ask", query, "--json"], capture_output=True, text=True,
                         env={**env, "N00BQA_ROOT": str(root)})
    seconds = time.perf_counter() - started
    if ask.returncode != 0:
        raise SystemExit(f"the ask in {root} failed (exit {ask.returncode}): {ask.stderr.strip()[-500:]}")
    said = [line for line in ask.stderr.splitlines() if line.strip()]
    embedded = sum(int(m.group(1).replace(",", "")) for line in said
                   if (m := re.fullmatch(r"index: Embedding passages \(([\d,]+)\)", line)))
    reused = sum(int(m.group(1).replace(",", "")) for line in said
                 if (m := re.match(r"index: Reusing ([\d,]+) passages", line)))
    return {"seconds": seconds, "embedded": embedded, "reused": reused, "said": said,
            "question": (json.loads(ask.stdout).get("question") or {}).get("id")}


def index_files(root: Path) -> tuple[dict, dict[str, bytes]]:
    folder = root / ".n00bqa" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    gen = folder / manifest["generation"]
    return manifest, {name: (gen / name).read_bytes() for name in manifest["files"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="How large is a transformer model?")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    exe = shutil.which("n00bqa", path=str(Path(sys.executable).parent)) or shutil.which("n00bqa")
    if exe is None:
        raise SystemExit("no `n00bqa` console script next to this Python or on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="n00bqa-second-root-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "N00BQA_ROOT")}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        env["XDG_CACHE_HOME"] = str(new_user_cache(tmp / "cache"))
        load_before = os.getloadavg()[0]
        first = first_use(exe, tmp / "first", args.query, env)
        second = first_use(exe, tmp / "second", args.query, env)
        first_manifest, first_files = index_files(tmp / "first")
        second_manifest, second_files = index_files(tmp / "second")
        differing = sorted(name for name in set(first_files) | set(second_files)
                           if first_files.get(name) != second_files.get(name))
        result = {
            "query": args.query, "first": first, "second": second,
            "first_s": round(first["seconds"], 2), "second_s": round(second["seconds"], 2),
            "ratio": round(second["seconds"] / first["seconds"], 3), "target": TARGET,
            "passages_total": first_manifest["chunks_total"],
            "pending_after": [first_manifest.get("pending"), second_manifest.get("pending")],
            "identical_index": not differing and first_manifest["items"] == second_manifest["items"],
            "differing_files": differing,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        result["met"] = result["ratio"] <= TARGET and result["identical_index"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if result["met"] else 1
    print(f"query {args.query!r} -> {first['question']} / {second['question']} "
          f"(load average {result['load_average']})")
    for name, run in (("first root ", first), ("second root", second)):
        print(f"  {name}: init + first ask, index complete  {run['seconds']:7.2f} s  "
              f"(embedded {run['embedded']:,}, reused {run['reused']:,} passages)")
    print(f"  ratio second / first = {result['ratio']:.3f} (target <= {TARGET})")
    print(f"  the two indexes identical: {result['identical_index']} ({result['passages_total']:,} passages; "
          f"differing files: {result['differing_files'] or 'none'}; pending after: {result['pending_after']})")
    for name, run in (("first", first), ("second", second)):
        for line in run["said"]:
            print(f"  {name} said: {line}")
    print("met" if result["met"] else "NOT met")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
