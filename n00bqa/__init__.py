"""n00bqa: a terminal Q&A study tool for learning how Transformers and LLMs work.

The library does the work and returns data; the CLI (`n00bqa.cli`) and the terminal
browser (`n00bqa.tui`) only show it.
"""

import os
import signal
import sys

__version__ = "0.1.0"

# Nothing in n00bqa may reach a model hub: every model is the bundled all-MiniLM-L6-v2,
# a local folder given with --model, or built from a config in-process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# onnxruntime's telemetry would write $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime/ (a device
# id, queued events) as soon as it is imported, and look its upload host up: off before any import.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

INTERRUPTED = "Error: interrupted; nothing was left half-written\n"


def _interrupted_before_main(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    """Ctrl-C while the console script is still importing n00bqa: nothing is open yet, so leave at once
    with the one line and exit code 130 (main() hands SIGINT back to Python before it does any work)."""
    os.write(2, INTERRUPTED.encode())
    os._exit(130)


# Only for the `n00bqa` console script, and only where Ctrl-C has its default meaning (a program that
# imports n00bqa, or a shell that ignores SIGINT, keeps its own handling).
if (os.path.basename(getattr(sys.modules.get("__main__"), "__file__", None) or "") == "n00bqa"
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
    signal.signal(signal.SIGINT, _interrupted_before_main)
