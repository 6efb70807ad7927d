"""Our Markdown as rich.markdown renders it, without importing markdown_it or pygments.

`show` and `ask` render a question's answer, Try and Notes with rich's Markdown; importing it costs
more than the rest of `show` (markdown_it ~35 ms, rich.syntax's pygments ~15 ms). Our sections use a
small part of Markdown: paragraphs, one level of `-` or `1.` lists, fenced code without a language,
`inline code`, **bold** and *italic*. For a text that uses only that part, `markdown(text)` builds the same
renderables rich.markdown builds (paragraph Texts with the same styles, its list layout, its code
block: Syntax with the monokai background, padded by one) out of rich's own cheap pieces, so the
output is the same to the character and the colour. Anything else in the text (a heading, a table, a
link, an escape, emphasis this reader is not sure of) and it returns rich's own `Markdown`, exactly as
before. tests/test_markdown_lite.py renders every fixture question both ways at several widths, in
colour and without, and holds them equal.
"""

from __future__ import annotations

import re
from typing import Any

# what rich.markdown's CodeBlock gets from Syntax(theme="monokai") for the "text" lexer: the theme's
# background, and its style for pygments' Token.Text (the test checks both against pygments itself)
MONOKAI_BACKGROUND = "#272822"
MONOKAI_TEXT = "#f8f8f2"

_BULLET = re.compile(r"([-*+]) (\S.*)")
_NUMBER = re.compile(r"([0-9]{1,9})([.)]) (\S.*)")
_FENCE = "```"
# line starts that are (or may be) block syntax this reader does not take: headings, quotes, HTML,
# tables, indented code, rules and setext underlines, reference definitions, other fences, footnotes
_OTHER_BLOCK = re.compile(r"(#|>|<|\||    | {1,3}\S|~~~|\[[^\]]*\]:|\[\^)|[-*_=]{3,}\s*$|[-=]+\s*$|\* \*|- -"
                          r"|[0-9]{1,9}[.)]\s*$|[-*+]\s*$")
_CODE = re.compile(r"`([^`\n]+)`")
# inline syntax this reader does not take: escapes, HTML and autolinks, entities, links and images,
# strikethrough, a backtick left over once the code spans are out
_OTHER_INLINE = re.compile(r"\\|<|&[#A-Za-z]|\]\(|!\[|~~|`")
_PUNCT = ".,;:!?)'\"]"


def markdown(text: str) -> Any:
    """A renderable of `text`: the light one when the text is in our subset, else rich's Markdown."""
    blocks = _blocks(text)
    if blocks is None:
        from rich.markdown import Markdown

        return Markdown(text)
    return LiteMarkdown(blocks)


class LiteMarkdown:
    """Blocks rendered as rich.markdown renders them: one blank line between blocks (and before a list)."""

    def __init__(self, blocks: list[tuple[str, Any]]) -> None:
        self.blocks = blocks

    def __rich_console__(self, console: Any, options: Any):
        from rich.segment import Segment

        options = options.update(height=None)
        base = console.get_style("none", default="none")
        for i, block in enumerate(self.blocks):
            if i or block[0] == "list":  # rich's quirk: a list's own paragraphs ask for the blank line first
                yield Segment.line()
            yield from console.render(_renderable(console, base, block), options)


def _renderable(console: Any, base: Any, block: tuple[str, Any]) -> Any:
    kind, body = block
    if kind == "paragraph":
        return _paragraph(console, base + console.get_style("markdown.paragraph", default="none"), body)
    if kind == "code":
        return _CodeBlock(body)
    item_style = base + console.get_style("markdown.item", default="none")
    paragraph_style = item_style + console.get_style("markdown.paragraph", default="none")
    items = [_paragraph(console, paragraph_style, text) for text in body["items"]]
    return _List(items, item_style, body["start"])


def _paragraph(console: Any, style: Any, text: str):
    """A paragraph's Text, each run with the style rich's style stack gives it."""
    from rich.text import Text

    out = Text(justify="left")
    for run, is_code, spans in _inline(text):
        run_style = style
        for name in spans + (("code",) if is_code else ()):  # pushed in this order, as rich's stack does
            run_style = run_style + console.get_style(f"markdown.{name}", default="none")
        # one append per markdown_it token, as rich makes them: a line's text, then the soft break's " "
        for n, line in enumerate(run.split("\n") if not is_code else [run]):
            if n:
                out.append(" ", run_style)
            if line:
                out.append(line, run_style)
    out.justify = "left"
    return out


