"""Question routing: the evaluation marks on the report split, rejection, the vector cache."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from conftest import PROJECT
from support.shared_study import link_state, shared_root

from n00bqa.ask import routing
from n00bqa.questions import load_questions
from n00bqa.retrieval import encoder


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def _routing_eval():
    spec = importlib.util.spec_from_file_location("routing_eval", PROJECT / "benchmarks" / "routing_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluation_meets_its_marks_on_the_report_split(ready, study):
    evaluation = _routing_eval()
    ids = {q.id for q in load_questions(study)[0]}
    # the fixture root holds the questions the evaluation was first written for; queries labelled
    # with questions added to the learner's list since are for the project's own root
    items = [i for i in evaluation.load_items() if i["expect"] in ids | {"none"}]
    labelled = [i for i in items if i["expect"] != "none"]
    assert len(labelled) >= 40 and sum(i["expect"] == "none" for i in items) >= 10
    result = evaluation.evaluate(study, items=items)
    report = result["report"]
    assert report["n_labelled"] >= 20 and report["n_off_topic"] >= 5 and report["n_uncovered"] >= 10
    # Since the in-field queries no question covers joined `none` (issue 16), the rule trades top-1
    # for their rejection: the mark was 90 % top-1 when `none` was off-topic only; even the fixture's
    # own tuning reaches 85.7 % on this split now (the shipped threshold 83.7 %).
    assert report["top1"] >= 0.80, report["misses"]
    assert report["rejection"] == 1.0, report["misses"]
    assert report["uncovered_rejection"] >= 0.90, report["misses"]
    # the shipped threshold was chosen on the project root's tune split (benchmarks/routing_eval.py
    # --select); on the fixture's tune split it is within one labelled query of the threshold
    # tuning there picks
    tuned = evaluation.evaluate(study, tune=True, items=items)
    one_query = 0.5 / result["tune"]["n_labelled"]
    assert evaluation.balanced(result["tune"]) >= evaluation.balanced(tuned["tune"]) - one_query - 1e-9
    assert result["tune"]["rejection"] == 1.0, result["tune"]["misses"]



def test_threshold_tuning_uses_only_the_given_scores():
    evaluation = _routing_eval()
    scored = [
        {"query": "q1", "expect": "a", "best": "a", "score": 0.6},
        {"query": "q2", "expect": "a", "best": "a", "score": 0.5},
        {"query": "q3", "expect": "none", "best": "a", "score": 0.2},
        {"query": "q4", "expect": "none", "best": "b", "score": 0.3},
    ]
    # every item is right for any threshold in (0.3, 0.5]: the middle of that gap
    assert evaluation.tune_threshold(scored) == pytest.approx(0.4, abs=1e-3)
    marks = evaluation.marks(scored, 0.4)
    assert marks["top1"] == 1.0 and marks["rejection"] == 1.0 and marks["uncovered_rejection"] is None
    # an in-field query no question covers is its own kind of `none`, weighed like the off-topic kind
    scored.append({"query": "q5", "expect": "none", "uncovered": True, "best": "a", "score": 0.55})
    marks = evaluation.marks(scored, 0.4)
    assert marks["rejection"] == 1.0 and marks["uncovered_rejection"] == 0.0 and marks["n_uncovered"] == 1
    assert evaluation.balanced(marks) == pytest.approx((1.0 + (1.0 + 0.0) / 2) / 2)
    # two cuts now tie at 0.75: (0.3, 0.5] lets q5 through, (0.55, 0.6] rejects it but loses q2;
    # the first run of equally good cuts is kept
    assert evaluation.tune_threshold(scored) == pytest.approx(0.4, abs=1e-3)


def test_the_routing_match_is_a_weighted_mean_in_0_1():
    w = routing.LEXICAL_WEIGHT
    assert routing.combine(1.0, 1.0) == pytest.approx(1.0) and routing.combine(-0.3, 0.0) == 0.0
    assert routing.combine(0.5, 0.25) == pytest.approx((0.5 + w * 0.25) / (1 + w))
    # a monotone rescale of the old sum: the order of any two scores is kept
    pairs = [(0.2, 0.9), (0.5, 0.1), (0.45, 0.3), (0.7, 0.0)]
    old = [s + w * lex for s, lex in pairs]
    new = [routing.combine(s, lex) for s, lex in pairs]
    assert sorted(range(4), key=old.__getitem__) == sorted(range(4), key=new.__getitem__)


def test_a_score_just_below_the_threshold_is_not_shown_equal_to_it():
    assert routing.shown_apart(0.52, 0.3807) == ("0.52", "0.38")
    assert routing.shown_apart(0.3768, 0.3807) == ("0.377", "0.381")  # 2 decimals would show 0.38 twice
    assert routing.shown_apart(0.38065, 0.3807) == ("0.3806", "0.3807")
    assert routing.shown_apart(0.3807, 0.3807) == ("0.38", "0.38")  # equal is a match, shown equal


def test_a_word_no_question_has_weighs_absent_weight_times_its_idf():
    import math

    documents = [{"alpha"}, {"beta"}]
    present, absent = math.log(1 + 2 / 1.5), math.log(1 + 2 / 0.5)
    for factor in (1.0, 3.0):
        shares = routing.lexical_scores("alpha zzz", documents, absent_weight=factor)
        assert shares == pytest.approx([present / (present + factor * absent), 0.0])


def test_routes_and_rejects(ready, study):
    hit = routing.route(study, "how many parameters does bert base have and how much memory do they take")
    assert hit.question.id == "model-size" and hit.score >= routing.THRESHOLD
    assert len(hit.related) == routing.N_RELATED
    assert [s for _, s in hit.ranked] == sorted((s for _, s in hit.ranked), reverse=True)
    assert hit.related[0][1] == hit.ranked[1][1]
    miss = routing.route(study, "what is a good recipe for lasagne")
    assert miss.question is None and miss.related == [] and miss.score < routing.THRESHOLD


def test_scores_are_cosines_plus_word_overlap(ready, study):
    questions, _ = load_questions(study)
    vectors = routing.question_vectors(study, questions)
    query = "what is perplexity"
    qv = encoder.encode_query(study, query)
    # independent computation: mean over kinds of the best cosine per kind, plus the overlap term
    rows = [(i, kind, text) for i, q in enumerate(questions) for kind, text in routing.field_texts(q)]
    field_vectors = encoder.encode(study, [t for _, _, t in rows])
    expected = []
    for i, q in enumerate(questions):
        kinds = {}
        for (owner, kind, _), v in zip(rows, field_vectors):
            if owner == i:
                kinds[kind] = max(kinds.get(kind, -1.0), float(v @ qv))
        expected.append(sum(kinds.values()) / len(kinds))
    lexical = routing.lexical_scores(query, [routing.question_words(q) for q in questions])
    expected = [max(0.0, (e + routing.LEXICAL_WEIGHT * w) / (1 + routing.LEXICAL_WEIGHT)) for e, w in zip(expected, lexical)]
    np.testing.assert_allclose(vectors.scores(qv, query), expected, atol=1e-5)
    assert all(0.0 <= s <= 1.0 for s in vectors.scores(qv, query))
    # "perplexity" is a word of one answer only: it carries the whole query's overlap weight there
    owner = [q.id for q in questions].index("loss-and-benchmark")
    assert lexical[owner] == pytest.approx(1.0) and sum(lexical) == pytest.approx(1.0)


def test_vector_cache_follows_the_question_files(ready, study):
    questions, _ = load_questions(study)
    assert routing.is_cached(study, questions)
    first = routing.route(study, "how is the loss computed")
    assert not first.vectors_built  # linked from the shared build, same files
    path = ready / "questions" / "model-size.md"
    path.write_text(path.read_text().replace("## Answer\n", "## Answer\n\nEdited by a test: a paragraph long enough to be embedded.\n"))
    assert not routing.is_cached(study)
    assert routing.route(study, "how is the loss computed").vectors_built
    assert not routing.route(study, "how is the loss computed").vectors_built  # cached again
    manifest = json.loads((ready / ".n00bqa" / "routing" / "manifest.json").read_text())
    assert manifest["rows"] == sum(len(routing.field_texts(q)) for q in load_questions(study)[0])


def test_a_broken_question_file_is_skipped_and_reported(ready, study):
    (ready / "questions" / "broken.md").write_text("no front matter here\n")
    result = routing.route(study, "why do unused embedding rows get zero gradient")
    assert result.question.id == "embedding-grad"
    assert [p.path.name for p in result.problems] == ["broken.md"]
