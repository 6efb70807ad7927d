"""The probe registry: probes from three places, found without importing them.

- built-ins: the modules named in BUILTIN_PROBES (adding one is one new file and one line);
- installed packages: the entry-point group `n00bqa.probes` (`name = "package.module"`);
- the learner's own: `<study root>/probes/<name>.py` (`n00bqa probe new NAME` writes one).

A probe's name is its file's name with `_` turned into `-` (`param_count.py` is `param-count`),
so listing names and hashing sources never imports a probe module. `find_probe` imports exactly
one; `load_probes` imports them all and returns the probes plus the problems, one line each
naming the file, the line and the error, like `load_questions`. A broken probe file never stops
the other probes or any other command.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from pathlib import Path

from n00bqa.errors import ProbeError
from n00bqa.study import Study

BUILTIN_PROBES = (
    "n00bqa.probes.param_count",
    "n00bqa.probes.embedding_grad",
    "n00bqa.probes.grad_rows",
    "n00bqa.probes.word_embedding",
    "n00bqa.probes.translation",
    "n00bqa.probes.seq2seq_walk",
    "n00bqa.probes.task_heads",
    "n00bqa.probes.loss",
    "n00bqa.probes.hf_internals",
    "n00bqa.probes.zero_memory",
    "n00bqa.probes.activation_memory",
    "n00bqa.probes.nanogpt",
    "n00bqa.probes.attention",
    "n00bqa.probes.flops",
    "n00bqa.probes.forward_flops",
    "n00bqa.probes.trainer",
    "n00bqa.probes.datasets",
    "n00bqa.probes.tokenizer",
    "n00bqa.probes.variants",
    "n00bqa.probes.moe",
    "n00bqa.probes.kv_cache",
    "n00bqa.probes.ddp",
    "n00bqa.probes.fsdp",
    "n00bqa.probes.sharding",
    "n00bqa.probes.gspmd",
    "n00bqa.probes.generate",
    "n00bqa.probes.rope",
    "n00bqa.probes.sampling",
    "n00bqa.probes.induction",
    "n00bqa.probes.attention_sinks",
    "n00bqa.probes.logit_lens",
)
ENTRY_POINT_GROUP = "n00bqa.probes"
USER_MODULE_PREFIX = "n00bqa_user_probes."
# Helpers that moved out of probes/ into probes/lib/ (issue 21): a learner's probe written before
# that imports the old path, and its load error names the new one.
MOVED_MODULES = {**{f"n00bqa.probes.{name}": f"n00bqa.probes.lib.{name}" for name in ("models", "metrics", "data")},
                 "n00bqa.probes.distributed": "n00bqa.probes.lib.launcher"}


def probe_name_for(module_file: str) -> str:
    """`param_count` -> `param-count`: a probe's name from its module's file name."""
    return Path(module_file).stem.replace("_", "-")


@dataclass(frozen=True)
class ProbeSpec:
    """Where a probe lives, known without importing it."""

    name: str
    module: str  # the module to import
    origin: str  # "built-in", "entry point <dist>", or the learner's file path
    path: Path | None  # its source file (for the cache's source hash); None if not found

    def source_sha256(self) -> str:
        """The hash of the probe's source and of the probe helpers it imports (e.g. `flops` imports
        `nanogpt`'s GPT, `ddp` the launcher): a cached run is reused only while it matches."""
        if self.path is None or not self.path.is_file():
            return ""
        digest = hashlib.sha256()
        for path in _sources(self.path):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


# The framework itself is not part of any measurement: editing it does not make runs stale.
_FRAMEWORK = {"n00bqa.probes", "n00bqa.probes.base", "n00bqa.probes.runs", "n00bqa.probes.scaffold", "n00bqa.probes.template"}


def _sources(path: Path) -> list[Path]:
    """`path` and every n00bqa.probes module it imports (anywhere in it, at any depth), found by
    reading the code (ast), not by importing it."""
    found, todo = [path], [path]
    memo = _import_memo()
    while todo:
        names = _imported_names(todo.pop(), memo)
        for name in names:
            if name.startswith("n00bqa.probes.") and name not in _FRAMEWORK:
                helper = _module_path(name)
                if helper is not None and helper not in found:
                    found.append(helper)
                    todo.append(helper)
    if memo.get("changed"):
        _save_import_memo(memo)
    return found