class _List:
    """rich.markdown's ListElement: ` • ` (or right-aligned numbers) and a hanging indent."""

    def __init__(self, items: list[Any], style: Any, start: int | None) -> None:
        self.items, self.style, self.start = items, style, start

    def __rich_console__(self, console: Any, options: Any):
        from rich.containers import Renderables
        from rich.segment import Segment

        new_line = Segment("\n")
        if self.start is None:
            style = console.get_style("markdown.item.bullet", default="none")
            first_mark, rest_mark, width = Segment(" • ", style), Segment(" " * 3, style), 3
            marks = [(first_mark, rest_mark)] * len(self.items)
        else:
            style = console.get_style("markdown.item.number", default="none")
            last_number = self.start + len(self.items)  # as rich counts it: one past the last
            width = len(str(last_number)) + 2
            marks = [(Segment(f"{self.start + i}".rjust(width - 1) + " ", style), Segment(" " * width, style))
                     for i in range(len(self.items))]
        for item, (first_mark, rest_mark) in zip(self.items, marks):
            lines = console.render_lines(Renderables([item]), options.update(width=options.max_width - width),
                                         style=self.style)
            for n, line in enumerate(lines):
                yield first_mark if n == 0 else rest_mark
                yield from line
                yield new_line


class _CodeBlock:
    """rich.markdown's CodeBlock: Syntax(code, "text", theme="monokai", word_wrap=True, padding=1)."""

    def __init__(self, code: str) -> None:
        self.code = code.rstrip()

    def __rich_console__(self, console: Any, options: Any):
        from rich.padding import Padding
        from rich.segment import Segment, Segments
        from rich.style import Style
        from rich.text import Text

        background = Style(bgcolor=MONOKAI_BACKGROUND)
        token = Style(color=MONOKAI_TEXT, bgcolor=MONOKAI_BACKGROUND, bold=False, italic=False, underline=False)
        text = Text(justify="left", style=background, tab_size=4, no_wrap=False)
        text.append_tokens([(self.code + "\n", token)])
        code_options = options.update(width=max(0, options.max_width - 2))

        def lines():
            for line in text.split("\n", allow_blank=False):
                for wrapped in console.render_lines(line, code_options.update(height=None, justify="left"),
                                                    style=background, pad=True):
                    yield from wrapped
                    yield Segment("\n")

        yield Padding(Segments(lines()), style=background, pad=(1, 1, 1, 1))


