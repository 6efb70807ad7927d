"""`n00bqa questions` (list, add, set-status, note, set, edit, rm, check) and `n00bqa show ID`."""

from __future__ import annotations

from typing import Any, List, Optional

import typer

from n00bqa.cli.common import console, exit_after_output, fail, get_study, print_json, warn
from n00bqa.questions import STATUSES, add_note, add_question, get_question, load_questions, set_status


def complete_id(incomplete: str) -> list[str]:
    """Shell completion of question ids (never raises: a broken root completes nothing)."""
    try:
        return [q.id for q in load_questions(get_study())[0] if q.id.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must stay silent
        return []


def id_argument(help_text: str = "Question id (see: n00bqa questions).") -> typer.Argument:
    return typer.Argument(..., metavar="ID", help=help_text, autocompletion=complete_id, show_default=False)


questions_app = typer.Typer(
    help="The learner's question list: list, add, set-status, note.\n\nExamples:\n\n  n00bqa questions --status open"
         "\n\n  n00bqa questions add \"Why does attention divide by the square root of d_k?\" --id attention-scale",
    invoke_without_command=True,
    no_args_is_help=False,
)


@questions_app.callback()
def list_questions(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", metavar="STATUS", help=f"Only questions with this status ({'|'.join(STATUSES)})."),
    tag: Optional[str] = typer.Option(None, "--tag", metavar="TAG", help="Only questions carrying this tag."),
    chapter: Optional[int] = typer.Option(None, "--chapter", metavar="N", help="Only questions of this chapter of the notes (1-5)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of question objects."),
) -> None:
    """List the questions: id, question, probes, status.

    Examples:

      n00bqa questions

      n00bqa questions --status open --tag embeddings

      n00bqa questions --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if status is not None and status not in STATUSES:
        raise fail(f"--status {status!r} must be one of: {', '.join(STATUSES)}", code=2)
    questions, problems = load_questions(get_study())
    known_tags = sorted({t for q in questions for t in q.tags})
    if tag is not None and tag not in known_tags:
        raise fail(f"--tag {tag!r} is on no question; the tags are: {', '.join(known_tags) or 'none'}", code=2)
    shown = [q for q in questions if (status is None or q.status == status) and (tag is None or tag in q.tags)
             and (chapter is None or q.chapter == chapter)]
    if as_json:
        print_json([q.to_dict() for q in shown])
    else:
        from n00bqa.render import questions_table

        console.print(questions_table(shown))
    for problem in problems:
        warn(str(problem))
    if problems:
        raise fail(f"{len(problems)} question file(s) failed to load; fix them as shown above")
    exit_after_output()  # the console script skips the interpreter's teardown (~20 ms with rich loaded)


@questions_app.command("add")
def add(
    text: str = typer.Argument(..., help="The question, in your own words."),
    qid: Optional[str] = typer.Option(None, "--id", metavar="ID", help="Id (lowercase-with-dashes). Default: derived from the text."),
    probes: List[str] = typer.Option([], "--probe", metavar="NAME", help="A probe that measures it (see: n00bqa probes); "
                                     "repeat for several."),
    tags: List[str] = typer.Option([], "--tag", metavar="TAG", help="A tag; repeat for several."),
    chapter: Optional[int] = typer.Option(None, "--chapter", metavar="N", help="The chapter of your notes (1-5)."),
    evidence: bool = typer.Option(True, "--evidence/--no-evidence", help="Find the closest questions, their "
                                  "probes and the passages that bear on it, and write them into the file."),
    as_json: bool = typer.Option(False, "--json", help="Print {question, starting_points, warnings} as JSON."),
) -> None:
    """Add a new open question as questions/ID.md, starting from evidence: the closest questions
    in your list and their probes, and the reading-list passages that bear on it (cited path:line),
    shown and written into the file's reading list, Try and Notes. The first use builds the index.
    The id is short (its first three telling words); --id names another.

    Example:

      n00bqa questions add "Why does attention scale by sqrt(d_k)?" --tag attention
    """
    from n00bqa.errors import N00bqaError

    study = get_study(write=True)
    if chapter is not None and not 1 <= chapter <= 5:
        raise fail(f"--chapter {chapter} must be a number from 1 to 5 (the chapters of the notes)", code=2)
    question = add_question(study, text, qid=qid, probes=probes, tags=tags)
    if chapter is not None:
        from n00bqa.questions import update_question

        question = update_question(study, question.id, chapter=chapter)
    say = (lambda *a, **k: None) if as_json else console.print
    say(f"Added [bold cyan]{question.id}[/] -> {question.path}", soft_wrap=True)
    points, warnings = None, []
    if evidence:
        from n00bqa.cli.common import RichReporter
        from n00bqa.study_loop.evidence import starting_points, write_starting_points

        try:
            with RichReporter() as reporter:
                points = starting_points(study, question.question, exclude=question.id, reporter=reporter)
        except N00bqaError as exc:  # the question is added; only its starting points are missing
            warnings.append(f"no starting points written ({exc}); the question file is plain")
        else:
            question = write_starting_points(study, question, points)
            warnings += _looks_like(question, points)
    if as_json:
        print_json({"question": question.to_dict(), "starting_points": None if points is None else points.to_dict(), "warnings": warnings})
    else:
        if points is not None:
            _show_starting_points(question, points, chapter)
    for message in warnings:
        warn(message)


def _looks_like(question, points) -> list[str]:
    """A warning for each listed question the new one routes to as a sure match (confidence at or
    above the level `ask` answers with): it may be the same question in other words."""
    from n00bqa.ask.routing import SURE
    from n00bqa.text import percent

    return [f"{question.id} looks like {other.id} (confidence {percent(score)} >= {percent(SURE)}, so "
            f"`n00bqa ask` with this text would answer with {other.id}); if it is the same question, "
            f"remove the new one with: n00bqa questions rm {question.id} --yes"
            for other, score in points.related if score >= SURE]


def _show_starting_points(question, points, chapter) -> None:
    from n00bqa.render import passage_heading

    if points.related:
        from n00bqa.text import percent

        console.print("Closest questions (confidence): " + ", ".join(f"{q.id} {percent(s)}" for q, s in points.related),
                      highlight=False)
    if points.probes:
        console.print("Their probes: " + ", ".join(f"{p} (from {q})" for p, q in points.probes), highlight=False)
    if points.passages:
        console.print("Reading that bears on it:")
        for passage in points.passages:
            console.print(passage_heading(passage))
    else:
        console.print(f"No reading suggested: it is {points.domain.words()}", highlight=False)
    if chapter is None and question.chapter is not None:
        console.print(f"Chapter {question.chapter}, as {points.related[0][0].id}'s; change it with:", highlight=False)
        console.print(f"  n00bqa questions set {question.id} --chapter N", soft_wrap=True, highlight=False)
    console.print(f"[dim]Written into {question.path.name}: reading, Try and Notes; edit it with:[/]", highlight=False)
    console.print(f"  n00bqa questions edit {question.id}", soft_wrap=True, highlight=False)


@questions_app.command("set-status")
def set_status_cmd(
    qid: str = id_argument(),
    status: str = typer.Argument(..., metavar="STATUS", help="open or answered."),
) -> None:
    """Mark a question open or answered.

    Example:

      n00bqa questions set-status model-size answered
    """
    from n00bqa.questions import STATUSES

    if status not in STATUSES:  # a value outside its choices: a usage error (exit 2), as click's are
        raise fail(f"status {status!r} must be one of: {', '.join(STATUSES)} (see: n00bqa questions set-status "
                   "--help)", code=2)
    question = set_status(get_study(write=True), qid, status)
    console.print(f"[bold cyan]{question.id}[/] is now {question.status}")


@questions_app.command("note")
def note(
    qid: str = id_argument(),
    text: str = typer.Argument(..., help="The note to append to the question's Notes section."),
) -> None:
    """Append a note to a question's `## Notes` section.

    Example:

      n00bqa questions note embedding-grad "SparseAdam only updates the rows that were looked up."
    """
    question = add_note(get_study(write=True), qid, text)
    console.print(f"Noted on [bold cyan]{question.id}[/] ({question.path})")


def show(
    qid: str = id_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print the question and its probe's last findings as JSON."),
    pager: bool = typer.Option(True, "--pager/--no-pager", help="Page long output through $PAGER (on a terminal only)."),
) -> None:
    """Show a question: its answer, how to explore it, notes, and the probe's last measured findings.

    Examples:

      n00bqa show embedding-grad

      n00bqa show model-size --json
    """
    study = get_study()
    question = get_question(study, qid)
    results = last_results(study, question.probes)
    if as_json:
        print_json({**question.to_dict(),
                    "probe_results": {name: r.to_dict() if r else None for name, r in results.items()}})
    else:
        from n00bqa.cli.common import print_paged
        from n00bqa.render import question_view

        # its parts one by one: a Try command (render.CommandLine) is printed whole, never wrapped
        print_paged(*question_view(question, results).renderables, pager=pager)
    exit_after_output()


def last_results(study, names: list[str]) -> dict:
    """Each probe's last run (None: never measured here). Where nothing was ever measured (no probe
    cache folder), the probe framework is not imported at all: hashlib and its dataclasses are
    ~20 ms of a `show` that would only print "never measured"."""
    if not any(names) or not study.places()["probe cache"].is_dir():
        return {name: None for name in names}
    from n00bqa.probes.runs import last_result

    return {name: last_result(study, name) for name in names}


@questions_app.command("set")
def set_fields(
    qid: str = id_argument(),
    probes: Optional[List[str]] = typer.Option(None, "--probe", metavar="NAME", help="A probe that measures it; repeat for "
                                               "several. Replaces the list (pass --probe none for no probe)."),
    tags: Optional[List[str]] = typer.Option(None, "--tag", metavar="TAG", help="A tag; repeat for several. Replaces the tags."),
    chapter: Optional[int] = typer.Option(None, "--chapter", metavar="N", help="The chapter of your notes (1-5)."),
) -> None:
    """Replace a question's probes, tags or chapter.

    Example:

      n00bqa questions set model-size --probe param-count --probe variants --chapter 4
    """
    from n00bqa.questions import update_question

    if probes is None and tags is None and chapter is None:
        raise fail("nothing to set; pass --probe, --tag or --chapter (see: n00bqa questions set --help)", code=2)
    if chapter is not None and not 1 <= chapter <= 5:
        raise fail(f"--chapter {chapter} must be a number from 1 to 5 (the chapters of the notes)", code=2)
    names = None if probes is None else [p for p in probes if p != "none"]
    question = update_question(get_study(write=True), qid, probes=names, tags=tags, chapter=chapter)
    console.print(f"[bold cyan]{question.id}[/]: probes {', '.join(question.probes) or 'none'} · tags "
                  f"{', '.join(question.tags) or 'none'} · chapter {question.chapter or '-'}")


@questions_app.command("rm")
def remove(
    qid: str = id_argument(),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a question's file (its probes and your review history stay).

    Example:

      n00bqa questions rm attention-scale --yes
    """
    import sys

    from n00bqa.questions import remove_question

    study = get_study(write=True)
    question = get_question(study, qid)
    if not yes:
        if not sys.stdin.isatty():
            raise fail(f"not removing {question.id} without confirmation; pass --yes", code=2)
        typer.confirm(f"Delete {question.path}?", abort=True)
    path = remove_question(study, question.id)
    console.print(f"Removed {path}")


