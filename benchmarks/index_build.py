"""Index build with the ONNX encoder: a full build's time and peak memory (and that it imports no
torch), a no-change build, one changed note, and embedding throughput against sentence-transformers'
own `encode` on the same passages, side by side in one run.

    python benchmarks/index_build.py                 # throughput on a 600-passage sample
    python benchmarks/index_build.py --sample 0      # throughput on every passage (slow)

Runs in a temporary copy of the study root (questions/ and corpus/), so the real index is untouched.
The full build runs in a fresh process (the library's build_index, as `n00bqa index build --rebuild`
runs it) whose peak RSS is its own ru_maxrss; the user's ONNX export is made first if missing (not
timed: it is made once per user and model). The throughput race alternates the two encoders on the
same sample; medians are compared, and the vectors too.

Targets (issue 17): throughput >= 1.1x sentence-transformers' encode, cosine >= 0.9999 against its
vectors, peak memory of a full build <= 600 MB, no torch import on the build path.
The machine is shared: the load average is printed with the numbers, read them with it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
THROUGHPUT_TARGET = 1.1
COSINE_TARGET = 0.9999
MEMORY_TARGET_MB = 600

FULL_BUILD = r"""
import json, resource, sys, time
from n00bqa.retrieval import build_index
from n00bqa.study import Study
started = time.perf_counter()
report = build_index(Study.find(sys.argv[1]), rebuild=True)
seconds = time.perf_counter() - started
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print(json.dumps({"seconds": seconds, "passages": report.chunks_total, "items": len(report.items_embedded),
                  "skipped": sorted(report.items_skipped), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "heavy_imports": heavy}))
"""


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
        from n00bqa.retrieval import build_index, encoder, load_index
        from n00bqa.study import Study

        study = Study(root)
        encoder.shared_export(encoder._model_dir())  # the user's export (made once per user and model)
        print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        child = subprocess.run([sys.executable, "-c", FULL_BUILD, str(root)], capture_output=True, text=True,
                               env={**os.environ, "N00BQA_ROOT": str(root)})
        if child.returncode != 0:
            raise SystemExit(f"the full build failed: {child.stderr.strip()[-800:]}")
        full = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"full build: {full['passages']} passages from {full['items']} items in {full['seconds']:.1f} s "
              f"({full['passages'] / full['seconds']:.1f} passages/s), peak RSS {full['peak_rss_mb']:.0f} MB "
              f"(target <= {MEMORY_TARGET_MB}); torch, transformers, sentence-transformers imported: "
              f"{full['heavy_imports'] or 'none'}")
        if full["skipped"]:
            print(f"  skipped: {', '.join(full['skipped'])}")

        started = time.perf_counter()
        again = build_index(study)
        print(f"no-change build, in process: {time.perf_counter() - started:.3f} s (changed={again.changed})")
        cli = [str(Path(sys.executable).parent / "n00bqa"), "index", "build"]
        started = time.perf_counter()
        done = subprocess.run(cli, capture_output=True, text=True, env={**os.environ, "N00BQA_ROOT": str(root)})
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
        model = encoder._sentence_transformer()
        model.encode(texts[:32], batch_size=32)  # warm up both
        encoder.encode_documents(study, texts[:32])
        ours, theirs = [], []
        for _ in range(args.repeats):  # alternate, so load changes hit both alike
            started = time.perf_counter()
            our_vectors = encoder.encode_documents(study, texts)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            their_vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
            theirs.append(time.perf_counter() - started)
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        ratio = theirs_s / ours_s
        cosine = float((our_vectors * their_vectors).sum(axis=1).min())
        print(f"throughput on {len(texts)} passages (median of {args.repeats}, alternating): n00bqa encode_documents "
              f"(ONNX) {len(texts) / ours_s:.1f} passages/s, sentence-transformers encode {len(texts) / theirs_s:.1f} "
              f"passages/s; ratio {ratio:.2f}x (target >= {THROUGHPUT_TARGET}); lowest cosine {cosine:.7f} "
              f"(target >= {COSINE_TARGET})")
        met = (ratio >= THROUGHPUT_TARGET and cosine >= COSINE_TARGET and full["peak_rss_mb"] <= MEMORY_TARGET_MB
               and not full["heavy_imports"])
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        print("all targets met" if met else "NOT all targets met")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
