"""`n00bqa questions add TEXT` starts from evidence: the closest questions, their probes, and the
passages that bear on it (path:line), shown and written into the new file."""

from __future__ import annotations

import json
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
    question = get_question(study, "grouped-query-attention")
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


def _view_lines(question, width: int) -> list[str]:
    from rich.console import Console

    from n00bqa.render import question_view

    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(question_view(question, {}))
    return [line.strip().strip("│").strip() for line in console.export_text().splitlines()]


def test_the_try_commands_written_show_one_per_line(ready, study):
    # issue 26 item 2: plain lines joined into one paragraph in `show` and `browse` (both render
    # render.question_view); written inside a code fence, each command keeps its own line
    result = runner.invoke(app, ["questions", "add", GQA, "--id", "gqa", "--probe", "param-count"])
    assert result.exit_code == 0, result.output
    question = get_question(study, "gqa")
    assert question.try_.startswith("```\n") and question.try_.endswith("\n```")
    commands = try_commands(question)
    assert len(commands) >= 4
    lines = _view_lines(question, 160)
    for command in commands:
        assert command in lines, (command, lines)


def test_with_commands_adds_inside_an_existing_fence():
    from n00bqa.study_loop.evidence import with_commands

    assert with_commands("", "n00bqa a\nn00bqa b") == "```\nn00bqa a\nn00bqa b\n```"
    assert with_commands("```\nn00bqa a\n```", "n00bqa b") == "```\nn00bqa a\nn00bqa b\n```"
    assert with_commands("Run these:", "n00bqa b") == "Run these:\n\n```\nn00bqa b\n```"


def test_add_warns_when_the_new_question_routes_to_a_listed_one(ready, study):
    # issue 26 item 8: a question already in the list, in other words; the warning's number is the
    # confidence the --json reports, compared with the level at which ask answers with a sure match
    from n00bqa.ask.routing import SURE as THRESHOLD

    result = runner.invoke(app, ["questions", "add", "How many parameters does a transformer model have?",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    related = data["starting_points"]["related"]
    over = [r for r in related if r["score"] >= THRESHOLD]
    assert over and over[0]["id"] == "model-size", related
    assert data["warnings"] == [w for w in data["warnings"] if "looks like" in w]
    assert len(data["warnings"]) == len(over)
    assert f"looks like model-size (confidence {over[0]['score']:.0%} >= {THRESHOLD:.0%}" in data["warnings"][0]
    assert data["question"]["id"] == "parameters-transformer" and data["question"]["try"].startswith("```")
    assert "Warning: parameters-transformer looks like model-size" in result.stderr


def test_add_json_without_evidence_and_check_json(ready, study):
    result = runner.invoke(app, ["questions", "add", "What is a rotary embedding?", "--no-evidence", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"]["id"] == "rotary-embedding" and data["starting_points"] is None
    assert data["warnings"] == []
    checked = runner.invoke(app, ["questions", "check", "--json"])
    report = json.loads(checked.stdout)
    assert report["questions"] == len(list((ready / "questions").glob("*.md")))
    assert report["try_commands"] > 0 and checked.exit_code == (1 if report["problems"] else 0)