# --- reading --------------------------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[str, Any]] | None:
    """The text as ("paragraph", text), ("code", code) and ("list", {items, start}) blocks, or None
    when any of it is outside the subset (then rich's Markdown reads it)."""
    if "\t" in text or "\r" in text or "\x00" in text:
        return None
    lines = text.split("\n")
    blocks: list[tuple[str, Any]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith(_FENCE):
            if line.rstrip() != _FENCE:  # a language: rich would highlight it with pygments
                return None
            end = next((j for j in range(i + 1, len(lines)) if lines[j].lstrip().startswith(("```", "~~~"))), None)
            if end is None or lines[end].rstrip() != _FENCE:
                return None  # unclosed, or closed by an indented or longer fence: rich's parser decides
            blocks.append(("code", "\n".join(lines[i + 1:end]) + "\n"))
            i = end + 1
            continue
        if _BULLET.fullmatch(line) or _NUMBER.fullmatch(line):
            found = _list(lines, i)
            if found is None:
                return None
            block, i = found
            blocks.append(block)
            continue
        if _OTHER_BLOCK.match(line):
            return None
        found = _paragraph_lines(lines, i)
        if found is None:
            return None
        body, i = found
        blocks.append(("paragraph", body))
    return blocks


def _paragraph_lines(lines: list[str], i: int, indent: int = 0) -> tuple[str, int] | None:
    """A paragraph from line i: until a blank line, a fence or a list item; its lines stripped and
    joined by newlines (soft breaks)."""
    parts = [lines[i][indent:].strip()]
    i += 1
    while i < len(lines) and lines[i].strip():
        line = lines[i]
        number = _NUMBER.fullmatch(line)
        if number and indent == 0 and int(number.group(1)) != 1:
            return None  # only a list starting at 1 interrupts a paragraph; this line may continue it
        if line.startswith(_FENCE) or _BULLET.fullmatch(line) or number:
            break
        stripped = line.lstrip()
        if _OTHER_BLOCK.match(stripped) or _BULLET.fullmatch(stripped) or _NUMBER.fullmatch(stripped) \
                or stripped.startswith(_FENCE):
            return None  # a nested list, a quote, a rule, an underline... inside a paragraph
        parts.append(stripped.strip())
        i += 1
    if any(line.endswith("  ") for line in lines[i - len(parts):i]):
        return None  # a hard line break
    body = "\n".join(parts)  # a soft break: rendered as one space, but its own token
    return (body, i) if _inline(body) is not None else None


def _list(lines: list[str], i: int) -> tuple[tuple[str, Any], int] | None:
    """One list of one level from line i: its items' texts and its start number (None: bullets)."""
    first = _BULLET.fullmatch(lines[i])
    marker = first.group(1) if first else _NUMBER.fullmatch(lines[i]).group(2)
    start = None if first else int(_NUMBER.fullmatch(lines[i]).group(1))
    items: list[str] = []
    while i < len(lines):
        line = lines[i]
        bullet, number = _BULLET.fullmatch(line), _NUMBER.fullmatch(line)
        if bullet and start is None and bullet.group(1) == marker:
            width = 2
        elif number and start is not None and number.group(2) == marker:
            width = len(number.group(1)) + 2
        elif bullet or number:
            return None  # another kind of list right after: rich would start a new list
        else:
            break
        found = _paragraph_lines(lines, i, indent=width)
        if found is None:
            return None
        body, i = found
        items.append(body)
        if i < len(lines) and not lines[i].strip():  # a blank line: the next item, or the end of the list
            j = i
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and lines[j].startswith(" "):
                return None  # a second paragraph inside the item
            if j < len(lines) and (_BULLET.fullmatch(lines[j]) or _NUMBER.fullmatch(lines[j])):
                i = j
    return ("list", {"items": items, "start": start}), i


def _inline(text: str) -> list[tuple[str, bool, tuple[str, ...]]] | None:
    """(run, is code, the emphasis it sits in: "strong"/"em", outermost first) runs of a paragraph,
    or None for inline syntax outside the subset."""
    if "``" in text:
        return None  # backtick strings of other lengths: CommonMark pairs them by length
    pieces: list[tuple[str, bool, int]] = []  # (text, is code, where it starts in `text`)
    position = 0
    for match in _CODE.finditer(text):
        code = match.group(1)
        if code.startswith(" ") or code.endswith(" "):
            return None  # CommonMark trims such spans; not worth the rule
        pieces += [(text[position:match.start()], False, position), (code, True, match.start() + 1)]
        position = match.end()
    pieces.append((text[position:], False, position))
    prose = "".join(piece for piece, is_code, _ in pieces if not is_code)
    if _OTHER_INLINE.search(prose) or re.search(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", prose):
        return None  # an underscore that could be emphasis (inside a word it is just a letter)
    out: list[tuple[str, bool, tuple[str, ...]]] = []
    open_spans: list[str] = []  # the emphasis open here, outermost first
    for piece, is_code, start in pieces:
        if is_code:
            out.append((piece, True, tuple(open_spans)))
            continue
        at = 0
        for match in re.finditer(r"\*+", piece):
            if match.end() - match.start() > 2:
                return None
            kind = "strong" if match.end() - match.start() == 2 else "em"
            where = start + match.start()
            before, after = text[where - 1:where] if where else "", text[start + match.end():start + match.end() + 1]
            opens, closes = _flanking(before, after)
            if piece[at:match.start()]:
                out.append((piece[at:match.start()], False, tuple(open_spans)))
            at = match.end()
            if closes and open_spans and open_spans[-1] == kind:
                open_spans.pop()
            elif closes and open_spans:
                return None  # closing across another span: CommonMark's pairing rules decide
            elif opens and not closes:
                open_spans.append(kind)
            else:
                return None  # a literal star, or one that could open and close: not ours to guess
        if piece[at:]:
            out.append((piece[at:], False, tuple(open_spans)))
    if open_spans:
        return None
    return _merged(out)


def _flanking(before: str, after: str) -> tuple[bool, bool]:
    """Whether a "**" between these characters can open, and can close, a strong span (CommonMark's
    left- and right-flanking delimiter runs; "" is the start or the end of the paragraph)."""
    for char in (before, after):
        if char and not char.isascii():
            return False, False  # Unicode punctuation classes: let rich's parser decide
    space_before, space_after = before in ("", " ", "\n"), after in ("", " ", "\n")
    punct_before, punct_after = bool(before) and _is_punct(before), bool(after) and _is_punct(after)
    left = not space_after and (not punct_after or space_before or punct_before)
    right = not space_before and (not punct_before or space_after or punct_after)
    return left, right


def _is_punct(char: str) -> bool:
    import string

    return char in string.punctuation


def _merged(runs: list[tuple[str, bool, tuple[str, ...]]]) -> list[tuple[str, bool, tuple[str, ...]]]:
    merged: list[tuple[str, bool, tuple[str, ...]]] = []
    for run in runs:
        if merged and not run[1] and not merged[-1][1] and merged[-1][2] == run[2]:
            merged[-1] = (merged[-1][0] + run[0], False, run[2])
        else:
            merged.append(run)
    return merged
