"""`n00bqa browse` explains itself (issue 26 item 10), under Textual's Pilot at 80x24: a help screen
(? and F1) naming every key, Ctrl-C quits, Esc leaves the ask view, `/` searches the answers too and
the detail pane follows the filter, `m` maximises the detail pane, `e` edits in $EDITOR, and the list
pane leaves the detail pane room at 80 columns."""

from __future__ import annotations

import asyncio
import re

from n00bqa.questions import get_question, load_questions
from n00bqa.tui import make_app
from n00bqa.tui.app import BrowseApp
from n00bqa.tui.screens import KEYS, HelpScreen


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def run(coro) -> None:
    asyncio.run(coro)


def test_help_screen_names_every_key_of_the_app(study):
    bound = {key for binding in BrowseApp.BINDINGS for key in binding.key.split(",")}
    documented = " ".join(key for key, _ in KEYS).lower()
    names = {"slash": "/", "plus": "+", "question_mark": "?", "space": "space", "escape": "esc",
             "ctrl+c": "ctrl+c", "f1": "f1"}
    for key in bound:
        assert names.get(key, key) in documented, key

    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key in ("question_mark", "f1"):
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, HelpScreen)
                text = screen_text(app)
                for words in ("quiz yourself", "maximise the detail pane", "edit the question's file",
                              "page the detail pane", "add a question"):
                    assert words in text, words
                await pilot.press("escape")
                await pilot.pause()
                assert not isinstance(app.screen, HelpScreen)

    run(body())


def test_ctrl_c_quits(study):
    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+c")
            await pilot.pause()
            assert not app.is_running or app._exit_renderables is not None or app.return_code is not None

    run(body())


def test_escape_leaves_the_ask_view(study):
    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            first = app.current
            app.mode = "ask"  # what an answered ask leaves (the ask itself is tested in test_tui.py)
            app.detail.show_message("an answer", title="ask")
            await pilot.press("escape")
            await pilot.pause()
            assert app.mode == "question" and app.current == first
            assert "an answer" not in screen_text(app)

    run(body())


def test_search_finds_words_of_the_answers_and_the_detail_follows(study):
    questions, _ = load_questions(study)
    holders = [q.id for q in questions if "sparseadam" in (q.answer + q.try_ + q.notes).lower()]
    assert holders == ["embedding-grad"]  # not in its id, question or tags: only the full text finds it
    assert "sparseadam" not in (get_question(study, "embedding-grad").question.lower())

    async def body() -> None:
        app = make_app(study, question="model-size")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("slash", *"SparseAdam")
            await pilot.pause()
            await pilot.pause()
            assert app.question_list.visible_ids == holders
            assert app.current == "embedding-grad"  # model-size is hidden: the detail pane follows
            await pilot.press("ctrl+a", "ctrl+k", *"zzqx-nothing")
            await pilot.pause()
            await pilot.pause()
            assert app.question_list.visible_ids == [] and app.current is None
            assert "No question matches the search" in screen_text(app)

    run(body())


def test_the_list_leaves_room_at_80_and_m_maximises_the_detail(study):
    async def body() -> None:
        app = make_app(study)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.question_list.size.width <= 22 and app.detail.size.width >= 56
            await pilot.press("m")
            await pilot.pause()
            assert not app.question_list.display and app.detail.outer_size.width == 80
            await pilot.press("m")
            await pilot.pause()
            assert app.question_list.display
        app = make_app(study)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert app.question_list.outer_size.width == 120 * 28 // 100  # a quarter or so, at most 34

    run(body())


def test_e_edits_the_question_in_the_editor(study, study_root, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "\\nA line the learner added.\\n" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)

    async def body() -> None:
        app = make_app(study, question="model-size")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("e")
            await pilot.pause()
        assert "A line the learner added." in get_question(study, "model-size").notes

    run(body())
    broken = tmp_path / "broken.sh"
    broken.write_text('#!/bin/sh\nprintf -- "---\\nid: [\\n" > "$1"\n')
    broken.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(broken))
    before = (study_root / "questions" / "model-size.md").read_text()

    async def refused() -> None:
        app = make_app(study, question="model-size")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("e")
            await pilot.pause()
        assert (study_root / "questions" / "model-size.md").read_text() == before

    run(refused())


def test_a_long_id_folds_at_its_hyphens_not_mid_word(study, study_root):
    from n00bqa.questions import add_question
    from n00bqa.tui.widgets import fold_id

    assert fold_id("lora-why-need-so-few-trainable", 18) == "lora-why-need-so-\nfew-trainable"
    assert fold_id("short", 18) == "short"
    qid = "lora-why-need-so-few-trainable"
    add_question(study, "Why does LoRA need so few trainable parameters?", qid=qid)

    async def body() -> None:
        app = make_app(study, question=qid)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.pause()
            listed = "\n".join(line.split("▕")[0] for line in screen_text(app).splitlines())
            for word in qid.split("-"):
                assert re.search(rf"(^|[\s-]){word}(-|\s|$)", listed, re.M), (word, listed)

    run(body())


def test_a_long_id_in_a_toast_folds_at_its_hyphens_never_inside_a_word():
    # issue 26 item 7: "lora-why-need-so-few-trainab" / "le" in a toast
    from n00bqa.tui.widgets import TOAST_LINE, toast_id

    long_id = "lora-why-need-so-few-trainable-parameters-in-fine-tuning"
    folded = toast_id(long_id)
    lines = folded.split("\n")
    assert len(lines) > 1 and all(len(line) <= TOAST_LINE for line in lines)
    assert "".join(lines) == long_id  # folded only at hyphens: joined back, it is the id
    assert all(line.endswith("-") for line in lines[:-1])
    assert toast_id("model-size") == "model-size"
