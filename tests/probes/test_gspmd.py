"""The gspmd probe: JAX's GSPMD partitioner on host devices (a child process), beside DTensor on gloo
ranks. Collective counts per layout are checked against HLO compiled here by other code; numbers
against the ring formula worked by hand; JAX stays out of every process but the child, and a
missing JAX is one line naming the extra to install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.probes import assert_output_whole

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.lib.jax_devices import run_on_host_devices
from n00bqa.probes.runs import run_probe

TESTS = Path(__file__).resolve().parents[1]
WT = TESTS.parent
N, ROWS, INNER, COLS, D = 2, 16, 32, 24, 32
KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")


@pytest.fixture(scope="module")
def gspmd_run():
    flags = os.environ.get("XLA_FLAGS")
    probe = find_probe(None, "gspmd")
    result = run_probe(None, probe, probe.make_options(), seed=0, cache=False)
    assert os.environ.get("XLA_FLAGS") == flags  # nothing leaked into this process
    assert "jax" not in sys.modules
    return result


@pytest.fixture(scope="module")
def hlo_texts():
    """The same layouts compiled by tests/support/jax_workers.py, not by the probe."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(WT)])
    try:
        return run_on_host_devices("support.jax_workers:matmul_hlo", {"rows": ROWS, "inner": INNER, "cols": COLS,
                                                                     "propagation": "gspmd"},
                                   N, 120)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def _count(text: str, kind: str) -> int:
    """Instructions whose opcode is `kind` (or its async start), counted by a plain pattern."""
    return len(re.findall(rf"\s{kind}(?:-start)?\(", text))


@pytest.mark.slow
def test_collective_counts_per_layout_match_the_hlo(gspmd_run, hlo_texts):
    assert gspmd_run.numbers.shardy is False  # the default run is the paper's GSPMD propagation
    layouts = gspmd_run.numbers.layouts
    for name, layout in layouts.items():
        for side, out in ((layout.jax_free, "free"), (layout.jax, "replicated")):
            text = hlo_texts[f"{name}/{out}"]
            assert side.collectives == sum(_count(text, k) for k in KINDS), (name, out)
            for kind in KINDS:
                assert side.kinds.split(", ").count(kind) == _count(text, kind), (name, out, kind)
    # what those counts are, on 2 devices
    assert [layouts[k].jax_free.collectives for k in ("batch", "column", "replicated")] == [0, 0, 0]
    assert layouts["row"].jax_free.kinds == "all-reduce" and layouts["row"].jax_output == "Replicate()"
    assert layouts["both"].jax_free.kinds == "all-gather"


@pytest.mark.slow
def test_bytes_follow_the_ring_formula_worked_by_hand(gspmd_run):
    m = gspmd_run.metrics
    out_bytes = ROWS * COLS * 4
    assert m["layouts.row.jax_free.bytes_per_device"] == pytest.approx(2 * (N - 1) / N * out_bytes)
    assert m["layouts.batch.jax.bytes_per_device"] == pytest.approx((N - 1) / N * out_bytes)
    # "both": x gathered (rows x inner), then the column-split output gathered
    assert m["layouts.both.jax.bytes_per_device"] == pytest.approx((N - 1) / N * (ROWS * INNER * 4 + out_bytes))
    assert m["mlps.megatron.jax.bytes_per_device"] == pytest.approx(2 * (N - 1) / N * ROWS * D * 4)
    assert m["mlps.fsdp.jax.bytes_per_device"] == pytest.approx((N - 1) / N * 2 * (D * 4 * D * 4))


@pytest.mark.slow
def test_megatron_is_one_allreduce_and_fsdp_two_allgathers_each_equal_to_one_device(gspmd_run):
    n = gspmd_run.numbers
    meg, fsdp = n.mlps["megatron"], n.mlps["fsdp"]
    assert meg.jax.kinds == "all-reduce" and meg.jax.shapes == f"{ROWS}x{D}"
    assert fsdp.jax.kinds == "all-gather, all-gather" and fsdp.jax_output == "Shard(0)"
    diffs = [lay.jax_max_abs_diff for lay in n.layouts.values()] + [m.jax_max_abs_diff for m in n.mlps.values()]
    diffs += [lay.dtensor_max_abs_diff for lay in n.layouts.values()] + [n.constrained_max_abs_diff]
    assert max(diffs) <= n.tolerance


@pytest.mark.slow
def test_constraint_changes_the_propagated_output_and_dtensor_is_measured_beside(gspmd_run):
    n = gspmd_run.numbers
    assert (n.layouts["row"].jax_output, n.constrained_output) == ("Replicate()", "Shard(0)")
    assert n.constrained_dynamic_slices >= 1 or "reduce-scatter" in n.constrained.kinds
    assert n.layouts["row"].dtensor_output == "Partial()" and n.layouts["row"].dtensor_free.collectives == 0
    for layout in n.layouts.values():  # the verdicts are the comparison of the two measured sides
        assert layout.same_collectives == (sorted(layout.jax.kinds.split(", ")) ==
                                           sorted(layout.dtensor.kinds.split(", ")))
        assert layout.same_bytes == (abs(layout.jax.bytes_per_device - layout.dtensor.bytes_per_device) < 0.5)
    assert_output_whole(gspmd_run)


