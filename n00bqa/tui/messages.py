"""Messages the browser's widgets post to the app (the app owns the library calls)."""

from __future__ import annotations

from textual.message import Message


class QuestionHighlighted(Message):
    """The cursor (or a click) moved to a question in the list."""

    def __init__(self, question_id: str) -> None:
        super().__init__()
        self.question_id = question_id


class PassageChosen(Message):
    """A passage in the detail pane was chosen (Enter or click): open its full text."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
