"""`n00bqa quiz [ID]` (predict or recall, then rate and schedule) and `n00bqa review` (what is due)."""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import typer

from n00bqa.cli.common import console, err_console, fail, get_study, print_json, warn


def _read_line(out: Any, prompt: str) -> str:
    """One line from the learner (the prompt on `out`); end of input stops the quiz, logging nothing."""
    out.print(prompt, end="", markup=True, highlight=False)
    try:
        return input()
    except EOFError:
        out.print()
        raise fail("input ended before the quiz did; nothing was logged") from None


def _pick(study, qid: Optional[str]):
    """The question named, else the most overdue, else the first new one; None when nothing is left."""
    from n00bqa.questions import get_question
    from n00bqa.study_loop.progress import overview

    if qid is not None:
        return get_question(study, qid), None
    view = overview(study)
    for problem in view.log_problems:
        warn(str(problem))
    item = (view.due or view.new or [None])[0]
    return (item.question if item else None), view


def _ask_guesses(out, asks) -> list:
    """Ask each prediction until the answer is a number (or `?`)."""
    from n00bqa.errors import ReviewError
    from n00bqa.study_loop.quiz_steps import parse_guess

    guesses = []
    for i, ask in enumerate(asks, 1):
        p = ask.prediction
        unit = f" [dim]({p.unit})[/]" if p.unit else ""
        out.print(f"\n[bold]{i}. {_escape(p.prompt)}[/]{unit}", highlight=False)
        while True:
            text = _read_line(out, "   your guess: ")
            try:
                guesses.append(parse_guess(text))
                break
            except ReviewError as exc:
                out.print(f"   [yellow]{_escape(str(exc))}[/]")
    return guesses


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _ask_rating(out) -> str:
    from n00bqa.study_loop.scoring import parse_rating

    while True:
        text = _read_line(out, "\nHow well did you recall it? [bold]again[/] / [bold]hard[/] / [bold]good[/] / "
                               "[bold]easy[/] (or 1-4): ")
        rating = parse_rating(text)
        if rating:
            return rating
        out.print(f"[yellow]{_escape(text.strip())!r} is not a rating; type again, hard, good or easy (or 1-4)[/]")


def _answer_panel(question) -> Any:
    from rich.markdown import Markdown
    from rich.panel import Panel

    return Panel(Markdown(question.answer or "(no answer written yet)"), title="our answer", title_align="left")


def _show_result(out, result, root=None) -> None:
    from n00bqa.study_loop.schedule import now_utc, relative_time
    from n00bqa.study_loop.scoring import describe_error, format_number

    for i, outcome in enumerate(result.outcomes, 1):
        r = outcome.record
        unit = f" {r.unit}" if r.unit else ""
        source = "measured now" if outcome.fresh else f"measured {outcome.measured_at}"
        out.print(f"\n[bold]{i}. {_escape(r.prompt)}[/]")
        out.print(f"   you said  [bold]{format_number(r.predicted)}[/]{_escape(unit)}", highlight=False)
        out.print(f"   measured  [bold cyan]{format_number(r.measured)}[/]{_escape(unit)}  [dim]({r.probe} "
                  f"{r.metric}, {source})[/]", highlight=False)
        out.print(f"   {describe_error(r.predicted, r.measured, r.scoring)} · score {r.score:.2f}", highlight=False)
        out.print(f"   [dim]why:[/] {_escape(outcome.finding)}", highlight=False)
    mean = "" if result.mean_score is None else f" (mean score {result.mean_score:.2f})"
    when = relative_time(result.due, now_utc())
    out.print(f"\nRating: [bold]{result.rating}[/]{mean} · back {when}, {result.due.isoformat(timespec='minutes')}",
              highlight=False)
    path = result.path.relative_to(root) if root is not None and result.path.is_relative_to(root) else result.path
    out.print(f"[dim]logged to {path} (line {result.review.line})[/]", highlight=False)


def _complete_id(incomplete: str) -> list[str]:
    from n00bqa.cli.questions import complete_id

    return complete_id(incomplete)


