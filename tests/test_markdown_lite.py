"""Our Markdown rendered without markdown_it is rich.markdown's rendering to the character and the
colour, or it is rich.markdown itself."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.markdown import Markdown

from n00bqa.markdown_lite import MONOKAI_BACKGROUND, MONOKAI_TEXT, LiteMarkdown, markdown
from n00bqa.questions import load_questions


def rendered(renderable, width: int, colour: bool) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=colour, color_system="truecolor" if colour else None,
                      legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def same_as_rich(text: str) -> bool:
    lite = markdown(text)
    for width in (24, 40, 80, 121):
        for colour in (True, False):
            assert rendered(lite, width, colour) == rendered(Markdown(text), width, colour), (width, colour, text)
    return isinstance(lite, LiteMarkdown)


def test_every_fixture_section_renders_as_rich_does_without_markdown_it(study):
    questions, _ = load_questions(study)
    sections = [text for q in questions for text in (q.answer, q.try_, q.notes) if text]
    assert len(sections) >= 10
    assert all(same_as_rich(text) for text in sections)  # and each one took the light path


ACCEPTED = [
    "One paragraph.", "Two\nlines.\n\nAnd a second paragraph.", "Text with `code` and **bold** and *italic*.",
    "**Bold:** then text.", "- **`input_ids`**: ids\n- two\n  continued\n- three", "- a\nlazy continuation\n- b",
    "1. one\n2. two\n3. three", "3. three\n4. four", "- a\n\n- b (a loose list)", "intro:\n- a bullet right after",
    "```\ncode line\n  indented\n\nafter a blank\n```", "Before.\n```\nx = 1\n```\nAfter.",
    "snake_case and d_model stay words", "*em with **strong** inside*", "**strong with *em* inside**",
    "(**bold in brackets**) and \"*quoted em*\"", "a [CLS] token and a [SEP] one", "ends with **bold**",
    "×, ≈ and → are fine", "1. a very long item " + "word " * 40, "- " + "long " * 60,
]
DECLINED = [
    "# Heading", "> quote", "| a | b |\n|---|---|\n| 1 | 2 |", "a [link](http://x)", "an ![image](x.png)",
    "escape \\*this\\*", "<b>html</b>", "&amp;", "~~strike~~", "```python\nx = 1\n```", "***both***",
    "a*b*c", "* *", "2 * 3 * 4", "2 * 3", "_em_", "__strong__", "Setext\n===", "text\n---", "- a\n  - nested",
    "- a\n\n  second paragraph", "1) a\n2. b", "- a\n* b", "text\n2. not a list", "``double``", "` padded `",
    "line with a hard break  \nnext", "   indented paragraph", "    indented code", "[ref]: http://x",
    "```\nunclosed", "tab\there", "- ", "1.", "**a *b** c*",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_what_the_light_path_takes_renders_as_rich_does(text):
    assert same_as_rich(text), text


@pytest.mark.parametrize("text", DECLINED)
def test_anything_else_is_rich_markdown_itself(text):
    assert isinstance(markdown(text), Markdown), text


def test_the_code_block_colours_are_monokais():
    from pygments.token import Token
    from rich.syntax import PygmentsSyntaxTheme

    theme = PygmentsSyntaxTheme("monokai")
    assert theme.get_background_style().bgcolor.name == MONOKAI_BACKGROUND
    token = theme.get_style_for_token(Token.Text)
    assert (token.color.name, token.bgcolor.name, token.bold, token.italic, token.underline) == (
        MONOKAI_TEXT, MONOKAI_BACKGROUND, False, False, False)


def test_show_imports_no_markdown_parser(study_root: Path):
    code = ("import sys\nfrom n00bqa.cli import app\nsys.argv = ['n00bqa', 'show', 'model-size']\n"
            "try:\n    app(prog_name='n00bqa')\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'markdown_it', 'pygments'}), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr and "model-size" in done.stdout
