"""Issue 21, item 6: a learner's probe written from the template before the probe layer changed
keeps running, and one that imports a helper which moved to probes/lib/ is told the fix in one line.

The fixture is the template and its tests as `probe new my-linear` wrote them at commit 9f8d663
(tests/fixtures/learner_probe_before_21/), copied into the test's study root."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe

OLD = Path(__file__).resolve().parent.parent / "fixtures" / "learner_probe_before_21"


@pytest.fixture
def old_probe(study):
    study.probes_dir.mkdir(exist_ok=True)
    shutil.copy(OLD / "my_linear.py", study.probes_dir / "my_linear.py")
    shutil.copy(OLD / "my_linear_tests.py", study.probes_dir / "test_my_linear.py")
    return study.probes_dir / "my_linear.py"


def test_the_old_template_still_loads_and_measures(study, old_probe):
    probe = find_probe(study, "my-linear")
    result = run_probe(study, probe, probe.make_options(in_features=10, out_features=3), seed=0)
    assert result.metrics["params"] == 10 * 3 + 3  # the closed form, not the probe's own formula
    out = CliRunner().invoke(app, ["probe", "my-linear", "--json"])
    assert out.exit_code == 0, out.output


def test_the_old_templates_tests_still_pass(study, old_probe):
    """The old test file imports `run_probe` from base.py, where it lived before runs.py."""
    test_file = study.probes_dir / "test_my_linear.py"
    assert "from n00bqa.probes.base import run_probe" in test_file.read_text()
    spec = importlib.util.spec_from_file_location("old_test_my_linear", test_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert len(tests) == 3
    for test in tests:
        test()


@pytest.mark.parametrize("line, moved", [("from n00bqa.probes.models import load_model", "n00bqa.probes.lib.models"),
                                         ("from n00bqa.probes import metrics", "n00bqa.probes.lib.metrics"),
                                         ("import n00bqa.probes.distributed", "n00bqa.probes.lib.launcher")])
def test_an_import_of_a_moved_helper_names_the_new_path_in_one_line(study, old_probe, line, moved):
    source = old_probe.read_text()
    old_probe.write_text(source.replace("from n00bqa.probes.base import", f"{line}\nfrom n00bqa.probes.base import", 1))
    where = source.splitlines().index(next(s for s in source.splitlines() if s.startswith("from n00bqa.probes.base"))) + 1
    with pytest.raises(ProbeError) as err:
        find_probe(study, "my-linear")
    message = str(err.value)
    assert "\n" not in message
    assert f"my_linear.py:{where}:" in message and f"change the import to: from {moved} import" in message
    out = CliRunner().invoke(app, ["probe", "my-linear"])
    assert out.exit_code == 1 and moved in out.output and "Traceback" not in out.output


def test_every_moved_helper_names_a_module_that_exists():
    import importlib

    from n00bqa.probes import MOVED_MODULES

    for old, new in MOVED_MODULES.items():
        assert importlib.util.find_spec(new) is not None, (old, new)
        assert importlib.util.find_spec(old) is None, old  # really gone, so the message is the one shown
