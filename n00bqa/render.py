"""Every view of n00bqa's records as rich renderables: probe runs and their tables, questions,
answers, passages and their citations. The CLI prints them; the browser puts them in its panes.
No decisions here beyond layout: each view shows what the record holds.

Tables never crop a number, a label or a header, whatever the width (`FitTable`): numbers keep
their whole width, text wraps at spaces only, and a table that cannot fit even then is stacked,
one block per row.
"""

from __future__ import annotations

import io
import re
import shlex
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from n00bqa.text import percent

if TYPE_CHECKING:  # names for annotations only: `n00bqa questions` must not import the probe framework
    from n00bqa.probes.base import ProbeResult, Table
    from n00bqa.questions import Question

Cell = Any  # str | int | float | bool | rich Text


def format_value(value: Any) -> str:
    """A table cell as printed: ints with thousands separators, floats to 4 significant digits
    (whole from 1,000 up)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Whole numbers from 1,000 up (never 1.375e+04), 4 significant digits below, and an
        # exponent only for the tiny (a difference of 3.3e-07).
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _indent_and_first_word(text: str) -> int:
    """Columns needed by a text's leading spaces plus its first word (the part that cannot wrap)."""
    stripped = text.lstrip(" ")
    words = stripped.split()
    return (len(text) - len(stripped)) + (len(words[0]) if words else 0)


def _cell_text(value: Cell) -> Text:
    # Text, not markup: a label's "[CLS]" or "table[ids]" must print as written.
    return value.copy() if isinstance(value, Text) else Text(format_value(value))


# --- tables ------------------------------------------------------------------------------------


SHORT_CELL = 20  # a text cell this long or shorter never wraps (FitTable)


class FitTable:
    """A table that fits any width without cropping a number, label or header.

    Columns of numbers never wrap (each is as wide as its widest number); text columns give up
    width by wrapping at spaces, never below their longest word. If even that is too wide, the
    table is stacked: one block per row, each value on its own `column: value` line.
    """

    def __init__(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], note: str = "",
                 styles: Mapping[int, str] | None = None) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]
        self.note = note
        # A note of several lines (a plot drawn in text) keeps its lines: it is shown below the
        # table as written, never wrapped to the table's width.
        self.preformatted = "\n" in note
        self.styles = dict(styles or {})  # column index -> style
        # a column of numbers ("-" standing for a missing one) is right-aligned and never wraps
        self.numeric = [bool(self.rows) and all(_is_number(row[i]) or row[i] == "-" for row in self.rows if i < len(row))
                        and any(_is_number(row[i]) for row in self.rows if i < len(row))
                        for i in range(len(self.columns))]

    def _table(self, widths: list[int] | None = None) -> RichTable:
        from rich import box

        table = RichTable(title=Text(self.title) if self.title else None, title_justify="left", title_style="bold",
                          caption=Text(self.note) if self.note and not self.preformatted else None,
                          caption_justify="left",
                          box=box.SIMPLE_HEAD)
        for i, column in enumerate(self.columns):
            table.add_column(Text(column), justify="right" if self.numeric[i] else "left",
                             no_wrap=self.numeric[i], overflow="fold", style=self.styles.get(i),
                             width=None if widths is None else widths[i])
        for row in self.rows:
            table.add_row(*(_cell_text(v) for v in row))
        return table

    def fitted_widths(self, console: Console, options: ConsoleOptions, width: int) -> list[int] | None:
        """Each column's content width for a table `width` wide, or None if it cannot fit whole."""
        table = self._table()
        overhead = table._extra_width + sum(table._get_padding_width(i) for i in range(len(self.columns)))
        narrowest, widest = [], []
        for i, column in enumerate(self.columns):
            cells = [Text(column)] + [_cell_text(row[i]) for row in self.rows if i < len(row)]
            sizes = [Measurement.get(console, options, cell) for cell in cells]
            longest_line = max(size.maximum for size in sizes)
            # a number (and its column) stays whole; text may wrap down to its longest word
            # an indented label (a module tree's "    deberta.embeddings") keeps its indent on the line
            # with its first word, which Measurement's minimum (the longest word) leaves out
            indented = max(_indent_and_first_word(cell.plain) for cell in cells)
            # a short value (a shape "(1, 32, 4096, 128)", "MHA / 12") reads as one thing: kept whole;
            # if the table cannot keep it whole, it stacks
            short = max((len(cell.plain) for cell in cells[1:] if len(cell.plain) <= SHORT_CELL), default=0)
            narrowest.append(longest_line if self.numeric[i] else max(indented, short,
                                                                        *(size.minimum for size in sizes)))
            widest.append(longest_line)
        room = width - overhead
        if sum(narrowest) > room:
            return None
        widths = list(widest)
        excess = sum(widths) - room
        while excess > 0:  # take from the widest text column that can still give
            i = max((w, i) for i, w in enumerate(widths) if w > narrowest[i])[1]
            widths[i] -= 1
            excess -= 1
        return widths

    def stacked(self) -> Group:
        """One block per row: the row's first cell, then `column: value` for the others."""
        parts: list[Any] = [Text(self.title, style="bold")] if self.title else []
        for row in self.rows:
            lines = [Text.assemble((f"{column}: ", "dim"), _cell_text(value))
                     for column, value in zip(self.columns, row)]
            if not lines:
                continue
            lines[0].stylize("bold")
            rest = RichTable.grid()
            rest.add_column(width=2, no_wrap=True)  # the indent of the other values, wrapped lines too
            rest.add_column()
            for line in lines[1:]:
                rest.add_row("", line)
            parts.extend([lines[0], rest])
        if self.note:
            parts.append(Text(self.note, no_wrap=True, overflow="ignore") if self.preformatted
                         else Text(self.note, style="dim"))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.fitted_widths(console, options, options.max_width)
        if widths is None:
            yield self.stacked()
            return
        yield self._table(widths)
        if self.preformatted:
            yield Text(self.note, no_wrap=True, overflow="ignore")