def quiz(
    qid: Optional[str] = typer.Argument(None, metavar="[ID]", help="The question (default: the most overdue, "
                                        "else the first new one; see: n00bqa review).", autocompletion=_complete_id),
    answers: List[str] = typer.Option([], "--answer", metavar="GUESS", help="Your guess for the next prediction (124000000, 124M, "
                                      "1.2e9, ? for no idea); repeat, in order. For a recall question: your own "
                                      "words. With --answer nothing is asked."),
    rating: Optional[str] = typer.Option(None, "--rating", metavar="RATING", help="Recall questions: rate yourself "
                                         "again|hard|good|easy without being asked."),
    as_json: bool = typer.Option(False, "--json", help="Print {question, predictions, rating, due, ...} as JSON."),
) -> None:
    """Quiz yourself on a question: predict the probe's numbers (or answer in your own words), see
    what it measures and why, and schedule the question's next review (FSRS).

    A question whose probes declare predictions asks for each number first, then reveals the
    measured value (the cached run while it matches the probe's code, else it runs the probe),
    your error and the finding that explains it; the score sets the rating. Any other question
    is a recall quiz: answer, read our answer, rate yourself. The review is appended to
    reviews/ID.jsonl in the study root.

    Examples:

      n00bqa quiz

      n00bqa quiz model-size --answer 124000000 --json

      n00bqa quiz attention-scale --answer "it keeps the softmax from saturating" --rating good
    """
    from n00bqa.errors import ReviewError
    from n00bqa.study_loop import quiz_steps as lib
    from n00bqa.study_loop.scoring import parse_rating

    study = get_study(write=True)
    question, view = _pick(study, qid)
    if question is None:
        nxt = view.next_due if view else None
        if as_json:
            print_json({"question": None, "next": nxt.to_dict() if nxt else None})
        else:
            later = f"; next: {nxt.question.id} at {nxt.state.due.isoformat(timespec='minutes')}" if nxt else ""
            console.print(f"Nothing to quiz: no question is due or new{later}", highlight=False)
        return
    the_plan = lib.plan(study, question)
    for message in the_plan.warnings:
        warn(message)
    out = err_console if as_json else console
    interactive = sys.stdin.isatty()
    if rating is not None and parse_rating(rating) is None:
        raise fail(f"--rating {rating!r} is not one of again, hard, good, easy", code=2)
    header = f"[bold cyan]{question.id}[/] [dim](chapter {question.chapter or '-'})[/]  {_escape(question.question)}"
    asked = False  # the question was shown before a prompt

    if the_plan.kind == "predict":
        if rating is not None:
            raise fail(f"--rating is for recall questions; {question.id}'s predictions are rated by their score",
                       code=2)
        if len(answers) > len(the_plan.asks):
            raise fail(f"{len(answers)} --answer values for {len(the_plan.asks)} predictions of {question.id}; "
                       "give at most one per prediction", code=2)
        if answers:
            try:
                guesses = [lib.parse_guess(a) for a in answers]
            except ReviewError as exc:
                raise fail(f"--answer {exc}", code=2) from None
            asks = the_plan.asks[: len(guesses)]
        elif interactive:
            out.print(header, highlight=False)
            asked = True
            out.print(f"[dim]{len(the_plan.asks)} numbers to guess before the probe shows them; write 124000000, "
                      "124,000,000, 124e6, 124M or 1.2B (? if you have no idea)[/]")
            asks = the_plan.asks
            guesses = _ask_guesses(out, asks)
        else:
            prompts = "; ".join(f"{i}. {a.prediction.prompt}" for i, a in enumerate(the_plan.asks, 1))
            raise fail(f"no terminal to ask {question.id}'s {len(the_plan.asks)} predictions on; pass --answer VALUE "
                       f"for each, in order ({prompts})", code=2)
        from n00bqa.cli.common import RichReporter

        with RichReporter() as reporter:
            outcomes = lib.reveal_all(study, asks, guesses, reporter)
        result = lib.record_predictions(study, question, outcomes)
    else:
        if not interactive and rating is None:
            raise fail(f"no terminal to quiz {question.id} on (a recall question: it has no predictions); pass "
                       "--rating again|hard|good|easy (and --answer \"your words\")", code=2)
        words = "\n".join(answers)
        if interactive and rating is None:  # asked step by step: the question, their words, our answer, a rating
            out.print(header, highlight=False)
            asked = True
            if not answers:
                words = _read_line(out, "\nYour answer, in your own words (Enter when done): ")
            out.print(_answer_panel(question))
        chosen = parse_rating(rating) if rating is not None else _ask_rating(out)
        result = lib.record_recall(study, question, words, chosen)
    if as_json:
        print_json(result.to_dict())
    else:
        if not asked:
            console.print(header, highlight=False)
            if result.kind == "recall":
                console.print(_answer_panel(question))
        _show_result(console, result, study.root)


def review(
    as_json: bool = typer.Option(False, "--json", help="Print {now, due, new, next, problems} as JSON."),
) -> None:
    """List the questions due for review, most overdue first, then the new ones.

    `n00bqa quiz` with no id takes the first of the list.

    Examples:

      n00bqa review

      n00bqa review --json
    """
    from n00bqa.study_loop.progress import overview
    from n00bqa.study_loop.schedule import relative_time

    study = get_study()
    view = overview(study)
    if as_json:
        print_json(view.to_dict())
    else:
        from n00bqa.render import FitTable

        due = view.due
        if due:
            # a FitTable: an id is never broken mid-word (it wraps the question text, then stacks)
            rows = [[item.question.id, item.question.chapter or "-", relative_time(item.state.due, view.now),
                     item.state.reviews, item.question.question] for item in due]
            console.print(FitTable(f"Due now: {len(due)}", ["id", "ch.", "due", "reviews", "question"], rows))
        else:
            nxt = view.next_due
            later = (f" Next: {nxt.question.id} {relative_time(nxt.state.due, view.now)} "
                     f"({nxt.state.due.isoformat(timespec='minutes')}).") if nxt else ""
            console.print(f"Nothing is due.{later}", highlight=False)
        new = view.new
        if new:
            console.print(f"New (never quizzed), {len(new)}: {', '.join(i.question.id for i in new)}", highlight=False)
        console.print("[dim]Quiz the first with: n00bqa quiz[/]" if (due or new) else "", highlight=False)
    for problem in (*view.question_problems, *view.log_problems):
        warn(str(problem))


def register(app: typer.Typer) -> None:
    app.command("quiz")(quiz)
    app.command("review")(review)
