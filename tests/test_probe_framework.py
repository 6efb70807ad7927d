"""The probe framework: JSON shape, determinism, cache read by `show`, option errors, the list."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.errors import ProbeError
from n00bqa.probes import get_probe, list_probes
from n00bqa.probes.base import cached_result, last_result, run_probe

runner = CliRunner()
KEYS = {"probe", "question", "summary", "findings", "tables", "metrics", "environment", "seconds"}


def test_json_shape_is_exact():
    out = runner.invoke(app, ["probe", "param-count", "--json", "--seq-len", "128"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) == KEYS
    assert data["probe"] == "param-count" and data["question"] == "model-size"
    assert all(isinstance(v, (int, float, bool)) for v in data["metrics"].values())
    assert {"torch", "transformers", "seed", "options", "model"} <= set(data["environment"])
    assert data["environment"]["options"]["seq_len"] == 128
    assert all(set(t) == {"title", "columns", "rows", "note"} for t in data["tables"])


def test_same_seed_same_metrics():
    probe = get_probe("word-embedding")
    opts = probe.make_options()
    first = run_probe(probe, opts, seed=3, cache=False)
    second = run_probe(probe, opts, seed=3, cache=False)
    assert first.metrics == second.metrics
    assert first.findings == second.findings


def test_cache_written_and_shown(study_root):
    qfile = study_root / "questions" / "model-size.md"
    if not qfile.exists():  # the question files may be written by someone else later
        qfile.write_text("---\nid: model-size\nquestion: \"How large?\"\nprobe: param-count\nstatus: open\n---\n"
                         "\n## Answer\n\n## Try\n\n## Notes\n")
    probe = get_probe("param-count")
    opts = probe.make_options(seq_len=64)
    assert cached_result(probe, opts) is None
    out = runner.invoke(app, ["probe", "param-count", "--seq-len", "64"])
    assert out.exit_code == 0, out.output
    cached = cached_result(probe, opts)
    assert cached is not None and cached.metrics["gpt2.total"] == 124_439_808
    assert last_result("param-count").to_dict() == cached.to_dict()
    assert list((study_root / ".n00bqa" / "probe-cache").glob("param-count-*.json"))
    shown = runner.invoke(app, ["show", "model-size", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["probe_result"]["metrics"] == cached.metrics
    text = runner.invoke(app, ["show", "model-size"], terminal_width=120)
    assert "124,439,808" in text.stdout and "measured" in text.stdout


@pytest.mark.parametrize("args, expected", [
    (["probe", "param-count", "--bogus"], "No such option: --bogus"),
    (["probe", "param-count", "--seq-len", "abc"], "--seq-len"),
    (["probe", "param-count", "--seq-len", "0"], "--seq-len 0"),
    (["probe", "embedding-grad", "--reps", "0"], "--reps 0"),
    (["probe", "word-embedding", "--text", "only one sentence"], "at least two sentences"),
    (["probe", "no-such-probe"], "no-such-probe"),
])
def test_bad_options_are_one_line_errors(args, expected):
    out = runner.invoke(app, args)
    assert out.exit_code != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], out.stderr
    assert "Traceback" not in out.output


def test_make_options_rejects_unknown_names():
    with pytest.raises(ProbeError, match="no option 'nope'"):
        get_probe("param-count").make_options(nope=1)


def test_probes_lists_the_three():
    names = {p.name: p.question for p in list_probes()}
    assert names["param-count"] == "model-size"
    assert names["embedding-grad"] == "embedding-grad"
    assert names["word-embedding"] == "word-embedding"
    out = runner.invoke(app, ["probes"], terminal_width=200)
    assert out.exit_code == 0
    for name in ("param-count", "embedding-grad", "word-embedding"):
        assert name in out.stdout


def test_probe_help_documents_options():
    out = runner.invoke(app, ["probe", "embedding-grad", "--help"], terminal_width=200)
    assert out.exit_code == 0
    for option in ("--text", "--big-vocab", "--big-dim", "--reps", "--seed", "--json"):
        assert option in out.stdout


def test_a_probe_runs_on_its_declared_threads_and_torch_gets_its_own_back():
    import dataclasses

    import torch

    from n00bqa.probes.base import Measured, Probe

    @dataclasses.dataclass
    class NoOptions:
        pass

    seen = []

    def run(opts, ctx):
        seen.append(torch.get_num_threads())
        return Measured(summary="s", findings=[], metrics={})

    before = torch.get_num_threads()
    result = run_probe(Probe("t", "q", "t", NoOptions, run, threads=1), NoOptions(), cache=False)
    assert seen == [1] and result.environment["threads"] == 1
    assert torch.get_num_threads() == before
    result = run_probe(Probe("t", "q", "t", NoOptions, run), NoOptions(), cache=False)
    assert seen[-1] == before and result.environment["threads"] == before
