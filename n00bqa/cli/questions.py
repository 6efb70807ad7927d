"""`n00bqa questions` (list, add, set-status, note) and `n00bqa show ID`."""

from __future__ import annotations

from typing import List, Optional

import typer

from n00bqa.cli.common import console, fail, get_study, print_json, warn
from n00bqa.questions import STATUSES, add_note, add_question, get_question, load_questions, set_status

questions_app = typer.Typer(
    help="The learner's question list: list, add, set-status, note.\n\nExamples:\n\n  n00bqa questions --status open"
         "\n\n  n00bqa questions add \"Why does attention divide by the square root of d_k?\" --id attention-scale",
    invoke_without_command=True,
    no_args_is_help=False,
)


@questions_app.callback()
def list_questions(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help=f"Only questions with this status ({'|'.join(STATUSES)})."),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only questions carrying this tag."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of question objects."),
) -> None:
    """List the questions: id, question, probe, status.

    Examples:

      n00bqa questions

      n00bqa questions --status open --tag embeddings

      n00bqa questions --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if status is not None and status not in STATUSES:
        raise fail(f"status {status!r} must be one of: {', '.join(STATUSES)}")
    questions, problems = load_questions(get_study())
    shown = [q for q in questions if (status is None or q.status == status) and (tag is None or tag in q.tags)]
    if as_json:
        print_json([q.to_dict() for q in shown])
    else:
        from n00bqa.render import questions_table

        console.print(questions_table(shown))
    for problem in problems:
        warn(str(problem))
    if problems:
        raise fail(f"{len(problems)} question file(s) failed to load; fix them as shown above")


@questions_app.command("add")
def add(
    text: str = typer.Argument(..., help="The question, in your own words."),
    qid: Optional[str] = typer.Option(None, "--id", help="Id (lowercase-with-dashes). Default: derived from the text."),
    probes: List[str] = typer.Option([], "--probe", help="A probe that measures it (see: n00bqa probes); "
                                     "repeat for several."),
    tags: List[str] = typer.Option([], "--tag", help="A tag; repeat for several."),
) -> None:
    """Add a new open question as questions/ID.md.

    Example:

      n00bqa questions add "Why does attention scale by sqrt(d_k)?" --tag attention
    """
    question = add_question(get_study(), text, qid=qid, probes=probes, tags=tags)
    console.print(f"Added [bold cyan]{question.id}[/] -> {question.path}")


@questions_app.command("set-status")
def set_status_cmd(
    qid: str = typer.Argument(..., metavar="ID", help="Question id."),
    status: str = typer.Argument(..., metavar="STATUS", help="open or answered."),
) -> None:
    """Mark a question open or answered.

    Example:

      n00bqa questions set-status model-size answered
    """
    question = set_status(get_study(), qid, status)
    console.print(f"[bold cyan]{question.id}[/] is now {question.status}")


@questions_app.command("note")
def note(
    qid: str = typer.Argument(..., metavar="ID", help="Question id."),
    text: str = typer.Argument(..., help="The note to append to the question's Notes section."),
) -> None:
    """Append a note to a question's `## Notes` section.

    Example:

      n00bqa questions note embedding-grad "SparseAdam only updates the rows that were looked up."
    """
    question = add_note(get_study(), qid, text)
    console.print(f"Noted on [bold cyan]{question.id}[/] ({question.path})")


def show(
    qid: str = typer.Argument(..., metavar="ID", help="Question id (see: n00bqa questions)."),
    as_json: bool = typer.Option(False, "--json", help="Print the question and its probe's last findings as JSON."),
) -> None:
    """Show a question: its answer, how to explore it, notes, and the probe's last measured findings.

    Examples:

      n00bqa show embedding-grad

      n00bqa show model-size --json
    """
    from n00bqa.probes.base import last_result

    study = get_study()
    question = get_question(study, qid)
    results = {name: last_result(study, name) for name in question.probes}
    if as_json:
        print_json({**question.to_dict(),
                    "probe_results": {name: r.to_dict() if r else None for name, r in results.items()}})
        return
    from n00bqa.render import question_view

    console.print(question_view(question, results))


def register(app: typer.Typer) -> None:
    app.add_typer(questions_app, name="questions")
    app.command("show")(show)
