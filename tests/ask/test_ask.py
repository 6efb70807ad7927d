"""`ask()` and `n00bqa ask`: the answer's parts, the exact JSON shape, every error, first-use build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.shared_study import link_state, notes_only_reading_list, shared_root
from typer.testing import CliRunner

from n00bqa.ask import MAX_QUERY_CHARS, ask, best_sentence, sentences
from n00bqa.ask.routing import SURE
from n00bqa.cli import app
from n00bqa.errors import AskError, RetrievalIndexError

runner = CliRunner()
TOP_KEYS = {"query", "outcome", "question", "candidates", "none_confidence", "chosen", "related", "answer", "probes",
            "passages", "domain"}
PROBE_KEYS = {"name", "findings", "metrics", "options", "measured_at"}
PASSAGE_KEYS = {"source", "title", "section", "lines", "text", "score"}


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


@pytest.fixture
def ready_own_index(study_root, tmp_path_factory):
    """Like `ready`, but with a private copy of the index that a test may damage."""
    link_state(study_root, shared_root(tmp_path_factory), copy_index=True)
    return study_root


def test_json_has_exactly_the_documented_shape(ready):
    result = runner.invoke(app, ["ask", "How large is a transformer model?", "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == TOP_KEYS
    assert data["query"] == "How large is a transformer model?"
    assert data["outcome"] == "match" and data["candidates"] == [] and data["chosen"] is None
    assert set(data["question"]) == {"id", "question", "confidence"} and data["question"]["id"] == "model-size"
    assert data["question"]["confidence"] >= SURE
    assert all(set(r) == {"id", "confidence"} for r in data["related"]) and len(data["related"]) == 3
    # confidences are shares of one softmax (the questions and "none"): they sum to at most 1
    assert data["question"]["confidence"] + sum(r["confidence"] for r in data["related"]) <= 1.0 + 1e-3
    assert data["probes"] and all(set(p) == PROBE_KEYS for p in data["probes"])  # one per probe the question names
    assert data["probes"][0]["name"] == "param-count"
    assert len(data["passages"]) == 3 and all(set(p) == PASSAGE_KEYS for p in data["passages"])
    assert "22,713,216" in data["answer"]  # the question file's written answer


def test_answer_parts_agree_with_the_library(ready, study):
    from n00bqa.questions import get_question
    from n00bqa.retrieval import search

    answer = ask(study, "why do unused embedding rows get zero gradient", k=4)
    assert answer.question.id == "embedding-grad"
    assert answer.answer == get_question(study, "embedding-grad").answer
    # The passages come from the two searches (the query; the question with its answer) ...
    question = get_question(study, "embedding-grad")
    pool = search(study, answer.query, k=8) + search(study, f"{question.question}\n{question.answer}", k=8)
    pool_keys = {(p.source, p.lines) for p in pool}
    assert len(answer.passages) == 4 and all((p.source, p.lines) in pool_keys for p in answer.passages)
    # ... the query's strongest passage always (issue 22 item 6), then the question's own reading list
    # first (no other passage while one of it is left out) ...
    strongest = search(study, answer.query, k=1)[0]
    assert (strongest.source, strongest.lines) in {(p.source, p.lines) for p in answer.passages}
    others = [p for p in answer.passages if (p.source, p.lines) != (strongest.source, strongest.lines)]
    in_reading = [p.item_id in question.reading for p in others]
    left_out = [p for p in pool if p.item_id in question.reading and (p.source, p.lines) not in
                {(a.source, a.lines) for a in answer.passages}]
    assert any(in_reading) and (all(in_reading) or not left_out)
    # ... and listed in the order of the relevance shown beside each (issue 12)
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True)
    assert len(answer.best_sentences) == 4
    for passage, sentence in zip(answer.passages, answer.best_sentences):
        assert sentence in sentences(passage.text)
    assert answer.built == [] and answer.warnings == []


def _cached_run(study, probe: str, finding: str, options: dict):
    """A run of `probe` put in the study's probe cache as its last run (of its current source)."""
    from n00bqa.probes.base import ProbeResult
    from n00bqa.probes.runs import probe_sha256, save_result

    result = ProbeResult(probe, "model-size", "s", [finding], [], {"count": 22713216},
                         {"measured_at": "2024-01-02T03:04:05+00:00", "probe_sha256": probe_sha256(study, probe),
                          "options": options, "seed": 3}, 0.1)
    save_result(study, result)
    return result


