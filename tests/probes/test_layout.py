"""The probe layer's layout (issue 21): one probe per file, probes import only `base` and `lib/`,
numbers that nest instead of a field per case, and nothing in probes/ that is neither a probe nor
the framework. Read from the source with ast, so a probe never has to be imported to be checked."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from n00bqa.probes import BUILTIN_PROBES

PROBES_DIR = Path(__import__("n00bqa.probes", fromlist=["x"]).__file__).parent
FRAMEWORK = {"__init__", "base", "runs", "scaffold", "template", "template_test"}
ALLOWED = {"n00bqa.probes.base"}  # plus anything under n00bqa.probes.lib
# A field named after one case of a sweep: _dk512, _s128_b4, _l12, _1024, _gpt2, ...
CASE_SUFFIX = re.compile(r"_(dk|s|b|l|h|n|t|k|seq|len|bs)?\d+(_[a-z]*\d+)*$")


def probe_files() -> list[Path]:
    return [PROBES_DIR / (m.rsplit(".", 1)[1] + ".py") for m in BUILTIN_PROBES]


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names if node.module == "n00bqa.probes"]
    return names


def test_probes_folder_holds_only_probes_the_framework_and_lib():
    stems = {p.stem for p in PROBES_DIR.glob("*.py")}
    builtins = {m.rsplit(".", 1)[1] for m in BUILTIN_PROBES}
    assert stems - FRAMEWORK - builtins == set(), "helpers belong in n00bqa/probes/lib/"
    assert builtins <= stems


@pytest.mark.parametrize("path", probe_files(), ids=lambda p: p.stem)
def test_each_probe_file_registers_one_probe_and_imports_no_other_probe(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    registrations = [n for n in tree.body if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "PROBE" for t in n.targets)]
    assert len(registrations) == 1
    assert ast.get_docstring(tree), "the module docstring is the probe's question"
    for name in imported_modules(tree):
        if name.startswith("n00bqa.probes"):
            assert name in ALLOWED or name.startswith("n00bqa.probes.lib"), f"{path.stem} imports {name}"


@pytest.mark.parametrize("path", probe_files(), ids=lambda p: p.stem)
def test_numbers_nest_instead_of_a_field_per_case_and_nothing_subclasses_dict(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b) for b in node.bases}
            assert not bases & {"dict", "Dict", "typing.Dict"}, f"{path.stem}.{node.name} subclasses dict"
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    assert not CASE_SUFFIX.search(item.target.id), \
                        f"{path.stem}.{node.name}.{item.target.id}: nest the cases (a dict keyed by the case)"
