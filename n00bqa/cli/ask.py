"""`n00bqa ask "..."`: the matching question, its answer and measurement, and cited passages.

Kept light at import: the library (`n00bqa.ask`) and rich's renderables are imported inside
the command, so `n00bqa --help` pays nothing for them.
"""

from __future__ import annotations

from typing import Any, Callable

import typer


class _BuildReporter:
    """Progress bars on stderr, set up only if something reports (a first-use build, or --run):
    a plain ask must not pay for importing rich's progress machinery."""

    def __init__(self) -> None:
        self._reporter: Any = None

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self._reporter is None:
            from n00bqa.cli.common import RichReporter

            self._reporter = RichReporter().__enter__()
        return self._reporter.task(description, total)

    def close(self) -> None:
        if self._reporter is not None:
            self._reporter.__exit__(None, None, None)


def ask_command(
    query: str = typer.Argument(..., help="Your question, in quotes.", show_default=False),
    k: int = typer.Option(5, "-k", help="How many backing passages to show."),
    run: bool = typer.Option(False, "--run", help="Run the matched question's probe now (loads torch) "
                             "and show fresh findings."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
) -> None:
    """Answer a question from your list: its answer, its probe's measurement, and cited passages.

    The first ask in a study root builds what it needs (query encoder, index, question vectors).

    Example:

      n00bqa ask "How large is a transformer model?"
    """
    from n00bqa.ask import ask
    from n00bqa.cli.common import print_json, warn

    reporter = _BuildReporter()
    try:
        answer = ask(query, k=k, run=run, reporter=reporter)
    finally:
        reporter.close()
    for message in answer.warnings:
        warn(message)
    if answer.built:
        typer.echo(f"Built {', '.join(answer.built)}; later asks start instantly.", err=True)
    if as_json:
        print_json(answer.to_dict())
        return
    from n00bqa.cli.common import console

    console.print(answer_view(answer))


def answer_view(answer: Any) -> Any:
    """An Answer as rich renderables: question + score, answer, probe findings, cited passages."""
    from rich.console import Group
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = []
    if answer.question is None:
        parts.append(Panel(Text(answer.answer), title="No matching question", border_style="yellow"))
    else:
        q = answer.question
        head = Text.assemble((q.id, "bold cyan"), f"  score {answer.score:.2f}\n", (q.question, "bold"))
        if answer.related:
            head.append("\nrelated: ", style="dim")
            head.append(", ".join(f"{r.id} ({s:.2f})" for r, s in answer.related), style="dim")
        parts.append(head)
        parts.append(Panel(Markdown(answer.answer), title="Answer", border_style="green"))
        if answer.probe_name is not None:
            parts.append(_probe_view(answer))
    if answer.passages:
        parts.append(Text("Reading", style="bold"))
        for passage, sentence in zip(answer.passages, answer.best_sentences):
            parts.append(_passage_view(passage, sentence))
    return Group(*parts)


def _probe_view(answer: Any) -> Any:
    from rich.panel import Panel
    from rich.text import Text

    result = answer.probe_result
    if result is None:
        return Panel(Text.assemble("Not measured yet. Run it: ", (answer.probe_command, "bold"),
                                   " (or ask again with --run)"), title=f"probe {answer.probe_name}",
                     border_style="magenta")
    from n00bqa.render import measured_line

    body = Text()
    for finding in result.findings:
        body.append("• " + finding + "\n")
    when = "measured just now" if answer.ran_probe else measured_line(result)
    body.append(f"{when}\n", style="dim")
    body.append("Re-run: ", style="dim")
    body.append(answer.probe_command, style="bold")
    return Panel(body, title=f"probe {answer.probe_name}", border_style="magenta")


def _passage_view(passage: Any, sentence: str) -> Any:
    from rich.text import Text

    cite = f"{passage.source}:{passage.lines.split('-')[0]}" if passage.lines else passage.source
    text = Text.assemble(("• ", "dim"), (passage.title, "bold"))
    if passage.section:
        text.append(f" › {passage.section}")
    text.append(f"  {cite}", style="blue")
    text.append(f"  ({passage.score:.3f})\n", style="dim")
    snippet = " ".join(passage.text.split())
    highlight = " ".join(sentence.split())
    at = snippet.find(highlight) if highlight else -1
    if at < 0:  # the sentence is the passage's best part: show it alone
        text.append("  " + _clip(snippet, 300), style="dim")
        return text
    before, after = snippet[:at], snippet[at + len(highlight):]
    text.append("  " + _clip_left(before, 120), style="dim")
    text.append(highlight, style="bold yellow")
    text.append(_clip(after, 120), style="dim")
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _clip_left(text: str, limit: int) -> str:
    return text if len(text) <= limit else "… " + text[-limit:].split(" ", 1)[-1]


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
