"""The probe framework: the registry's three sources, lazy loading, broken probes, `probe new`,
the cache keyed by the probe's source, the JSON shape, and the numbers-in-findings check.

Everything here runs the house template (`n00bqa/probes/template.py`), a real and fast probe, so
the framework is tested apart from any one built-in probe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.errors import ProbeError
from n00bqa.probes import BUILTIN_PROBES, discover, find_probe, load_probes, probe_names
from n00bqa.probes.base import ProbeResult, Table, flat_metrics, numbers_in, unexplained_numbers
from n00bqa.probes.runs import cached_result, last_result, run_probe
from n00bqa.probes.scaffold import new_probe
from support.probes import finding_with

runner = CliRunner()
KEYS = {"probe", "question", "summary", "findings", "tables", "metrics", "environment", "seconds"}


@pytest.fixture
def learner_probe(study):
    """A learner's probe made by `probe new`, linked to model-size."""
    path, _ = new_probe(study, "my-linear", "model-size")
    return path


def test_probe_new_writes_a_working_probe_linked_to_its_question(study, learner_probe: Path):
    assert learner_probe == study.probes_dir / "my_linear.py"
    text = learner_probe.read_text()
    assert 'name="my-linear"' in text and 'question="model-size"' in text
    assert "findings" in text and "tables" in text and "metrics" in text  # the comment block says where
    from n00bqa.questions import get_question

    assert "my-linear" in get_question(study, "model-size").probes
    out = runner.invoke(app, ["probe", "my-linear", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) == KEYS and data["probe"] == "my-linear" and data["question"] == "model-size"
    # The template's facts: (8, 64) -> (8, 32), x @ W.T + b equal, 64*32 + 32 parameters.
    metrics = data["metrics"]
    assert (metrics["output_rows"], metrics["output_cols"]) == (8, 32)
    assert metrics["params"] == metrics["params_formula"] == 64 * 32 + 32
    assert metrics["max_abs_diff"] <= metrics["tolerance"]
    assert len(data["environment"]["probe_sha256"]) == 64


@pytest.mark.parametrize("name, expected", [
    ("my-linear", "already exists"),
    ("param-count", "already exists"),
    ("Bad_Name", "lowercase words joined by '-'"),
    ("2fast", "lowercase words joined by '-'"),
    ("new", "reserved"),
])
def test_probe_new_refuses_taken_or_bad_names_in_one_line(learner_probe, name, expected):
    out = runner.invoke(app, ["probe", "new", name])
    assert out.exit_code == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], out.stderr


def test_probe_new_refuses_an_unknown_question(study):
    with pytest.raises(Exception, match="unknown question id 'nope'"):
        new_probe(study, "fine-name", "nope")
    assert not (study.probes_dir / "fine_name.py").exists()


def test_template_verdict_follows_the_numbers_on_both_sides():
    from n00bqa.probes import template

    opts = template.Options()
    tensors = {"weight": template.TensorSize("32 x 64", 2048), "bias": template.TensorSize("32", 32)}
    same = template.Numbers(8, 32, 2080, 2080, max_abs_diff=0.0, tolerance=1e-6, tensors=tensors)
    apart = template.Numbers(8, 32, 2080, 2080, max_abs_diff=1e-3, tolerance=1e-6, tensors=tensors)
    assert finding_with(template.report(same, opts), "are equal within 1e-06")
    assert finding_with(template.report(apart, opts), "NOT equal within 1e-06")


def test_editing_a_probe_changes_its_hash_and_reruns_it(study, learner_probe: Path):
    probe = find_probe(study, "my-linear")
    opts = probe.make_options()
    first = run_probe(study, probe, opts)
    assert cached_result(study, probe, opts) is not None
    assert last_result(study, "my-linear").to_dict() == first.to_dict()
    learner_probe.write_text(learner_probe.read_text() + "\n# an edit\n")
    # The old run is stale now: neither the exact-options cache nor `show`/`ask` use it.
    assert cached_result(study, probe, opts) is None
    assert last_result(study, "my-linear") is None
    second = run_probe(study, probe, opts)
    assert second.environment["probe_sha256"] != first.environment["probe_sha256"]
    assert last_result(study, "my-linear").environment["probe_sha256"] == second.environment["probe_sha256"]