def table_view(table: Table) -> FitTable:
    """A probe's table (numbers right-aligned; the first column is the row's label)."""
    return FitTable(table.title, table.columns, table.rows, table.note)


# --- probe runs --------------------------------------------------------------------------------


def findings_view(findings: Sequence[str]) -> RichTable:
    """Numbered findings with a hanging indent."""
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(justify="right", style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # a word longer than the line is folded, never cut with '…'
    for i, finding in enumerate(findings, 1):
        grid.add_row(f"{i}.", Text(finding))  # Text: a finding's "[CLS]" is not markup
    return grid


class Unbroken:
    """A line of pieces that wraps only between pieces, never inside one: `ran with: --seq-len 128
    --seed 0` keeps each option beside its value; a continuation line is indented by two."""

    def __init__(self, head: str, pieces: Sequence[str], style: str = "") -> None:
        self.head, self.pieces, self.style = head, list(pieces), style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.cells import cell_len

        width = options.max_width
        line = self.head.rstrip()
        for piece in self.pieces:
            candidate = f"{line} {piece}" if line else piece
            if cell_len(candidate) > width and line.strip():
                yield Text(line, style=self.style, overflow="fold")
                candidate = "  " + piece
            line = candidate
        yield Text(line, style=self.style, overflow="fold")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max([len(self.head), *(len(p) + 2 for p in self.pieces)])
        return Measurement(min(longest, options.max_width), len(self.head) + sum(len(p) + 1 for p in self.pieces))


def option_pairs(result: ProbeResult) -> list[str]:
    """`option_flags` as pieces that belong together: ["--seq-len 128", "--no-tied", "--seed 0"]."""
    return re.findall(r"--\S+(?: (?!--)(?:'[^']*'|\S+))?", option_flags(result))


def option_flags(result: ProbeResult) -> str:
    """The options of a run as they would be typed: `--seq-len 128 --no-tied --seed 0`."""
    flags: list[str] = []
    for name, value in result.options.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            flags.extend(f"{flag} {shlex.quote(str(v))}" for v in value)
        else:
            flags.append(f"{flag} {shlex.quote(str(value))}")
    flags.append(f"--seed {result.environment.get('seed', 0)}")
    return " ".join(flags)


def measured_line(result: ProbeResult) -> str:
    env = result.environment
    return (f"measured {env.get('measured_at', '?')} in {result.seconds:.1f} s with torch {env.get('torch', '?')}, "
            f"transformers {env.get('transformers', '?')}, model {env.get('model') or '-'}")


def probe_result_view(result: ProbeResult, tables: bool = True, last_run: bool = False) -> Panel:
    """A probe run: summary, numbered findings, (if `tables`) its tables, the options it ran with
    and when it was measured; a `last_run` (shown with a question or an answer) says how to re-run."""
    parts: list[Any] = [Text(result.summary), Text(""), findings_view(result.findings)]
    if tables:
        parts.extend(table_view(t) for t in result.tables)
    parts.append(Unbroken("ran with:", option_pairs(result), style="dim"))  # no option parted from its value
    parts.append(Text(measured_line(result), style="dim"))
    title = f"probe {result.probe} · " + ("last run" if last_run else "findings")
    return Panel(Group(*parts), title=title, border_style="green")


def probe_run_view(name: str, result: ProbeResult | None, tables: bool = False) -> list[Any]:
    """One probe of a question: its shown run (findings, options, when) and, after the panel, how
    to re-run it; or how to measure it if it never ran (or its source changed since)."""
    if result is None:
        # the command on a line of its own, so no width parts it from "Run it:"
        return [Panel(Group(Text("No measured findings yet. Run it:"), Text(f"n00bqa probe {name}", style="bold")),
                      title=f"probe {name}", border_style="magenta")]
    # The re-run command with the options the run shows (so it measures the same thing), outside the
    # panel on a line of its own: a command of many options never wraps inside a border at 60 columns.
    return [probe_result_view(result, tables=tables, last_run=True),
            CommandLine(f"Re-run: n00bqa probe {result.probe} {option_flags(result)}")]


# --- questions ---------------------------------------------------------------------------------


def probes_label(question: Question) -> str:
    return ", ".join(question.probes) or "none"


def status_text(status: str) -> Text:
    return Text(status, style="green" if status == "answered" else "yellow")


def questions_table(questions: Iterable[Question]) -> FitTable:
    rows = [[q.id, q.question, probes_label(q), status_text(q.status)] for q in questions]
    return FitTable("Questions", ["id", "question", "probes", "status"], rows,
                    styles={0: "bold cyan", 2: "magenta"})


def probes_table(rows: Sequence[tuple[Any, Sequence[str], str]]) -> FitTable:
    """`n00bqa probes`: (probe, the question ids it serves, where it comes from) per row."""
    cells = [[probe.name, ", ".join(questions) or "-",
              probe.title if origin == "built-in" else f"{probe.title} ({origin})"] for probe, questions, origin in rows]
    return FitTable("Probes", ["probe", "questions", "what it measures"], cells, styles={0: "bold magenta", 1: "cyan"})


def question_view(question: Question, results: Mapping[str, ProbeResult | None], tables: bool = False,
                  notes: Sequence[Any] = ()) -> Group:
    """The question, its answer, how to explore it, the learner's notes, and each of its probes
    with the run shown for it.

    Args:
        question: the question record.
        results: probe name -> the run to show (e.g. `last_result(study, name)`), or None.
        tables: show each run's tables too (the browser has the room; `show` does not need them).
        notes: renderables to add at the end (the browser's hints: how to run, what failed).
    """
    meta = f"id {question.id} · status {question.status} · probes {probes_label(question)}"
    if question.chapter is not None:
        meta += f" · chapter {question.chapter}"
    head = Text.assemble((question.question, "bold"), "\n", (meta, "dim"))
    if question.tags:
        head.append(f"\ntags: {', '.join(question.tags)}", style="dim")
    if question.reading:
        head.append(f"\nreading: {', '.join(question.reading)}", style="dim")
    parts: list[Any] = [Panel(head, title=question.id, border_style="cyan")]
    from n00bqa.markdown_lite import markdown  # rich's Markdown, without markdown_it for our own sections

    parts.append(Panel(markdown(question.answer or "*No answer written yet.*"), title="Answer"))
    if question.try_:
        commands = try_lines(question.try_)
        if commands is None:  # prose, or more than one fenced block: the section as written
            parts.append(Panel(markdown(question.try_), title="Try"))
        else:
            # one command per line, each a CommandLine outside any panel: `show` prints it whole
            # (never wrapped, so it can be copied at any width); its comment goes on the line above
            parts.append(Text("Try", style="bold"))
            for command, comment in commands:
                if comment:
                    parts.append(Text(f"  # {comment}", style="dim"))
                parts.append(CommandLine(f"  {command}"))
    if question.notes:
        parts.append(Panel(markdown(question.notes), title="Notes"))
    for name in question.probes:
        parts.extend(probe_run_view(name, results.get(name), tables=tables))
    parts.extend(notes)
    return Group(*parts)


# --- passages and answers ----------------------------------------------------------------------


def passage_heading(passage: Any, rank: int | None = None) -> Text:
    """`[rank] relevance 0.048 · Title › section  source:line`: how every passage is cited.

    "relevance" is the index's fused rank score (about 0.01-0.1), not to be read as the "routing
    match" of a question (0-1: cosines and word overlap, n00bqa.ask.routing). It leads the heading,
    so no line wrap ever parts it from its number, and a list of passages reads as ranked.
    """
    text = Text()
    if rank is not None:
        text.append(f"[{rank}] ", style="bold")
    text.append(f"relevance {passage.score:.3f}", style="dim")
    text.append(" · ", style="dim")
    text.append(passage.title or passage.source, style="bold")
    if passage.section:
        text.append(f" › {passage.section}")
    text.append(f"  {passage.citation}", style="blue")
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _clip_left(text: str, limit: int) -> str:
    return text if len(text) <= limit else "… " + text[-limit:].split(" ", 1)[-1]


def passage_snippet(passage: Any, sentence: str = "", rank: int | None = None) -> Text:
    """A passage's heading and a snippet, its best sentence (if given and found) highlighted."""
    text = passage_heading(passage, rank)
    snippet = " ".join(passage.text.split())
    highlight = " ".join(sentence.split())
    at = snippet.find(highlight) if highlight else -1
    if at < 0:
        text.append("\n  " + _clip(snippet, 300), style="dim")
        return text
    text.append("\n  " + _clip_left(snippet[:at], 120), style="dim")
    text.append(highlight, style="bold yellow")
    text.append(_clip(snippet[at + len(highlight):], 120), style="dim")
    return text


def passage_text(passage: Any) -> Any:
    """A passage's full text: library source with its own line numbers, anything else as it is."""
    if passage.source.endswith(".py"):
        from rich.syntax import Syntax

        return Syntax(passage.text, "python", line_numbers=True, start_line=passage.start_line, word_wrap=True)
    return Text(passage.text)


def passage_view(passage: Any, rank: int | None = None) -> Panel:
    """A passage in full under its heading (what `n00bqa search` prints). The heading is inside the
    panel, not its title: a title is cut to the panel's width, a heading wraps."""
    head = passage_heading(passage, rank)
    head.append(f"  lines {passage.lines}", style="dim")
    return Panel(Group(head, Text(""), passage_text(passage)))


def try_lines(section: str) -> list[tuple[str, str]] | None:
    """A Try section that is one fenced block of commands -> [(command, its `# comment` or "")];
    anything else (prose around it, several blocks, a line that is no command) -> None."""
    text = section.strip()
    if not (text.startswith("```\n") and text.endswith("\n```") and text.count("```") == 2):
        return None
    out = []
    for line in text[4:-4].splitlines():
        if not line.strip():
            continue
        command, _, comment = line.partition("  #")
        if not command.strip().startswith("n00bqa "):
            return None
        out.append((command.strip(), comment.strip().lstrip("#").strip()))
    return out


class CommandLine(str):
    """A command to print whole on its own line: `n00bqa.cli.common.print_paged` prints it with
    soft_wrap (never wrapped or cropped, so it can be copied from a pipe); inside a Group it is plain text."""

    def __rich__(self) -> Text:
        return Text(str(self), no_wrap=True, overflow="ignore")


def split_command(message: str) -> tuple[str, str]:
    """A message ending in `...: n00bqa CMD` -> (the message up to the colon, the command)."""
    match = re.search(r"^(.*?):\s+(n00bqa \S.*)$", message, re.S)
    return (match.group(1) + ":", match.group(2)) if match and "\n" not in match.group(2) else (message, "")


def answer_view(answer: Any, passages: bool = True) -> Group:
    """An `ask` Answer: the matched question and score, the written answer, each probe's shown
    run, and (if `passages`) the backing passages with their best sentences highlighted."""
    return Group(*answer_parts(answer, passages))


def answer_parts(answer: Any, passages: bool = True) -> list[Any]:
    """`answer_view`'s parts in order; a command to run is a CommandLine of its own.

    Three outcomes (n00bqa.ask.routing): a match shows the question and its answer; candidates show
    a numbered list (the CLI then asks which); none shows the closest question and what to do. Each
    confidence is routing's: the share a question gets of the softmax over the list and "none".
    """
    parts: list[Any] = []
    outcome = getattr(answer, "outcome", "match" if answer.question is not None else "none")
    if outcome == "candidates":
        parts.append(candidates_view(answer.candidates, answer.answer))
    elif answer.question is None:
        guess = getattr(answer, "best_guess", None)
        chosen = getattr(answer, "chosen", "")
        if chosen:
            parts.append(Text.assemble(("none of your questions", "yellow"), f" (your choice, {chosen})"))
        elif guess is not None:  # shown as what it is: the nearest question, not the answer
            parts.append(Text.assemble(("closest question: ", "yellow"), (guess[0], "bold"),
                                       f"  confidence {percent(guess[1])}"))
        message, command = split_command(answer.answer)
        parts.append(Panel(Text(message), title="No matching question", border_style="yellow"))
        if command:
            parts.append(CommandLine(command))
    else:
        q = answer.question
        chosen = getattr(answer, "chosen", "")
        why = f"your choice, {chosen}" if chosen else "sure match"
        head = Text.assemble((q.id, "bold cyan"), f"  confidence {percent(answer.score)} ({why})\n", (q.question, "bold"))
        if answer.related:
            head.append("\nalso close (confidence): ", style="dim")
            head.append(", ".join(f"{r.id} {percent(s)}" for r, s in answer.related), style="dim")
        parts.append(head)
        from n00bqa.markdown_lite import markdown

        parts.append(Panel(markdown(answer.answer), title="Answer", border_style="green"))
        for run in answer.probes:
            parts.extend(probe_run_view(run.name, run.result))
    if passages and answer.passages:
        order = ("  (by relevance, the index's score)" if outcome == "match" or not any(map(_is_code, answer.passages))
                 else "  (prose before code, unless code ranks first; the index's score)")
        parts.append(Text.assemble(("Reading", "bold"), (order, "dim")))
        sentences = list(answer.best_sentences) + [""] * len(answer.passages)
        for passage, sentence in zip(answer.passages, sentences):
            parts.append(code_snippet(passage) if _is_code(passage) and outcome != "match"
                         else passage_snippet(passage, sentence))
    return parts


def candidates_view(candidates: Sequence[Any], message: str = "") -> Panel:
    """The numbered candidates of an unsure ask: each with its confidence and why (the query words
    its file has, its nearest line, how many of the query's nearest passages its reading list holds)."""
    body = Text(message + "\n" if message else "")
    for number, candidate in enumerate(candidates, 1):
        body.append(f"\n{number}. ", style="bold")
        body.append(candidate.question.id, style="bold cyan")
        body.append(f"  confidence {percent(candidate.confidence)}\n")
        body.append(f"   {candidate.question.question}\n", style="bold")
        why = []
        if candidate.words:
            why.append("words: " + ", ".join(candidate.words[:6]))
        if candidate.votes:
            verb = "is" if candidate.votes == 1 else "are"
            why.append(f"{candidate.votes} of the query's 20 nearest passages {verb} in its reading list")
        if why:
            body.append("   " + "; ".join(why) + "\n", style="dim")
        if candidate.row:
            body.append(f"   nearest: {candidate.row}\n", style="dim")
    return Panel(body, title="Which question is it?", border_style="yellow")


def _is_code(passage: Any) -> bool:
    return passage.source.endswith((".py", ".pyi", ".c", ".cpp", ".cu", ".h", ".js", ".rs"))


def code_snippet(passage: Any, lines: int = 8) -> Group:
    """A code passage shown as code: its heading, then its first lines with their own line numbers."""
    from rich.syntax import Syntax

    head = passage_heading(passage)
    text = "\n".join(passage.text.splitlines()[:lines])
    return Group(head, Syntax(text, "python", line_numbers=True, start_line=passage.start_line, word_wrap=True))


# --- the index and the reading list ----------------------------------------------------------

_STATE_STYLE = {"indexed": "green", "unreadable": "red"}
_COVERAGE = {"indexed": ("yes", "green"), "new": ("new", "yellow"), "changed": ("changed", "yellow"),
             "stale": ("stale", "yellow"), "unreadable": ("missing", "red"), "pending": ("pending", "yellow")}


def index_items_table(items: Sequence[dict]) -> FitTable:
    """`n00bqa index status`: each reading-list item and whether the index has it."""
    rows = [[row["id"], row["kind"], row["chunks"], Text(row["state"], style=_STATE_STYLE.get(row["state"], "yellow"))]
            for row in items]
    return FitTable("", ["id", "kind", "passages", "state"], rows)


def coverage_table(items: Sequence[dict], show_source: bool) -> FitTable:
    """`n00bqa corpus list`: every item, its size, its passages and whether it is indexed."""
    rows = []
    for row in items:
        word, style = _COVERAGE[row["state"]]
        size = "-" if row["size"] is None else round(row["size"] / 1024, 1)
        rows.append([row["id"], row["kind"], size, row["chunks"], Text(word, style=style),
                     *([row["source"]] if show_source else [])])
    columns = ["id", "kind", "KiB", "passages", "indexed", *(["source"] if show_source else [])]
    return FitTable("Reading list coverage", columns, rows, styles={0: "bold cyan"})


# --- checking the no-crop promise --------------------------------------------------------------

_BOX = re.compile(r"[│╭╮╰╯─┃━┏┓┗┛╇╈┡┩├┤┼┬┴╴╶▕▎▊▁▔]")


def rendered_text(renderable: Any, width: int) -> str:
    """What `renderable` prints at `width` columns, as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def cropped_words(result: ProbeResult, width: int) -> list[str]:
    """Words of `result`'s table cells, headers and titles that do not print whole at `width`
    (cut, folded or ellipsised), with where they come from. Empty when nothing is cropped."""
    printed = _BOX.sub(" ", rendered_text(probe_result_view(result), width))
    tokens = set(printed.split())
    tokens |= {t.rstrip(":") for t in tokens}  # the stacked form writes "column: value"
    missing = []
    for table in result.tables:
        cells = [table.title, *table.columns] + [format_value(v) for row in table.rows for v in row]
        for cell in cells:
            missing += [f"{word!r} of {table.title!r}" for word in str(cell).split() if word not in tokens]
    # An ellipsis the run did not write itself (a generated sample may hold one) means rich cut something.
    written = " ".join([result.summary, *result.findings, *(t.note for t in result.tables)]
                       + [format_value(v) for t in result.tables for row in t.rows for v in row])
    if printed.count("…") > written.count("…"):
        missing.append("an ellipsis '…' (something was cut short)")
    return missing
