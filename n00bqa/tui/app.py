"""The browser app: wires the widgets to the library calls of its `StudyData` (n00bqa.tui.data).

Everything slow (a probe run, a passage search, an ask, an index build) runs in a worker thread;
results come back through `call_from_thread`, so the screen stays responsive. Library errors
(N00bqaError) are shown in the app as their one-line message, never as a traceback.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any, Callable

from rich.console import RenderableType
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Header

from n00bqa.errors import N00bqaError
from n00bqa.tui.data import StudyData
from n00bqa.tui.errors import error_text
from n00bqa.tui.messages import PassageChosen, QuestionHighlighted
from n00bqa.tui.screens import PassageScreen, PromptScreen
from n00bqa.tui.widgets import Activity, ActivityReporter, Cancelled, DetailPane, QuestionList, toast_id

PASSAGES_K = 5


class BrowseApp(App):
    """`n00bqa browse`: questions on the left, the selected one's answer, findings and passages on
    the right."""

    TITLE = "n00bqa"
    SUB_TITLE = "questions · probes · reading"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    """
    BINDINGS = [
        Binding("r", "run_probe", "Run probe"),
        Binding("a", "ask", "Ask"),
        Binding("s", "toggle_status", "Status"),
        Binding("n", "add_note", "Note"),
        Binding("o", "open_passage", "Passage"),
        Binding("p", "quiz", "Quiz", show=False),  # p and + are shown in the header: the footer is full at 80
        Binding("plus", "add_question", "Add", key_display="+", show=False),
        Binding("i", "build_index", "Index"),
        Binding("slash", "search", "Search"),
        Binding("q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("escape", "leave_ask", "Back", show=False),
        Binding("m", "maximise", "Maximise", show=False),
        Binding("e", "edit", "Edit", show=False),
        Binding("space", "scroll_detail(1)", "Page down", show=False),
        Binding("b", "scroll_detail(-1)", "Page up", show=False),
    ]

    def __init__(self, data: StudyData, question: str | None = None) -> None:
        super().__init__()
        self.data = data
        self.initial_question = question
        self.questions: dict[str, Any] = {}
        self.current: str | None = None
        self.mode = "question"  # or "ask": what the detail pane shows
        self.passage_cache: dict[str, tuple[list[Any] | None, str | None]] = {}  # id -> (passages, error)
        self.fresh_results: dict[str, Any] = {}  # probe name -> ProbeResult run in this session
        self.probe_errors: dict[str, str] = {}
        self.probe_running: str | None = None  # the probe running now
        self.probes_queued: list[str] = []  # the probes `r` started that are still to run
        self.index_building = False
        self.due_count = self.new_count = 0
        self.cancel = threading.Event()
        self._search_lock = threading.Lock()
        self._search_timer: Timer | None = None

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="?")
        with Horizontal(id="main"):
            yield QuestionList(id="question-list")
            yield DetailPane(id="detail")
        yield Activity(id="activity")
        yield Footer()

    @property
    def question_list(self) -> QuestionList:
        return self.query_one(QuestionList)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def activity(self) -> Activity:
        return self.query_one(Activity)

    def on_mount(self) -> None:
        self.reload(keep=self.initial_question)
        self.question_list.option_list.focus()
        self._fit_list(self.size.width)

    def on_resize(self, event: Any) -> None:
        self._fit_list(event.size.width)

    def _fit_list(self, width: int) -> None:
        """The list takes about a quarter of the width (22 columns at 80, 34 at 120 and wider), so
        the detail pane keeps room for its tables side by side."""
        wanted = max(22, min(34, width * 28 // 100))
        if self.question_list.styles.width is None or self.question_list.styles.width.value != wanted:
            self.question_list.styles.width = wanted
            self.question_list._refilter()  # the ids fold to the new width

    def on_unmount(self) -> None:
        self.cancel.set()  # running probes stop at their next progress step

    # ----------------------------------------------------------------- questions

    def reload(self, keep: str | None = None) -> None:
        """Re-read the question files and show them, keeping `keep` (or the current one) selected."""
        try:
            questions, problems = self.data.load_questions()
        except N00bqaError as exc:
            self.detail.show_message(Text(str(exc), style="red"), title="cannot load the questions")
            return
        self.questions = {q.id: q for q in questions}
        self.show_due_count()
        keep = keep or self.current
        self.question_list.set_questions(questions, problems, keep=keep)
        if not questions:
            self.detail.show_message(Text("No question files found. Add one with: "
                                          'n00bqa questions add "..."', style="yellow"))
        elif keep in self.questions:
            self.current = keep
            self.show_current()

    def show_due_count(self) -> None:
        """The header's subtitle: how many questions are due for review (and new)."""
        try:
            view = self.data.overview()
        except N00bqaError:
            return
        self.due_count, self.new_count = len(view.due), len(view.new)
        self.sub_title = f"{self.due_count} due · {self.new_count} new · p quiz · + add"

    def on_question_highlighted(self, message: QuestionHighlighted) -> None:
        if not message.question_id:  # the search hides every question: so does the detail pane
            self.current = None
            self.mode = "question"
            self.detail.show_message(Text("No question matches the search; Esc goes back to the list.",
                                          style="yellow"), title="search")
            return
        if message.question_id == self.current and self.mode == "question":
            return
        self.current = message.question_id
        self.mode = "question"
        self.show_current()
        self.detail.scroll_home(animate=False)

    def show_current(self) -> None:
        """Render the current question, each probe's last run, and its passages (searched once)."""
        question = self.questions.get(self.current or "")
        if question is None:
            return
        self.mode = "question"
        notes: list[RenderableType] = []
        results: dict[str, Any] = {}
        for name in question.probes:
            results[name] = self.fresh_results.get(name)
            if results[name] is None:
                try:
                    results[name] = self.data.last_result(name)
                except N00bqaError as exc:
                    notes.append(Text(str(exc), style="red"))
            if name == self.probe_running:
                notes.append(Text(f"Probe {name} is running…", style="bold yellow"))
            elif name in self.probes_queued:
                notes.append(Text(f"Probe {name} is waiting to run…", style="yellow"))
            if name in self.probe_errors:
                notes.append(Text(f"Probe {name} failed: {self.probe_errors[name]}", style="bold red"))
        if question.probes and self.probe_running is None:
            which = "its probe" if len(question.probes) == 1 else f"its {len(question.probes)} probes"
            notes.append(Text(f"Press r to run {which} here.", style="dim"))
        self.detail.show_question(question, results, notes)
        self.show_passages_for(question)

    def show_passages_for(self, question: Any) -> None:
        cached = self.passage_cache.get(question.id)
        if cached is not None:
            self._render_passages(*cached)
            return
        self.detail.show_passages([], Text("Searching the reading list for passages…", style="dim"))
        # Wait until the cursor rests, so scrolling through the list does not start a search per row.
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.25, partial(self._start_search, question.id, question.question))

    def _start_search(self, qid: str, text: str) -> None:
        if qid != self.current or self.mode != "question":
            return
        self.run_worker(partial(self._search_worker, qid, text), thread=True, group="passages",
                        exit_on_error=False)

    def _search_worker(self, qid: str, text: str) -> None:
        with self._search_lock:  # one search at a time: the first one loads the embedding model
            try:
                outcome: tuple[list[Any] | None, str | None] = (self.data.search(text, PASSAGES_K), None)
            except Exception as exc:  # noqa: BLE001 - shown in the app, never a traceback
                outcome = (None, error_text(exc, index_hint=True))
        self._from_thread(self._passages_found, qid, outcome)

    def _passages_found(self, qid: str, outcome: tuple[list[Any] | None, str | None]) -> None:
        self.passage_cache[qid] = outcome
        if qid == self.current and self.mode == "question":
            self._render_passages(*outcome)

    def _render_passages(self, passages: list[Any] | None, error: str | None) -> None:
        if error is not None:
            self.detail.show_passages([], Text(f"No passages: {error}", style="yellow"))
        elif not passages:
            self.detail.show_passages([], Text("The reading list has no passage for this question.", style="dim"))
        else:
            self.detail.show_passages(passages, "")

    def _reported(self, prefix: str, call: Callable[[ActivityReporter], Any],
                  index_hint: bool = False) -> tuple[Any, str | None] | None:
        """Run `call(reporter)` on this worker thread, its progress shown in the activity bar: (its
        result, None), (None, the error in one line), or None when the learner cancelled it."""
        reporter = ActivityReporter(self, self.activity, self.cancel, prefix=prefix)
        try:
            return call(reporter), None
        except Cancelled:
            return None
        except Exception as exc:  # noqa: BLE001 - shown in the app, never a traceback
            return None, error_text(exc, index_hint)

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        """Hand a worker's result to the UI thread; if the app has already stopped, drop it."""
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:
            pass

    # ----------------------------------------------------------------- keys

    def _current_question(self) -> Any:
        question = self.questions.get(self.current or "")
        if question is None:
            self.notify("Select a question first.", severity="warning")
        return question

    def action_scroll_detail(self, pages: int) -> None:
        if pages > 0:
            self.detail.scroll_page_down()
        else:
            self.detail.scroll_page_up()

    def action_search(self) -> None:
        self.question_list.focus_search()

    def action_help(self) -> None:
        from n00bqa.tui.screens import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_leave_ask(self) -> None:
        """Esc in the ask view: back to the question the list has highlighted."""
        self.leave_ask_view()
        self.question_list.option_list.focus()

    def leave_ask_view(self) -> None:
        if self.mode != "ask":
            return
        self.mode = "question"
        self.current = self.question_list.highlighted_id or self.current
        self.show_current()
        self.detail.scroll_home(animate=False)

    def action_maximise(self) -> None:
        """Hide the question list, so the detail pane (its tables) takes the whole width; again to undo."""
        self.question_list.display = not self.question_list.display
        if not self.question_list.display:
            self.detail.focus()
        else:
            self.question_list.option_list.focus()

    def action_edit(self) -> None:
        """Edit the question's file in $VISUAL/$EDITOR (the terminal is handed over meanwhile); the
        text is checked as `questions edit` checks it, and an error leaves the file as it was."""
        question = self._current_question()
        if question is None:
            return
        from n00bqa.tui.data import edit_in_editor

        try:
            with self.suspend():
                message = edit_in_editor(self.data.study, question)
        except Exception as exc:  # noqa: BLE001 - SuspendNotSupported (no terminal to hand over): edit anyway
            if type(exc).__name__ != "SuspendNotSupported":
                raise
            message = edit_in_editor(self.data.study, question)
        self.refresh()
        if message.startswith("Saved"):
            self.passage_cache.pop(question.id, None)
            self.reload(keep=question.id)
            self.notify(message)
        else:
            self.notify(message, title="not saved", severity="warning", timeout=10)

    def _save(self, change: Callable[[], Any], not_saved: str, saved_message: Callable[[Any], str]) -> None:
        """Make one change to a question file; show the saved question, or the error in one line."""
        try:
            saved = change()
        except N00bqaError as exc:
            self.notify(str(exc), title=not_saved, severity="error", timeout=8)
            return
        self.reload(keep=saved.id)
        self.notify(saved_message(saved))

    def action_toggle_status(self) -> None:
        question = self._current_question()
        if question is not None:
            self._save(partial(self.data.toggle_status, question), "status not changed",
                       lambda saved: f"{saved.id} is now {saved.status} (saved to {saved.path.name})")

    def action_add_note(self) -> None:
        question = self._current_question()
        if question is None:
            return
        self.push_screen(PromptScreen(f"Add a note to {question.id}", placeholder="Your note…",
                                      hint="Enter saves it to the question's Notes · Esc cancels"),
                         partial(self._save_note, question.id))

    def _save_note(self, qid: str, note: str | None) -> None:
        question = self.questions.get(qid)
        if note and question is not None:
            self._save(partial(self.data.add_note, question, note), "note not saved",
                       lambda saved: f"Note saved to {saved.path.name}")

    def action_open_passage(self) -> None:
        passages = self.detail.passages
        if not passages:
            self.notify("No passages to open here.", severity="warning")
            return
        self.push_screen(PassageScreen(passages, self.detail.passage_index))

    def on_passage_chosen(self, message: PassageChosen) -> None:
        if self.detail.passages:
            self.push_screen(PassageScreen(self.detail.passages, message.index))

    # ----------------------------------------------------------------- the study loop

    def action_quiz(self) -> None:
        """Quiz the selected question (predict, reveal, rate); the review goes to its log."""
        question = self._current_question()
        if question is None:
            return
        from n00bqa.tui.quiz_screen import QuizScreen

        try:
            screen = QuizScreen(self.data, question)
        except N00bqaError as exc:
            self.notify(str(exc), title="no quiz", severity="error", timeout=8)
            return
        self.push_screen(screen, self._quiz_done)

    def _quiz_done(self, result: Any) -> None:
        if result is None:
            self.notify("Quiz left; nothing was logged.")
            return
        from n00bqa.study_loop.schedule import now_utc, relative_time

        self.show_due_count()
        self.notify(f"{toast_id(result.question.id)}: {result.rating}, back {relative_time(result.due, now_utc())} "
                    f"(logged to {toast_id('reviews/' + result.path.name)})")

    def action_add_question(self) -> None:
        self.push_screen(PromptScreen("Add a question to your list", placeholder="e.g. How does grouped query "
                                      "attention reduce the KV cache?",
                                      hint="Enter adds it with its closest questions and passages · Esc cancels"),
                         self._add_question)

    def _add_question(self, text: str | None) -> None:
        if not text:
            return
        self.activity.begin(f"adding: {text[:40]}")
        self.run_worker(partial(self._add_worker, text), thread=True, group="add", exit_on_error=False)

    def _add_worker(self, text: str) -> None:
        done = self._reported("add: ", partial(self.data.add_question, text))
        if done is not None:
            self._from_thread(self._question_added, *done)

    def _question_added(self, outcome: Any, error: str | None) -> None:
        self.activity.finish()
        if outcome is None:
            self.notify(str(error), title="question not added", severity="error", timeout=10)
            return
        question, points, missing = outcome
        self.passage_cache.pop(question.id, None)
        self.reload(keep=question.id)
        self.question_list.option_list.focus()
        if points is None:
            self.notify(f"Added {toast_id(question.path.name)}; no starting points: {missing}", severity="warning",
                        timeout=10)
        else:
            self.notify(f"Added {toast_id(question.path.name)} with {len(points.related)} related questions and "
                        f"{len(points.passages)} cited passages")

    # ----------------------------------------------------------------- probe runs

    def action_run_probe(self) -> None:
        question = self._current_question()
        if question is None:
            return
        if not question.probes:
            self.notify(f"{toast_id(question.id)} has no probe to run.", severity="warning")
            return
        if self.probe_running is not None:
            self.notify(f"Probe {self.probe_running} is still running; wait for it to finish.",
                        severity="warning")
            return
        self.probes_queued = list(question.probes)
        for name in question.probes:
            self.probe_errors.pop(name, None)
        self.probe_running = self.probes_queued.pop(0)
        self.activity.begin(f"probe {self.probe_running}: starting…")
        self.run_worker(partial(self._probe_worker, list(question.probes)), thread=True, group="probe",
                        exit_on_error=False)
        if self.mode == "question":
            self.show_current()

    def _probe_worker(self, probe_names: list[str]) -> None:
        """Run the probes one after the other, handing each result to the UI as it comes."""
        for name in probe_names:
            done = self._reported(f"{name}: ", partial(self.data.run_probe, name))
            if done is None:
                return
            self._from_thread(self._probe_done, name, *done)

    def _probe_done(self, probe_name: str, result: Any, error: str | None) -> None:
        if error is not None:
            self.probe_errors[probe_name] = error
            self.notify(error, title=f"probe {probe_name} failed", severity="error", timeout=10)
        else:
            self.fresh_results[probe_name] = result
            self.notify(f"probe {probe_name} finished in {result.seconds:.1f} s")
        if self.probes_queued:
            self.probe_running = self.probes_queued.pop(0)
        else:
            self.probe_running = None
            self.activity.finish()
        question = self.questions.get(self.current or "")
        if self.mode == "question" and question is not None and probe_name in question.probes:
            self.show_current()

    # ----------------------------------------------------------------- ask

    def action_ask(self) -> None:
        self.push_screen(PromptScreen("Ask a question", placeholder="e.g. How large is a transformer model?",
                                      hint="Enter asks · Esc cancels"), self._ask)

    def _ask(self, text: str | None) -> None:
        if not text:
            return
        self.mode = "ask"
        self.detail.show_message(Text(f"Asking: {text}…", style="bold"), title="ask")
        self.activity.begin(f"asking: {text[:40]}")
        self.run_worker(partial(self._ask_worker, text), thread=True, group="ask", exclusive=True,
                        exit_on_error=False)

    def _ask_worker(self, text: str) -> None:
        done = self._reported("ask: ", lambda reporter: self.data.ask(text, k=PASSAGES_K, reporter=reporter),
                              index_hint=True)
        if done is not None:
            self._from_thread(self._ask_done, text, *done)

    def _ask_done(self, text: str, answer: Any, error: str | None) -> None:
        self.activity.finish()
        if self.mode != "ask":  # the learner moved on to a question meanwhile
            return
        if answer is None:
            self.detail.show_message(Text(str(error), style="red"), title=f"ask: {text}")
            return
        self.detail.show_answer(answer)
        self.detail.show_passages(answer.passages, Text("No backing passages.", style="dim"))

    # ----------------------------------------------------------------- index

    def action_build_index(self) -> None:
        if self.index_building:
            self.notify("The index is already being built.", severity="warning")
            return
        self.index_building = True
        self.activity.begin("index: starting…")
        self.run_worker(self._index_worker, thread=True, group="index", exit_on_error=False)

    def _index_worker(self) -> None:
        done = self._reported("index: ", self.data.build_index)
        if done is not None:
            self._from_thread(self._index_done, done[1])  # the error, or None when built

    def _index_done(self, error: str | None) -> None:
        self.index_building = False
        self.activity.finish()
        if error is not None:
            self.notify(error, title="index not built", severity="error", timeout=10)
            return
        self.notify("Index built.")
        self.passage_cache.clear()
        if self.mode == "question":
            self.show_current()
