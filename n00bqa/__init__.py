"""n00bqa: a terminal Q&A study tool for learning how Transformers and LLMs work.

The library does the work and returns data; the CLI (`n00bqa.cli`) and the terminal
browser (`n00bqa.tui`) only show it.
"""

import os

__version__ = "0.1.0"

# Nothing in n00bqa may reach a model hub: every model is the bundled all-MiniLM-L6-v2,
# a local folder given with --model, or built from a config in-process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# onnxruntime's telemetry would write $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime/ (a device
# id, queued events) as soon as it is imported, and look its upload host up: off before any import.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
