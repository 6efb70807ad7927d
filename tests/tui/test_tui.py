"""`n00bqa browse` under Textual's Pilot: what the screen shows and which files the keys change.

Each app is built by the factory, `make_app(study, probes)`, on the test's own study root; tests
that need probes of their own hand them to the factory. pytest-asyncio is not installed, so each
test drives its async body with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.geometry import Region
from typer.testing import CliRunner

from conftest import FIXTURE_STUDY
from n00bqa.cli import app as cli_app
from n00bqa.questions import Question, get_question, load_questions, save_question
from n00bqa.study import Study
from n00bqa.tui import make_app

BOX = re.compile(r"[│╭╮╰╯─┃━▕▎▊▁▔]")


def screen_text(app) -> str:
    """The characters on the terminal right now (what the learner sees)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def widget_text(widget) -> str:
    """All lines a widget renders, including those scrolled out of view."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text for strip in lines)


def flat(text: str) -> str:
    """Box-drawing removed and whitespace collapsed, so wrapped sentences compare as one line."""
    return " ".join(BOX.sub(" ", text).split())


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()  # let the layout catch up with what just changed


def run(coro) -> None:
    asyncio.run(coro)


def test_lists_every_question_and_shows_the_selected_one(study) -> None:
    questions, problems = load_questions(study)
    assert len(questions) >= 2 and not problems

    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.question_list.visible_ids == [q.id for q in questions]  # however many there are
            assert questions[0].id in screen_text(app)
            assert app.current == questions[0].id
            await pilot.press("down")
            await pilot.pause()
            assert app.current == questions[1].id
            view = flat(widget_text(app.detail.query_one("#view")))
            assert flat(questions[1].question) in view
            assert f"status {questions[1].status}" in view
            assert "probes " + ", ".join(questions[1].probes) in view
            # the written answer is rendered as Markdown (first words of its first paragraph)
            first_words = " ".join(questions[1].answer.split()[:4]).replace("**", "")
            assert first_words in view
            # the last question is on screen once the cursor reaches it, however long the list is
            await pilot.press("end")
            await pilot.pause()
            assert app.current == questions[-1].id and questions[-1].id in screen_text(app)

    run(body())


def test_a_question_with_several_probes_shows_each(study) -> None:
    question = get_question(study, "model-size")
    question.probes = ["param-count", "embedding-grad"]
    save_question(study, question)

    async def body() -> None:
        app = make_app(study, question="model-size")
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            view = flat(widget_text(app.detail.query_one("#view")))
            assert "probes param-count, embedding-grad" in view
            for name in question.probes:
                assert f"probe {name} No measured findings yet. Run it: n00bqa probe {name}" in view
            assert "Press r to run its 2 probes here." in flat(widget_text(app.detail.query_one("#extra")))

    run(body())


def test_open_at_an_id_and_filter_by_search_and_tag(study) -> None:
    questions, _ = load_questions(study)
    target = questions[-1]
    tag = target.tags[0]

    async def body() -> None:
        app = make_app(study, question=target.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.current == target.id
            assert app.question_list.highlighted_id == target.id
            # type into the search box: the list narrows as you type
            await pilot.press("slash")
            word = "embedding"
            await pilot.press(*word)
            await pilot.pause()
            expected = [q.id for q in questions  # full text: answers, Try and Notes too
                        if word in " ".join([q.id, q.question, *q.tags, q.answer, q.try_, q.notes]).lower()]
            assert expected and len(expected) < len(questions)
            assert app.question_list.visible_ids == expected
            await pilot.press("ctrl+a", "ctrl+k", *"no-such-thing-zz")
            await pilot.pause()
            assert app.question_list.visible_ids == []
            assert "Nothing matches." in screen_text(app)
            await pilot.press("ctrl+a", "ctrl+k", "escape")
            # the tag filter
            from textual.widgets import Select

            app.question_list.query_one("#tag-filter", Select).value = tag
            await pilot.pause()
            assert app.question_list.visible_ids == [q.id for q in questions if tag in q.tags]

    run(body())


def test_toggle_status_saves_the_file(study_root: Path, study) -> None:
    questions, _ = load_questions(study)
    target = questions[0]
    path = study_root / "questions" / f"{target.id}.md"
    flipped = "answered" if target.status == "open" else "open"

    async def body() -> None:
        app = make_app(study, question=target.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert f"status: {flipped}" in path.read_text()
            assert get_question(study, target.id).status == flipped
            assert f"status {flipped}" in flat(widget_text(app.detail.query_one("#view")))
            mark = "✓" if flipped == "answered" else "○"
            assert f"{mark} {target.id}" in screen_text(app)
            await pilot.press("s")  # and back
            await pilot.pause()
            assert get_question(study, target.id).status == target.status

    run(body())
    after = path.read_text()
    assert f"status: {target.status}" in after
    assert get_question(study, target.id).answer == target.answer  # nothing else in the file was lost


def test_add_note_saves_it_to_the_question_file(study_root: Path, study) -> None:
    questions, _ = load_questions(study)
    target = questions[1]
    note = "Checked in the browser: the table rows match."

    async def body() -> None:
        app = make_app(study, question=target.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            assert "Add a note to " + target.id in screen_text(app)
            await pilot.press(*note, "enter")
            await pilot.pause()
            saved = get_question(study, target.id)
            assert saved.notes.endswith(note)
            text = (study_root / "questions" / f"{target.id}.md").read_text()
            assert text.index("## Notes") < text.index(note)
            assert note in flat(widget_text(app.detail.query_one("#view")))
            # Escape cancels without writing
            await pilot.press("n", *"not saved", "escape")
            await pilot.pause()
            assert "not saved" not in (study_root / "questions" / f"{target.id}.md").read_text()

    run(body())


def test_resize_keeps_working(study) -> None:
    questions, _ = load_questions(study)
    sizes = [(160, 50), (40, 12), (20, 6), (80, 24)]
    landed = questions[min(len(sizes), len(questions) - 1)]  # one "down" per size, from the first

    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            for size in sizes:
                await pilot.resize_terminal(*size)
                await pilot.pause()
                assert app.size == size
                await pilot.press("down")
                await pilot.pause()
            assert app.is_running
            assert app.current == landed.id
            assert landed.id in screen_text(app)

    run(body())


def test_cli_refuses_without_a_terminal_and_rejects_an_unknown_id() -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["browse"])
    assert result.exit_code == 1
    assert "needs an interactive terminal" in result.output
    result = runner.invoke(cli_app, ["browse", "no-such-question"])
    assert result.exit_code == 1
    assert "unknown question id 'no-such-question'" in result.output
    assert "Traceback" not in result.output


def test_browse_console_script_in_a_pseudo_terminal(study_root: Path, study) -> None:
    pexpect = pytest.importorskip("pexpect")
    script = shutil.which("n00bqa", path=str(Path(sys.executable).parent)) or shutil.which("n00bqa")
    assert script, "the n00bqa console script is not installed (pip install -e .)"
    questions, _ = load_questions(study)
    env = {**os.environ, "N00BQA_ROOT": str(study_root), "TERM": "xterm-256color"}
    child = pexpect.spawn(script, ["browse"], env=env, dimensions=(24, 80), timeout=60, encoding="utf-8")
    try:
        child.expect_exact(questions[0].id)  # the list is on the screen
        child.expect_exact("Quit")  # and the footer with the keys
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


# ----------------------------------------------------------------- probes


@dataclasses.dataclass
class NoOptions:
    pass


@dataclasses.dataclass
class Squares:
    rows: list  # [n, n squared] per step (report-only)
    sum_of_squares: int


def _question_for(study: Study, probe_name: str, text: str) -> None:
    save_question(study, Question(id=f"{probe_name}-question", question=text, probes=[probe_name]))


@pytest.fixture
def fake_probes(study):
    """Two tiny probes for the browser to run, and a question for each.

    `counting` waits on a gate between its steps, so the test can look at the screen mid-run.
    Returns (gate, probes).
    """
    from n00bqa.errors import ProbeError
    from n00bqa.probes.base import Probe, Report, Table

    gate = threading.Event()

    def counting(opts, ctx):
        advance = ctx.task("squaring", 4)
        rows = []
        for step in range(1, 5):
            assert gate.wait(30), "the test never opened the gate"
            rows.append([step, step * step])
            advance(1)
        return Squares(rows, sum(r[1] for r in rows))

    def report(numbers, opts):
        return Report("Squares of 1..4.", [f"The squares of 1..4 add up to {numbers.sum_of_squares}."],
                      [Table("Squares", ["n", "n squared"], numbers.rows)])

    def broken(opts, ctx):
        raise ProbeError("width 0 is too small; pass --width 1 or more")

    probes = [Probe("tiny-count", "tiny-count-question", "Counts squares.", NoOptions, counting, report),
              Probe("tiny-broken", "tiny-broken-question", "Always fails.", NoOptions, broken, report)]
    _question_for(study, "tiny-count", "How do tiny squares add up?")
    _question_for(study, "tiny-broken", "What does a broken probe show?")
    return gate, probes


def test_run_probe_shows_live_progress_stays_responsive_and_replaces_findings(fake_probes, study) -> None:
    from textual.widgets import ProgressBar

    from n00bqa.probes.runs import last_result

    gate, probes = fake_probes

    async def body() -> None:
        app = make_app(study, probes, question="tiny-count-question")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            view = flat(widget_text(app.detail.query_one("#view")))
            assert "No measured findings yet" in view
            await pilot.press("r")
            await wait_for(pilot, lambda: "squaring" in screen_text(app), what="the progress line")
            assert app.probe_running == "tiny-count"
            bar = app.activity.query_one(ProgressBar)
            assert bar.total == 4 and bar.progress == 0
            # the UI answers keys while the probe waits in its worker thread
            await pilot.press("up")
            await pilot.pause()
            assert app.current != "tiny-count-question"
            await pilot.press("down")
            await pilot.pause()
            assert app.current == "tiny-count-question"
            assert "Probe tiny-count is running" in flat(widget_text(app.detail.query_one("#extra")))
            gate.set()
            await wait_for(pilot, lambda: app.probe_running is None, what="the probe to finish")
            await pilot.pause()
            assert bar.progress == 4
            assert not app.activity.display
            view = flat(widget_text(app.detail.query_one("#view")))
            assert "The squares of 1..4 add up to 30." in view  # 1 + 4 + 9 + 16
            saved = last_result(study, "tiny-count")
            assert saved is not None and saved.metrics == {"sum_of_squares": 30}
            assert f"measured {saved.measured_at}" in view
            assert "ran with: --seed 0" in view  # the options of the shown run
            assert "Squares n n squared 1 1 2 4 3 9 4 16" in view  # its table, in the same view
            assert "No measured findings yet" not in view

    run(body())


def test_a_failing_probe_is_shown_in_the_app(fake_probes, study) -> None:
    _, probes = fake_probes

    async def body() -> None:
        app = make_app(study, probes, question="tiny-broken-question")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("r")
            await wait_for(pilot, lambda: app.probe_running is None, what="the probe to fail")
            await pilot.pause()
            extra = flat(widget_text(app.detail.query_one("#extra")))
            assert "Probe tiny-broken failed: width 0 is too small; pass --width 1 or more" in extra
            assert "Traceback" not in screen_text(app)
            assert app.is_running

    run(body())


def test_run_the_real_param_count_probe(minilm, study) -> None:
    """The real probe on the real question: the findings on screen are the run's, and its count for
    the bundled MiniLM equals the parameters of the model loaded independently here."""
    from n00bqa.probes.runs import last_result

    _, model = minilm
    minilm_params = sum(p.numel() for p in model.parameters())
    started = time.time()

    async def body() -> None:
        app = make_app(study, question="model-size")  # the study's own registry
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            assert get_question(study, "model-size").probes == ["param-count", "grad-rows", "forward-flops"]
            await pilot.press("r")
            await wait_for(pilot, lambda: app.probe_running is None, timeout=240, what="param-count")
            await pilot.pause()
            assert "param-count" not in app.probe_errors
            result = last_result(study, "param-count")
            assert result is not None
            from datetime import datetime

            assert datetime.fromisoformat(result.measured_at).timestamp() >= int(started)
            view = flat(widget_text(app.detail.query_one("#view")))
            for finding in result.findings:
                assert flat(finding) in view
            assert f"measured {result.measured_at}" in view
            assert any(f"{minilm_params:,}" in finding for finding in result.findings)
            for table in result.tables:  # every table of the run, its numbers whole
                assert flat(table.title) in view
                for row in table.rows:
                    for cell in row:
                        if isinstance(cell, int) and not isinstance(cell, bool):
                            assert f"{cell:,}" in view

    run(body())


# ----------------------------------------------------------------- passages, ask, index

SMALL_CORPUS = ("word-embeddings", "attention-is-all-you-need")


def small_corpus(root: Path) -> None:
    """A study root whose reading list is two of the fixture's notes (fast to embed)."""
    import yaml

    (root / "corpus" / "notes").mkdir(parents=True, exist_ok=True)
    items = yaml.safe_load((FIXTURE_STUDY / "corpus" / "reading-list.yaml").read_text())["items"]
    keep = [item for item in items if item["id"] in SMALL_CORPUS]
    assert len(keep) == len(SMALL_CORPUS)
    for item in keep:
        shutil.copy(FIXTURE_STUDY / "corpus" / item["note"], root / "corpus" / item["note"])
    (root / "corpus" / "reading-list.yaml").write_text(yaml.safe_dump({"items": keep}))


