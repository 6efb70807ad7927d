"""n00bqa/probes/lib/jax_devices.py: the HLO reader against hand-written HLO, and the child runner:
N host devices in the child only, XLA_FLAGS never in the parent's environment, one-line errors, a
timeout, and no child left behind after a result, an error, a timeout or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.lib import jax_devices
from n00bqa.probes.lib.jax_devices import Collective, child_environment, collectives_in_hlo, full_bytes

TESTS = Path(__file__).resolve().parents[1]
WT = TESTS.parent

HLO = textwrap.dedent("""\
    HloModule jit_f, entry_computation_layout={(f32[8,16]{1,0})->f32[8,32]{1,0}}

    %add.clone (x: f32[], y: f32[]) -> f32[] {
      ROOT %add = f32[] add(f32[] %x, f32[] %y)
    }

    ENTRY %main (param: f32[8,16]) -> f32[8,32] {
      %param = f32[8,16]{1,0} parameter(0)
      %all-gather = f32[16,16]{1,0} all-gather(%param), channel_id=1, dimensions={0}
      %dot = f32[16,32]{1,0} dot(%all-gather, %all-gather), lhs_contracting_dims={1}
      %all-reduce.2 = bf16[16,32]{1,0} all-reduce(%dot), channel_id=2, to_apply=%add.clone
      %rs = f32[4,32]{1,0} reduce-scatter(%dot), channel_id=3, dimensions={0}, to_apply=%add.clone
      %ags = (f32[4,8]{1,0}, f32[8,8]{1,0}) all-gather-start(%x), channel_id=4, dimensions={0}
      %agd = f32[8,8]{1,0} all-gather-done(%ags)
      %a2a = (f32[2,2]{1,0}, f32[2,2]{1,0}) all-to-all(%p, %q), channel_id=5
      %cp = s32[3]{0} collective-permute(%i), channel_id=6, source_target_pairs={{0,1},{1,0}}
      ROOT %copy = f32[8,32]{1,0} copy(%dot)
    }
    """)


def test_hlo_reader_lists_each_collective_once_in_order_with_its_shape_and_bytes():
    found = collectives_in_hlo(HLO)
    assert [c.kind for c in found] == ["all-gather", "all-reduce", "reduce-scatter", "all-gather", "all-to-all",
                                       "collective-permute"]
    assert [c.name for c in found] == ["all-gather", "all-reduce.2", "rs", "ags", "a2a", "cp"]
    assert found[0].shape == [16, 16] and found[0].bytes == 16 * 16 * 4
    assert found[1].dtype == "bf16" and found[1].bytes == 16 * 32 * 2
    assert found[3].shape == [8, 8] and found[3].bytes == 8 * 8 * 4  # the async start's result, not its operand
    assert found[4].bytes == 2 * (2 * 2 * 4)  # a tuple result counts all its arrays
    assert found[5].bytes == 3 * 4
    assert collectives_in_hlo("%d = f32[2]{0} dot(%a, %b)\nnothing here") == []


def test_full_bytes_is_the_whole_tensor_each_collective_prices():
    rs = Collective("reduce-scatter", "rs", [4, 32], "f32", 4 * 32 * 4)
    ag = Collective("all-gather", "ag", [16, 16], "f32", 16 * 16 * 4)
    assert full_bytes(rs, 4) == 4 * 4 * 32 * 4  # its input: the result x N
    assert full_bytes(ag, 4) == 16 * 16 * 4  # its result


def test_child_environment_sets_the_device_count_and_keeps_other_flags_without_touching_os_environ():
    before = dict(os.environ)
    env = child_environment(4, {"XLA_FLAGS": "--xla_foo=1 --xla_force_host_platform_device_count=9", "A": "b"})
    assert env["XLA_FLAGS"].split() == ["--xla_foo=1", "--xla_force_host_platform_device_count=4"]
    assert env["JAX_PLATFORMS"] == "cpu" and env["A"] == "b"
    assert dict(os.environ) == before


@pytest.fixture
def tests_on_child_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(WT)]))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("n", [2, 4])
def test_the_child_sees_n_devices_and_the_parent_environment_never_changes(tests_on_child_path, n):
    flags_before = os.environ.get("XLA_FLAGS")
    seen = jax_devices.run_on_host_devices("support.jax_workers:devices_seen", {"k": [1, 2]}, n, 120)
    assert seen["devices"] == n and seen["platform"] == "cpu" and seen["echo"] == {"k": [1, 2]}
    assert f"--xla_force_host_platform_device_count={n}" in seen["xla_flags"]
    assert os.environ.get("XLA_FLAGS") == flags_before
    assert "jax" not in sys.modules  # the parent never imported it
    assert _gone(jax_devices.last_pids()[0])


def test_a_failing_worker_is_one_line_and_leaves_no_child(tests_on_child_path):
    with pytest.raises(ProbeError) as caught:
        jax_devices.run_on_host_devices("support.jax_workers:fail", {}, 2, 120)
    assert str(caught.value) == "the JAX child process failed: RuntimeError: worker failed on purpose"
    assert _gone(jax_devices.last_pids()[0])


def test_a_hanging_worker_is_ended_at_the_timeout(tests_on_child_path, tmp_path):
    start = time.monotonic()
    with pytest.raises(ProbeError, match="longer than 12 s"):
        jax_devices.run_on_host_devices("support.jax_workers:hang", {"pidfile": str(tmp_path / "pid")}, 2, 12)
    assert time.monotonic() - start < 30
    assert _gone(int((tmp_path / "pid").read_text()))


def test_sigterm_to_the_parent_ends_the_child(tmp_path):
    pidfile = tmp_path / "pid"
    script = (f"from n00bqa.probes.lib.jax_devices import run_on_host_devices\n"
              f"run_on_host_devices('support.jax_workers:hang', {{'pidfile': {str(pidfile)!r}}}, 2, 300)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(WT)])}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child = int(pidfile.read_text())
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    assert parent.returncode != 0
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child)


def test_bad_worker_names_are_one_line():
    with pytest.raises(ProbeError, match="module:function"):
        jax_devices.run_on_host_devices("no_colon", {}, 2, 10)
