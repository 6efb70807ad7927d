"""`python -m n00bqa.builtin_study`: remake `files.txt` from the checkout's tracked files (run it after
adding a question or a note to the project; tests/test_init.py says when it is due)."""

from __future__ import annotations

import subprocess
import sys

from n00bqa.builtin_study import FOLDER

PATTERNS = ["questions/*.md", "corpus/reading-list.yaml", "corpus/notes/*.md", "routing/examples.jsonl"]


def main() -> int:
    checkout = FOLDER.parent.parent
    done = subprocess.run(["git", "ls-files", *PATTERNS], cwd=checkout, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"Error: not a git checkout ({checkout}); files.txt is remade from the project's tracked files",
              file=sys.stderr)
        return 1
    path = FOLDER / "files.txt"
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    path.write_text("\n".join([*header, *sorted(done.stdout.split())]) + "\n", encoding="utf-8")
    print(f"{path}: {len(done.stdout.split())} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