@pytest.fixture(scope="session")
def indexed_root(tmp_path_factory) -> Path:
    """A study root (questions + a two-note reading list) with its index built once per session."""
    root = tmp_path_factory.mktemp("tui-indexed") / "study"
    root.mkdir()
    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    small_corpus(root)
    from n00bqa.retrieval import build_index

    report = build_index(Study(root))
    assert report.chunks_total > 0
    return root


@pytest.fixture
def indexed(indexed_root: Path) -> Study:
    return Study(indexed_root)


def test_missing_index_is_explained_in_the_pane(study) -> None:
    async def body() -> None:
        app = make_app(study, question="word-embedding")
        async with app.run_test(size=(100, 30)) as pilot:
            head = app.detail.query_one("#passages-head")
            await wait_for(pilot, lambda: "index build" in widget_text(head), what="the index hint")
            text = flat(widget_text(head))
            assert text.startswith("No passages:")
            assert "Press i to build the index here, or run `n00bqa index build`." in text
            assert app.detail.passages == []
            await pilot.press("o")  # nothing to open: a notice, no crash
            await pilot.pause()
            assert app.screen is app.screen_stack[0]

    run(body())


def test_passages_are_cited_and_open_in_full(indexed: Study) -> None:
    from n00bqa.retrieval import search

    question = get_question(indexed, "word-embedding")
    expected = search(indexed, question.question, k=5)
    assert expected

    async def body() -> None:
        app = make_app(indexed, question="word-embedding")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.detail.passages, what="the passages")
            assert app.detail.passages == expected  # the records the library returns
            listed = flat(widget_text(app.detail.query_one("#passages")))
            first = expected[0]
            assert first.citation in listed
            assert f"relevance {first.score:.3f}" in listed
            await pilot.press("o")
            await pilot.pause()
            from n00bqa.tui.screens import PassageScreen

            assert isinstance(app.screen, PassageScreen)
            shown = flat(widget_text(app.screen.query_one("#passage-text")))
            assert shown == flat(first.text)
            assert "Passage 1 of" in screen_text(app)
            await pilot.press("right")
            await pilot.pause()
            assert app.screen.index == 1 % len(expected)
            assert flat(widget_text(app.screen.query_one("#passage-text"))) == flat(expected[1 % len(expected)].text)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, PassageScreen)
            # Enter on a passage in the list opens that one
            app.detail.query_one("#passages").focus()
            await pilot.press("end", "enter")
            await pilot.pause()
            assert isinstance(app.screen, PassageScreen)
            assert app.screen.index == len(expected) - 1

    run(body())


