"""Cold `n00bqa ask` against the physical floor of answering it, side by side in one run.

    python benchmarks/ask_cold.py                      # 9 runs each, the current study root
    python benchmarks/ask_cold.py --runs 15 --query "How large is a transformer model?"
    python benchmarks/ask_cold.py --st                 # also a sentence-transformers process (slow)

Each run is a new process (nothing cached in memory; the OS file cache is warm after the first run,
as it is for a learner asking twice). Runs alternate so that load from other processes on the
machine hits every path alike; medians of wall time (the ratio the target is about) and of CPU time
(user + sys of the child, which a shared machine disturbs less) are printed.

  floor      FLOOR below: a script that imports only numpy, tokenizers and onnxruntime, loads the same
             ONNX export with the same session options, embeds the query, dot-products it with the
             index's saved passage vectors, prints the top 5 and exits without interpreter teardown.
             It is what any answer must cost at least; it routes nothing and cites nothing.
  ask        the installed `n00bqa ask QUERY --json`: routing, both searches, the probes' last runs.
  ask shown  the same without --json: the answer rendered by rich (Markdown, panels), for reference.
  st-path    (--st) a process that imports sentence-transformers and answers the same ask with every
             query vector from it: what a cold ask would cost without the ONNX export.

Every child runs with Python's bytecode cache on (a temporary PYTHONPYCACHEPREFIX), as an installed
n00bqa does, whatever PYTHONDONTWRITEBYTECODE says here. Target (issue 17): ask <= 1.3x floor.
The index (and the ONNX export) must exist: the script builds them first if they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.3

FLOOR = r"""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # a one-vector product: BLAS threads only cost
import json, struct, sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
onnx_path, tokenizer_path, index_dir, max_length, threads, query = sys.argv[1:7]
options = ort.SessionOptions()  # as n00bqa.retrieval.encoder._session makes it
options.intra_op_num_threads = int(threads)
options.inter_op_num_threads = 1
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(onnx_path, sess_options=options, providers=["CPUExecutionProvider"])
tokenizer = Tokenizer.from_file(tokenizer_path)
tokenizer.enable_truncation(max_length=int(max_length))
encoding = tokenizer.encode(query)
feed = {"input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}
(vector,) = session.run(None, feed)  # (1, DIM), unit length
with open(os.path.join(index_dir, "manifest.json")) as f:
    generation = json.load(f)["generation"]
with open(os.path.join(index_dir, generation, "dense.faiss"), "rb") as f:
    data = f.read()
header = struct.Struct("<4siqqqBi")  # FAISS IndexFlatIP: fourcc, d, ntotal, 2 unused, is_trained, metric
_, d, n, _, _, _, _ = header.unpack_from(data, 0)
vectors = np.frombuffer(data, dtype="<f4", count=d * n, offset=header.size + 8).reshape(n, d)  # (N, DIM)
scores = vectors @ vector[0]  # (N,)
top = np.argpartition(-scores, 5)[:5]
for i in top[np.argsort(-scores[top])]:
    print(int(i), round(float(scores[i]), 4))
sys.stdout.flush()
os._exit(0)
"""

ST_PATH = r"""
import sys
query, k = sys.argv[1], int(sys.argv[2])
import numpy as np
from sentence_transformers import SentenceTransformer
from n00bqa.ask import ask, remembered
from n00bqa.retrieval import encoder
from n00bqa.study import Study, bundled_model_path
model = SentenceTransformer(str(bundled_model_path()), device="cpu")
def st_encode(study, text):
    return model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0].astype(np.float32)
# The same ask (routing, both searches), with every query vector from sentence-transformers.
encoder.encode_query = st_encode
remembered.query_vector = st_encode
answer = ask(Study.find(), query, k=k)
print(answer.passages[0].source if answer.passages else "-")
"""


def run_child(argv: list[str], env: dict[str, str], out_path: Path) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MB), stdout and CPU seconds (user + sys) of one child process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: exec the command with stdout to a file
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        os.dup2(err, 2)
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:3])} ... failed (exit {os.waitstatus_to_exitcode(status)})")
    return seconds, usage.ru_maxrss / 1024, out_path.read_text(), usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="How large is a transformer model?")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--st", action="store_true", help="also time a sentence-transformers process (slow)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--root", help="the study root (default: as n00bqa finds it)")
    args = parser.parse_args(argv)

    from n00bqa.ask import ensure_ready
    from n00bqa.retrieval import encoder
    from n00bqa.study import Study

    study = Study.find(args.root)
    built = ensure_ready(study)  # not timed: a built index is the premise
    model_dir = encoder._model_dir()
    tmp = Path(tempfile.mkdtemp(prefix="n00bqa-ask-bench-"))
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(N00BQA_ROOT=str(study.root), PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        out = tmp / "out.txt"
        exe = shutil.which("n00bqa", path=str(Path(sys.executable).parent)) or shutil.which("n00bqa")
        commands = {
            "floor": [sys.executable, "-c", FLOOR, str(encoder.export_dir(study) / encoder.MODEL_FILE),
                      str(model_dir / "tokenizer.json"), str(study.state_path("index")),
                      str(encoder.max_seq_length(model_dir)), os.environ.get("N00BQA_ONNX_THREADS", "2"), args.query],
            "ask": [exe, "ask", args.query, "--json", "-k", str(args.k)],
            "ask shown": [exe, "ask", args.query, "-k", str(args.k), "--no-pager"],
        }
        if args.st:
            commands["st-path"] = [sys.executable, "-c", ST_PATH, args.query, str(args.k)]
        for argv_ in commands.values():  # warm: question vectors, kept search vectors, bytecode, file cache
            run_child(argv_, env, out)
        answers = set()
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv_ in commands.items():
                seconds, rss, stdout, cpu = run_child(argv_, env, out)
                runs[name].append((seconds, cpu, rss))
                if name == "ask":
                    answers.add(stdout)
        answer = json.loads(next(iter(answers)))
        medians = {name: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
                          max(r[2] for r in rows)) for name, rows in runs.items()}
        floor_wall, floor_cpu, _ = medians["floor"]
        result = {
            "query": args.query, "runs": args.runs, "study_root": str(study.root), "built_first": built,
            "question": answer["question"]["id"] if answer["question"] else None,
            "passages": [f"{p['source']}:{p['lines']}" for p in answer["passages"]],
            "same_answer_every_run": len(answers) == 1,
            "paths": {name: {"median_wall_s": round(w, 3), "median_cpu_s": round(c, 3), "peak_rss_mb": round(m, 1),
                             "wall_ratio": round(w / floor_wall, 2), "cpu_ratio": round(c / floor_cpu, 2),
                             "walls_s": [round(r[0], 3) for r in runs[name]]}
                      for name, (w, c, m) in medians.items()},
            "target": TARGET, "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        result["met"] = result["paths"]["ask"]["wall_ratio"] <= TARGET and result["same_answer_every_run"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"query: {args.query!r} -> {result['question']}  ({args.runs} alternating runs each; "
          f"load average {result['load_average']} on {result['cpus']} cores)")
    print(f"{'path':10} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'peak MB':>8}")
    for name, path in result["paths"].items():
        print(f"{name:10} {path['median_wall_s']:7.3f} {path['wall_ratio']:5.2f}x {path['median_cpu_s']:7.3f} "
              f"{path['cpu_ratio']:5.2f}x {path['peak_rss_mb']:8.0f}")
    print(f"passages: {', '.join(result['passages'])}; the same answer every run: {result['same_answer_every_run']}")
    print(f"target: ask <= {TARGET}x the floor (wall, medians) -> {'met' if result['met'] else 'NOT met'}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
