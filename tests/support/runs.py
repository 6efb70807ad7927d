"""One run of each probe at each set of options per test session, shared by the tests that read it.

`probe_run("nanogpt", steps=50)` runs the probe once (seed 0, no cache, no study root) and hands every
later caller with the same probe and options the same `ProbeResult`; `default_run("attention")` is the
run at the defaults. The probe's own tests, the verdict harness (tests/probes/test_verdicts.py, whose
Try commands and range ends land on the same keys) and the living-numbers test (tests/test_claims.py,
whose `metric PROBE KEY` claims read the default run) pay for one run of each between them. Options
equal to a default are dropped from the key, so `probe_run("loss", train_steps=30)` is the default run.
Callers read a shared result and never change it.

Under pytest-xdist the workers share the runs too: the first worker to need one runs it while holding
a lock on its file in `$N00BQA_TEST_RUNS` (a folder of this test session, set by conftest.py) and
saves it pickled; a worker that needs it later, or meanwhile, waits for the lock and loads it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
from functools import cache
from pathlib import Path
from typing import Any

from n00bqa.probes.base import ProbeResult


def probe_run(name: str, **options: Any) -> ProbeResult:
    """The session's run of probe `name` at `options` (the others at their defaults)."""
    from n00bqa.probes import find_probe

    defaults = find_probe(None, name).make_options()
    changed = {key: value for key, value in options.items() if getattr(defaults, key) != value}
    return _run(name, tuple(sorted(changed.items())))


def default_run(name: str) -> ProbeResult:
    """The session's run of probe `name` at its defaults."""
    return _run(name, ())


@cache
def _run(name: str, options: tuple[tuple[str, Any], ...]) -> ProbeResult:
    from n00bqa.probes import find_probe
    from n00bqa.probes.runs import run_probe

    def run() -> ProbeResult:
        probe = find_probe(None, name)
        return run_probe(None, probe, probe.make_options(**dict(options)), seed=0, cache=False)

    folder = os.environ.get("N00BQA_TEST_RUNS")
    if not folder:
        return run()
    key = hashlib.sha256(repr((name, options)).encode()).hexdigest()[:24]
    path = Path(folder) / f"{name}-{key}.pickle"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, whatever happens
        if path.is_file():
            return pickle.loads(path.read_bytes())
        result = run()
        try:
            data = pickle.dumps(result)
        except (pickle.PicklingError, TypeError, AttributeError):  # a result that cannot travel stays here
            return result
        staged = path.with_suffix(".partial")
        staged.write_bytes(data)
        staged.replace(path)
        return result


def default_metric(name: str, key: str) -> float | int | bool:
    """A metric of the session's default run of probe `name` (the `metric PROBE KEY` claim source)."""
    from n00bqa.claims import ClaimError

    metrics = default_run(name).metrics
    if key not in metrics:
        raise ClaimError(f"probe {name!r} has no metric {key!r} at its defaults")
    return metrics[key]


@cache
def tiny_llama() -> str:
    """A folder holding a tiny random-weight Llama (2 layers, width 64, grouped K/V) with SmolLM2's own
    tokenizer and vocabulary: a `--model PATH` the decoder probes load in a fraction of a second, for
    the verdict harness's range ends (a 1,024-token context or 64 new tokens on SmolLM2-135M costs
    a minute on 2 cores). Built once per session in a temporary folder, removed at exit."""
    import atexit
    import shutil
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from n00bqa.probes.lib.causal_lm import bundled_gguf, prepared_folder

    real = prepared_folder(bundled_gguf(), lambda message: None)
    folder = tempfile.mkdtemp(prefix="n00bqa-tiny-llama-")
    atexit.register(shutil.rmtree, folder, True)
    config = AutoConfig.from_pretrained(real)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 16})
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(folder)
    AutoTokenizer.from_pretrained(real).save_pretrained(folder)
    return folder
