"""How long each probe takes with its default options, against its budget (60 s; translation 120 s).

    python benchmarks/probe_times.py              # every probe, one run each
    python benchmarks/probe_times.py loss translation --runs 3

Each probe runs in a fresh process (`n00bqa probe NAME --json`, as a learner would), so the
time includes imports and model loading; the probe's own `seconds` (the measured part) is printed
beside it. Timings on a shared 2-core machine are noisy: run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = {
    "translation": 120.0,  # every other probe: 60 s (issues 3 and 4)
    "zero-memory": 60.0,  # arithmetic only, well under a second (issue 13)
    "activation-memory": 60.0,  # about 10 s here: the bf16 backward passes (issue 13)
    "variants": 60.0,  # 37 s wall (18 s measured) with load 7.7 on 2 cores: eleven meta builds (issue 14)
    "moe": 60.0,  # 37 s wall (18 s measured) under the same load: a backward per token and layer (issue 14)
    "grad-rows": 60.0,  # the backward passes on the tiny twins, split out of param-count (issue 21)
    "forward-flops": 60.0,  # FlopCounterMode on six meta models, split out of param-count (issue 21)
    "kv-cache": 60.0,  # 29 s wall (13 s measured) under the same load: five tiny generates (issue 14)
    "nanogpt": 60.0,  # 25 s wall (19 s measured) with load 6 on 2 cores: 600 training steps, one thread (issue 14)
    "attention": 60.0,  # 9 s wall (0.1 s measured): imports dominate (issue 14)
    "flops": 60.0,  # 20 s wall (8 s measured) under load 6: counting, 8 matmuls, 10 timed steps (issue 14)
    "ddp": 60.0,  # 31 s wall (17 s measured) under load 10: 2 ranks starting torch, 5 steps (issue 13)
    "fsdp": 60.0,  # 40 s wall (26 s measured) under load 10: 2 ranks, fully_shard, 5 steps (issue 13)
    "gspmd": 60.0,  # 32 s wall (21 s measured) at load 19: a JAX child (about 20 compiles), then 2 gloo ranks (issue 27)
    "sharding": 60.0,  # 29 s wall (16 s measured) under load 10: 2 ranks, five redistributions (issue 13)
    "trainer": 60.0,  # 37 s wall (20 s measured) with load 12.7 on 2 cores: 14 Trainers, 9 train() calls (issue 15)
    "datasets": 60.0,  # 32 s wall (20 s measured) at load 11: 200 MiB table, RSS read in a fresh process (issue 15)
    "tokenizer": 60.0,  # 17 s wall (3 s measured) at load 12.7: imports dominate (issue 15)
    # The real SmolLM2 (issue 23), after its one conversion per user (the first run adds 30-90 s):
    "generate": 60.0,  # 32 s wall (24 s measured) at load ~15 on 2 cores: 3 timed lengths, 2 x 8 greedy tokens
    "sampling": 60.0,  # 22 s wall (13 s measured) at load ~15: one prompt pass, 5 rules x 6 samples x 4 tokens
    "rope": 60.0,  # 23 s wall (11 s measured) at load ~15: layer 0 only, float64 rotations
    "param-count": 60.0,  # 36 s wall with SmolLM2's checkpoint header added (issue 23): meta builds, one real MiniLM
    "induction": 60.0,  # 73 s wall (64 s measured) at load 7.7: SmolLM2 + its random twin, 7 forwards (issue 23)
    "attention-sinks": 60.0,  # 187 s wall (177 s) at load 7.7 before the sdpa loss passes; over budget (issue 23)
    "logit-lens": 60.0,  # 74 s wall (67 s measured) at load 7.7: SmolLM2 + its twin, 16 short forwards (issue 23)
}
PROJECT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", nargs="*", help="probe names (default: all)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)

    from n00bqa.probes import probe_names

    names = args.probes or probe_names(None)
    exe = Path(sys.executable).parent / "n00bqa"
    with tempfile.TemporaryDirectory() as tmp:
        # A throwaway study root, so the benchmark does not overwrite the learner's probe cache.
        root = Path(tmp)
        (root / "questions").mkdir()
        env = {**os.environ, "N00BQA_ROOT": str(root)}
        print(f"{'probe':16} {'wall s':>8} {'probe s':>8} {'budget s':>9} {'of budget':>10}")
        worst = 0.0
        for name in names:
            walls, inner = [], []
            for _ in range(args.runs):
                start = time.perf_counter()
                out = subprocess.run([str(exe), "probe", name, "--json"], capture_output=True, text=True, env=env)
                walls.append(time.perf_counter() - start)
                if out.returncode != 0:
                    print(f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}")
                    return 1
                inner.append(json.loads(out.stdout)["seconds"])
            wall, probe_s = statistics.median(walls), statistics.median(inner)
            budget = BUDGET.get(name, 60.0)
            worst = max(worst, wall / budget)
            print(f"{name:16} {wall:8.1f} {probe_s:8.1f} {budget:9.0f} {wall / budget:9.0%}")
        print(f"slowest probe used {worst:.0%} of its budget -> "
              f"{'every probe within its budget' if worst <= 1.0 else 'over budget'}")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
