"""A study root is shared and may be hostile (issue 25 items 4 and 8): every path its YAML names stays
inside it, only regular files of a stated size are read, YAML aliases expand within a bound, and
every environment setting is range-checked — each a one-line message, never a hang or a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.guards import MAX_QUESTION_BYTES, MAX_YAML_VALUES, load_yaml

runner = CliRunner()
SECRET = "zyxwvutsecretword"  # a word no note of the fixture root holds


def cli(root: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `n00bqa` in a subprocess: a guard that failed would hang or eat the memory of the
    test process itself."""
    environment = {**os.environ, "N00BQA_ROOT": str(root), "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "n00bqa", *args], env=environment, capture_output=True, text=True,
                          timeout=timeout)


def add_items(root: Path, *items: dict) -> None:
    path = root / "corpus" / "reading-list.yaml"
    data = yaml.safe_load(path.read_text())
    data["items"] += list(items)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# --- item 4: paths from the root's YAML stay inside it ---------------------------------------


@pytest.fixture
def outside(tmp_path):
    """A secret file outside the study root, and the relative way from corpus/ to it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text(f"# Secret\n\nThe {SECRET} must never be indexed.\n")
    (folder / "evil.latest.json").write_text("{}")
    return folder


def test_notes_and_library_paths_outside_their_folder_are_named_and_never_read(study_root, outside,
                                                                               tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory), copy_index=True)
    add_items(study_root,
              {"id": "up-and-out", "kind": "note", "title": "Up", "note": "../../outside/secret.md"},
              {"id": "absolute", "kind": "note", "title": "Abs", "note": str(outside / "secret.md")},
              {"id": "escaping-lib", "kind": "library", "package": "torch",
               "path": "../" * 12 + str(outside / "secret.md").lstrip("/")})
    (study_root / "corpus" / "added").mkdir()
    (study_root / "corpus" / "added.yaml").write_text(
        "items:\n- {id: copied-out, file: ../../outside/secret.md, format: markdown}\n")
    from n00bqa.retrieval.corpus import load_items
    from n00bqa.study import Study

    items = {item.id: item for item in load_items(Study(study_root))}
    assert all(items[i].path is None and items[i].outside for i in ("up-and-out", "absolute", "escaping-lib",
                                                                     "copied-out"))
    built = runner.invoke(app, ["index", "build"])
    assert built.exit_code == 0, built.output
    for item_id in ("up-and-out", "absolute", "escaping-lib", "copied-out"):
        assert f"skipped {item_id}: " in " ".join(built.stderr.split())
    found = runner.invoke(app, ["search", SECRET, "--mode", "lexical", "--json"])
    assert found.exit_code == 0
    assert not any(SECRET in json.dumps(p) or "secret.md" in json.dumps(p) for p in json.loads(found.stdout)["passages"])
    check = runner.invoke(app, ["questions", "check"])
    assert check.exit_code == 1
    for item_id, words in (("up-and-out", "is outside corpus/"), ("absolute", "is outside corpus/"),
                           ("escaping-lib", "is outside the installed package"),
                           ("copied-out", "is outside corpus/added/")):
        assert any(f"item {item_id!r}: " in line and words in line for line in check.stderr.splitlines()), check.stderr


def test_a_probe_name_that_is_a_path_is_named_and_no_file_is_opened(study_root, outside, monkeypatch):
    path = study_root / "questions" / "model-size.md"
    path.write_text(re.sub(r'^probes: .*$', 'probes: ["../../../../outside/evil"]', path.read_text(), count=1, flags=re.M))
    assert '"../../../../outside/evil"' in path.read_text()
    opened: list[str] = []
    real_open = Path.read_text

    def watch(self, *args, **kwargs):
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", watch)
    show = runner.invoke(app, ["show", "model-size"])
    assert show.exit_code == 1
    [line] = show.stderr.strip().splitlines()
    assert "model-size.md" in line and "'../../../../outside/evil' is not a probe name" in line
    check = runner.invoke(app, ["questions", "check"])
    assert check.exit_code == 1 and "is not a probe name" in check.stderr
    from n00bqa.probes.runs import cached_runs, last_result
    from n00bqa.study import Study

    state = study_root / ".n00bqa" / "probe-cache"
    state.mkdir(parents=True)
    assert last_result(Study(study_root), "../../../outside/evil") is None
    assert cached_runs(Study(study_root), "../../../outside/evil") == []
    assert not any("evil" in p for p in opened)


# --- item 8: only regular files, of a stated size -------------------------------------------


def test_a_device_link_a_fifo_and_a_huge_question_file_are_named_and_skipped(study_root):
    (study_root / "questions" / "zero.md").symlink_to("/dev/zero")
    os.mkfifo(study_root / "questions" / "pipe.md")
    big = study_root / "questions" / "big.md"
    big.write_text("---\nid: big\nquestion: \"x\"\nstatus: open\n---\n" + "a" * MAX_QUESTION_BYTES)
    started = time.monotonic()
    done = cli(study_root, "questions", "--json", timeout=60)
    assert time.monotonic() - started < 30
    assert {q["id"] for q in json.loads(done.stdout)} == {p.stem for p in (study_root / "questions").glob("*.md")
                                                          if p.stem not in ("zero", "pipe", "big")}
    lines = done.stderr.strip().splitlines()
    assert any("zero.md: skipped, it is a device, not a regular file" in line for line in lines), lines
    assert any("pipe.md: skipped, it is a FIFO, not a regular file" in line for line in lines), lines
    assert any("big.md: skipped, it is over 1.0 MB" in line for line in lines), lines
    assert "Traceback" not in done.stderr


def test_a_fifo_in_the_review_logs_is_named_and_skipped(study_root):
    (study_root / "reviews").mkdir()
    os.mkfifo(study_root / "reviews" / "model-size.jsonl")
    done = cli(study_root, "review", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "model-size.jsonl: skipped, it is a FIFO" in done.stderr


BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]


def test_an_alias_bomb_in_front_matter_is_one_line_and_fast(study_root):
    path = study_root / "questions" / "bomb.md"
    path.write_text("---\nid: bomb\nquestion: \"boom\"\nstatus: open\n" + "\n".join(BOMB) + "\ntags: *i\n---\n")
    started = time.monotonic()
    done = cli(study_root, "show", "bomb", timeout=60)
    assert time.monotonic() - started < 10
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 1 and line.startswith("Error: ") and "bomb.md" in line and "alias" in line


def test_an_alias_bomb_in_the_reading_list_is_one_line_and_fast(study_root):
    path = study_root / "corpus" / "reading-list.yaml"
    path.write_text("\n".join(BOMB) + "\nitems: *i\n")
    for command in (["corpus", "list"], ["questions", "check"]):
        started = time.monotonic()
        done = cli(study_root, *command, timeout=60)
        assert time.monotonic() - started < 10
        assert done.returncode == 1 and "alias" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_bounded_yaml_loads_what_plain_yaml_loads():
    text = "base: &b {x: 1, y: [a, b]}\nfirst: *b\nsecond: {<<: *b, y: [c]}\n"
    assert load_yaml(text) == yaml.safe_load(text)
    small = "a: &a [1, 2]\nb: [*a, *a]\n"
    assert load_yaml(small) == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    wide = "a: &a [" + ", ".join(["1"] * 999) + "]\nb: [" + ", ".join(["*a"] * 200) + "]\n"  # 200,000 values
    with pytest.raises(yaml.YAMLError, match=f"more than {MAX_YAML_VALUES:,} values"):
        load_yaml(wide)
    with pytest.raises(yaml.YAMLError, match="refers to the value that holds it"):
        load_yaml("a: &a [1, *a]\n")


# --- item 8: environment settings -----------------------------------------------------------


@pytest.mark.parametrize("name,value,words", [
    ("N00BQA_ONNX_THREADS", "100000", "is out of range"), ("N00BQA_ONNX_THREADS", "abc", "is not a whole number"),
    ("N00BQA_ONNX_THREADS", "0", "is out of range"), ("N00BQA_LOCK_TIMEOUT", "-1", "is out of range"),
    ("N00BQA_LOCK_TIMEOUT", "nan", "is out of range"), ("N00BQA_LOCK_TIMEOUT", "soon", "is not a number")])
def test_every_setting_is_range_checked_in_one_line(study_root, name, value, words):
    done = cli(study_root, "questions", env={name: value}, timeout=60)
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 1 and line.startswith(f"Error: {name}={value!r} {words}") and "from " in line


def test_the_encoder_reads_its_threads_through_the_range_check(monkeypatch):
    from n00bqa.errors import SettingError
    from n00bqa.settings import onnx_threads

    monkeypatch.setenv("N00BQA_ONNX_THREADS", "3")
    assert onnx_threads() == 3
    monkeypatch.setenv("N00BQA_ONNX_THREADS", "100000")
    with pytest.raises(SettingError):
        onnx_threads()
    source = (Path(__file__).resolve().parents[1] / "n00bqa" / "retrieval" / "encoder.py").read_text()
    assert "N00BQA_ONNX_THREADS\", " not in source and "onnx_threads()" in source