def test_every_probe_of_the_question_is_shown_from_the_cache_with_its_options(ready, study):
    from n00bqa.questions import get_question, save_question

    question = get_question(study, "model-size")
    question.probes = ["param-count", "embedding-grad"]  # a question may name several probes
    save_question(study, question)
    _cached_run(study, "param-count", "MiniLM has 22,713,216 parameters.", {"seq_len": 128, "tied": False})
    data = ask(study, "How large is a transformer model?").to_dict()
    assert data["probes"] == [
        {"name": "param-count", "findings": ["MiniLM has 22,713,216 parameters."], "metrics": {"count": 22713216},
         "options": {"seq_len": 128, "tied": False}, "measured_at": "2024-01-02T03:04:05+00:00"},
        {"name": "embedding-grad", "findings": [], "metrics": {}, "options": {}, "measured_at": None},
    ]
    shown = _flat(runner.invoke(app, ["ask", "How large is a transformer model?"]).stdout)
    assert "MiniLM has 22,713,216 parameters." in shown
    assert "ran with: --seq-len 128 --no-tied --seed 3" in shown  # which options the shown run used
    assert "probe embedding-grad No measured findings yet. Run it: n00bqa probe embedding-grad" in shown


def test_a_run_of_an_older_probe_source_is_not_shown(ready, study):
    from n00bqa.probes.runs import save_result

    result = _cached_run(study, "param-count", "stale", {})
    result.environment["probe_sha256"] = "0" * 64  # measured by another version of the probe
    save_result(study, result)
    assert ask(study, "How large is a transformer model?").probes[0].result is None


def test_run_measures_now(ready, study):
    from n00bqa.probes.runs import last_result

    answer = ask(study, "How large is a transformer model?", run=True)
    assert answer.question.id == "model-size"
    assert [p.name for p in answer.probes] == ["param-count", "grad-rows", "forward-flops"]
    run = answer.probes[0]
    assert all(p.fresh for p in answer.probes) and run.name == "param-count"
    cached = last_result(study, "param-count")  # the run was cached like any `n00bqa probe` run
    assert cached is not None and cached.findings == run.result.findings
    assert answer.to_dict()["probes"][0]["measured_at"] == cached.measured_at
    assert answer.to_dict()["probes"][0]["options"] == cached.options


