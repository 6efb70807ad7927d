"""When no question matches, `ask` decides in-domain vs off-topic by a computed test whose numbers
it shows: in-domain queries get passages and the offer of `questions add`, off-topic ones none."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.ask import ask
from n00bqa.ask.domain import BAND, K, THRESHOLD, Domain, domain_score
from n00bqa.cli import app

runner = CliRunner()
IN_FIELD_UNLISTED = "what is the GELU activation"  # no fixture question covers it
OFF_TOPIC = "best recipe for sourdough bread"


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def test_domain_score_is_the_mean_of_the_k_best_cosines():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[3]
    expected = np.sort(vectors @ query)[::-1][:K].mean()
    assert domain_score(vectors, query) == pytest.approx(float(expected), rel=1e-6)
    assert domain_score(vectors[:2], query) == pytest.approx(float((vectors[:2] @ query).mean()), rel=1e-6)
    assert domain_score(np.zeros((0, 8), np.float32), query) == 0.0


def test_the_verdict_on_each_side_of_the_threshold_and_its_band():
    above, below = Domain(THRESHOLD + BAND, THRESHOLD, K), Domain(THRESHOLD - BAND - 1e-4, THRESHOLD, K)
    assert above.in_domain and not below.in_domain and not above.near_line and not below.near_line
    assert f">= {THRESHOLD:.3f}" in above.words() and f"< {THRESHOLD:.3f}" in below.words()
    # "what is lora" scored 0.278 against 0.279: within the band, in the field, and said to be close
    near = Domain(THRESHOLD - 0.001, THRESHOLD, K)
    assert near.in_domain and near.near_line
    assert f"within {BAND:.2f} of {THRESHOLD:.3f}" in near.words() and "0.278" in near.words()
    # a query routing offered candidates for is in the field whatever its score
    routed = Domain(0.0, THRESHOLD, K, routed=True)
    assert routed.in_domain and not routed.near_line and "some of your questions come close" in routed.words()


def test_in_domain_query_matching_no_question_gets_passages_and_the_offer(ready, study):
    answer = ask(study, IN_FIELD_UNLISTED, k=3)
    assert answer.question is None and answer.domain.in_domain and answer.domain.score >= THRESHOLD + BAND
    assert len(answer.passages) == 3
    result = runner.invoke(app, ["ask", IN_FIELD_UNLISTED, "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] is None and len(data["passages"]) == 3
    assert data["domain"] == {"in_domain": True, "near_line": False, "score": round(answer.domain.score, 4),
                              "threshold": THRESHOLD, "band": BAND, "k": K, "routed": False}
    assert f'n00bqa questions add "{IN_FIELD_UNLISTED}"' in data["answer"]
    assert f"mean cosine of {answer.domain.score:.3f} >= {THRESHOLD:.3f}" in data["answer"]
    plain = " ".join(runner.invoke(app, ["ask", IN_FIELD_UNLISTED, "-k", "3"]).stdout.split())
    assert "No matching question" in plain and "Reading" in plain and answer.passages[0].source in plain


def test_off_topic_query_gets_no_passages_and_says_why(ready, study):
    answer = ask(study, OFF_TOPIC)
    assert answer.question is None and not answer.domain.in_domain and answer.passages == []
    assert f"mean cosine of {answer.domain.score:.3f} < {THRESHOLD:.3f}" in answer.answer


def test_a_matched_question_runs_no_domain_test(ready, study):
    answer = ask(study, "How large is a transformer model?", k=2)
    assert answer.question is not None and answer.domain is None and answer.to_dict()["domain"] is None


def test_benchmark_rule_and_its_marks_on_the_fixture_root(tmp_path_factory):
    """benchmarks/domain_eval.py: the labelled items load once each, the tuning rule picks the
    midpoint of the widest gap at the best balanced accuracy, and on the fixture root's (smaller)
    index the shipped threshold keeps >= 85 % of the in-domain report queries and rejects >= 90 %
    of the off-topic ones."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import domain_eval
    from n00bqa.study import Study

    items = domain_eval.load_items()
    assert len({i["query"].lower() for i in items}) == len(items)
    assert {i["label"] for i in items} == {"in-domain", "off-topic"} and {i["split"] for i in items} == {"tune", "report"}
    synthetic = [{"score": s, "label": lab, "split": "tune", "query": str(s)}
                 for s, lab in ((0.1, "off-topic"), (0.2, "off-topic"), (0.5, "in-domain"), (0.6, "in-domain"))]
    assert domain_eval.tune(synthetic) == 0.35
    scored = domain_eval.score_items(Study(shared_root(tmp_path_factory)), items)
    report = domain_eval.accuracy([s for s in scored if s["split"] == "report"], THRESHOLD)
    kept, n_in = map(int, report["in_domain"].split("/"))
    rejected, n_off = map(int, report["off_topic"].split("/"))
    assert kept / n_in >= 0.85 and rejected / n_off >= 0.9, report


def test_uncovered_queries_get_prose_before_code_that_merely_shares_a_word(monkeypatch):
    """Issue 26 item 15: code that shares a word ("decode") comes after every prose passage, unless
    it outranks the best prose passage (then it is what the query is about), and the view shows code
    as code (with its own line numbers)."""
    import n00bqa.retrieval
    from n00bqa.ask import explaining_passages
    from n00bqa.render import code_snippet, rendered_text
    from n00bqa.retrieval.search import Passage

    def passage(source, score):
        return Passage(source, source, "", "10-12", "def decode(ids):\n    return text\n", score)

    found = [passage("torch/a.py", 0.09), passage("corpus/notes/x.md", 0.08), passage("transformers/b.py", 0.07),
             passage("corpus/notes/y.md", 0.05), passage("corpus/added/mine.md", 0.04)]
    monkeypatch.setattr(n00bqa.retrieval, "search", lambda study, query, k, index=None: found[:3 * k])
    shown = explaining_passages(None, "what is speculative decoding", 4)
    assert [p.source for p in shown] == ["torch/a.py", "corpus/notes/x.md", "corpus/notes/y.md", "corpus/added/mine.md"]
    found[0].score = 0.01  # now below the best prose: no code before the prose
    found.sort(key=lambda p: -p.score)
    shown = explaining_passages(None, "what is speculative decoding", 3)
    assert [p.source for p in shown] == ["corpus/notes/x.md", "corpus/notes/y.md", "corpus/added/mine.md"]
    text = rendered_text(code_snippet(found[1]), 80)
    assert "10 def decode(ids):" in text and "11     return text" in text
