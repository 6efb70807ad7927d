"""The first `n00bqa ask` on a fresh study root against a full `n00bqa index build --rebuild`, one run.

    python benchmarks/first_answer.py                  # the project's questions/ and corpus/
    python benchmarks/first_answer.py --cold-cache     # also make the ONNX export (a new user cache)

Two fresh copies of the study root's questions/ and corpus/ in a temporary folder:

  first ask  `n00bqa ask QUERY --json` on the first copy, the clock stopped when its whole answer has
             reached stdout; the process then goes on indexing the library sources it left pending,
             and that total is printed too.
  rebuild    `n00bqa index build --rebuild` on the second copy, the time until it exits.

Both use the user's ONNX export (made once per user and model, $XDG_CACHE_HOME/n00bqa/onnx), in a
new user cache holding only a link to it (no library vectors shared by another root: the first ask
embeds the library itself, as on a user's first root); with --cold-cache both get a new, empty user
cache, so the first ask also makes the export (the rebuild then finds it). Then the first copy's finished index is compared with the rebuilt one, file by file
(passages, vectors, BM25): they must be identical. Target (issue 17): first answer <= 0.3x the rebuild.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARGET = 0.3


def copy_root(source: Path, target: Path) -> Path:
    shutil.copytree(source / "questions", target / "questions")
    shutil.copytree(source / "corpus", target / "corpus")
    return target


def first_ask(exe: str, query: str, env: dict[str, str]) -> tuple[float, float, dict, str]:
    """(seconds until the whole JSON answer was on stdout, seconds until the process ended, answer, stderr)."""
    started = time.perf_counter()
    child = subprocess.Popen([exe, "ask", query, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = b""
    answered = None
    while True:
        block = os.read(child.stdout.fileno(), 65536)
        if not block:
            break
        out += block
        if answered is None:
            try:
                json.loads(out)  # the whole answer is in
                answered = time.perf_counter() - started
            except ValueError:
                continue
    stderr = child.stderr.read().decode()
    code = child.wait()
    ended = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the first ask failed (exit {code}): {stderr.strip()[-500:]}")
    return answered if answered is not None else ended, ended, json.loads(out), stderr


def index_files(root: Path) -> tuple[dict, dict[str, bytes]]:
    folder = root / ".n00bqa" / "index"
    manifest = json.loads((folder / "manifest.json").read_text())
    gen = folder / manifest["generation"]
    return manifest, {name: (gen / name).read_bytes() for name in manifest["files"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PROJECT, help="study root whose questions/ and corpus/ are copied")
    parser.add_argument("--query", default="How large is a transformer model?")
    parser.add_argument("--cold-cache", action="store_true", help="a new user cache: the first ask exports too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    exe = shutil.which("n00bqa", path=str(Path(sys.executable).parent)) or shutil.which("n00bqa")
    tmp = Path(tempfile.mkdtemp(prefix="n00bqa-first-answer-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "N00BQA_ROOT")}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        if args.cold_cache:
            env["XDG_CACHE_HOME"] = str(tmp / "cache")
        else:  # the user's export: made now if this user has none yet (not timed)
            from n00bqa.retrieval import encoder
            from n00bqa.study import user_cache_dir

            encoder.shared_export(encoder._model_dir())
            # a new user cache holding only a link to that export: no library vectors another root
            # embedded (n00bqa.retrieval.shared_vectors), so the first ask embeds the library itself
            (tmp / "cache" / "n00bqa").mkdir(parents=True)
            os.symlink(user_cache_dir() / "onnx", tmp / "cache" / "n00bqa" / "onnx")
            env["XDG_CACHE_HOME"] = str(tmp / "cache")
        asked = copy_root(args.root, tmp / "asked")
        rebuilt = copy_root(args.root, tmp / "rebuilt")
        load_before = os.getloadavg()[0]
        answered, ended, answer, stderr = first_ask(exe, args.query, {**env, "N00BQA_ROOT": str(asked)})
        started = time.perf_counter()
        build = subprocess.run([exe, "index", "build", "--rebuild", "--json"], capture_output=True, text=True,
                               env={**env, "N00BQA_ROOT": str(rebuilt)})
        rebuild = time.perf_counter() - started
        if build.returncode != 0:
            raise SystemExit(f"the rebuild failed: {build.stderr.strip()[-500:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        asked_manifest, asked_files = index_files(asked)
        rebuilt_manifest, rebuilt_files = index_files(rebuilt)
        differing = sorted(name for name in set(asked_files) | set(rebuilt_files)
                           if asked_files.get(name) != rebuilt_files.get(name))
        same_items = asked_manifest["items"] == rebuilt_manifest["items"]
        result = {
            "query": args.query, "question": answer["question"]["id"] if answer["question"] else None,
            "first_answer_s": round(answered, 2), "first_ask_total_s": round(ended, 2), "rebuild_s": round(rebuild, 2),
            "ratio": round(answered / rebuild, 3), "target": TARGET,
            "first_answer_passages": [p["source"] for p in answer["passages"]],
            "said": [line for line in stderr.splitlines() if line.strip()],
            "passages_total": rebuilt_manifest["chunks_total"], "pending_after": asked_manifest.get("pending"),
            "identical_index": not differing and same_items, "differing_files": differing,
            "cold_cache": args.cold_cache, "peak_rss_mb_of_children": round(peak_mb, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        result["met"] = result["ratio"] <= TARGET and result["identical_index"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if result["met"] else 1
    print(f"query {args.query!r} -> {result['question']} (load average {result['load_average']}, "
          f"{'new user cache: the first ask exports' if args.cold_cache else 'the user export reused'})")
    print(f"  first answer on stdout   {result['first_answer_s']:7.2f} s  (passages from: "
          f"{', '.join(sorted(set(result['first_answer_passages'])))})")
    print(f"  first ask, library done  {result['first_ask_total_s']:7.2f} s")
    print(f"  index build --rebuild    {result['rebuild_s']:7.2f} s  ({result['passages_total']} passages)")
    print(f"  ratio first answer / rebuild = {result['ratio']:.3f} (target <= {TARGET})")
    print(f"  finished index identical to the rebuild: {result['identical_index']} "
          f"(pending after: {result['pending_after']}; differing files: {result['differing_files'] or 'none'})")
    for line in result["said"]:
        print(f"  said: {line}")
    print("met" if result["met"] else "NOT met")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