def test_off_topic_says_so_and_offers_questions_add(ready):
    result = runner.invoke(app, ["ask", "how long should I boil an egg", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["question"] is None and data["probes"] == [] and data["related"] == [] and data["passages"] == []
    assert 'n00bqa questions add "how long should I boil an egg"' in data["answer"]
    plain = _flat(runner.invoke(app, ["ask", "how long should I boil an egg"]).stdout)
    assert "No matching question" in plain and "n00bqa questions add" in plain


def _flat(text: str) -> str:
    """Rich output without its box borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_rich_output_cites_and_highlights(ready, study):
    result = runner.invoke(app, ["ask", "why is the loss at initialisation about ln of the vocabulary size", "-k", "2"])
    assert result.exit_code == 0, result.output
    answer = ask(study, "why is the loss at initialisation about ln of the vocabulary size", k=2)
    for passage in answer.passages:
        assert passage.citation == f"{passage.source}:{passage.lines.split('-')[0]}"
        assert passage.citation in _flat(result.stdout).replace(" ", "")
    assert "loss-and-benchmark" in result.stdout and "n00bqa probe loss" in _flat(result.stdout)


def test_best_sentence_is_the_one_sharing_the_rarest_query_words():
    text = "Attention mixes tokens. The loss is cross-entropy on the next token. Adam keeps two moments."
    assert best_sentence("which loss function, cross entropy?", text) == "The loss is cross-entropy on the next token."
    assert best_sentence("nothing shared", text) == "Attention mixes tokens."


# --- errors: one line, exit 1, no traceback -------------------------------------------------


def _one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def test_empty_query(ready, study):
    _one_line_error(runner.invoke(app, ["ask", "   "]), "empty")
    with pytest.raises(AskError):
        ask(study, "")


def test_megabyte_query(ready):
    text = "why " * 300_000  # 1.2 MB
    _one_line_error(runner.invoke(app, ["ask", text]), f"{len(text.strip()):,} characters", f"{MAX_QUERY_CHARS:,}")


def test_bad_k(ready):
    # a value out of its range is a usage error (exit 2), like search's -k, caught before anything loads
    for value in ("0", "101"):
        result = runner.invoke(app, ["ask", "what is perplexity", "-k", value])
        assert result.exit_code == 2 and result.stderr.count("Error: ") == 1, result.output
        assert "'-k'" in result.stderr and "Traceback" not in result.output


def test_index_built_with_another_model(ready_own_index):
    path = ready_own_index / ".n00bqa" / "index" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "model": "some-other-model"}))
    _one_line_error(runner.invoke(app, ["ask", "what is perplexity"]), "some-other-model", "--rebuild")


def test_corrupt_index_file(ready_own_index):
    folder = ready_own_index / ".n00bqa" / "index"
    generation = json.loads((folder / "manifest.json").read_text())["generation"]
    (folder / generation / "dense.faiss").write_bytes(b"not an index")
    _one_line_error(runner.invoke(app, ["ask", "what is perplexity"]), "corrupt", "--rebuild")
    (folder / "manifest.json").write_text("{ half a manifest")
    _one_line_error(runner.invoke(app, ["ask", "what is perplexity"]), "corrupt")


def test_a_broken_question_file_warns_and_ask_still_answers(ready):
    (ready / "questions" / "oops.md").write_text("---\nid: oops\nquestion: [unclosed\n---\n")
    result = runner.invoke(app, ["ask", "what is perplexity", "--json"])
    assert result.exit_code == 0, result.output
    assert "Warning: skipped question file" in result.stderr and "oops.md" in result.stderr
    assert json.loads(result.stdout)["question"]["id"] == "loss-and-benchmark"


def test_empty_corpus_is_reported(study_root, tmp_path_factory):
    shared = shared_root(tmp_path_factory)
    state = study_root / ".n00bqa"
    state.mkdir()
    os.symlink(shared / ".n00bqa" / "onnx", state / "onnx")  # no index: ask must build one
    (study_root / "corpus" / "reading-list.yaml").write_text("items: []\n")
    _one_line_error(runner.invoke(app, ["ask", "what is perplexity"]), "nothing to index", "n00bqa corpus add")


def test_first_ask_builds_the_index_and_says_so(study_root, tmp_path_factory):
    shared = shared_root(tmp_path_factory)
    state = study_root / ".n00bqa"
    state.mkdir()
    os.symlink(shared / ".n00bqa" / "onnx", state / "onnx")
    notes_only_reading_list(study_root / "corpus")
    corpus = study_root / "corpus" / "reading-list.yaml"
    import yaml

    data = yaml.safe_load(corpus.read_text())
    data["items"] = data["items"][:1]  # one note: a short build
    corpus.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["ask", "how does the decoder use the encoder output", "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "Built the retrieval index" in result.stderr and "the question vectors" in result.stderr
    passages = json.loads(result.stdout)["passages"]
    assert passages and {p["source"] for p in passages} == {f"corpus/{data['items'][0]['note']}"}
    again = runner.invoke(app, ["ask", "how does the decoder use the encoder output", "--json"])
    assert "Built" not in again.stderr


# --- the fast path imports no torch ---------------------------------------------------------


def test_ask_path_imports_no_torch_and_no_probe_module(ready):
    code = (
        "import sys, json\n"
        "from n00bqa.cli import app\n"  # not main(): the console script ends an ask without teardown
        "sys.argv = ['n00bqa', 'ask', 'How large is a transformer model?', '--json']\n"
        "try:\n    app(prog_name='n00bqa')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'bm25s', 'scipy')\n"
        "         if m in sys.modules]\n"
        "heavy += [m for m in sys.modules if m.startswith('n00bqa.probes.') and m not in ('n00bqa.probes.base', 'n00bqa.probes.runs')]\n"
        "print('HEAVY=' + json.dumps(heavy))\n"
    )
    env = {**os.environ, "N00BQA_ROOT": str(ready)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"id": "model-size"' in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=[]"


def test_console_script(ready):
    exe = Path(sys.executable).parent / "n00bqa"
    if not exe.exists():
        exe = shutil.which("n00bqa")
    env = {**os.environ, "N00BQA_ROOT": str(ready)}
    out = subprocess.run([str(exe), "ask", "what is perplexity", "--json", "-k", "1"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["question"]["id"] == "loss-and-benchmark"


def test_missing_index_error_from_search_names_the_fix(ready_own_index, study):
    from n00bqa.retrieval import load_index

    shutil.rmtree(ready_own_index / ".n00bqa" / "index")
    with pytest.raises(RetrievalIndexError, match="n00bqa index build"):
        load_index(study)


def test_the_strongest_passage_is_never_hidden(ready_own_index, study, tmp_path):
    """Issue 22 item 6: a note the learner added, which `search` ranks first for their words, is
    among `ask`'s passages even though the matched question's reading list does not hold it."""
    from n00bqa.retrieval import search

    note = tmp_path / "my-sparse-grad-notes.md"
    note.write_text("# My notes on sparse embedding gradients\n\n"
                    "Why do unused embedding rows get zero gradient? In my own words: the lookup copies rows, "
                    "so backward only adds into the rows that were looked up, and every unused embedding row "
                    "gets exactly zero gradient. SparseAdam then updates only those rows.\n")
    assert runner.invoke(app, ["corpus", "add", str(note)]).exit_code == 0
    assert runner.invoke(app, ["index", "build"]).exit_code == 0
    query = "why do unused embedding rows get zero gradient"
    first = search(study, query, k=1)[0]
    assert first.source.endswith("my-sparse-grad-notes.md")
    answer = ask(study, query, k=3)
    assert answer.question.id == "embedding-grad" and first.item_id not in answer.question.reading
    assert (first.source, first.lines) in {(p.source, p.lines) for p in answer.passages}
