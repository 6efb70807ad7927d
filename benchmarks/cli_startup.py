"""How fast the list commands start: `n00bqa --help`, `questions`, `show ID` against the floor
`python -c "import typer, rich"` (what any typer + rich CLI pays before doing anything).

    python benchmarks/cli_startup.py            # 15 alternating runs of each
    python benchmarks/cli_startup.py --runs 31

Each command runs in a fresh process on a throwaway copy of the fixture study root, the
contenders and the floor alternating so machine noise hits them alike; medians are compared.
Target (issue 10, issue 17): every ratio <= 1.5. It also reports whether the command imported any
probe module, torch, transformers or faiss (it must not).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = PROJECT / "tests" / "fixtures" / "study"
TARGET = 1.5
COMMANDS = {
    "n00bqa --help": ["--help"],
    "n00bqa questions": ["questions"],
    "n00bqa show model-size": ["show", "model-size"],
}
FLOOR = [sys.executable, "-c", "import typer, rich"]
# Runs the CLI in-process so the script can look at sys.modules after it (no extra interpreter).
CLI = ("import sys\nfrom n00bqa.cli import main\nsys.argv = ['n00bqa', *sys.argv[1:]]\n"
       "try:\n    main()\nexcept SystemExit:\n    pass\n"
       "import os\nif os.environ.get('N00BQA_BENCH_MODULES'):\n"
       "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'faiss')"
       " or (m.startswith('n00bqa.probes.') and m != 'n00bqa.probes.base'))\n"
       "    print('HEAVY', heavy, file=sys.stderr)\n")


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "study"
        shutil.copytree(FIXTURE, root)
        env = {**os.environ, "N00BQA_ROOT": str(root)}
        floor: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):
            for name, cli_args in COMMANDS.items():
                floor.append(timed(FLOOR, env))
                times[name].append(timed([sys.executable, "-c", CLI, *cli_args], env))
        floor_s = statistics.median(floor)
        print(f"floor  python -c 'import typer, rich'   median {floor_s:.3f} s ({len(floor)} runs)")
        print(f"{'command':28} {'median s':>9} {'ratio':>7} {'target':>7}  heavy imports")
        ok = True
        for name, cli_args in COMMANDS.items():
            median = statistics.median(times[name])
            ratio = median / floor_s
            check = subprocess.run([sys.executable, "-c", CLI, *cli_args], capture_output=True, text=True,
                                   env={**env, "N00BQA_BENCH_MODULES": "1"})
            heavy = next((line[6:] for line in check.stderr.splitlines() if line.startswith("HEAVY ")), "?")
            ok &= ratio <= TARGET and heavy == "[]"
            print(f"{name:28} {median:9.3f} {ratio:6.2f}x {TARGET:6.1f}x  {heavy}")
        print("all within target" if ok else "NOT all within target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
