"""The verdict harness's cases and checks (issue 24): which options each probe runs at, and what a
run must never show.

Cases for probe P:
- every `n00bqa probe P ...` command of a `## Try` section of the built-in questions, at the options
  it names (parsed by the probe's own CLI command; only a `$(...)` is expanded by bash first);
- both ends of every range P's `check` declares through `check_ranges` (`base.declared_ranges`), the
  other options set to P's `SMALL` overrides so a large end stays cheap. Every numeric option must
  declare one (test_every_numeric_option_declares_its_range). The decoder probes' SMALL includes a
  tiny random Llama (`TINY_LM`); for the probes whose every run pays a fixed cost (worker processes,
  MiniLM's real table), `TOGETHER` puts several options' low (or high) ends in one run.
A new probe is covered without an edit here: its Try commands and its ranges are read the same way.
A case is skipped only with a reason written in `SKIP` (shown by pytest -rs).

Checks on each run (`problems`): every `{...}` placeholder filled, no NaN or inf printed, every
number in a finding explained by the run (`unexplained_numbers`), and every verdict the probe worded
through `base.verdict` recomputed from its recorded value and threshold and printed in the output.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Probe, ProbeResult, declared_ranges, flag, unexplained_numbers

TINY_LM = "<tiny-llama>"  # stands for tests.support.runs.tiny_llama(), a folder built when a case needs it

# Per probe: the other options' values when a range end is run (a large end at small sizes).
SMALL: dict[str, dict[str, Any]] = {
    "nanogpt": {"steps": 20, "batch_size": 4, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16,
                "eval_batches": 2, "evals": 2, "sample_chars": 20},
    "flops": {"n_layer": 1, "n_embd": 32, "seq_len": 16, "batch_size": 2, "vocab_size": 64, "matmul_size": 64,
              "repeats": 1},
    "loss": {"n_embd": 16, "n_layer": 1, "train_steps": 5, "init_draws": 4},
    "embedding-grad": {"big_vocab": 1000, "big_dim": 16, "batch_tokens": 64, "reps": 1},
    "translation": {"steps": 30, "test_sentences": 20, "batch_size": 16, "d_model": 32, "layers": 1},
    "task-heads": {"epochs": 1, "train_layers": 0, "held_out": 4},
    "activation-memory": {"seq_lens": "16,32", "batches": "1"},
    "datasets": {"table_mb": 8, "map_rows": 200},
    "moe": {"text": "the cat sat", "layers": 1, "hidden": 16, "intermediate": 16},
    "kv-cache": {"context": 64, "prompt": 2, "new_tokens": 2},
    # the decoder probes' range ends run on a tiny random Llama with SmolLM2's tokenizer (`--model`, one
    # more of the sizes made small; tests.support.runs.tiny_llama): their defaults and Try commands run
    # on the real SmolLM2-135M
    "generate": {"new_tokens": 2, "context": 16, "repeats": 1, "model": TINY_LM},
    "sampling": {"samples": 2, "new_tokens": 2, "model": TINY_LM},
    "induction": {"sequences": 1, "length": 16, "ablate": 2, "draws": 2, "model": TINY_LM},
    "attention-sinks": {"tokens": 48, "window": 16, "sinks": 2, "model": TINY_LM},
    "logit-lens": {"model": TINY_LM},
    "rope": {"model": TINY_LM},
    "ddp": {"steps": 1, "seq_len": 4},
    "fsdp": {"steps": 1, "seq_len": 4},
}

# Per probe and end: groups of options whose ends share one run (a group's low ends in one run, its
# high ends in another, the other options at SMALL), for probes whose every run has a fixed cost far
# above what these options change: 2-4 worker processes that import torch, JAX with 2-4 devices in a
# child process, MiniLM's real table or a pass over 52 questions x 5 choices. Each end is still run;
# an option in no group gets a run of its own at that end (a high end that is heavy by itself: a wider
# model, a longer sequence, more steps).
_LAUNCH = ("nproc", "port", "timeout", "deadline")
TOGETHER: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "ddp": {"low": [(*_LAUNCH, "d_model", "n_head", "seq_len", "batch", "steps", "lr", "bucket_cap_mb")],
            "high": [(*_LAUNCH, "n_head", "lr", "bucket_cap_mb", "steps"), ("seq_len", "batch")]},
    "fsdp": {"low": [(*_LAUNCH, "d_model", "n_head", "seq_len", "batch", "steps", "lr")],
             "high": [(*_LAUNCH, "n_head", "lr", "steps"), ("seq_len", "batch")]},
    "sharding": {"low": [(*_LAUNCH, "rows", "cols", "d_model", "batch", "seq_len")],
                 "high": [(*_LAUNCH, "rows", "cols"), ("batch", "seq_len")]},
    # rows x inner x cols is the matmul's work: inner's high end goes with the small rows and cols
    "gspmd": {"low": [("devices", "timeout", "rows", "inner", "cols", "d_model")],
              "high": [("devices", "timeout", "rows", "cols"), ("inner", "d_model")]},
    "embedding-grad": {"low": [("big_vocab", "big_dim", "batch_tokens", "reps")],
                       "high": [("batch_tokens", "reps")]},
    "task-heads": {"low": [("epochs", "train_layers", "batch_size", "held_out", "lr", "head_lr")],
                   "high": [("epochs", "batch_size", "lr", "head_lr")]},
    "trainer": {"low": [("schedule_steps", "warmup_steps", "weight_decay")],
                "high": [("schedule_steps", "warmup_steps", "weight_decay")]},
    "datasets": {"low": [("table_mb", "map_rows")], "high": [("table_mb", "map_rows")]},
    "translation": {"low": [("steps", "batch_size", "d_model", "heads", "layers", "lr", "test_sentences")],
                    "high": [("batch_size", "heads", "lr", "test_sentences")]},
    "loss": {"low": [("train_steps", "init_draws", "n_embd", "n_layer", "n_head", "label_smoothing", "wide_init")],
             "high": [("init_draws", "n_layer", "label_smoothing", "wide_init")]},
}

# (probe, case label) -> the options a range end needs beside it (the probe's other checks refuse
# it otherwise: a width the head count must divide).
WITH: dict[tuple[str, str], dict[str, Any]] = {
    ("nanogpt", "low --n-embd"): {"n_head": 1},
    ("nanogpt", "high --n-head"): {"n_embd": 64},
    ("attention", "low --d-model"): {"n_head": 1},
    ("attention", "high --n-head"): {"d_model": 256},
    ("flops", "low --n-embd"): {"n_head": 1},
    ("flops", "high --n-head"): {"n_embd": 64},
    ("trainer", "low --schedule-steps --warmup-steps --weight-decay"): {"warmup_steps": 0},
    ("loss", "high --n-head"): {"n_embd": 64},
    # attention-sinks wants 16 tokens past the window and fewer sinks than the window holds
    ("attention-sinks", "high --window"): {"tokens": 528},
    ("attention-sinks", "high --sinks"): {"window": 32},
    # --max-length 512 shows truncation only for a pair longer than 512 tokens (the probe refuses otherwise)
    ("tokenizer", "high --max-length"): {"pair": "energy " * 600},
}

# (probe, case label) -> why the case is not run. Labels: "try: <args>", "low --x", "high --x".
SKIP: dict[tuple[str, str], str] = {
}

# (probe, case label) -> a defect this harness found that is not fixed yet: the case runs as an
# expected failure (pytest -rx lists it), and passes loudly (XPASS) once the probe is fixed.
KNOWN: dict[tuple[str, str], str] = {
}

# Placeholders left unfilled: "{opts.layers}", "{n.loss:.3f}", "{name}" (a missing f before a string).
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.\[\]'\"]*(?:![rsa])?(?::[^{}]*)?\}")
# NaN, or an infinity printed as a value ("-inf" is the causal mask's own word, and stays allowed).
_NOT_A_NUMBER = re.compile(r"(?<![\w\-])(nan|inf|infinity)(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    probe: str
    label: str
    options: dict[str, Any]
    skip: str = ""  # the reason, when the case is not run
    known: str = ""  # a defect found and not yet fixed: the case is an expected failure

    @property
    def id(self) -> str:
        return f"{self.probe}[{self.label}]"


def try_lines(probe_name: str) -> list[str]:
    """The `n00bqa probe NAME ...` lines of the built-in questions' Try sections (read, never run)."""
    from n00bqa.cli.questions import try_commands
    from n00bqa.questions import load_questions
    from n00bqa.study import JOURNEY, Study

    lines = []
    for question in load_questions(Study(JOURNEY, builtin=True))[0]:
        for line in try_commands(question):
            words = shlex.split(line, comments=True)
            if words[:3] == ["n00bqa", "probe", probe_name] and line not in lines:
                lines.append(line)
    return lines


