"""Question files: loading, validation of broken files, atomic saving, and the inventory.

All on the frozen fixture root (tests/fixtures/study): the learner's own list is data and grows.
"""

from __future__ import annotations

from pathlib import Path

import re

import pytest

from n00bqa.errors import QuestionError
from n00bqa.questions import (
    Question, check_study, add_note, add_question, get_question, load_questions, parse_question, save_question, set_status, slugify,
)

SEVEN = {  # the fixture root's questions and their probes
    "encoder-decoder": ["translation"],
    "task-heads": ["task-heads"],
    "hf-internals": ["hf-internals"],
    "model-size": ["param-count", "grad-rows", "forward-flops"],
    "word-embedding": ["word-embedding"],
    "loss-and-benchmark": ["loss"],
    "embedding-grad": ["embedding-grad"],
}
# From the end of shared/seeds/n00bGPT-learning-notes.md, trailing spaces dropped.
VERBATIM = {
    "encoder-decoder": "How is one language translated to another, i.e. how is the output of encoder processed in "
                       "decoder?",
    "task-heads": "How is transformer, seq-to-seq model be used in other tasks, e.g. multiple choice, question "
                  "answering, text summarization, etc",
    "hf-internals": "Look into how is hugging face version implemented?",
    "model-size": "How large is a transformer model? How much is dense and how much is sparse?",
    "word-embedding": "How is words embedding calculated?",
    "loss-and-benchmark": "What loss function does it use? How does benchmark work?",
    "embedding-grad": "How can PyTorch autograd compute the grad for a particular element or row in a metrics for "
                      "embedding table?",
}

