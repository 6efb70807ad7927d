"""Loading SmolLM2 after its one-time conversion, against the floor: a bare safetensors load.

Contender: `n00bqa.probes.lib.causal_lm.load_causal_lm()`, as a probe calls it (finds the GGUF,
checks the conversion by its recorded sha256, loads model and tokenizer with transformers).
Baseline: the same `model.safetensors` read with `safetensors.torch.load_file` into the same
model class built on the meta device (`load_state_dict(assign=True)`), plus the same tokenizer file
read by `tokenizers` directly: the least work that gives the same weights and tokenizer.
Each run is a fresh process (warm page cache) that imports torch, transformers, tokenizers and
safetensors before its clock starts (the same for both), alternated, median of --runs.
Targets (issue 23): contender <= 1.5x the baseline and <= 3 s on this machine.

    python benchmarks/causal_lm_load.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CONTENDER = """
import time, json
import torch, transformers, tokenizers, safetensors  # imported before the clock, in both
t = time.perf_counter()
from n00bqa.probes.lib.causal_lm import load_causal_lm
lm = load_causal_lm(None)
print(json.dumps({"seconds": time.perf_counter() - t, "path": str(lm.path)}))
"""

BASELINE = """
import time, json, sys
import torch, transformers, tokenizers, safetensors  # imported before the clock, in both
t = time.perf_counter()
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM
folder = sys.argv[1]
config = LlamaConfig.from_pretrained(folder)
with torch.device("meta"):
    model = LlamaForCausalLM(config)
model.load_state_dict(load_file(folder + "/model.safetensors"), assign=True, strict=False)
model.tie_weights()
model.eval()
tokenizer = Tokenizer.from_file(folder + "/tokenizer.json")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    first = run(CONTENDER)  # converts once per user if needed (not timed as a load)
    folder = first["path"]
    contender, baseline = [], []
    for _ in range(args.runs):
        contender.append(run(CONTENDER)["seconds"])
        baseline.append(run(BASELINE, folder)["seconds"])
    c, b = statistics.median(contender), statistics.median(baseline)
    ratio = c / b
    print(f"load_causal_lm (model + tokenizer, checked): median {c:.2f} s over {args.runs} runs")
    print(f"bare safetensors + tokenizers load:          median {b:.2f} s")
    print(f"ratio {ratio:.2f}x (target <= 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}; "
          f"{c:.2f} s (target <= 3 s): {'met' if c <= 3 else 'NOT met'}")
    sys.exit(0 if ratio <= 1.5 and c <= 3 else 1)


if __name__ == "__main__":
    main()