def shell_words(line: str) -> list[str]:
    """The words bash makes of a Try line that substitutes a command's output (`--model "$(python -c
    ...)"`): the line's arguments expanded by bash itself, with this interpreter first on PATH, so the
    case runs at the value a learner's shell would pass."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    out = subprocess.run(["bash", "-c", f"set -- {line}\nprintf '%s\\0' \"$@\""], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.split("\0")[:-1]


def try_options(probe: Probe, line: str) -> dict[str, Any]:
    """The options a Try line names, typed by the probe's own CLI command."""
    from n00bqa.cli.probes import _click_command

    args = shell_words(line)[3:] if "$(" in line else shlex.split(line, comments=True)[3:]
    command = _click_command(probe)
    ctx = command.make_context(probe.name, args)
    fields = set(probe.options.__dataclass_fields__)
    # By the source's name: typer ships its own copy of click, whose ParameterSource is not click's
    # (compared with click.core's, no option ever counted as given and every Try case ran the defaults).
    return {name: value for name, value in ctx.params.items()
            if name in fields and ctx.get_parameter_source(name).name == "COMMANDLINE"}


def cases(probe: Probe) -> list[Case]:
    """Every case the harness runs (or skips, with the reason) for `probe`."""
    found: list[Case] = []
    try:
        probe.make_options()
    except ProbeError as exc:  # e.g. the probe needs an optional package this install lacks
        return [Case(probe.name, "defaults", {}, f"{probe.name} refuses its own defaults here: {exc}")]
    for line in try_lines(probe.name):
        args = " ".join(shlex.split(line, comments=True)[3:])
        label = f"try: {args}" if args else "defaults"
        reason = _reason(probe.name, label)
        found.append(Case(probe.name, label, {} if reason else try_options(probe, line), reason))
    if not any(c.label == "defaults" for c in found):
        found.insert(0, Case(probe.name, "defaults", {}, _reason(probe.name, "defaults")))
    small = SMALL.get(probe.name, {})
    ranges = declared_ranges(probe)
    for end, index in (("low", 0), ("high", 1)):
        groups = [[name for name in group if name in ranges] for group in TOGETHER.get(probe.name, {}).get(end, ())]
        grouped = {name for group in groups for name in group}
        groups = [group for group in groups if group] + [[name] for name in ranges if name not in grouped]
        for group in groups:
            label = f"{end} " + " ".join(flag(name) for name in group)
            options = {**small, **{name: ranges[name][index] for name in group}, **WITH.get((probe.name, label), {})}
            found.append(Case(probe.name, label, options, _reason(probe.name, label),
                              KNOWN.get((probe.name, label), "")))
    return found