MAX_EDIT_ROUNDS = 5


@questions_app.command("edit")
def edit(qid: str = id_argument()) -> None:
    """Open a question's file in $EDITOR; it is checked on save and reopened on an error, as
    `git commit` does (close it unchanged to give up; the file keeps its last good text).

    Example:

      EDITOR=nano n00bqa questions edit model-size
    """
    from n00bqa.errors import QuestionError
    from n00bqa.questions import replace_question_text

    study = get_study(write=True)
    question = get_question(study, qid)
    original = question.path.read_text(encoding="utf-8")
    text, error = original, ""
    for _ in range(MAX_EDIT_ROUNDS):
        edited = _run_editor(text, error, question.path.name)
        if edited == text:
            if error:
                raise fail(f"{question.path} left as it was: the edit still had an error ({error})")
            console.print(f"No change to {question.path}")
            return
        try:
            replace_question_text(study, question.id, edited)
        except QuestionError as exc:
            text, error = edited, str(exc)
            warn(f"{error}; reopening the editor (close it unchanged to give up)")
            continue
        console.print(f"Saved {question.path}")
        return
    raise fail(f"{question.path} left as it was after {MAX_EDIT_ROUNDS} tries; fix it and save again")


def _run_editor(text: str, error: str, name: str) -> str:
    """Edit `text` in $VISUAL/$EDITOR (default vi) on a temporary copy; returns what was saved."""
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
    except ValueError as exc:  # EDITOR='vi "unclosed'
        raise fail(f"cannot read the editor command {editor!r} ({exc}); set EDITOR, e.g. EDITOR=nano") from None
    if not command:
        raise fail("EDITOR is set but empty; set it, e.g. EDITOR=nano")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        try:
            code = subprocess.call([*command, str(path)])
        except OSError as exc:
            raise fail(f"cannot start the editor {editor!r} ({exc.strerror or exc}); set EDITOR, "
                       "e.g. EDITOR=nano") from None
        if code != 0:
            raise fail(f"the editor {editor!r} exited with code {code}; nothing was saved")
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise fail(f"the editor {editor!r} removed the file it was editing; nothing was saved") from None
        except UnicodeDecodeError as exc:
            raise fail(f"the editor saved bytes that are not UTF-8 (at byte {exc.start}); nothing was saved: "
                       "save the file as UTF-8") from None
        except OSError as exc:
            raise fail(f"cannot read what the editor saved ({exc.strerror or exc}); nothing was saved") from None


