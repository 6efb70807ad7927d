"""A probe's source hash is found quickly and means what it meant: the built-in's spec without
reading installed packages' entry points, each file's imports parsed once per change of the file,
and the same imports in the same order as walking the whole syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

import n00bqa.probes as registry
from n00bqa.probes.runs import probe_sha256


def walk_imports(path: Path) -> list[str]:
    """What the registry always looked for: absolute imports, in ast.walk's order."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
    return names


def test_statements_find_the_imports_ast_walk_finds_in_its_order():
    files = sorted(Path(registry.__file__).parent.glob("*.py"))
    assert len(files) > 20
    for path in files:
        memo = {"files": {}}
        assert registry._imported_names(path, memo) == walk_imports(path), path


def test_nested_imports_keep_their_order(tmp_path):
    source = tmp_path / "p.py"
    source.write_text("def f():\n    import n00bqa.probes.nanogpt\nimport n00bqa.probes.lib.models\n"
                      "try:\n    pass\nexcept ImportError:\n    from n00bqa.probes.variants import x\n"
                      "match 1:\n    case 1:\n        import n00bqa.probes.lib.metrics\n"
                      "class C:\n    if True:\n        from n00bqa.probes.lib.distributed import y\n")
    assert registry._imported_names(source, {"files": {}}) == walk_imports(source)


def test_spec_of_is_what_discover_gives(study):
    specs, _ = registry.discover(study)
    for name, spec in specs.items():
        assert registry.spec_of(study, name) == spec
    assert registry.spec_of(study, "no-such-probe") is None


def test_imports_are_parsed_once_per_change_of_the_file(tmp_path, monkeypatch, study):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = probe_sha256(study, "param-count")
    parsed = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: parsed.append(1) or real(*a, **k))
    assert probe_sha256(study, "param-count") == before
    assert parsed == []  # every file of the probe was remembered with its stamp
    helper = tmp_path / "probe.py"
    helper.write_text("import n00bqa.probes.lib.models\n")
    assert registry._sources(helper)[1].name == "models.py"
    helper.write_text("import n00bqa.probes.nanogpt\n")  # a change: parsed again
    assert registry._sources(helper)[1].name == "nanogpt.py"
