"""Library records -> rich renderables. No logic: the CLI and the browser show what this builds."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from n00bqa.probes.base import ProbeResult, Table
from n00bqa.questions import Question


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def questions_table(questions: list[Question]) -> RichTable:
    table = RichTable(title="Questions", show_lines=False, expand=False)
    table.add_column("id", style="bold cyan", no_wrap=True)
    table.add_column("question")
    table.add_column("probes", style="magenta", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for q in questions:
        status = Text(q.status, style="green" if q.status == "answered" else "yellow")
        table.add_row(q.id, q.question, "\n".join(q.probes) or "-", status)
    return table


def question_view(question: Question, results: dict[str, ProbeResult | None] | None = None) -> Group:
    """The question, its answer, how to explore it, the learner's notes, and each probe's last findings."""
    probes = ", ".join(question.probes) or "none"
    head = Text.assemble((question.question, "bold"), "\n",
                         (f"id {question.id} · status {question.status} · probes {probes}", "dim"))
    if question.tags:
        head.append(f"\ntags: {', '.join(question.tags)}", style="dim")
    if question.reading:
        head.append(f"\nreading: {', '.join(question.reading)}", style="dim")
    parts: list[Any] = [Panel(head, title=question.id, border_style="cyan")]
    parts.append(Panel(Markdown(question.answer or "_No answer written yet._"), title="Answer"))
    if question.try_:
        parts.append(Panel(Markdown(question.try_), title="Try"))
    if question.notes:
        parts.append(Panel(Markdown(question.notes), title="Notes"))
    for name in question.probes:
        last = (results or {}).get(name)
        if last is not None:
            parts.append(probe_result_view(last, brief=True))
        else:
            parts.append(Text(f"No measured findings of the current {name} yet; run:", style="dim"))
            parts.append(Text(f"  n00bqa probe {name}", style="bold"))
    return Group(*parts)


def options_line(result: ProbeResult) -> str:
    """Which options the shown run used, e.g. `options: --seq-len 1024 --batch 8`."""
    opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in result.options.items())
    return f"options: {opts or '(none)'}"


def probes_table(rows: list[tuple[Any, list[str], str]]) -> RichTable:
    """`n00bqa probes`: (probe, question ids it serves, where it comes from) per row."""
    table = RichTable(title="Probes", title_justify="left")
    table.add_column("probe", style="bold magenta", no_wrap=True)
    table.add_column("questions", style="cyan", overflow="fold")
    table.add_column("what it measures", overflow="fold")
    for probe, questions, origin in rows:
        title = probe.title if origin == "built-in" else f"{probe.title} ({origin})"
        table.add_row(probe.name, ", ".join(questions) or "-", title)
    return table


def measured_line(result: ProbeResult) -> str:
    env = result.environment
    return (f"measured {env.get('measured_at', '?')} in {result.seconds:.1f} s with torch {env.get('torch', '?')}, "
            f"transformers {env.get('transformers', '?')}, model {env.get('model') or '-'}, seed {env.get('seed', 0)}")


def table_view(table: Table) -> RichTable:
    from rich import box

    rich_table = RichTable(title=Text(table.title), caption=Text(table.note) if table.note else None,
                           title_justify="left",
                           caption_justify="left", box=box.SIMPLE_HEAD, title_style="bold")
    for i, column in enumerate(table.columns):
        # Numbers and the row labels (first column) are never cut short; other text folds instead.
        numeric = bool(table.rows) and all(isinstance(row[i], (int, float)) for row in table.rows if i < len(row))
        rich_table.add_column(column, justify="right" if numeric else "left", no_wrap=numeric or i == 0,
                              overflow="fold")
    for row in table.rows:
        rich_table.add_row(*(Text(format_value(v)) for v in row))
    return rich_table


def probe_result_view(result: ProbeResult, brief: bool = False) -> Panel:
    """A probe run: summary, numbered findings, (unless brief) its tables, and when it was measured."""
    parts: list[Any] = [Text(result.summary), Text("")]
    findings = RichTable.grid(padding=(0, 1))  # numbered, with a hanging indent
    findings.add_column(justify="right", style="bold", no_wrap=True)
    findings.add_column()
    for i, finding in enumerate(result.findings, 1):
        findings.add_row(f"{i}.", Text(finding))  # Text: a finding's "[CLS]" or "table[ids]" is not markup
    parts.append(findings)
    if not brief:
        parts.extend(table_view(t) for t in result.tables)
    parts.append(Text(measured_line(result), style="dim"))
    parts.append(Text(options_line(result), style="dim"))
    title = f"probe {result.probe} · findings" + (" (last run)" if brief else "")
    return Panel(Group(*parts), title=title, border_style="green")
