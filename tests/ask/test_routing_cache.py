"""The question-vector cache (fault campaign, issue 12 items 1, 4 and 7): keyed per question, its
vectors checked against the sha256 recorded when written, its manifest's shape validated, and a
root that cannot keep it still routes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.shared_study import link_state, shared_root

from n00bqa.ask import routing
from n00bqa.questions import load_questions
from n00bqa.retrieval import encoder, integrity


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    integrity.forget()
    return study_root
OTHER = ("how many parameters does bert base have", "what is MAP@3")


def route(study, text):
    """Route with the query's vector embedded beforehand, so `embedded` sees question rows only."""
    return routing.route(study, text, query_vector=_query_vectors.get(text))


_query_vectors: dict = {}


@pytest.fixture
def embedded(monkeypatch, ready, study):
    """Every question text the ONNX encoder is asked to embed, in order."""
    for text in (QUERY, *OTHER):
        _query_vectors[text] = encoder.encode_query(study, text)
    seen: list[str] = []
    real = encoder.encode

    def spy(study, texts, *args, **kwargs):
        seen.extend(texts)
        return real(study, texts, *args, **kwargs)

    monkeypatch.setattr(encoder, "encode", spy)
    return seen


QUERY = "why do unused embedding rows get zero gradient"


def test_editing_one_question_re_embeds_only_its_new_rows(ready, study, embedded):
    assert not route(study, QUERY).vectors_built and embedded == []
    path = ready / "questions" / "model-size.md"
    path.write_text(path.read_text().replace("## Answer\n", "## Answer\n\nEdited by a test, one more paragraph.\n"))
    edited = next(q for q in load_questions(study)[0] if q.id == "model-size")
    result = route(study, QUERY)
    assert result.vectors_built
    assert embedded == ["Edited by a test, one more paragraph."]  # the question's other rows are reused
    assert "Edited by a test, one more paragraph." in [text for _, text in routing.field_texts(edited)]
    # the reused rows are the vectors a fresh embedding gives
    fresh = routing.question_vectors(study, load_questions(study)[0], cache=False)
    np.testing.assert_allclose(routing.question_vectors(study, load_questions(study)[0]).matrix, fresh.matrix, atol=1e-5)
    embedded.clear()
    assert not route(study, QUERY).vectors_built and embedded == []


def test_a_notes_only_edit_embeds_nothing(ready, study, embedded):
    path = ready / "questions" / "model-size.md"
    path.write_text(path.read_text().rstrip("\n") + "\n\nA note of mine.\n")  # under 20 characters: no row
    assert not route(study, QUERY).vectors_built and embedded == []


def test_the_cached_words_follow_a_tags_only_edit(ready, study, embedded):
    """The words of each question are cached with its vectors; a tag changes no embedded row, but the
    question's words (the word-overlap feature) must take it at once."""
    route(study, QUERY)
    path = ready / "questions" / "model-size.md"
    path.write_text(path.read_text().replace("tags: [", "tags: [zygomorphic, ", 1))
    questions = load_questions(study)[0]
    cached = routing.question_vectors(study, questions)
    assert embedded == []  # no row's text changed
    fresh = routing.question_vectors(study, questions, cache=False)
    j = next(i for i, q in enumerate(questions) if q.id == "model-size")
    assert "zygomorphic" in cached.documents[j] and cached.documents == fresh.documents
    again = routing.question_vectors(study, questions)  # the manifest now holds the new words
    assert again.documents == fresh.documents and again._own_words is None  # read, not recomputed


def test_a_huge_answer_is_embedded_once_and_capped(ready, study, embedded):
    path = ready / "questions" / "model-size.md"  # under the 1 MB a question file may have (n00bqa.guards)
    paragraphs = "\n\n".join(f"Paragraph {i} about parameter counts and memory in bytes." for i in range(14_000))
    path.write_text(path.read_text().replace("## Answer\n", "## Answer\n\n" + paragraphs + "\n\n", 1))
    assert 500_000 < path.stat().st_size < 1_000_000
    result = route(study, "how many parameters does bert base have")
    rows = [text for _, text in routing.field_texts(next(q for q in load_questions(study)[0] if q.id == "model-size"))]
    assert len(rows) == routing.MAX_ROWS_PER_QUESTION
    assert result.vectors_built and 0 < len(embedded) <= routing.MAX_ROWS_PER_QUESTION and set(embedded) <= set(rows)
    embedded.clear()
    again = route(study, "what is MAP@3")
    assert not again.vectors_built and embedded == []  # every later ask: nothing re-embedded


def test_same_shape_replaced_vectors_are_never_used(ready, study, embedded):
    good = route(study, QUERY)
    assert good.question.id == "embedding-grad"
    path = ready / ".n00bqa" / "routing" / routing.VECTORS_FILE
    matrix = np.load(path)
    rng = np.random.default_rng(0)
    shuffled = matrix[rng.permutation(len(matrix))]  # same shape, same dtype, unit rows: loads fine
    with open(path, "r+b") as f:  # overwritten in place, as the campaign did
        f.seek(path.stat().st_size - shuffled.nbytes)
        f.write(shuffled.tobytes())
    assert np.load(path).shape == matrix.shape
    assert not routing.is_cached(study)
    result = route(study, QUERY)
    all_rows = {text for q in load_questions(study)[0] for _, text in routing.field_texts(q)}
    assert result.vectors_built and sorted(embedded) == sorted(all_rows)  # embedded again, not used
    assert result.question.id == "embedding-grad" and result.score == pytest.approx(good.score, abs=1e-5)
    assert routing.is_cached(study)


@pytest.mark.parametrize("manifest", ["[]", "{}", "null", '{"format": 3, "questions": "x"}', "{broken"])
def test_wrong_shape_routing_manifest_means_embed_again(ready, study, manifest):
    (ready / ".n00bqa" / "routing" / routing.MANIFEST_FILE).write_text(manifest)
    result = route(study, QUERY)
    assert result.vectors_built and result.question.id == "embedding-grad"
    stored = json.loads((ready / ".n00bqa" / "routing" / routing.MANIFEST_FILE).read_text())
    assert stored["format"] == routing.ROUTING_FORMAT and len(stored["sha256"]) == 64


def test_a_root_that_cannot_keep_the_vectors_still_routes_and_says_so(ready, study, monkeypatch):
    import shutil

    from n00bqa.errors import WriteError

    shutil.rmtree(ready / ".n00bqa" / "routing")

    def refuse(*parts):
        raise WriteError(f"cannot create {str(ready / '.n00bqa' / 'routing')!r}: Permission denied; make the "
                         "study root writable")

    monkeypatch.setattr(type(study), "state_dir", lambda self, *parts: refuse(*parts))
    result = route(study, QUERY)
    assert result.question.id == "embedding-grad" and result.vectors_built
    assert "Permission denied" in result.cache_problem
    assert not (ready / ".n00bqa" / "routing").exists()
