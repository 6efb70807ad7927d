"""The browser's widgets. Each owns its CSS and posts messages; none calls the library. What
they show is built by n00bqa.render, the same views the CLI prints.

- QuestionList: the search box, the tag and chapter filters and the list of questions (left pane).
- DetailPane: the selected question (or an `ask` answer) and its backing passages (right pane).
- Activity: one line with a progress bar while a probe, an ask or an index build runs.
- ActivityReporter: the probes' Reporter protocol, feeding Activity from a worker thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, OptionList, ProgressBar, Select, Static
from textual.widgets.option_list import Option

from n00bqa.tui.messages import PassageChosen, QuestionHighlighted


def fold_id(qid: str, width: int) -> str:
    """An id folded to lines of at most `width` characters at its hyphens (each line but the last
    ends in `-`), never inside a word; a word longer than a line gets a line of its own."""
    pieces = [part + "-" for part in qid.split("-")[:-1]] + [qid.split("-")[-1]]
    lines = [""]
    for piece in pieces:
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(lines)


# A toast is 60 columns wide but at most half the screen (Textual's Toast CSS), less its border and
# padding: at 80 columns about 36 characters of text a line.
TOAST_LINE = 34


def toast_id(qid: str) -> str:
    """An id as a toast shows it: folded at its hyphens when it is longer than a toast's line, so the
    toast never breaks it inside a word (`lora-why-need-so-few-trainab` / `le`)."""
    return qid if len(qid) <= TOAST_LINE else fold_id(qid, TOAST_LINE)


def status_mark(status: str) -> Text:
    return Text("✓", style="bold green") if status == "answered" else Text("○", style="yellow")


class QuestionList(Vertical):
    """The question list with a search box (filters as you type), a tag and a chapter filter."""

    DEFAULT_CSS = """
    QuestionList {
        width: 30;  /* the app fits it to the screen: n00bqa.tui.app.BrowseApp._fit_list */
        height: 1fr;
        border-right: vkey $foreground 30%;
    }
    QuestionList > #search { margin: 0 0 0 1; width: 1fr; }
    QuestionList > #tag-filter { margin: 1 0 0 1; width: 1fr; }
    QuestionList > #chapter-filter { margin: 0 0 1 1; width: 1fr; }
    QuestionList > #questions { height: 1fr; border: none; padding: 0; }
    QuestionList > #questions:focus { background-tint: $foreground 5%; }
    QuestionList > #no-match { color: $text-muted; height: auto; padding: 0 1; }
    QuestionList > #problems { color: $error; height: auto; max-height: 8; padding: 0 1; overflow-y: auto; }
    """

    BINDINGS = [
        Binding("escape", "focus_list", "List", show=False),
        Binding("down", "focus_list", "List", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._questions: list[Any] = []
        self._tags: list[str] = []
        self._chapters: list[int] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search (/)", id="search", compact=True)
        yield Select([], prompt="All tags", id="tag-filter", allow_blank=True, compact=True)
        yield Select([], prompt="All chapters", id="chapter-filter", allow_blank=True, compact=True)
        yield OptionList(id="questions")
        yield Static("Nothing matches.", id="no-match")
        yield Static("", id="problems")

    def on_mount(self) -> None:
        self.query_one("#no-match").display = False
        self.query_one("#problems").display = False

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#questions", OptionList)

    @property
    def highlighted_id(self) -> str | None:
        option = self.option_list.highlighted_option
        return option.id if option is not None else None

    @property
    def visible_ids(self) -> list[str]:
        return [option.id or "" for option in self.option_list.options]

    def set_questions(self, questions: list[Any], problems: list[Any], keep: str | None = None) -> None:
        """Show these questions (and the files that failed to load); keep `keep` highlighted if shown."""
        self._questions = list(questions)
        tags = sorted({tag for q in questions for tag in q.tags})
        if tags != self._tags:
            self._tags = tags
            select = self.query_one("#tag-filter", Select)
            current = select.value
            select.set_options([(tag, tag) for tag in tags])
            if current in tags:
                select.value = current
        chapters = sorted({q.chapter for q in questions if q.chapter is not None})
        if chapters != self._chapters:
            from n00bqa.study_loop.progress import SHORT_TITLES

            self._chapters = chapters
            select = self.query_one("#chapter-filter", Select)
            current = select.value
            select.set_options([(f"{n} {SHORT_TITLES.get(n, '')}".strip(), n) for n in chapters])
            if current in chapters:
                select.value = current
        problem_box = self.query_one("#problems", Static)
        # The file name is enough here: the pane is narrow and the folder is the study root's.
        problem_box.update(Text("\n".join(f"⚠ {p.path.name}: {p.message}" for p in problems)))
        problem_box.display = bool(problems)
        self._refilter(keep)

    def _matches(self, question: Any, words: list[str], tag: Any, chapter: Any = None) -> bool:
        if isinstance(tag, str) and tag not in question.tags:
            return False
        if isinstance(chapter, int) and question.chapter != chapter:
            return False
        # full text: what the learner remembers may be in the answer ("SparseAdam"), the Try or the Notes
        haystack = " ".join([question.id, question.question, *question.tags, question.answer, question.try_,
                             question.notes]).lower()
        return all(word in haystack for word in words)

    def _refilter(self, keep: str | None = None) -> None:
        keep = keep or self.highlighted_id
        words = self.query_one("#search", Input).value.lower().split()
        tag = self.query_one("#tag-filter", Select).value
        chapter = self.query_one("#chapter-filter", Select).value
        shown = [q for q in self._questions if self._matches(q, words, tag, chapter)]
        option_list = self.option_list
        # an id longer than the pane is folded at its hyphens (never mid-word), its lines under the id
        room = max(8, (self.styles.width.value if self.styles.width else 30) - 4)
        option_list.set_options(
            Option(Text.assemble(status_mark(q.status), " ", (fold_id(q.id, room).replace("\n", "\n  "), "bold")),
                   id=q.id) for q in shown)
        self.query_one("#no-match").display = not shown
        if shown:
            ids = [q.id for q in shown]
            option_list.highlighted = ids.index(keep) if keep in ids else 0
            if keep not in ids:  # the detail pane must not keep showing a question the filter hides
                self.post_message(QuestionHighlighted(ids[option_list.highlighted]))
        elif self._questions:
            self.post_message(QuestionHighlighted(""))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refilter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_focus_list()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._refilter()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(QuestionHighlighted(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(QuestionHighlighted(event.option.id))

    def action_focus_list(self) -> None:
        self.option_list.focus()
        leave = getattr(self.app, "leave_ask_view", None)  # Esc also leaves the ask view
        if leave is not None:
            leave()

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()


class PassageList(OptionList):
    """The backing passages: title, citation and score; Enter or a click opens the full text."""

    DEFAULT_CSS = """
    PassageList { height: auto; max-height: 100%; border: none; padding: 0; margin: 0 0 1 0; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.passages: list[Any] = []  # n00bqa.retrieval.Passage

    def show(self, passages: list[Any]) -> None:
        from n00bqa.render import passage_snippet

        self.passages = list(passages)
        prompts = []
        for i, passage in enumerate(self.passages, 1):
            prompt = passage_snippet(passage, rank=i)
            prompt.append("\n")  # a blank line between passages
            prompts.append(prompt)
        self.set_options(prompts)
        self.display = bool(self.passages)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(PassageChosen(event.option_index))


class DetailPane(VerticalScroll):
    """The right pane: a question with its probe's last findings and tables, or an ask answer;
    then the backing passages."""

    DEFAULT_CSS = """
    DetailPane { width: 1fr; height: 1fr; padding: 0 0 0 1; scrollbar-size-vertical: 1; }
    DetailPane > #view { height: auto; }
    DetailPane > #extra { height: auto; }
    DetailPane > #passages-head { height: auto; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="view")
        yield Static("", id="extra")
        yield Static("", id="passages-head")
        yield PassageList(id="passages")

    def on_mount(self) -> None:
        self.query_one(PassageList).display = False

    @property
    def passages(self) -> list[Any]:
        return self.query_one(PassageList).passages

    @property
    def passage_index(self) -> int:
        highlighted = self.query_one(PassageList).highlighted
        return highlighted if highlighted is not None else 0

    def focus_passages(self) -> None:
        passage_list = self.query_one(PassageList)
        if passage_list.passages:
            passage_list.focus()

    def show_message(self, message: RenderableType, title: str = "n00bqa") -> None:
        self.query_one("#view", Static).update(Panel(message, title=title, border_style="cyan"))
        self.query_one("#extra", Static).update("")
        self.show_passages([], "")

    def show_question(self, question: Any, results: dict[str, Any], notes: list[RenderableType]) -> None:
        """The question with each probe's shown run, tables included (render.question_view; the
        tables fit the pane, stacking when it is narrow), and the browser's notes (how to run the
        probes, a probe's error)."""
        from n00bqa.render import question_view

        self.query_one("#view", Static).update(question_view(question, results, tables=True))
        self.query_one("#extra", Static).update(Group(*notes))

    def show_answer(self, answer: Any) -> None:
        """An `ask` Answer (render.answer_view); its passages go to `show_passages`."""
        from n00bqa.render import answer_view

        self.query_one("#view", Static).update(answer_view(answer, passages=False))
        self.query_one("#extra", Static).update("")
        self.scroll_home(animate=False)

    def show_passages(self, passages: list[Any] | None, message: RenderableType) -> None:
        head = self.query_one("#passages-head", Static)
        if passages:
            head.update(Text.assemble(("Backing passages", "bold"),
                                      (" (o or Enter opens the full text)", "dim")))
        else:
            head.update(message)
        self.query_one(PassageList).show(passages or [])


