"""Modal screens: a one-line prompt (ask, note) and a passage's full text."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static



class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; dismisses with the text (stripped), or None on Escape."""

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > #dialog {
        width: 80%; min-width: 40; max-width: 100; height: auto;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    PromptScreen #prompt-title { text-style: bold; margin-bottom: 1; width: 1fr; }
    PromptScreen #prompt-hint { color: $text-muted; width: 1fr; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", hint: str = "Enter to confirm · Esc to cancel") -> None:
        super().__init__()
        self.prompt_title = title
        self.placeholder = placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt_title, id="prompt-title")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            yield Label(self.hint, id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.dismiss(text)
        else:
            self.notify("Type something first, or press Esc to cancel.", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class PassageScreen(ModalScreen[None]):
    """One passage's full text with its citation; ←/→ (or p/n) step through the list."""

    DEFAULT_CSS = """
    PassageScreen { align: center middle; }
    PassageScreen > #passage-dialog {
        width: 100%; height: 100%; max-width: 120;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    PassageScreen #passage-head { height: auto; margin-bottom: 1; }
    PassageScreen #passage-scroll { height: 1fr; }
    PassageScreen #passage-hint { color: $text-muted; height: 1; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("right,n", "step(1)", "Next"),
        Binding("left,p", "step(-1)", "Previous"),
    ]

    def __init__(self, passages: list[Any], index: int = 0) -> None:
        super().__init__()
        self.passages = passages
        self.index = max(0, min(index, len(passages) - 1))

    def compose(self) -> ComposeResult:
        with Vertical(id="passage-dialog"):
            yield Static("", id="passage-head")
            with VerticalScroll(id="passage-scroll"):
                yield Static("", id="passage-text")
            yield Label("←/→ previous/next passage · ↑/↓ scroll · Esc close", id="passage-hint")

    def on_mount(self) -> None:
        self._show()
        self.query_one("#passage-scroll").focus()

    def _show(self) -> None:
        from n00bqa.render import passage_heading, passage_text

        passage = self.passages[self.index]
        head = Text.assemble((f"Passage {self.index + 1} of {len(self.passages)}: ", "bold"),
                             passage_heading(passage), (f"\nlines {passage.lines}", "dim"))
        self.query_one("#passage-head", Static).update(head)
        self.query_one("#passage-text", Static).update(passage_text(passage))
        self.query_one("#passage-scroll", VerticalScroll).scroll_home(animate=False)

    def action_step(self, delta: int) -> None:
        self.index = (self.index + delta) % len(self.passages)
        self._show()

    def action_close(self) -> None:
        self.dismiss(None)


# Every key of the browser, in the order a newcomer meets them (the footer has room for some only).
KEYS = (
    ("↑ ↓ / Enter", "move through the questions"),
    ("/", "search the questions: ids, text, answers, Try and Notes"),
    ("Esc", "back to the list (from the search, an answer or a passage)"),
    ("space / b", "page the detail pane down / up"),
    ("m", "maximise the detail pane (the list hides; m again brings it back)"),
    ("r", "run the question's probes here"),
    ("p", "quiz yourself on the question (predict, reveal, rate)"),
    ("a", "ask a question of your own"),
    ("o", "open the highlighted passage in full"),
    ("+", "add a question (with its closest questions and passages)"),
    ("n", "add a note to the question"),
    ("e", "edit the question's file in $EDITOR"),
    ("s", "mark the question open / answered"),
    ("i", "build the passage index"),
    ("? / F1", "this help"),
    ("q / Ctrl+C", "quit"),
)


class HelpScreen(ModalScreen[None]):
    """Every key of the browser and what it does; Esc, q, ? or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > #help {
        width: 90%; max-width: 90; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("n00bqa browse: the keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:>12}  ", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nEsc, q, ? or F1 closes this help.", style="dim")
        with VerticalScroll(id="help"):
            yield Static(text, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