GOOD = """---
id: demo
question: "Why scale by sqrt(d_k)?"
probes: [loss]
tags: ["attention"]
reading: []
status: open
---

## Answer

Because dot products grow with dimension.

## Try

n00bqa probe loss

## Notes
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / "questions" / name
    path.write_text(text)
    return path


def test_the_fixture_questions_load_with_their_probes(study):
    questions, problems = load_questions(study)
    assert problems == []
    assert {q.id: q.probes for q in questions} == SEVEN


def test_questions_are_the_learners_words_verbatim(study):
    """Each question is word for word the learner's (the notes' Questions list, copied into VERBATIM)."""
    questions = {q.id: q.question for q in load_questions(study)[0]}
    assert questions == VERBATIM


def test_answers_are_80_to_250_words_and_try_names_the_probe(study):
    for question in load_questions(study)[0]:
        words = len(question.answer.split())
        assert 80 <= words <= 250, (question.id, words)
        for probe in question.probes:
            assert f"n00bqa probe {probe}" in question.try_, question.id
        assert question.status in {"open", "answered"}


def test_the_inventory_is_consistent(study):
    assert check_study(study) == []


def test_the_inventory_stays_consistent_as_the_list_grows(study):
    """Three new questions: one without a probe, one sharing param-count, one naming two probes."""
    add_question(study, "What is rotary position embedding?", qid="rope")
    add_question(study, "How many parameters does Llama have?", qid="llama-size", probes=["param-count"])
    add_question(study, "What does a tied head cost?", qid="tied-head", probes=["param-count", "embedding-grad"])
    assert check_study(study) == []
    questions = {q.id: q for q in load_questions(study)[0]}
    assert questions["rope"].probes == []
    assert [q.id for q in questions.values() if "param-count" in q.probes] == ["llama-size", "model-size",
                                                                              "tied-head"]
    # ... and an inconsistency is found, not ignored.
    (study.questions_dir / "rope.md").write_text((study.questions_dir / "rope.md").read_text()
                                                  .replace("probes: []", "probes: [no-such-probe]"))
    assert check_study(study) == [f"{study.questions_dir / 'rope.md'}: unknown probe 'no-such-probe' "
                                  "(see: n00bqa probes)"]


def test_files_round_trip_exactly(study_root: Path):
    for path in sorted((study_root / "questions").glob("*.md")):
        question = parse_question(path, path.read_text())
        assert question.to_markdown() == path.read_text(), path.name


def test_parse_good_file(study_root: Path):
    path = write(study_root, "demo.md", GOOD)
    q = parse_question(path, GOOD)
    assert (q.id, q.probes, q.tags, q.status) == ("demo", ["loss"], ["attention"], "open")
    assert q.answer == "Because dot products grow with dimension."
    assert q.try_ == "n00bqa probe loss"
    assert q.notes == ""


@pytest.mark.parametrize("text, expected", [
    ("no front matter\n", "demo.md:1: no front matter"),
    ("---\nid: demo\n", "never closed"),
    ("---\nid: demo\nquestion: [unclosed\nprobes: [loss]\nstatus: open\n---\n", "demo.md:4: YAML error"),
    (GOOD.replace("status: open\n", ""), "missing field 'status'"),
    (GOOD.replace("probes: [loss]", "probes: {a: 1}"), "probes must be a list"),
    (GOOD.replace("probes: [loss]", "probes: [loss]\nprobe: loss"), "both 'probe' and 'probes'"),
    (GOOD.replace("status: open", "status: open\nchapter: 9"), "chapter 9 must be a number from 1 to 5"),
    (GOOD.replace("status: open", "status: done"), "status 'done' must be one of: open, answered"),
    (GOOD.replace("id: demo", "id: other"), "rename the file to other.md"),
    (GOOD.replace('tags: ["attention"]', "tags: attention"), "tags must be a list"),
])
def test_broken_files_name_the_file_line_and_fix(study, study_root: Path, text: str, expected: str):
    path = write(study_root, "demo.md", text)
    with pytest.raises(QuestionError, match=None) as info:
        parse_question(path, text)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    # ... and the other questions still load.
    questions, problems = load_questions(study)
    assert len(questions) == len(SEVEN)
    assert [p.path.name for p in problems] == ["demo.md"]


def test_unknown_id_lists_the_known_ones(study):
    with pytest.raises(QuestionError, match="unknown question id 'nope'.*embedding-grad"):
        get_question(study, "nope")


def test_the_old_single_probe_field_still_loads(study, study_root: Path):
    text = GOOD.replace("probes: [loss]", "probe: loss")
    assert parse_question(write(study_root, "demo.md", text), text).probes == ["loss"]
    text = GOOD.replace("probes: [loss]", "probe: none")
    assert parse_question(write(study_root, "demo.md", text), text).probes == []


@pytest.mark.parametrize("qid", ["../../outside/model-size", "a/b", "..", "Model-Size", ""])
def test_ids_from_users_never_name_a_path_outside_questions(study, qid):
    for call in (lambda: get_question(study, qid), lambda: set_status(study, qid, "answered"),
                 lambda: add_note(study, qid, "x")):
        with pytest.raises(QuestionError, match="lowercase words joined by '-'"):
            call()


def test_add_question_derives_id_and_refuses_duplicates(study, study_root: Path):
    q = add_question(study, "Why does attention scale by sqrt(d_k)?", tags=["attention"])
    assert q.id == slugify("Why does attention scale by sqrt(d_k)?") == "attention-scale-sqrt"
    assert get_question(study, q.id).tags == ["attention"]
    with pytest.raises(QuestionError, match="already exists"):
        add_question(study, "Why does attention scale by sqrt(d_k)?")
    with pytest.raises(QuestionError, match="unknown probe 'nope'"):
        add_question(study, "Another one?", probes=["nope"])
    assert not (study_root / "questions" / "another-one.md").exists()


def test_set_status_and_note_rewrite_only_what_changed(study, study_root: Path):
    path = study_root / "questions" / "model-size.md"
    before = get_question(study, "model-size")
    set_status(study, "model-size", "answered")
    add_note(study, "model-size", "Embeddings are a quarter of BERT-base.")
    after = get_question(study, "model-size")
    assert after.status == "answered"
    assert after.notes.endswith("Embeddings are a quarter of BERT-base.")
    assert (after.answer, after.question, after.tags) == (before.answer, before.question, before.tags)
    assert path.read_text().count("status: answered") == 1
    with pytest.raises(QuestionError, match="status 'closed' must be one of"):
        set_status(study, "model-size", "closed")


def test_save_is_atomic_when_interrupted(study, study_root: Path, monkeypatch: pytest.MonkeyPatch):
    """A failure mid-write leaves the old file intact and no temporary file behind."""
    import os

    path = study_root / "questions" / "model-size.md"
    original = path.read_text()
    question = get_question(study, "model-size")
    question.answer = "changed"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_question(study, question)
    assert path.read_text() == original
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_to_dict_is_the_documented_json_shape():
    q = Question(id="x", question="Q?", probes=["loss"])
    assert list(q.to_dict()) == ["id", "question", "probes", "status", "chapter", "tags", "reading", "answer",
                                 "try", "notes", "path"]


@pytest.mark.parametrize("text", ["How does grouped query attention reduce the KV cache?",
                                  "Why does LoRA need so few trainable parameters compared with full fine-tuning?",
                                  "Supercalifragilisticexpialidociousness of transformers",
                                  "what?"])
def test_derived_ids_are_short_valid_ids(text):
    # issue 26 item 8: the whole question made 30-character ids
    qid = slugify(text)
    assert 1 <= len(qid) <= 24 and qid.count("-") <= 2
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", qid), qid
