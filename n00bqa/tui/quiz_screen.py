"""The browser's quiz screen: predict each number, see what the probe measures, rate, schedule.

The same steps as `n00bqa quiz` (n00bqa.study_loop.quiz_steps does the work through StudyData):
predict (one input per prediction; a non-number is asked again), measure (the cached run, or the
probe runs in a worker thread with its progress shown), reveal (value, error, score, the finding
that explains it) and rate (Enter takes the rating the score earned, 1-4 picks another). A question
without predictions is quizzed by recall: the learner's own words, our answer, a self-rating.
Esc leaves without logging anything. Dismisses with the QuizResult, or None.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

RATING_KEYS = {"1": "again", "2": "hard", "3": "good", "4": "easy"}


class _ScreenReporter:
    """Probe progress from the worker thread to the screen's status line (n00bqa.reporter.Reporter)."""

    def __init__(self, screen: "QuizScreen") -> None:
        self.screen = screen

    def task(self, description: str, total: int):
        state = {"done": 0}

        def show() -> None:
            count = f" {state['done']}/{total}" if total else ""
            self.screen.set_status(f"measuring: {description}{count}")

        self.screen.from_thread(show)

        def advance(n: int = 1) -> None:
            state["done"] += n
            self.screen.from_thread(show)

        return advance


