"""`n00bqa probe test NAME` (or `python -m n00bqa.selftest probes/test_NAME.py`): run a learner's
probe tests without pytest.

`n00bqa probe new` writes a test file beside the new probe; pytest comes only with the test extra,
which the README's first install leaves out. This runs each `test_*` function of the file that takes
no argument (the template's tests take none) in file order and prints one line per test; a test
that needs pytest's fixtures is listed as skipped. Exit code 0 if all ran and passed, 1 otherwise.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path


def run(path: Path) -> int:
    """Run the file's tests; return how many failed (or 1 if the file cannot be loaded)."""
    if not path.is_file():
        print(f"Error: {str(path)!r} is not a file; give a probe's test file, e.g. probes/test_my_probe.py",
              file=sys.stderr)
        return 1
    if path.parent.name == "probes":  # the tests find their probe in the study root they sit in
        os.environ.setdefault("N00BQA_ROOT", str(path.resolve().parent.parent))
    spec = importlib.util.spec_from_file_location(f"n00bqa_selftest_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the learner's file: report it in one line
        line = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"Error: {path} cannot be loaded: {Path(line.filename).name}:{line.lineno}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    tests = [(name, f) for name, f in vars(module).items() if name.startswith("test_") and inspect.isfunction(f)
             and f.__module__ == module.__name__]
    tests.sort(key=lambda item: item[1].__code__.co_firstlineno)
    failed = skipped = 0
    for name, function in tests:
        if inspect.signature(function).parameters:
            print(f"skipped {name} (it takes pytest fixtures: run it with python -m pytest)")
            skipped += 1
            continue
        try:
            function()
        except Exception as exc:  # noqa: BLE001 - a failing test is reported, the others still run
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path.resolve()
                      or Path(f.filename) == path]
            where = f"{path}:{frames[-1].lineno}" if frames else str(path)
            print(f"FAILED  {name}  {where}: {type(exc).__name__}: {exc}")
            failed += 1
        else:
            print(f"passed  {name}")
    print(f"{len(tests) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return failed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("Usage: python -m n00bqa.selftest probes/test_NAME.py", file=sys.stderr)
        return 2
    try:
        return 1 if run(Path(args[0])) else 0
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
