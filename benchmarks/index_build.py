"""Index build speed: the default corpus from scratch, a no-change build, one changed note, and
embedding throughput against sentence-transformers' own `encode` on the same chunks, side by side.

    python benchmarks/index_build.py                 # throughput on a 600-passage sample
    python benchmarks/index_build.py --sample 0      # throughput on every passage (slow)

Runs in a temporary copy of the study root (questions/ and corpus/), so the real index is untouched.
Targets (issue 5): full build < 90 s on 2 cores, no-change build < 2 s, throughput within 1.2x.
The machine is shared: the load average is printed with the numbers, read them with it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PROJECT, help="study root whose corpus is copied")
    parser.add_argument("--sample", type=int, default=600, help="passages for the throughput race (0 = all)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each encoder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="n00bqa-bench-"))
    try:
        root = tmp / "study"
        shutil.copytree(args.root / "questions", root / "questions")
        shutil.copytree(args.root / "corpus", root / "corpus")
        os.environ["N00BQA_ROOT"] = str(root)  # for the fresh `n00bqa index build` process below
        from n00bqa.retrieval import build_index, load_index
        from n00bqa.retrieval.encoder import _sentence_transformer, encode_documents
        from n00bqa.study import Study

        study = Study(root)

        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
        started = time.perf_counter()
        full = build_index(study, rebuild=True)
        full_seconds = time.perf_counter() - started
        per_item = load_index(study).manifest["items"]
        print(f"full build: {full.chunks_total} passages from {len(full.items_embedded)} items in {full_seconds:.1f} s "
              f"(incl. model load; target < 90 s)")
        for item_id, entry in per_item.items():
            print(f"  {item_id:40} {entry['chunks']:5d} passages")
        if full.items_skipped:
            print(f"  skipped: {', '.join(full.items_skipped)}")

        started = time.perf_counter()
        again = build_index(study)
        nochange = time.perf_counter() - started
        print(f"no-change build, in process: {nochange:.3f} s (changed={again.changed}; target < 2 s)")
        # what a learner waits for: a fresh `n00bqa index build` process, interpreter start-up included
        cli = [str(Path(sys.executable).parent / "n00bqa"), "index", "build"]
        started = time.perf_counter()
        done = subprocess.run(cli, capture_output=True, text=True, env=os.environ)
        print(f"no-change build, fresh `n00bqa index build` process: {time.perf_counter() - started:.2f} s "
              f"(exit {done.returncode}: {done.stdout.strip()})")

        notes = sorted((root / "corpus" / "notes").glob("*.md"))
        if notes:
            notes[0].write_text(notes[0].read_text() + "\n\nOne more paragraph, to change the hash.\n")
            started = time.perf_counter()
            one = build_index(study)
            print(f"one changed note ({notes[0].name}): {time.perf_counter() - started:.2f} s, "
                  f"{one.chunks_embedded} passages re-embedded of {one.chunks_total}")

        texts = [c.embed_text for c in load_index(study).chunks]
        if args.sample and args.sample < len(texts):
            texts = random.Random(0).sample(texts, args.sample)
        model = _sentence_transformer()
        model.encode(texts[:32], batch_size=32)  # warm up
        ours, theirs = [], []
        for _ in range(args.repeats):  # alternate, so load changes hit both alike
            started = time.perf_counter()
            encode_documents(texts)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            theirs.append(time.perf_counter() - started)
        ours_best, theirs_best = min(ours), min(theirs)
        print(f"throughput on {len(texts)} passages (best of {args.repeats}): n00bqa encode_documents "
              f"{len(texts) / ours_best:.1f} passages/s, sentence-transformers encode {len(texts) / theirs_best:.1f} "
              f"passages/s; time ratio ours/theirs = {ours_best / theirs_best:.3f} (target <= 1.2)")
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