class QuizScreen(ModalScreen[Any]):
    DEFAULT_CSS = """
    QuizScreen { align: center middle; }
    QuizScreen > #quiz-dialog {
        width: 100%; max-width: 110; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    QuizScreen #quiz-head { height: auto; margin-bottom: 1; }
    QuizScreen #quiz-scroll { height: 1fr; }
    QuizScreen #quiz-status { color: $warning; height: auto; }
    QuizScreen #quiz-hint { color: $text-muted; height: auto; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Leave (nothing logged)"),
        Binding("enter", "accept", "Accept rating", show=False),
        *[Binding(key, f"rate('{rating}')", rating.capitalize(), show=False) for key, rating in RATING_KEYS.items()],
    ]

    def __init__(self, data: Any, question: Any) -> None:
        super().__init__()
        self.data = data
        self.question = question
        self.plan = data.quiz_plan(question)
        self.guesses: list[Any] = []
        self.outcomes: list[Any] = []
        self.words = ""
        self.phase = "predict" if self.plan.asks else "recall"
        self.suggested: str | None = None
        self.result: Any = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="quiz-dialog"):
            yield Static("", id="quiz-head")
            with VerticalScroll(id="quiz-scroll"):
                yield Static("", id="quiz-body")
            yield Static("", id="quiz-status")
            yield Input(id="quiz-input")
            yield Label("", id="quiz-hint")

    def on_mount(self) -> None:
        q = self.question
        kind = f"{len(self.plan.asks)} numbers to predict" if self.plan.asks else "recall: answer in your own words"
        self.query_one("#quiz-head", Static).update(Text.assemble(
            ("Quiz ", "bold"), (q.id, "bold cyan"), f"  (chapter {q.chapter or '-'}; {kind})\n", (q.question, "bold")))
        for warning in self.plan.warnings:
            self.notify(warning, severity="warning")
        self._next_step()

    def set_status(self, text: str) -> None:
        self.query_one("#quiz-status", Static).update(text)

    def from_thread(self, callback: Any, *args: Any) -> None:
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:
            pass

    def _ask_input(self, body: Any, placeholder: str, hint: str) -> None:
        self.query_one("#quiz-body", Static).update(body)
        field = self.query_one("#quiz-input", Input)
        field.value = ""
        field.placeholder = placeholder
        field.display = True
        field.focus()
        self.query_one("#quiz-hint", Label).update(hint)

    def _next_step(self) -> None:
        if self.phase == "predict":
            i = len(self.guesses)
            p = self.plan.asks[i].prediction
            unit = f" ({p.unit})" if p.unit else ""
            self._ask_input(Text.assemble((f"{i + 1} of {len(self.plan.asks)}. ", "bold"), (p.prompt, "bold"), unit),
                            "your guess: 124000000, 124M, 1.2e9, or ? for no idea",
                            "Enter: next · Esc: leave without logging")
        elif self.phase == "recall":
            self._ask_input(Text("What is the answer? Write it in your own words.", style="bold"),
                            "your answer…", "Enter: see our answer · Esc: leave without logging")

    # ------------------------------------------------------------------ input

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        from n00bqa.errors import ReviewError
        from n00bqa.study_loop.quiz_steps import parse_guess

        if self.phase == "predict":
            try:
                self.guesses.append(parse_guess(event.value))
            except ReviewError as exc:
                self.set_status(str(exc))  # asked again, on an empty line (the message quotes the text)
                self.query_one("#quiz-input", Input).value = ""
                return
            self.set_status("")
            if len(self.guesses) < len(self.plan.asks):
                self._next_step()
            else:
                self._measure()
        elif self.phase == "recall":
            self.words = event.value.strip()
            self._show_recall_answer()

    def _hide_input(self, hint: str) -> None:
        field = self.query_one("#quiz-input", Input)
        field.display = False
        self.query_one("#quiz-scroll").focus()
        self.query_one("#quiz-hint", Label).update(hint)

    # ------------------------------------------------------------------ measure and reveal

    def _measure(self) -> None:
        self.phase = "measuring"
        self._hide_input("Esc: leave without logging")
        self.set_status("measuring: reading the probe's cached run…")
        self.run_worker(self._measure_worker, thread=True, group="quiz", exit_on_error=False)

    def _measure_worker(self) -> None:
        try:
            outcomes, error = self.data.quiz_reveal(self.plan.asks, self.guesses, _ScreenReporter(self)), None
        except Exception as exc:  # noqa: BLE001 - shown on the screen, never a traceback
            from n00bqa.tui.errors import error_text

            outcomes, error = None, error_text(exc)
        self.from_thread(self._revealed, outcomes, error)

    def _revealed(self, outcomes: Any, error: str | None) -> None:
        if self.phase != "measuring":
            return
        if error is not None:
            self.phase = "failed"
            self.set_status("")
            self.query_one("#quiz-body", Static).update(Text(f"The probe could not measure: {error}", style="red"))
            self.query_one("#quiz-hint", Label).update("Esc: leave (nothing was logged)")
            return
        from n00bqa.study_loop.scoring import describe_error, format_number, rating_for_score

        self.outcomes = outcomes
        self.set_status("")
        parts: list[Any] = []
        for i, outcome in enumerate(outcomes, 1):
            r = outcome.record
            unit = f" {r.unit}" if r.unit else ""
            parts.append(Text.assemble(
                (f"{i}. {r.prompt}\n", "bold"),
                "   you said  ", (format_number(r.predicted), "bold"), unit, "\n",
                "   measured  ", (format_number(r.measured), "bold cyan"), unit, (f"  ({r.probe} {r.metric})\n", "dim"),
                f"   {describe_error(r.predicted, r.measured, r.scoring)} · score {r.score:.2f}\n",
                ("   why: ", "dim"), outcome.finding, "\n"))
        mean = sum(o.record.score for o in outcomes) / len(outcomes)
        self.suggested = rating_for_score(mean)
        parts.append(Text.assemble("Mean score ", (f"{mean:.2f}", "bold"), " earns ", (self.suggested, "bold green")))
        self.query_one("#quiz-body", Static).update(Group(*parts))
        self.phase = "rate"
        self._hide_input(f"Enter: rate {self.suggested} · 1 again · 2 hard · 3 good · 4 easy · Esc: leave unlogged")

    def _show_recall_answer(self) -> None:
        body = Group(Text.assemble(("You wrote: ", "bold"), self.words or "(nothing)", "\n"),
                     Text("Our answer:", style="bold"), Markdown(self.question.answer or "(no answer written yet)"))
        self.query_one("#quiz-body", Static).update(body)
        self.phase = "rate"
        self._hide_input("How well did you recall it? 1 again · 2 hard · 3 good · 4 easy · Esc: leave unlogged")

    # ------------------------------------------------------------------ rate

    def action_accept(self) -> None:
        if self.phase == "rate" and self.suggested is not None:
            self.action_rate(self.suggested)

    def action_rate(self, rating: str) -> None:
        if self.phase != "rate":
            return
        from n00bqa.errors import N00bqaError

        try:
            if self.outcomes:
                self.result = self.data.quiz_record_predictions(self.question, self.outcomes, rating)
            else:
                self.result = self.data.quiz_record_recall(self.question, self.words, rating)
        except N00bqaError as exc:
            self.set_status(str(exc))
            return
        self.phase = "done"
        self.dismiss(self.result)

    def action_cancel(self) -> None:
        self.phase = "cancelled"
        self.dismiss(None)
