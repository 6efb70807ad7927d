"""Cold `n00bqa ask` against the same query answered through sentence-transformers, side by side.

    python benchmarks/ask_cold.py                      # 5 runs each, the current study root
    python benchmarks/ask_cold.py --runs 7 --query "How large is a transformer model?"

Each run is a new process (nothing cached in memory; the OS file cache is warm after the
first run, as it is for a learner asking twice). Runs alternate between the two paths so that
load from other processes on the machine hits both alike.

  ask        the installed `n00bqa ask QUERY --json`: ONNX query encoder, no torch.
  st-path    a process that imports sentence-transformers, loads the bundled MiniLM and answers the
             same ask (n00bqa.ask.ask) with every query vector encoded by sentence-transformers.

Prints each median, the ratio, and the peak RSS (ru_maxrss of the child) of the cold ask.
The index (and the ONNX export) must exist: the script builds them first if they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ST_PATH = r"""
import sys
query, k = sys.argv[1], int(sys.argv[2])
import numpy as np
from sentence_transformers import SentenceTransformer
from n00bqa.ask import ask
from n00bqa.retrieval import encoder
from n00bqa.study import Study, bundled_model_path
model = SentenceTransformer(str(bundled_model_path()), device="cpu")
def st_encode(study, text):
    return model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0].astype(np.float32)
# The same ask (routing, both searches), with every query vector from sentence-transformers.
encoder.encode_query = st_encode
answer = ask(Study.find(), query, k=k)
print(answer.passages[0].source if answer.passages else "-")
"""


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MB), stdout and CPU seconds (user + sys) of one child process.

    CPU seconds say what the work costs when other processes compete for the two cores (wall
    time then stretches for both paths alike).
    """
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: exec the command with stdout to a pipe file
        out = os.open(env["_BENCH_OUT"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        os.dup2(err, 2)
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    stdout = Path(env["_BENCH_OUT"]).read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:3])} ... failed (exit {os.waitstatus_to_exitcode(status)})")
    return seconds, usage.ru_maxrss / 1024, stdout, usage.ru_utime + usage.ru_stime  # ru_maxrss: KB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="How large is a transformer model?")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--root", help="the study root (default: as n00bqa finds it)")
    args = parser.parse_args(argv)

    from n00bqa.ask import ensure_ready
    from n00bqa.study import Study

    study = Study.find(args.root)
    root = study.root
    built = ensure_ready(study)  # not timed: a built index is the premise
    env = {**os.environ, "N00BQA_ROOT": str(root), "_BENCH_OUT": str(root / ".n00bqa" / "bench-out.txt")}
    exe = shutil.which("n00bqa", path=str(Path(sys.executable).parent)) or shutil.which("n00bqa")
    ask_cmd = [exe, "ask", args.query, "--json", "-k", str(args.k)]
    st_cmd = [sys.executable, "-c", ST_PATH, args.query, str(args.k)]
    run_child(ask_cmd, env)  # warm: question vectors, OS file cache
    ask_times, ask_rss, ask_cpu, st_times, st_rss, st_cpu = [], [], [], [], [], []
    for _ in range(args.runs):
        seconds, rss, out, cpu = run_child(ask_cmd, env)
        ask_times.append(seconds)
        ask_rss.append(rss)
        ask_cpu.append(cpu)
        seconds, rss, st_out, cpu = run_child(st_cmd, env)
        st_times.append(seconds)
        st_rss.append(rss)
        st_cpu.append(cpu)
    first_ask = json.loads(out)["passages"][0]["source"] if json.loads(out)["passages"] else "-"
    result = {
        "query": args.query,
        "runs": args.runs,
        "study_root": str(root),
        "built_first": built,
        "ask_median_s": round(statistics.median(ask_times), 3),
        "ask_times_s": [round(t, 3) for t in ask_times],
        "ask_peak_rss_mb": round(max(ask_rss), 1),
        "st_median_s": round(statistics.median(st_times), 3),
        "st_times_s": [round(t, 3) for t in st_times],
        "st_peak_rss_mb": round(max(st_rss), 1),
        "ratio": round(statistics.median(st_times) / statistics.median(ask_times), 2),
        "ask_cpu_median_s": round(statistics.median(ask_cpu), 3),
        "st_cpu_median_s": round(statistics.median(st_cpu), 3),
        "same_top_passage": first_ask == st_out.strip(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"query: {args.query!r}  ({args.runs} runs each, alternating; load average {result['load_average']})")
    print(f"  cold n00bqa ask (ONNX)      median {result['ask_median_s']:.3f} s  {result['ask_times_s']}  "
          f"peak RSS {result['ask_peak_rss_mb']:.0f} MB  CPU {result['ask_cpu_median_s']:.3f} s")
    print(f"  sentence-transformers path  median {result['st_median_s']:.3f} s  {result['st_times_s']}  "
          f"peak RSS {result['st_peak_rss_mb']:.0f} MB  CPU {result['st_cpu_median_s']:.3f} s")
    print(f"  ratio: n00bqa ask is {result['ratio']:.1f}x faster; same top passage: {result['same_top_passage']}")
    print(f"  targets: <= 1.0 s median, >= 5x, <= 400 MB -> "
          f"{'met' if result['ask_median_s'] <= 1.0 and result['ratio'] >= 5 and result['ask_peak_rss_mb'] <= 400 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
