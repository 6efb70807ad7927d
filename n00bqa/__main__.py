"""`n00bqa` and `python -m n00bqa`: the console script's entry point.

Ctrl-C is caught from the first instruction, so even an interrupt while the CLI is still being
imported ends with one line and exit code 130, not a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from n00bqa.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted; nothing was left half-written\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
