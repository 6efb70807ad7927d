"""A cold ask does only what it must: the matched question's search text is embedded once per change
of its file (ask.remembered), the session loads beside the rest, and the console script ends without
teardown once everything is written. None of it changes an answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.shared_study import link_state, shared_root

from n00bqa.ask import ask, remembered
from n00bqa.retrieval import encoder


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def answer_json(study, query="How large is a transformer model?"):
    return ask(study, query).to_dict()


def test_the_search_text_is_embedded_once_and_the_answer_is_unchanged(ready, study, monkeypatch):
    first = answer_json(study)
    assert (ready / ".n00bqa" / remembered.FOLDER / remembered.VECTORS_FILE).is_file()
    embedded = []
    real = encoder.encode

    def spy(study_, texts, *a, **k):
        embedded.extend(texts)
        return real(study_, texts, *a, **k)

    monkeypatch.setattr(encoder, "encode", spy)
    encoder._cached_query.cache_clear()
    assert answer_json(study) == first  # same question, same passages, same scores
    assert embedded == ["How large is a transformer model?"]  # the query only, not question + answer


def test_the_kept_vector_is_the_encoders_own(ready, study):
    text = "How large is a transformer model?\nSize is counted in parameters."
    kept = remembered.query_vector(study, text)
    encoder._cached_query.cache_clear()
    again = remembered.query_vector(study, text)
    np.testing.assert_array_equal(again, encoder.encode_query(study, text))
    np.testing.assert_array_equal(kept, again)


def test_a_changed_question_is_a_new_key_and_old_rows_are_bounded(ready, study, monkeypatch):
    monkeypatch.setattr(remembered, "MAX_ROWS", 3)
    for i in range(5):
        remembered.query_vector(study, f"question {i}")
    manifest = json.loads((ready / ".n00bqa" / remembered.FOLDER / remembered.MANIFEST_FILE).read_text())
    assert manifest["keys"] == [remembered.text_key(f"question {i}") for i in (2, 3, 4)]


def test_an_altered_vectors_file_is_never_used(ready, study, monkeypatch):
    text = "why is the embedding gradient sparse\nBecause a lookup reads only some rows."
    remembered.query_vector(study, text)
    path = ready / ".n00bqa" / remembered.FOLDER / remembered.VECTORS_FILE
    data = bytearray(path.read_bytes())
    data[-8:] = bytes(8)  # same size, other numbers
    path.write_bytes(bytes(data))
    encoder._cached_query.cache_clear()
    vector = remembered.query_vector(study, text)
    np.testing.assert_array_equal(vector, encoder.encode_query(study, text))


def test_a_read_only_root_still_gets_the_vector(ready, study, monkeypatch):
    from n00bqa.errors import WriteError

    def refuse(*parts):
        raise WriteError("cannot create the state folder")

    monkeypatch.setattr(type(study), "state_dir", lambda self, *parts: refuse(*parts))
    vector = remembered.query_vector(study, "what is perplexity")
    np.testing.assert_array_equal(vector, encoder.encode_query(study, "what is perplexity"))


def test_prepare_leaves_a_root_without_an_export_alone(study, monkeypatch):
    started = []
    monkeypatch.setattr(encoder.threading, "Thread", lambda *a, **k: started.append(k) or pytest.fail("started"))
    encoder.prepare(study)  # the fixture root has no export: nothing starts, the caller's encode exports
    assert started == []


def test_exit_after_output_returns_in_process():
    from n00bqa.cli import common

    assert common.FAST_EXIT is False
    common.exit_after_output()  # a test (or the browser) carries on


def test_the_console_script_writes_everything_before_it_ends(ready):
    exe = Path(sys.executable).parent / "n00bqa"
    if not exe.exists():
        exe = shutil.which("n00bqa")
    env = {**os.environ, "N00BQA_ROOT": str(ready)}
    piped = subprocess.run(f"{exe} ask 'How large is a transformer model?' --json | cat", shell=True, env=env,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["question"]["id"] == "model-size"  # the whole JSON, flushed
    shown = subprocess.run([str(exe), "ask", "How large is a transformer model?", "--no-pager"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "model-size" in shown.stdout and shown.stdout.endswith("\n")
