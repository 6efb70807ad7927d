"""`n00bqa questions add TEXT` starts from evidence: the closest questions, their probes, and the
passages that bear on it (path:line), shown and written into the new file."""

from __future__ import annotations

import re

import pytest
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.cli.questions import parse_error, try_commands
from n00bqa.questions import check_study, get_question

runner = CliRunner()
GQA = "How does grouped query attention reduce the KV cache?"
CITATION = re.compile(r"(?:corpus/notes/[\w.-]+\.md|[\w/.-]+\.py):\d+")


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def test_add_writes_citations_related_questions_and_probes(ready, study):
    result = runner.invoke(app, ["questions", "add", GQA, "--chapter", "4"])
    assert result.exit_code == 0, result.output
    question = get_question(study, "grouped-query-attention-reduce-kv-cache")
    text = question.path.read_text()
    citations = CITATION.findall(question.notes)
    assert len(citations) >= 3 and len(set(citations)) == len(citations)
    for citation in citations:  # each cites a real line of a reading-list file
        path, line = citation.rsplit(":", 1)
        assert (ready / path).is_file() and 1 <= int(line) <= len((ready / path).read_text().splitlines())
    related = re.findall(r"^- ([a-z0-9-]+) \(confidence ([<>]?\d+)%\): ", question.notes, flags=re.M)
    assert len(related) == 3 and all((ready / "questions" / f"{qid}.md").is_file() for qid, _ in related)
    shown = [float(s.lstrip("<>")) for _, s in related]
    assert shown == sorted(shown, reverse=True)
    assert "Probes that measure them:" in question.notes
    assert question.reading and question.chapter == 4 and question.probes == []
    assert f"n00bqa show {related[0][0]}" in question.try_ and f"n00bqa quiz {question.id}" in question.try_
    out = " ".join(result.stdout.split())
    assert "Closest questions (confidence): " + related[0][0] in out and citations[0] in out
    # its reading ids exist and every Try command written parses (the fixture's other questions cite
    # library sources that the notes-only reading list of the shared index leaves out)
    assert [p for p in check_study(study) if question.path.name in p] == []
    commands = try_commands(question)
    assert len(commands) >= 3 and all(parse_error(c) == "" for c in commands), commands
    assert text.count("## Notes") == 1


def test_probe_links_one_and_no_evidence_writes_a_plain_file(ready, study):
    result = runner.invoke(app, ["questions", "add", GQA, "--id", "gqa", "--probe", "param-count"])
    assert result.exit_code == 0, result.output
    question = get_question(study, "gqa")
    assert question.probes == ["param-count"] and "n00bqa probe param-count" in question.try_
    plain = runner.invoke(app, ["questions", "add", GQA, "--id", "gqa-plain", "--no-evidence"])
    assert plain.exit_code == 0 and get_question(study, "gqa-plain").notes == ""


def test_an_off_topic_question_gets_no_reading_and_says_why(ready, study):
    result = runner.invoke(app, ["questions", "add", "best recipe for sourdough bread", "--id", "bread"])
    assert result.exit_code == 0, result.output
    question = get_question(study, "bread")
    assert question.reading == [] and "No reading suggested: the question is off-topic" in question.notes
    assert "Closest questions in the list:" in question.notes


def test_evidence_failure_keeps_the_added_question(study_root, study):
    (study_root / "corpus" / "reading-list.yaml").write_text("items: []\n")  # nothing to index
    result = runner.invoke(app, ["questions", "add", GQA, "--id", "gqa"])
    assert result.exit_code == 0, result.output
    assert "Warning: no starting points written" in result.stderr
    assert get_question(study, "gqa").question == GQA
