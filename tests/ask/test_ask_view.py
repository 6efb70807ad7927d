"""What `ask` and `search` print (fault campaign, issue 12 items 9, 11 and 12): scores labelled so
routing and retrieval cannot be confused, passages in the order of the score shown, a weak match
shown as the closest question rather than as the answer, commands whole on their own line, nothing
cropped at 80 columns, long output paged on a terminal only."""

from __future__ import annotations

import io
import re
import sys

import pytest
from rich.console import Console
from support.shared_study import link_state, shared_root
from typer.testing import CliRunner

from n00bqa.ask import routing
from n00bqa.cli import app
from n00bqa.render import answer_view, passage_view, percent, rendered_text

runner = CliRunner()


@pytest.fixture
def ready(study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))
    return study_root


def test_match_and_relevance_are_labelled_and_passages_follow_their_scores(ready, study):
    from n00bqa.ask import ask

    answer = ask(study, "why do unused embedding rows get zero gradient", k=4)
    text = rendered_text(answer_view(answer), 80)
    assert answer.outcome == "match" and 0.0 <= answer.score <= 1.0
    assert f"{answer.question.id}  confidence {percent(answer.score)} (sure match)" in text
    assert "score" not in text.split("Reading")[0].split("\n")[0]
    shown = [float(s) for s in re.findall(r"relevance (\d\.\d{3}) ·", text)]
    assert len(shown) == len(answer.passages) == 4
    assert shown == sorted(shown, reverse=True)
    assert shown == [round(p.score, 3) for p in answer.passages]
    assert "also close (confidence): " in " ".join(text.split())
    for related, score in answer.related:
        assert f"{related.id} {percent(score)}" in " ".join(text.split())


def test_candidates_are_numbered_with_their_confidence_and_why(ready, study):
    from n00bqa.ask import ask

    answer = ask(study, "cross attn")  # measured on the fixture root: two candidates, 66 % and 29 %
    assert answer.outcome == "candidates", answer.outcome
    assert answer.question is None and 1 <= len(answer.candidates) <= routing.MAX_CANDIDATES
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", rendered_text(answer_view(answer), 80)).split())
    assert "Which question is it?" in flat and "Answer" not in flat  # no written answer shown as the answer
    for number, candidate in enumerate(answer.candidates, 1):
        assert f"{number}. {candidate.question.id} confidence {percent(candidate.confidence)}" in flat
    confidences = [c.confidence for c in answer.candidates]
    assert confidences == sorted(confidences, reverse=True) and confidences[0] < routing.SURE
    data = answer.to_dict()
    assert data["outcome"] == "candidates" and [c["id"] for c in data["candidates"]] == [
        c.question.id for c in answer.candidates]


def test_none_shows_the_closest_question_and_its_confidence(ready, study):
    from n00bqa.ask import ask

    answer = ask(study, "how long should I boil an egg for a soft yolk")
    assert answer.outcome == "none" and answer.best_guess is not None and answer.passages == []
    guess, confidence = answer.best_guess
    text = rendered_text(answer_view(answer), 80)
    assert f"closest question: {guess}  confidence {percent(confidence)}" in text
    assert "Answer" not in text and confidence < routing.SURE


@pytest.mark.parametrize("width", [80, 60])
def test_the_questions_add_command_is_whole_on_its_own_line(ready, study, width):
    from n00bqa.ask import ask

    query = "how long should I boil an egg for a soft yolk with a runny centre"
    answer = ask(study, query)
    from n00bqa.cli.common import print_parts
    from n00bqa.render import answer_parts

    out = Console(width=width, file=io.StringIO(), color_system=None)
    print_parts(out, answer_parts(answer))  # as `ask` prints it
    command = f'n00bqa questions add "{query}"'
    assert command in out.file.getvalue().splitlines()  # one line, exactly the command: copyable from a pipe


def test_ask_piped_keeps_the_command_whole(ready):
    query = "how long should I boil an egg for a soft yolk with a runny centre"
    result = runner.invoke(app, ["ask", query], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert f'n00bqa questions add "{query}"' in result.stdout.splitlines()


@pytest.mark.parametrize("width", [80, 40])
def test_search_panels_keep_their_relevance_and_citation(ready, study, width):
    from n00bqa.retrieval import search

    for rank, passage in enumerate(search(study, "why is the embedding gradient sparse", k=3), 1):
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", rendered_text(passage_view(passage, rank), width)).split())
        assert f"relevance {passage.score:.3f} · " in flat
        assert passage.citation in flat.replace(" ", "") or passage.citation in flat


# --- the pager ----------------------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch, tmp_path):
    """stdout as a 20-line terminal, and a $PAGER that writes what it is given to a file."""
    from n00bqa.cli import common

    out = io.StringIO()
    fake = Console(file=out, force_terminal=True, width=80, height=20, color_system="standard")
    monkeypatch.setattr(common, "console", fake)
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"{sys.executable} -c \"import sys; open({str(paged)!r}, 'w').write(sys.stdin.read())\"")
    return out, paged


def test_tall_output_on_a_terminal_goes_through_the_pager_with_its_colours(terminal):
    from rich.text import Text

    from n00bqa.cli.common import print_paged

    out, paged = terminal
    print_paged(Text("\n".join(f"line {i}" for i in range(50)), style="bold"))
    assert out.getvalue() == ""
    text = paged.read_text()
    assert "line 0" in text and "line 49" in text and "\x1b[" in text  # styles kept for less -R


def test_short_output_or_no_pager_prints_directly(terminal):
    from rich.text import Text

    from n00bqa.cli.common import print_paged

    out, paged = terminal
    print_paged("one short line")
    print_paged(Text("\n".join(f"line {i}" for i in range(50))), pager=False)
    assert "one short line" in out.getvalue() and "line 49" in out.getvalue()
    assert not paged.exists()


def test_a_pipe_is_never_paged(monkeypatch, tmp_path):
    from rich.text import Text

    from n00bqa.cli import common

    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, force_terminal=False, width=80, height=20))
    monkeypatch.setenv("PAGER", "false-pager-that-does-not-exist")
    common.print_paged(Text("\n".join(f"line {i}" for i in range(50))))
    assert "line 49" in out.getvalue()


def test_a_missing_pager_still_prints(terminal, monkeypatch):
    from rich.text import Text

    from n00bqa.cli.common import print_paged

    out, _ = terminal
    monkeypatch.setenv("PAGER", "no-such-pager-anywhere")
    print_paged(Text("\n".join(f"line {i}" for i in range(50))))
    assert "line 49" in out.getvalue()


@pytest.mark.parametrize("command", [["ask", "why do unused embedding rows get zero gradient", "--no-pager"],
                                     ["probe", "param-count", "--last", "--no-pager"],
                                     ["show", "model-size", "--no-pager"]])
def test_commands_take_no_pager(ready, study, monkeypatch, command):
    from n00bqa.cli import common
    from n00bqa.cli import probes as probes_cli
    from n00bqa.probes.base import ProbeResult
    from n00bqa.probes.runs import probe_sha256, save_result

    save_result(study, ProbeResult("param-count", "model-size", "s", ["a finding"], [], {"count": 1},
                                   {"measured_at": "2024-01-02T03:04:05+00:00", "options": {}, "seed": 0,
                                    "probe_sha256": probe_sha256(study, "param-count")}, 0.1))
    seen = []
    for module in (common, probes_cli):
        monkeypatch.setattr(module, "print_paged", lambda *r, pager=True: seen.append(pager))
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert seen == [False]