@questions_app.command("check")
def check(as_json: bool = typer.Option(False, "--json", help="Print {questions, try_commands, problems} as JSON.")) -> None:
    """Check the whole list: every file loads, every probe and reading id it names exists, and every
    command in a `## Try` section parses (it is not run).

    Example:

      n00bqa questions check
    """
    from n00bqa.questions import check_study

    study = get_study()
    found = check_study(study)
    commands = 0
    for question in load_questions(study)[0]:
        for line in try_commands(question):
            commands += 1
            error = parse_error(line, study)
            if error:
                found.append(f"{question.path}: Try command {line!r}: {error}")
    count = len(load_questions(study)[0])
    if as_json:
        print_json({"questions": count, "try_commands": commands, "problems": [str(p) for p in found]})
    else:
        for problem in found:
            warn(problem)
    if found:
        raise fail(f"{len(found)} problem(s) in {study.questions_dir}; fix them as shown above")
    if not as_json:
        console.print(f"{count} questions, {commands} Try commands: all consistent.")


def try_commands(question) -> list[str]:
    """The `n00bqa ...` lines of a question's Try section."""
    return [line.strip() for line in question.try_.splitlines() if line.strip().startswith("n00bqa ")]


def parse_error(line: str, study: Any = None) -> str:
    """Why `line` is not a valid n00bqa command ('' if it is): parsed by the CLI's own parser down
    to its last subcommand, never run.

    Args:
        line: the command line, `n00bqa ...`.
        study: the study root it is read in (its own probes are commands too); default: the one
            the command line itself would find (`--root`, N00BQA_ROOT, the current folder).
    """
    import shlex

    import typer
    from typer.core import TyperGroup

    from n00bqa.cli import _UsageError, app
    from n00bqa.errors import N00bqaError

    try:
        args = shlex.split(line, comments=True)[1:]
        command = typer.main.get_command(app)
        # the study as the root context's obj: get_study() then uses it, as the live command does
        ctx = command.make_context("n00bqa", args, obj=study)
        with ctx.scope():  # the probe group looks up the study root in the live context
            while isinstance(ctx.command, TyperGroup) and ctx._protected_args + ctx.args:
                name, sub, rest = ctx.command.resolve_command(ctx, ctx._protected_args + ctx.args)
                ctx = sub.make_context(name, rest, parent=ctx)
        if isinstance(ctx.command, TyperGroup) and not ctx.command.invoke_without_command:
            return "names a group, not a command"
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            return "names a group, not a command"
        return exc.format_message()
    except ValueError as exc:  # shlex: an unclosed quote
        return str(exc)
    except N00bqaError as exc:  # an unknown probe name
        return str(exc)
    return ""


def register(app: typer.Typer) -> None:
    app.add_typer(questions_app, name="questions")
    app.command("show")(show)