def test_show_says_which_options_the_shown_run_used(study, learner_probe):
    out = runner.invoke(app, ["probe", "my-linear", "--batch", "3"])
    assert out.exit_code == 0, out.output
    shown = runner.invoke(app, ["show", "model-size"], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    assert "--batch 3" in shown.stdout and "3 x 32" in shown.stdout
    data = json.loads(runner.invoke(app, ["show", "model-size", "--json"]).stdout)
    assert data["probe_results"]["my-linear"]["environment"]["options"]["batch"] == 3


def test_same_seed_same_numbers(study, learner_probe):
    probe = find_probe(study, "my-linear")
    first = run_probe(study, probe, probe.make_options(), seed=3, cache=False)
    second = run_probe(study, probe, probe.make_options(), seed=3, cache=False)
    assert first.metrics == second.metrics and first.findings == second.findings


BROKEN = {
    "syntax.py": ("def oops(:\n", ":1:", "SyntaxError"),
    "raises.py": ("x = 1\nraise RuntimeError('boom')\n", ":2:", "RuntimeError: boom"),
    "noprobe.py": ("x = 1\n", "noprobe.py", "defines no PROBE"),
}


def test_a_broken_probe_is_named_and_everything_else_works(study, learner_probe):
    for name, (source, _, _) in BROKEN.items():
        (study.probes_dir / name).write_text(source)
    probes, problems = load_probes(study)
    assert "my-linear" in {p.name for p in probes}
    messages = {p.name: p.message for p in problems}
    for name, (_, where, error) in BROKEN.items():
        message = messages[name.removesuffix(".py")]
        assert where in message and error in message and "\n" not in message
    out = runner.invoke(app, ["probes"], terminal_width=200)
    assert out.exit_code == 1 and "my-linear" in out.stdout
    for name in ("syntax", "raises", "noprobe"):
        assert any(line.startswith("Warning:") and f"'{name}'" in line or f"{name}.py" in line
                   for line in out.stderr.splitlines())
    for args in (["--help"], ["questions"], ["show", "model-size"], ["probe", "my-linear"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    run = runner.invoke(app, ["probe", "raises"])
    assert run.exit_code == 1 and "RuntimeError: boom" in run.stderr and "Traceback" not in run.output


def test_learner_probe_cannot_take_a_builtin_name(study):
    study.probes_dir.mkdir()
    (study.probes_dir / "param_count.py").write_text("x = 1\n")
    specs, problems = discover(study)
    assert specs["param-count"].origin == "built-in"
    assert any("is taken" in p.message for p in problems)


def test_probes_from_an_installed_package_entry_point(study, tmp_path, monkeypatch):
    """The `n00bqa.probes` entry-point group: a package's probe is listed and runs."""
    import importlib.metadata as md

    import n00bqa.probes as registry

    package = tmp_path / "site" / "extra_probes"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = Path(registry.__file__).with_name("template.py").read_text()
    (package / "pkg_linear.py").write_text(source.replace('name="template"', 'name="pkg-linear"'))
    monkeypatch.syspath_prepend(str(package.parent))
    ep = md.EntryPoint(name="pkg-linear", value="extra_probes.pkg_linear", group="n00bqa.probes")
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == "n00bqa.probes" else [])
    registry._installed_specs.cache_clear()
    try:
        assert "pkg-linear" in probe_names(study)
        assert discover(study)[0]["pkg-linear"].origin.startswith("entry point")
        result = run_probe(study, find_probe(study, "pkg-linear"), find_probe(study, "pkg-linear").make_options())
        assert result.metrics["params"] == 2080
    finally:
        registry._installed_specs.cache_clear()


def test_unknown_probe_exits_1_like_an_unknown_id_with_a_suggestion():
    out = runner.invoke(app, ["probe", "param-cont"])
    assert out.exit_code == 1  # the README's rule: an unknown name exits 1
    assert "did you mean 'param-count'" in out.stderr and "Traceback" not in out.output
    with pytest.raises(ProbeError, match="unknown probe"):
        find_probe(None, "nope")


def test_builtin_names_match_their_files():
    names = [m.rsplit(".", 1)[1].replace("_", "-") for m in BUILTIN_PROBES]
    assert names == probe_names(None)[: len(names)]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("args", [["--help"], ["questions", "--json"], ["show", "model-size"],
                                  ["probes", "--help"], ["search", "--help"], ["ask", "--help"]])
def test_light_commands_import_no_probe_module_and_no_torch(study_root, args):
    """Checked in a fresh interpreter through sys.modules (importlib imports escape -X importtime)."""
    code = (
        "import sys\nfrom n00bqa.cli import app\nsys.argv = ['n00bqa', *sys.argv[1:]]\n"  # main() ends without teardown
        "try:\n    app(prog_name='n00bqa')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'faiss')"
        " or (m.startswith('n00bqa.probes.') and m not in ('n00bqa.probes.base',))"
        " or m.startswith('n00bqa_user_probes'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "N00BQA_ROOT": str(study_root)})
    assert "HEAVY []" in out.stderr, out.stderr[-2000:]


def test_loading_a_probe_imports_no_other_probe(study_root):
    """`n00bqa probe NAME` loads NAME's module and probe helpers (models, metrics, the launcher),
    never another probe's module: checked for every built-in in one fresh interpreter each."""
    code = (
        "import sys\nfrom n00bqa.probes import BUILTIN_PROBES, find_probe\n"
        "find_probe(None, sys.argv[1])\n"
        "print(sorted(set(BUILTIN_PROBES) & set(sys.modules)))\n"
    )
    for module in BUILTIN_PROBES:
        name = module.rsplit(".", 1)[1].replace("_", "-")
        out = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=120,
                             env={**__import__("os").environ, "N00BQA_ROOT": str(study_root)})
        assert out.returncode == 0, out.stderr[-1500:]
        assert eval(out.stdout.strip().splitlines()[-1]) == [module], (name, out.stdout)


def test_flat_metrics_nest_with_dots_and_skip_text():
    import dataclasses

    @dataclasses.dataclass
    class Inner:
        total: int
        label: str

    @dataclasses.dataclass
    class Outer:
        gpt2: Inner
        per_model: dict
        ratio: float
        flag: bool
        curve: list

    metrics = flat_metrics(Outer(Inner(7, "x"), {"bert": {"total": 9}}, 0.5, True, [1, 2]))
    assert metrics == {"gpt2.total": 7, "per_model.bert.total": 9, "ratio": 0.5, "flag": True}


def _result(findings, metrics=None, tables=None, options=None) -> ProbeResult:
    return ProbeResult("p", "q", "s", findings, tables or [], metrics or {},
                       {"options": options or {}, "seed": 0}, 0.0)


def test_unexplained_numbers_catches_a_retyped_number_and_accepts_derived_ones():
    metrics = {"total": 124_439_808, "share": 0.3165, "seconds": 0.292, "bytes": 46_881_792}
    good = _result(["GPT-2 has 124,439,808 parameters (124.44 million), 31.6% in tables, 292 ms, "
                    "44.7 MiB, 2 tables, fp32, MAP@3, Vaswani et al. (2017)."], metrics)
    assert unexplained_numbers(good) == []
    bad = _result(["GPT-2 has 124,439,809 parameters."], metrics)
    assert unexplained_numbers(bad) and "124,439,809" in unexplained_numbers(bad)[0]
    from_table = _result(["a cell: 30,522 rows"], tables=[Table("t", ["rows"], [[30522]])])
    assert unexplained_numbers(from_table) == []
    from_option = _result(["at seq len 1024"], options={"seq_len": 1024})
    assert unexplained_numbers(from_option) == []
    assert numbers_in("GPT-2 at 1,024 tokens costs 0.5 and fp32 1e-06") == ["1,024", "0.5", "1e-06"]


def test_every_builtin_probe_module_defines_its_probe_in_the_one_layout():
    """The layout, checked without running: a Numbers dataclass, measure, report, PROBE."""
    import dataclasses
    import importlib

    for module_name in BUILTIN_PROBES:
        module = importlib.import_module(module_name)
        probe = module.PROBE
        assert dataclasses.is_dataclass(probe.options), module_name
        assert callable(probe.measure) and callable(probe.report), module_name
        assert probe.predictions, f"{module_name} declares no predictions for n00bqa quiz"
        assert module.__doc__ and module.__doc__.strip(), module_name


def test_last_shows_the_cached_run_without_running_and_probes_json_reports_it(study, learner_probe):
    missing = runner.invoke(app, ["probe", "my-linear", "--last"])
    assert missing.exit_code == 1 and "no cached run of my-linear" in missing.stderr
    ran = json.loads(runner.invoke(app, ["probe", "my-linear", "--json", "--batch", "5"]).stdout)
    shown = json.loads(runner.invoke(app, ["probe", "my-linear", "--last", "--json"]).stdout)
    assert shown == ran
    record = next(p for p in json.loads(runner.invoke(app, ["probes", "--json"]).stdout) if p["name"] == "my-linear")
    assert record["questions"] == ["model-size"] and record["origin"] == str(learner_probe)
    assert record["last_run"]["options"]["batch"] == 5 and record["runs_cached"] == 1
    assert record["typical_seconds"] == ran["seconds"]


def test_a_result_that_cannot_be_cached_is_still_shown(study, learner_probe, monkeypatch):
    from n00bqa.errors import WriteError
    import n00bqa.probes.runs as base

    def refuse(*args, **kwargs):
        raise WriteError("cannot write '/ro/.n00bqa/probe-cache/x.json': Read-only file system; check ...")

    monkeypatch.setattr(base, "save_result", refuse)
    out = runner.invoke(app, ["probe", "my-linear", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["metrics"]["params"] == 2080
    assert "Read-only file system" in out.stderr and "was not cached" in out.stderr


def test_the_source_hash_covers_the_probe_helpers_it_imports(study, learner_probe, tmp_path, monkeypatch):
    import n00bqa.probes as registry

    helper = tmp_path / "shared_helper.py"
    helper.write_text("SIZE = 1\n")
    real = registry._module_path
    monkeypatch.setattr(registry, "_module_path",
                        lambda name: helper if name == "n00bqa.probes.shared_helper" else real(name))
    learner_probe.write_text(learner_probe.read_text() + "\ndef _uses():\n    from n00bqa.probes.shared_helper import SIZE\n")
    spec = discover(study)[0]["my-linear"]
    assert [p.name for p in registry._sources(spec.path)] == ["my_linear.py", "shared_helper.py"]
    before = spec.source_sha256()
    helper.write_text("SIZE = 2\n")
    assert spec.source_sha256() != before
    # The framework is not a measurement: base.py is never part of the hash.
    assert all(p.name != "base.py" for p in registry._sources(discover(None)[0]["loss"].path))


def test_probe_new_writes_tests_that_pass_and_can_fail(study, learner_probe, monkeypatch):
    """The new probe's own tests (test_my_linear.py) run green, and go red when a finding retypes a number."""
    import subprocess
    import sys

    test_file = study.probes_dir / "test_my_linear.py"
    assert 'NAME = "my-linear"' in test_file.read_text()
    assert "my-linear" in probe_names(study) and "test-my-linear" not in probe_names(study)
    env = {**__import__("os").environ, "N00BQA_ROOT": str(study.root)}
    ok = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                        capture_output=True, text=True, timeout=300, cwd=study.root, env=env)
    assert ok.returncode == 0, ok.stdout[-2000:]
    learner_probe.write_text(learner_probe.read_text().replace(
        'f"It holds {n.params:,} parameters;', 'f"It holds 9,999 parameters;'))
    bad = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                         capture_output=True, text=True, timeout=300, cwd=study.root, env=env)
    assert bad.returncode == 1 and "test_every_number_in_a_finding_is_measured" in bad.stdout
    out = runner.invoke(app, ["probe", "my-linear"])
    assert out.exit_code == 0 and "'9,999'" in out.stderr and "no metric, table cell or option" in out.stderr


def test_numbers_nest_into_dotted_metrics_and_tables_are_built_by_name():
    from dataclasses import dataclass

    @dataclass
    class Case:
        entropy: float
        saturated: bool

    numbers = {"sweep": {8: Case(2.0, False), 512: Case(0.01, True)}, "label": "x", "curve": [1, 2]}
    assert flat_metrics(numbers) == {"sweep.8.entropy": 2.0, "sweep.8.saturated": False,
                                     "sweep.512.entropy": 0.01, "sweep.512.saturated": True}
    table = Table.of("sweep", numbers["sweep"], {"d_k": "key", "H": "entropy",
                                                 "verdict": lambda k, c: "saturated" if c.saturated else "spread"})
    assert table.columns == ["d_k", "H", "verdict"]
    assert table.rows == [[8, 2.0, "spread"], [512, 0.01, "saturated"]]
    assert Table.of("rows", [{"a": 1}, {"a": 2}], {"a": "a"}).rows == [[1], [2]]


def test_a_run_keeps_its_numbers_for_tests_but_not_in_json(study):
    from n00bqa.probes import template

    result = run_probe(study, template.PROBE, template.PROBE.make_options(), seed=0)
    assert result.numbers.params == result.metrics["params"] == 64 * 32 + 32
    assert "numbers" not in result.to_dict()
    assert last_result(study, "template") is None or last_result(study, "template").numbers is None
