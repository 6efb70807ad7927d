"""Writers at once (issue 25 item 1): real parallel processes of the `n00bqa` console script on one
study root, and nothing lost — every review line, every note, every added copy; of two
`questions add --id same`, exactly one wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from n00bqa.questions import get_question, parse_question

WRITERS = 20
SCRIPT = Path(sys.executable).with_name("n00bqa")  # the installed console script, run on this checkout


def start(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "n00bqa"]
    environment = {**os.environ, "N00BQA_ROOT": str(root), "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                   **(env or {})}
    return subprocess.Popen([*command, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_all(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=300) for p in processes]
    return [(p.returncode, *out) for p, out in zip(processes, outputs)]


def recall_question(root: Path, qid: str = "race") -> str:
    done = run_all([start(root, "questions", "add", "What does a race lose?", "--id", qid, "--no-evidence")])
    assert done[0][0] == 0, done
    return qid


def test_twenty_quizzes_at_once_keep_twenty_review_lines(study_root):
    qid = recall_question(study_root)
    runs = run_all([start(study_root, "quiz", qid, "--answer", f"a-{i}", "--rating", "good")
                    for i in range(WRITERS)])
    assert all(code == 0 for code, _, _ in runs), [err for code, _, err in runs if code]
    lines = (study_root / "reviews" / f"{qid}.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["answer"] for line in lines) == sorted(f"a-{i}" for i in range(WRITERS))


def test_twenty_notes_at_once_are_all_kept(study_root):
    runs = run_all([start(study_root, "questions", "note", "model-size", f"note-{i}") for i in range(WRITERS)])
    assert all(code == 0 for code, _, _ in runs), [err for code, _, err in runs if code]
    from n00bqa.study import Study

    notes = get_question(Study(study_root), "model-size").notes
    assert all(f"note-{i}" in notes.split() for i in range(WRITERS)), notes


def test_twenty_corpus_adds_at_once_list_every_copy(study_root, tmp_path):
    files = []
    for i in range(WRITERS):
        path = tmp_path / f"mine-{i}.md"
        path.write_text(f"# Mine {i}\n\nMy own words, number {i}.\n")
        files.append(path)
    runs = run_all([start(study_root, "corpus", "add", str(path)) for path in files])
    assert all(code == 0 for code, _, _ in runs), [err for code, _, err in runs if code]
    listed = yaml.safe_load((study_root / "corpus" / "added.yaml").read_text())["items"]
    assert len(listed) == WRITERS and len({item["id"] for item in listed}) == WRITERS
    copies = sorted(p.name for p in (study_root / "corpus" / "added").iterdir())
    assert copies == sorted(Path(item["file"]).name for item in listed)  # no orphan copy, none missing
    assert sorted((study_root / "corpus" / item["file"]).read_text() for item in listed) == \
        sorted(path.read_text() for path in files)


def test_of_twenty_adds_of_one_id_exactly_one_succeeds(study_root):
    runs = run_all([start(study_root, "questions", "add", f"Which writer won, {i}?", "--id", "same",
                          "--no-evidence") for i in range(WRITERS)])
    won = [i for i, (code, _, _) in enumerate(runs) if code == 0]
    assert len(won) == 1, runs
    for i, (code, _, err) in enumerate(runs):
        if i not in won:
            assert code == 1 and err.count("\n") == 1 and err.startswith("Error: ") and "already exists" in err, err
    path = study_root / "questions" / "same.md"
    assert parse_question(path, path.read_text()).question == f"Which writer won, {won[0]}?"  # the winner's, whole
    assert not list((study_root / "questions").glob(".*.tmp"))


def test_a_writer_that_waits_says_so_in_one_line_and_gives_up_in_one_line(study_root):
    from filelock import FileLock

    from n00bqa.locks import LOCK_NAME
    from n00bqa.study import Study

    lock = FileLock(str(Study(study_root).state_dir() / LOCK_NAME))
    with lock:
        started = time.monotonic()
        [(code, _, err)] = run_all([start(study_root, "questions", "note", "model-size", "late",
                                          env={"N00BQA_LOCK_TIMEOUT": "1"})])
        waited = time.monotonic() - started
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith("Waiting for another n00bqa writing to") and "at most 1 s" in lines[0]
    assert lines[1].startswith("Error: another n00bqa process kept") and LOCK_NAME in lines[1]
    assert waited >= 1.0
    assert "late" not in (study_root / "questions" / "model-size.md").read_text()