def _imported_names(path: Path, memo: dict) -> list[str]:
    """The modules `path` imports (absolute imports, in ast.walk's order), parsed once per change of
    the file: parsing a probe is ~20 ms, and `show` and `ask` hash the probe of every cached run."""
    import ast

    try:
        st = path.stat()
        stamp = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    except OSError:
        return []
    entry = memo["files"].get(str(path))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("imports"), list):
        return entry["imports"]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    names: list[str] = []
    for node in _statements(tree):
        names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else \
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
    memo["files"][str(path)] = {"stamp": stamp, "imports": names}
    memo["changed"] = True
    return names


def _import_memo_path() -> Path:
    from n00bqa.study import user_cache_dir

    return user_cache_dir() / "probe-imports.json"


def _import_memo() -> dict:
    import json

    try:
        files = json.loads(_import_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        files = {}
    return {"files": files if isinstance(files, dict) else {}}


def _save_import_memo(memo: dict) -> None:
    """Best effort: a memo that cannot be written only means parsing again next time."""
    import json

    from n00bqa.atomic import atomic_write_text
    from n00bqa.errors import WriteError

    files = {path: entry for path, entry in memo["files"].items() if Path(path).exists()}
    try:
        _import_memo_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_import_memo_path(), json.dumps(files, indent=0))
    except (OSError, WriteError):
        pass


def _statements(tree):
    """Every statement node of `tree`, in `ast.walk`'s order, without visiting the expressions:
    an import is a statement, and no expression holds one, so the imports come out as ast.walk
    finds them (the same order, so the same source hash) for a tenth of the work."""
    import ast
    from collections import deque

    keep = (ast.stmt, ast.excepthandler, ast.match_case)
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        todo.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, keep))
        yield node


@dataclass(frozen=True)
class ProbeProblem:
    """A probe that could not be loaded; `message` is one line naming file:line and the error."""

    name: str
    message: str

    def __str__(self) -> str:
        return self.message


def _module_path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def entry_points(group: str):
    """Installed packages' entry points in `group` (importlib.metadata is imported only when asked)."""
    from importlib.metadata import entry_points as installed

    return installed(group=group)


@lru_cache(maxsize=1)
def _installed_specs() -> tuple[ProbeSpec, ...]:
    """Built-ins and entry points: the same for every study root in this process."""
    specs = [ProbeSpec(probe_name_for(m.rsplit(".", 1)[1]), m, "built-in", _module_path(m)) for m in BUILTIN_PROBES]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module = ep.value.split(":", 1)[0]
        dist = getattr(ep.dist, "name", "?")
        specs.append(ProbeSpec(ep.name, module, f"entry point of {dist}", _module_path(module)))
    return tuple(specs)


def spec_of(study: Study | None, name: str) -> ProbeSpec | None:
    """`discover(study)[0].get(name)`, without reading every installed package's entry points
    (~0.1 s) when `name` is a built-in's: built-ins come first, so they win every clash."""
    for module in BUILTIN_PROBES:
        if probe_name_for(module.rsplit(".", 1)[1]) == name:
            return ProbeSpec(name, module, "built-in", _module_path(module))
    return discover(study)[0].get(name)


def discover(study: Study | None) -> tuple[dict[str, ProbeSpec], list[ProbeProblem]]:
    """Every probe's spec by name (nothing imported), and the name clashes found."""
    specs: dict[str, ProbeSpec] = {}
    problems: list[ProbeProblem] = []
    user = []
    if study is not None and study.probes_dir.is_dir():
        for path in sorted(study.probes_dir.glob("*.py")):
            if not path.name.startswith(("_", "test_")):  # test_<name>.py: the learner's tests of a probe
                name = probe_name_for(path.name)
                # the module name carries the folder's hash: two roots' my_probe.py are two modules
                folder = hashlib.sha256(str(path.parent).encode()).hexdigest()[:8]
                user.append(ProbeSpec(name, f"{USER_MODULE_PREFIX}{path.stem}_{folder}", str(path), path))
    for spec in (*_installed_specs(), *user):
        if spec.name in specs:
            problems.append(ProbeProblem(spec.name, f"{spec.path or spec.origin}: probe name {spec.name!r} is taken "
                                                    f"({specs[spec.name].origin}); rename the file"))
            continue
        specs[spec.name] = spec
    return specs, problems