def test_ask_shows_the_ask_result(indexed: Study) -> None:
    query = "What is a word embedding and how is it learned?"

    async def body() -> None:
        app = make_app(indexed)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("a")
            await pilot.pause()
            assert "Ask a question" in screen_text(app)
            await pilot.press(*query, "enter")
            view = app.detail.query_one("#view")
            await wait_for(pilot, lambda: "Asking" not in widget_text(view) and app.mode == "ask"
                           and not app.activity.display, timeout=240, what="the ask result")
            await pilot.pause()
            from n00bqa.ask import ask

            answer = ask(indexed, query)  # the same library call, made directly
            shown = flat(widget_text(view))
            assert "Traceback" not in shown
            from n00bqa.text import percent

            assert answer.question is not None and f"{answer.question.id} confidence {percent(answer.score)}" in shown
            assert flat(answer.question.question) in shown
            assert app.detail.passages == answer.passages
            assert answer.passages, "the two-note index should back this query"
            # and the passages of the answer open like any others
            await pilot.press("o")
            await pilot.pause()
            assert flat(widget_text(app.screen.query_one("#passage-text"))) == flat(answer.passages[0].text)
            await pilot.press("escape")
            # selecting a question goes back to the question view
            await pilot.press("down")
            await pilot.pause()
            assert app.mode == "question"

    run(body())


