"""How fast the list commands start: `n00bqa --help`, `questions`, `show ID` against the floor
`python -c "import typer, rich"` (what any typer + rich CLI pays before doing anything).

    python benchmarks/cli_startup.py            # 15 alternating runs of each
    python benchmarks/cli_startup.py --runs 31

Each command runs in a fresh process on a throwaway copy of the fixture study root, the
contenders and the floor alternating so machine noise hits them alike; medians are compared, of
wall time (the ratio the target is about) and of CPU time (user + sys of the child, which other
processes on a shared machine disturb less). Every child runs with Python's bytecode cache on, in a
temporary PYTHONPYCACHEPREFIX, as an installed n00bqa does: with PYTHONDONTWRITEBYTECODE set
(as some shells here do) n00bqa's own modules would be compiled from source on every run while
typer and rich load from their installed .pyc files. One untimed run of each fills that cache.

Target (issue 10, issue 17): every ratio <= 1.5. It also lists the heavy modules each command
imported (it must import none): any probe module but the framework (n00bqa.probes.base), torch,
transformers, faiss, numpy, the retrieval internals, pydantic (typer's coercion path, see
n00bqa/cli/fastparams.py) and markdown_it (n00bqa/markdown_lite.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
# The console script's own entry (n00bqa.cli.main: a command may end without interpreter teardown).
CLI = "import sys\nfrom n00bqa.cli import main\nsys.argv = ['n00bqa', *sys.argv[1:]]\nmain()\n"
# The same command run through the app, so that sys.modules can be looked at after it.
MODULES = ("import sys\nfrom n00bqa.cli import app\nsys.argv = ['n00bqa', *sys.argv[1:]]\n"
       "try:\n    app(prog_name='n00bqa')\nexcept SystemExit:\n    pass\n"
       "import os\nif os.environ.get('N00BQA_BENCH_MODULES'):\n"
       "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'faiss', 'numpy',"
       " 'pydantic', 'markdown_it') or m.startswith('n00bqa.retrieval.')"
       " or (m.startswith('n00bqa.probes.') and m != 'n00bqa.probes.base'))\n"
       "    print('HEAVY', sorted({m.split('.')[0] if not m.startswith('n00bqa') else m for m in heavy}),"
       " file=sys.stderr)\n")
ALLOWED: dict[str, set[str]] = {}  # show renders its Markdown without markdown_it (n00bqa.markdown_lite)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process, its output discarded."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    _, _, usage = os.wait4(pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def heavy_modules(cli_args: list[str], env: dict[str, str]) -> list[str]:
    import subprocess

    check = subprocess.run([sys.executable, "-c", MODULES, *cli_args], capture_output=True, text=True,
                           env={**env, "N00BQA_BENCH_MODULES": "1"})
    line = next((line[6:] for line in check.stderr.splitlines() if line.startswith("HEAVY ")), None)
    return eval(line) if line else ["?"]  # noqa: S307 - our own child's repr of a list of names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "study"
        shutil.copytree(FIXTURE, root)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(N00BQA_ROOT=str(root), PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"))
        timed(FLOOR, env)
        for cli_args in COMMANDS.values():
            timed([sys.executable, "-c", CLI, *cli_args], env)  # fills the bytecode cache
        floor: list[tuple[float, float]] = []
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):
            for name, cli_args in COMMANDS.items():
                floor.append(timed(FLOOR, env))
                times[name].append(timed([sys.executable, "-c", CLI, *cli_args], env))
        floor_wall = statistics.median(w for w, _ in floor)
        floor_cpu = statistics.median(c for _, c in floor)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"floor  python -c 'import typer, rich'   median {floor_wall:.3f} s wall, {floor_cpu:.3f} s CPU "
              f"({len(floor)} runs)")
        print(f"{'command':26} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'target':>6}  heavy imports")
        ok = True
        for name, cli_args in COMMANDS.items():
            wall = statistics.median(w for w, _ in times[name])
            cpu = statistics.median(c for _, c in times[name])
            heavy = [m for m in heavy_modules(cli_args, env) if m not in ALLOWED.get(name, set())]
            ok &= wall / floor_wall <= TARGET and not heavy
            print(f"{name:26} {wall:7.3f} {wall / floor_wall:5.2f}x {cpu:7.3f} {cpu / floor_cpu:5.2f}x "
                  f"{TARGET:5.1f}x  {heavy or 'none'}")
        print("all within target" if ok else "NOT all within target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
