"""Read-only study roots (fault campaign, issue 12 item 3): the reading commands work, the writing
commands fail with one line naming the path, and the built-in journey keeps its state in the user
cache.

The campaign ran the commands as an unprivileged user. These tests do that when the machine allows
(`runuser -u nobody` able to run this Python); otherwise every OS call that would create, change or
remove a file under the root raises PermissionError, as a read-only folder would (running as root,
chmod alone stops nothing).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.cli import app

runner = CliRunner()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def read_only(*roots: Path) -> Iterator[list[str]]:
    """Refuse, with EACCES, every write under `roots` at the OS call; yields the refused paths."""
    refused: list[str] = []
    roots = tuple(Path(r).resolve() for r in roots)

    def under(path, dir_fd=None) -> bool:
        if dir_fd is not None:  # shutil.rmtree's fd-relative calls: only ever inside a root in these tests
            return True
        if isinstance(path, int):
            return False
        absolute = Path(os.path.abspath(os.fsdecode(path)))
        return any(absolute == r or absolute.is_relative_to(r) for r in roots)

    def deny(path):
        refused.append(os.fsdecode(path) if not isinstance(path, int) else str(path))
        raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path) if not isinstance(path, int) else None)

    real = {name: getattr(os, name) for name in ("open", "mkdir", "replace", "rename", "unlink", "remove", "rmdir",
                                                   "chmod", "utime", "symlink", "link")}
    real_open = builtins.open

    def guarded(name):
        def call(path, *args, **kwargs):
            if under(path, kwargs.get("dir_fd")):
                deny(path)
            return real[name](path, *args, **kwargs)
        return call

    def os_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and under(path, kwargs.get("dir_fd")):
            deny(path)
        return real["open"](path, flags, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        if under(src) or under(dst):
            deny(dst)
        return real["replace"](src, dst, *args, **kwargs)

    def link(src, dst, *args, **kwargs):  # a hard link makes a name where dst is
        if under(dst):
            deny(dst)
        return real["link"](src, dst, *args, **kwargs)

    def file_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and under(file):
            deny(file)
        return real_open(file, mode, *args, **kwargs)

    patches = {**{name: guarded(name) for name in real if name not in ("open", "replace", "rename", "link")},
               "open": os_open, "replace": replace, "rename": replace, "link": link}
    try:
        for name, fn in patches.items():
            setattr(os, name, fn)
        builtins.open = io.open = file_open
        yield refused
    finally:
        for name, fn in real.items():
            setattr(os, name, fn)
        builtins.open = io.open = real_open


def _one_line_error(result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    for text in expected:
        assert text in result.output, result.output


@pytest.fixture
def ready(study_root, tmp_path_factory):
    """A study root with its export, index and question vectors, then made read-only."""
    link_state(study_root, shared_root(tmp_path_factory), copy_index=True)
    (study_root / "corpus" / "added").mkdir()
    (study_root / "corpus" / "added" / "mine.md").write_text("# Mine\n\nMy own words.\n")
    (study_root / "corpus" / "added.yaml").write_text(
        "items:\n- {id: mine, kind: added, title: Mine, file: added/mine.md, format: markdown}\n")
    return study_root


READERS = [["questions"], ["questions", "--json"], ["show", "model-size"], ["index", "status"], ["corpus", "list"],
           ["search", "why is the embedding gradient sparse", "-k", "2"],
           ["ask", "why do unused embedding rows get zero gradient", "-k", "2"]]


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_reading_commands_work_on_a_read_only_root(ready, command):
    with read_only(ready) as refused:
        result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "Error" not in result.output
    assert not any(p.endswith((".md", ".yaml")) for p in refused)  # never even tried to change the material


def test_ask_on_a_read_only_root_with_an_edited_question_still_answers(ready):
    path = ready / "questions" / "embedding-grad.md"
    path.write_text(path.read_text().replace("## Answer\n", "## Answer\n\nEdited before the root became read-only.\n"))
    with read_only(ready):
        result = runner.invoke(app, ["ask", "why do unused embedding rows get zero gradient", "--json"])
    assert result.exit_code == 0, result.output
    assert '"id": "embedding-grad"' in result.stdout
    assert "question vectors were embedded but not kept" in result.stderr and "Permission denied" in result.stderr


WRITERS = [(["index", "build", "--rebuild"], "index"), (["corpus", "remove", "mine"], "added"),
           (["corpus", "add", "NEWFILE"], "added")]


@pytest.mark.parametrize("command,where", WRITERS, ids=lambda c: c[1] if isinstance(c, list) else c)
def test_writing_commands_fail_with_one_line_naming_the_path(ready, tmp_path, command, where):
    new = tmp_path / "new-notes.md"
    new.write_text("# New\n\nfresh words\n")
    command = [str(new) if part == "NEWFILE" else part for part in command]
    before = {p: p.read_bytes() for p in (ready / "corpus").rglob("*") if p.is_file()}
    with read_only(ready):
        result = runner.invoke(app, command)
    _one_line_error(result, "Permission denied", str(ready))
    assert where in result.output.split("Permission denied")[0]
    assert {p: p.read_bytes() for p in (ready / "corpus").rglob("*") if p.is_file()} == before


FRESH_READERS = [["questions"], ["show", "model-size"], ["index", "status"], ["corpus", "list"]]


@pytest.mark.parametrize("command", FRESH_READERS, ids=lambda c: " ".join(c))
def test_reading_commands_work_on_a_fresh_read_only_root(study_root, command):
    with read_only(study_root) as refused:
        result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert not (study_root / ".n00bqa").exists() and refused == []  # the state folder is not even tried


def test_search_and_ask_on_a_fresh_read_only_root_are_one_line(study_root):
    with read_only(study_root):
        search = runner.invoke(app, ["search", "attention"])
        ask = runner.invoke(app, ["ask", "what is attention"])
    _one_line_error(search, "no retrieval index", "n00bqa index build")
    _one_line_error(ask, str(study_root / ".n00bqa"), "Permission denied")
    assert not (study_root / ".n00bqa").exists()


def test_the_built_in_journey_keeps_its_state_in_the_user_cache(tmp_path, monkeypatch, tmp_path_factory):
    """No study root: ask and search read the built-in questions (read-only, inside the package)
    and keep the export, index and question vectors under $XDG_CACHE_HOME/n00bqa/."""
    from n00bqa import __version__
    from n00bqa.study import JOURNEY

    shared = shared_root(tmp_path_factory)
    cache = tmp_path / "cache"
    state = cache / "n00bqa" / f"builtin-{__version__}"
    state.mkdir(parents=True)
    os.symlink(shared / ".n00bqa" / "onnx", state / "onnx")
    shutil.copytree(shared / ".n00bqa" / "index", state / "index")
    elsewhere = tmp_path / "no-root-here"
    elsewhere.mkdir()
    monkeypatch.delenv("N00BQA_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.chdir(elsewhere)
    with read_only(JOURNEY):  # site-packages, as a non-editable install has it
        search = runner.invoke(app, ["search", "embedding gradient", "-k", "1", "--json"])
        ask = runner.invoke(app, ["ask", "why do unused embedding rows get zero gradient", "--json"])
        add = runner.invoke(app, ["corpus", "add", str(elsewhere)])
    assert search.exit_code == 0, search.output
    assert "built-in questions (read-only)" in search.stderr
    assert ask.exit_code == 0, ask.output
    assert (state / "routing" / "vectors.npy").is_file()  # built where the journey's state lives
    assert add.exit_code == 1 and "n00bqa init PATH" in add.output


def _nobody_can_run_python() -> bool:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return False
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import n00bqa"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _nobody_can_run_python(), reason="user nobody cannot run this Python here (its home is private)")
def test_as_an_unprivileged_user(ready, tmp_path):
    """The real thing: `nobody` reads a root it may not write (only where the machine allows)."""
    for path in [tmp_path, *tmp_path.parents]:
        if path != Path("/"):
            path.chmod(path.stat().st_mode | 0o055)
    env = {**os.environ, "N00BQA_ROOT": str(ready), "HOME": str(tmp_path)}
    run = ["runuser", "-u", "nobody", "--", sys.executable, "-m", "n00bqa"]
    for command in READERS:
        result = subprocess.run(run + command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, (command, result.stderr)
    build = subprocess.run(run + ["index", "build", "--rebuild"], capture_output=True, text=True, env=env)
    assert build.returncode == 1 and build.stderr.startswith("Error: ") and "Permission denied" in build.stderr
