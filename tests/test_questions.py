"""Question files: loading, validation of broken files, atomic saving, and the inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from n00bqa.errors import QuestionError
from n00bqa.questions import (
    Question, add_note, add_question, get_question, load_questions, parse_question, save_question, set_status, slugify,
)

SEVEN = {
    "encoder-decoder": "translation",
    "task-heads": "task-heads",
    "hf-internals": "hf-internals",
    "model-size": "param-count",
    "word-embedding": "word-embedding",
    "loss-and-benchmark": "loss",
    "embedding-grad": "embedding-grad",
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
probe: loss
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


def test_the_seven_questions_load_with_their_probes():
    questions, problems = load_questions()
    assert problems == []
    assert {q.id: q.probe for q in questions} == SEVEN


def test_questions_are_the_learners_words_verbatim():
    """Each question is word for word the learner's (the notes' Questions list, copied into VERBATIM)."""
    questions = {q.id: q.question for q in load_questions()[0]}
    assert questions == VERBATIM


def test_answers_are_80_to_250_words_and_try_names_the_probe():
    for question in load_questions()[0]:
        words = len(question.answer.split())
        assert 80 <= words <= 250, (question.id, words)
        assert f"n00bqa probe {question.probe}" in question.try_, question.id
        assert question.status in {"open", "answered"}


def test_reading_ids_resolve_to_the_reading_list(study_root: Path):
    import yaml

    manifest = yaml.safe_load((study_root / "corpus" / "reading-list.yaml").read_text())
    ids = {item["id"] for item in manifest["items"]}
    for question in load_questions()[0]:
        assert question.reading, question.id
        assert set(question.reading) <= ids, (question.id, set(question.reading) - ids)


def test_every_question_names_a_registered_probe_and_every_probe_a_question():
    from n00bqa.probes import list_probes

    probes = {p.name: p.question for p in list_probes()}
    questions = {q.id: q.probe for q in load_questions()[0]}
    assert set(questions.values()) == set(probes)
    for name, qid in probes.items():
        assert questions[qid] == name


def test_files_round_trip_exactly(study_root: Path):
    for path in sorted((study_root / "questions").glob("*.md")):
        question = parse_question(path, path.read_text())
        assert question.to_markdown() == path.read_text(), path.name


def test_parse_good_file(study_root: Path):
    path = write(study_root, "demo.md", GOOD)
    q = parse_question(path, GOOD)
    assert (q.id, q.probe, q.tags, q.status) == ("demo", "loss", ["attention"], "open")
    assert q.answer == "Because dot products grow with dimension."
    assert q.try_ == "n00bqa probe loss"
    assert q.notes == ""


@pytest.mark.parametrize("text, expected", [
    ("no front matter\n", "demo.md:1: no front matter"),
    ("---\nid: demo\n", "never closed"),
    ("---\nid: demo\nquestion: [unclosed\nprobe: loss\nstatus: open\n---\n", "demo.md:4: YAML error"),
    (GOOD.replace("probe: loss\n", ""), "missing field 'probe'"),
    (GOOD.replace("status: open", "status: done"), "status 'done' must be one of: open, answered"),
    (GOOD.replace("id: demo", "id: other"), "rename the file to other.md"),
    (GOOD.replace('tags: ["attention"]', "tags: attention"), "tags must be a list"),
])
def test_broken_files_name_the_file_line_and_fix(study_root: Path, text: str, expected: str):
    path = write(study_root, "demo.md", text)
    with pytest.raises(QuestionError, match=None) as info:
        parse_question(path, text)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    # ... and the other questions still load.
    questions, problems = load_questions()
    assert len(questions) == len(SEVEN)
    assert [p.path.name for p in problems] == ["demo.md"]


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(QuestionError, match="unknown question id 'nope'.*embedding-grad"):
        get_question("nope")


def test_add_question_derives_id_and_refuses_duplicates(study_root: Path):
    q = add_question("Why does attention scale by sqrt(d_k)?", tags=["attention"])
    assert q.id == slugify("Why does attention scale by sqrt(d_k)?") == "why-attention-scale-by-sqrt-d"
    assert get_question(q.id).tags == ["attention"]
    with pytest.raises(QuestionError, match="already exists"):
        add_question("Why does attention scale by sqrt(d_k)?")
    with pytest.raises(QuestionError, match="unknown probe 'nope'"):
        add_question("Another one?", probe="nope")
    assert not (study_root / "questions" / "another-one.md").exists()


def test_set_status_and_note_rewrite_only_what_changed(study_root: Path):
    path = study_root / "questions" / "model-size.md"
    before = get_question("model-size")
    set_status("model-size", "answered")
    add_note("model-size", "Embeddings are a quarter of BERT-base.")
    after = get_question("model-size")
    assert after.status == "answered"
    assert after.notes.endswith("Embeddings are a quarter of BERT-base.")
    assert (after.answer, after.question, after.tags) == (before.answer, before.question, before.tags)
    assert path.read_text().count("status: answered") == 1
    with pytest.raises(QuestionError, match="status 'closed' must be one of"):
        set_status("model-size", "closed")


def test_save_is_atomic_when_interrupted(study_root: Path, monkeypatch: pytest.MonkeyPatch):
    """A failure mid-write leaves the old file intact and no temporary file behind."""
    import os

    path = study_root / "questions" / "model-size.md"
    original = path.read_text()
    question = get_question("model-size")
    question.answer = "changed"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_question(question)
    assert path.read_text() == original
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_to_dict_is_the_documented_json_shape():
    q = Question(id="x", question="Q?", probe="loss")
    assert list(q.to_dict()) == ["id", "question", "probe", "status", "tags", "reading", "answer", "try", "notes",
                                 "path"]