class Activity(Horizontal):
    """One line above the footer while something long runs: what it is doing, and a bar."""

    DEFAULT_CSS = """
    Activity { height: 1; display: none; background: $boost; padding: 0 1; }
    Activity > Label { width: 1fr; }
    Activity > ProgressBar { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="activity-label")
        yield ProgressBar(total=None, show_eta=False, id="activity-bar")

    def begin(self, description: str, total: int | None = None) -> None:
        self.query_one("#activity-label", Label).update(description)
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        self.display = True

    def advance(self, steps: int) -> None:
        self.query_one(ProgressBar).advance(steps)

    def set_progress(self, done: int, total: int | None) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)

    def finish(self) -> None:
        self.display = False


class Cancelled(Exception):
    """Raised inside a worker thread by the reporter when the browser is quitting."""


class ActivityReporter:
    """Progress from a worker thread to the Activity bar (n00bqa.reporter.Reporter): each
    `task(description, total)` restarts the bar and returns `advance(n)`.

    Updates reach the screen through `app.call_from_thread`, throttled to one per 50 ms (a probe
    advancing thousands of times must not wait on the screen). Once `cancel` is set, the next
    update raises Cancelled, so quitting does not wait for a long run to finish."""

    def __init__(self, app: App, activity: Activity, cancel: threading.Event, prefix: str = "") -> None:
        self.app = app
        self.activity = activity
        self.cancel = cancel
        self.prefix = prefix

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app has stopped: stop the work too
            self.cancel.set()
            raise Cancelled() from None

    def task(self, description: str, total: int) -> Callable[[int], None]:
        self._call(self.activity.begin, f"{self.prefix}{description}", total or None)
        state = {"pending": 0, "done": 0, "shown_at": time.monotonic()}

        def advance(n: int = 1) -> None:
            if self.cancel.is_set():
                raise Cancelled()
            state["pending"] += n
            state["done"] += n
            now = time.monotonic()
            if now - state["shown_at"] >= 0.05 or state["done"] >= total:
                steps, state["pending"], state["shown_at"] = state["pending"], 0, now
                self._call(self.activity.advance, steps)

        return advance
