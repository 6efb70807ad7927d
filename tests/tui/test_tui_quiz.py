"""The browser's study loop under Pilot: the quiz screen (predict, reveal, rate), the due count in
the header, the chapter filter, and adding a question from the browser."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

from support.shared_study import link_state, shared_root
from support.study_loop import copy_probe_cache, param_count_root

from n00bqa.questions import add_question, get_question, load_questions
from n00bqa.study_loop.quiz_steps import record_recall
from n00bqa.tui import make_app


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


def body_text(screen) -> str:
    from rich.console import Console

    import io

    console = Console(width=100, record=True, color_system=None, file=io.StringIO())
    console.print(screen.query_one("#quiz-body").content)
    return " ".join(console.export_text().split())


async def type_line(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


def test_quiz_screen_predicts_reveals_rates_and_logs(study, study_root, tmp_path_factory):
    copy_probe_cache(param_count_root(tmp_path_factory), study_root)

    async def body() -> None:
        from n00bqa.tui.quiz_screen import QuizScreen

        app = make_app(study, question="model-size")
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            assert app.sub_title.startswith("0 due · 7 new")
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), what="the quiz screen")
            screen = app.screen
            assert "How many parameters does GPT-2 small" in body_text(screen)
            await type_line(pilot, "lots")  # not a number: asked again
            assert "is not a number" in str(screen.query_one("#quiz-status").content)
            assert screen.guesses == []
            await type_line(pilot, "124M")
            await type_line(pilot, "?")
            await type_line(pilot, "2e9")
            await wait_for(pilot, lambda: screen.phase == "rate",
                           what=f"the reveal ({screen.phase}, {screen.guesses}, {body_text(screen)[:80]})")
            shown = body_text(screen)
            assert "measured 124,439,808 parameters" in shown and "you said 124,000,000" in shown
            assert "why: gpt2: 124,439,808 parameters" in shown and "off by 0.353 %" in shown
            assert screen.suggested in shown
            suggested = screen.suggested
            await pilot.press("enter")  # accept the rating the score earned
            await wait_for(pilot, lambda: not isinstance(app.screen, QuizScreen), what="the screen to close")
            assert app.sub_title.startswith("0 due · 6 new")
        [line] = (study_root / "reviews" / "model-size.jsonl").read_text().splitlines()
        review = json.loads(line)
        assert review["rating"] == suggested and [p["predicted"] for p in review["predictions"]] == [124e6, None, 2e9]

    asyncio.run(body())


def test_recall_quiz_rates_with_a_key_and_escape_logs_nothing(study, study_root):
    add_question(study, "Why does attention divide by the square root of d_k?", qid="attention-scale")

    async def body() -> None:
        from n00bqa.tui.quiz_screen import QuizScreen

        app = make_app(study, question="attention-scale")
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), what="the quiz screen")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, QuizScreen), what="the screen to close")
            assert not (study_root / "reviews").exists()
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), what="the quiz screen again")
            screen = app.screen
            await type_line(pilot, "it keeps the scores from growing")
            assert screen.phase == "rate" and "Our answer" in body_text(screen)
            await pilot.press("2")
            await wait_for(pilot, lambda: not isinstance(app.screen, QuizScreen), what="the screen to close")
        [line] = (study_root / "reviews" / "attention-scale.jsonl").read_text().splitlines()
        assert json.loads(line)["rating"] == "hard" and json.loads(line)["answer"] == "it keeps the scores from growing"

    asyncio.run(body())


def test_header_counts_due_questions_and_chapters_filter_the_list(study):
    past = datetime.now(timezone.utc) - timedelta(days=30)
    for qid in ("model-size", "encoder-decoder"):
        record_recall(study, get_question(study, qid), "", "good", now=past)
    questions, _ = load_questions(study)

    async def body() -> None:
        from textual.widgets import Select

        app = make_app(study)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            assert app.sub_title.startswith(f"2 due · {len(questions) - 2} new")
            select = app.question_list.query_one("#chapter-filter", Select)
            select.value = 2
            await pilot.pause()
            assert app.question_list.visible_ids == [q.id for q in questions if q.chapter == 2]
            select.clear()
            await pilot.pause()
            assert app.question_list.visible_ids == [q.id for q in questions]

    asyncio.run(body())


def test_add_a_question_from_the_browser(study, study_root, tmp_path_factory):
    link_state(study_root, shared_root(tmp_path_factory))

    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            await pilot.press("+")
            await pilot.pause()
            await type_line(pilot, "How does grouped query attention reduce the KV cache?")
            qid = "grouped-query-attention"
            await wait_for(pilot, lambda: qid in app.questions, timeout=120, what="the new question")
            assert app.current == qid
        notes = get_question(study, qid).notes
        assert notes.count("corpus/notes/") >= 3 and "Closest questions in the list:" in notes

    asyncio.run(body())