def _import(spec: ProbeSpec):
    """The probe's module. A learner's file is loaded from its path, and loaded again when its
    source changed since (a long-lived process, such as the browser, sees the edit)."""
    if not spec.module.startswith(USER_MODULE_PREFIX):
        return importlib.import_module(spec.module)
    source = spec.source_sha256()
    loaded = sys.modules.get(spec.module)
    if loaded is not None and getattr(loaded, "__n00bqa_source__", None) == source:
        return loaded
    module_spec = importlib.util.spec_from_file_location(spec.module, spec.path)
    module = importlib.util.module_from_spec(module_spec)
    module.__n00bqa_source__ = source
    sys.modules[spec.module] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.module]
        raise
    return module


def _where(spec: ProbeSpec, exc: BaseException) -> str:
    """`file:line` of the error inside the probe's own file, as precisely as we can tell."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{exc.filename or spec.path}:{exc.lineno}"
    path = str(spec.path) if spec.path else spec.module
    line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                 if spec.path and Path(f.filename) == spec.path), None)
    return f"{path}:{line}" if line else path


def _moved_import(exc: BaseException) -> str | None:
    """The old module path a failed import asked for, if it is one that moved to probes/lib/:
    `import n00bqa.probes.models` names it in exc.name, `from n00bqa.probes import models` in the text."""
    if not isinstance(exc, ImportError):
        return None
    name = exc.name or ""
    if name == "n00bqa.probes":
        import re

        asked = re.search(r"cannot import name '(\w+)'", str(exc))
        name = f"{name}.{asked.group(1)}" if asked else name
    return name if name in MOVED_MODULES else None


def _load(spec: ProbeSpec):
    """Import one probe module and return its PROBE, or raise ProbeError in one line."""
    from n00bqa.probes.base import Probe

    try:
        module = _import(spec)
    except Exception as exc:  # a learner's probe may raise anything at import time
        old = _moved_import(exc)
        if old:
            raise ProbeError(f"{_where(spec, exc)}: probe {spec.name!r} imports {old}, which moved to "
                             f"{MOVED_MODULES[old]}; change the import to: from {MOVED_MODULES[old]} "
                             "import ...") from None
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ProbeError(f"{_where(spec, exc)}: probe {spec.name!r} failed to load: "
                         f"{type(exc).__name__}: {first}".rstrip(": ")) from None
    probe = getattr(module, "PROBE", None)
    if not isinstance(probe, Probe):
        raise ProbeError(f"{spec.path or spec.module}: defines no PROBE = Probe(...); "
                         "see n00bqa probe new for a template")
    if probe.name != spec.name:
        raise ProbeError(f"{spec.path or spec.module}: PROBE is named {probe.name!r} but the file says "
                         f"{spec.name!r}; name the file {probe.name.replace('-', '_')}.py")
    return probe


def probe_names(study: Study | None) -> list[str]:
    """All probe names, without importing any probe."""
    return list(discover(study)[0])


def find_spec(study: Study | None, name: str) -> ProbeSpec:
    specs, _ = discover(study)
    if name not in specs:
        close = get_close_matches(name, specs, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ProbeError(f"unknown probe {name!r}; {hint}known probes: {', '.join(specs) or 'none'} "
                         "(see: n00bqa probes)")
    return specs[name]


def find_probe(study: Study | None, name: str):
    """The probe called `name`, importing only its module; ProbeError (one line) if unknown or broken."""
    return _load(find_spec(study, name))


def load_probes(study: Study | None):
    """All probes that load, and one problem per probe that does not (never raises)."""
    specs, problems = discover(study)
    probes = []
    for spec in specs.values():
        try:
            probes.append(_load(spec))
        except ProbeError as exc:
            problems.append(ProbeProblem(spec.name, str(exc)))
    return probes, problems