@pytest.mark.slow
def test_four_devices_small_sizes_with_shardy():
    probe = find_probe(None, "gspmd")
    result = run_probe(None, probe, probe.make_options(devices=4, rows=4, inner=4, cols=4, d_model=4,
                                                       propagation="shardy"), seed=1, cache=False)
    n = result.numbers
    assert n.shardy is True and n.devices == 4 and n.layouts["row"].jax_free.kinds == "all-reduce"
    assert n.layouts["row"].jax_free.bytes_per_device == pytest.approx(2 * 3 / 4 * 4 * 4 * 4)
    assert n.mlps["megatron"].jax.collectives == 1
    assert_output_whole(result)


@pytest.mark.parametrize("values, message", [
    ({"devices": 5}, "--devices must be 2, 3 or 4, got 5"),
    ({"rows": 15}, "--rows 15 does not split evenly over --devices 2"),
    ({"propagation": "auto"}, "--propagation must be gspmd or shardy, got 'auto'"),
    ({"timeout": 1}, "--timeout must be between 10 and 600 seconds, got 1"),
])
def test_bad_options_are_one_line(values, message):
    with pytest.raises(ProbeError, match=re.escape(message)):
        find_probe(None, "gspmd").make_options(**values)


# A meta-path finder that makes `import jax` fail, as if the extra were not installed.
BLOCKER = textwrap.dedent("""\
    import sys
    class NoJax:
        def find_spec(self, name, path=None, target=None):
            if name == "jax" or name.startswith("jax."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, NoJax())
    """)


def _cli(args: list[str], block: bool, study) -> subprocess.CompletedProcess:
    script = ((BLOCKER if block else "") + "import sys, json\nsys.argv = ['n00bqa'] + json.loads(sys.argv[1])\n"
              "from n00bqa.__main__ import main\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
              "else:\n    code = 0\nsys.stderr.write('JAX_IMPORTED=%s\\n' % ('jax' in sys.modules))\n"
              "sys.exit(code if isinstance(code, int) else 1)\n")
    env = {**os.environ, "PYTHONPATH": str(WT), "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=study, timeout=120)


def test_without_jax_the_probe_says_what_to_install_and_nothing_else_imports_jax(study_root):
    missing = _cli(["probe", "gspmd"], True, study_root)
    assert missing.returncode == 1
    lines = [line for line in missing.stderr.splitlines() if line.strip() and not line.startswith("JAX_IMPORTED")]
    assert len(lines) == 1 and "pip install 'n00bqa[jax]'" in lines[0], missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    for args in (["--help"], ["probes"], ["probe", "gspmd", "--help"], ["probe", "sharding", "--help"]):
        for block in (True, False):
            done = _cli(args, block, study_root)
            assert done.returncode == 0, (args, block, done.stderr)
            assert "JAX_IMPORTED=False" in done.stderr, (args, block)


def test_importing_every_builtin_probe_imports_no_jax():
    script = ("import importlib, sys\nfrom n00bqa.probes import BUILTIN_PROBES\n"
              "[importlib.import_module(m) for m in BUILTIN_PROBES]\nprint('jax' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(WT)})
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.slow
def test_verdict_words_follow_the_numbers_on_both_sides(gspmd_run):
    import copy
    import dataclasses

    from n00bqa.probes.base import report_with_verdicts
    from n00bqa.probes.gspmd import report

    opts = find_probe(None, "gspmd").make_options()
    n = copy.deepcopy(gspmd_run.numbers)
    words = " ".join(report(n, opts).findings)
    assert "Every sharded JAX result is equal within" in words
    assert "the same collectives (0 apart) and the same bytes" in words
    n.layouts["row"].jax_max_abs_diff = 2 * n.tolerance  # just over the threshold
    meg = n.mlps["megatron"]
    meg.dtensor = dataclasses.replace(meg.dtensor, kinds="all-gather", bytes_per_device=meg.jax.bytes_per_device + 1)
    words = " ".join(report(n, opts).findings)
    assert "Every sharded JAX result is NOT equal within" in words
    assert "DTensor issued all-gather: different collectives (2 apart) and different bytes" in words
    n.layouts["row"].jax_max_abs_diff = n.tolerance  # at the threshold: equal
    assert "JAX result is equal within" in " ".join(report(n, opts).findings)
    n.constrained_dynamic_slices = 0
    made, recorded = report_with_verdicts(report, n, opts)
    if n.constrained.kinds == n.layouts["row"].jax_free.kinds:
        assert "no instruction cuts out a device's rows" in " ".join(made.findings)
        assert [v.word for v in recorded if v.name == "dynamic-slices"] == ["no instruction cuts out a device's rows."]


@pytest.mark.slow
def test_recorded_verdicts_follow_from_the_run(gspmd_run):
    from support.verdicts import problems

    m = gspmd_run.metrics
    recorded = gspmd_run.verdicts
    worst = max([m[f"layouts.{k}.jax_max_abs_diff"] for k in ("batch", "column", "row", "both", "replicated")]
                + [m["constrained_max_abs_diff"], m["mlps.megatron.jax_max_abs_diff"], m["mlps.fsdp.jax_max_abs_diff"]])
    tolerances = [v for v in recorded if v.name == "tolerance"]
    assert tolerances[0].value == worst and tolerances[0].threshold == m["tolerance"]
    assert [v.word for v in tolerances] == ["equal within", "equal within"]
    for mlp in ("megatron", "fsdp"):
        apart = abs(m[f"mlps.{mlp}.jax.bytes_per_device"] - m[f"mlps.{mlp}.dtensor.bytes_per_device"])
        assert apart in [v.value for v in recorded if v.name == "bytes apart"]
    assert [v.value for v in recorded if v.name == "collectives apart"] == [0, 0]
    assert problems(gspmd_run) == []