def test_build_index_key_builds_it_with_progress(study_root: Path, study,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    small_corpus_root = study_root
    (small_corpus_root / "corpus" / "reading-list.yaml").unlink()
    small_corpus(small_corpus_root)
    from n00bqa.tui.widgets import Activity

    seen: list[tuple[str, int | None]] = []  # every (description, total) the activity line showed
    begin = Activity.begin

    def spy(self, description: str, total: int | None = None) -> None:
        seen.append((description, total))
        begin(self, description, total)

    monkeypatch.setattr(Activity, "begin", spy)

    async def body() -> None:
        app = make_app(study, question="word-embedding")
        async with app.run_test(size=(100, 30)) as pilot:
            head = app.detail.query_one("#passages-head")
            await wait_for(pilot, lambda: "index build" in widget_text(head), what="the index hint")
            await pilot.press("i")
            await wait_for(pilot, lambda: app.detail.passages, timeout=240, what="the passages after the build")
            assert not app.activity.display
            stages = [description for description, _ in seen]
            assert "index: Chunking new and changed items" in stages and "index: Embedding passages" in stages, stages
            # the chunk stage counts the two reading-list items
            assert ("index: Chunking new and changed items", len(SMALL_CORPUS)) in seen
            from n00bqa.retrieval import index_status, search

            assert index_status(study)["exists"]  # the index is on disk in this test's own root
            assert app.detail.passages == search(study, get_question(study, "word-embedding").question, k=5)

    run(body())


def test_quitting_stops_a_running_probe(study) -> None:
    """A probe still running when the learner quits stops at its next progress step."""
    from n00bqa.probes.base import Probe, Report

    steps: list[int] = []

    def endless(opts, ctx):
        advance = ctx.task("spinning", 100_000)
        for step in range(100_000):  # ~17 minutes if nothing stops it
            time.sleep(0.01)
            steps.append(step)
            advance(1)
        return Squares([], 0)

    endless_probe = Probe("tiny-endless", "tiny-endless-question", "Spins.", NoOptions, endless,
                          lambda numbers, opts: Report("", []))
    _question_for(study, "tiny-endless", "Does quitting wait for a probe?")

    async def body() -> None:
        app = make_app(study, [endless_probe], question="tiny-endless-question")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("r")
            await wait_for(pilot, lambda: len(steps) > 5, what="the probe to start")
            await pilot.press("q")
            await pilot.pause()

    started = time.monotonic()
    run(body())
    assert time.monotonic() - started < 20
    count = len(steps)
    time.sleep(0.2)
    assert len(steps) == count  # the worker thread has stopped


def test_a_broken_question_file_is_listed_as_a_problem(study_root: Path, study) -> None:
    (study_root / "questions" / "broken.md").write_text("no front matter here\n")
    questions, problems = load_questions(study)
    assert len(problems) == 1

    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            box = flat(widget_text(app.question_list.query_one("#problems")))
            assert box.startswith("⚠") and "broken.md" in box and "no front matter" in box
            assert app.question_list.visible_ids == [q.id for q in questions]

    run(body())