def unranged_options(probe: Probe) -> list[str]:
    """The numeric options whose range `probe`'s check does not declare (the harness cannot find their ends)."""
    ranges = declared_ranges(probe)
    return [flag(f.name) for f in dataclasses.fields(probe.options)
            if f.type in ("int", "float", int, float) and f.name not in ranges]


def _reason(probe: str, label: str) -> str:
    """Why a case is not run in this session ('' when it runs)."""
    return SKIP.get((probe, label), "")


def _texts(result: ProbeResult) -> list[str]:
    texts = [result.summary, *result.findings]
    for table in result.tables:
        texts += [table.title, table.note, *table.columns]
        texts += [cell for row in table.rows for cell in row if isinstance(cell, str)]
    return texts


def problems(result: ProbeResult) -> list[str]:
    """What is wrong with one run's words: unfilled placeholders, NaN, unexplained numbers, and
    verdicts that do not follow from their own numbers."""
    found = []
    texts = _texts(result)
    for text in texts:
        found += [f"unfilled placeholder {m.group(0)!r} in: {text}" for m in _PLACEHOLDER.finditer(text)]
        found += [f"{m.group(0)!r} printed in: {text}" for m in _NOT_A_NUMBER.finditer(text)]
    for table in result.tables:
        for row in table.rows:
            found += [f"a NaN or inf cell in table {table.title!r}: {row}" for cell in row
                      if isinstance(cell, float) and not math.isfinite(cell)]
    found += [f"unexplained number {line}" for line in unexplained_numbers(result)]
    words = " ".join(texts)
    for v in result.verdicts:
        if not v.holds():
            found.append(f"verdict {v.word!r} does not follow from {v.name}: {v.value:g} vs {v.threshold:g} "
                         f"gives {v.above if v.value > v.threshold else v.below!r}")
        if v.word not in words:
            found.append(f"verdict {v.word!r} ({v.name}) is computed but never printed")
    return found
