"""`n00bqa ask "..."`: the matching question, its answer and measurement, and cited passages.

Kept light at import: the library (`n00bqa.ask`) and its view (`n00bqa.render.answer_view`) are
imported inside the command, so `n00bqa --help` pays nothing for them.
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

            self._reporter = RichReporter(lines=True).__enter__()  # one line per step when stderr is not a terminal
        return self._reporter.task(description, total)

    def close(self) -> None:
        if self._reporter is not None:
            self._reporter.__exit__(None, None, None)


def ask_command(
    query: str = typer.Argument(..., help="Your question, in quotes; - reads it from stdin.", show_default=False),
    k: int = typer.Option(5, "-k", min=1, max=100, metavar="N", help="How many backing passages to show."),
    run: bool = typer.Option(False, "--run", help="Run the matched question's probes now (loads torch) "
                             "and show fresh findings."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    pager: bool = typer.Option(True, "--pager/--no-pager", help="Page long output through $PAGER (on a terminal only)."),
    is_: str = typer.Option(None, "--is", metavar="ID", show_default=False,
                            help="Say which question this query is (an id, or none); kept in routing/choices.jsonl "
                                 "and used from the next ask on."),
) -> None:
    """Answer a question from your list: its answer, its probes' measurements, and cited passages.

    The first ask in a study root builds what it needs (query encoder, index, question vectors).
    When unsure it lists the candidates; on a terminal it asks which one you meant (Enter takes the
    first, a digit another, n none of them) and remembers your choice.

    Examples:

      n00bqa ask "How large is a transformer model?"

      n00bqa ask "why is the embedding gradient sparse" -k 3 --no-pager

      n00bqa ask "kaggle mcq with deberta" --is task-heads

      echo "what is a token" | n00bqa ask -
    """
    import os

    if not run:
        # One query vector times a few thousand passage vectors: OpenBLAS's worker threads cost more
        # than the product (15-20 ms each on a busy 2-core machine), so a plain ask keeps BLAS on one
        # thread. It must be set before numpy loads; a probe run (--run) keeps the default.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from n00bqa.cli.common import exit_after_output, get_study, print_json, warn
    from n00bqa.retrieval import encoder

    from n00bqa.text import check_query

    if query == "-":  # `echo "what is a token" | n00bqa ask -`
        import sys

        from n00bqa.cli.common import fail

        try:
            query = sys.stdin.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read the question from stdin ({exc}); pass it in quotes instead") from None
    check_query(query)  # a bad query stops here, before a session starts loading in the background
    study = get_study()
    # Before the library is imported: the ONNX session then loads (without the GIL) while Python
    # imports the rest and reads the questions and the index (a no-op if the export is not there yet).
    encoder.prepare(study)
    from n00bqa.ask import ask, complete_index
    from n00bqa.text import sources

    if not as_json:
        # The view's imports (rich's console, tables, panels: ~30 ms) cost nothing here: the first
        # query encode waits for the session anyway, and this thread would only sit in that wait.
        import n00bqa.render  # noqa: F401

    if is_ is not None:
        _record(study, query, is_)
    reporter = _BuildReporter()
    try:
        # staged: on a fresh root the first answer comes from the notes; the library follows below
        answer = ask(study, query, k=k, run=run, reporter=reporter, staged=True)
    finally:
        reporter.close()
    for message in answer.warnings:
        warn(message)
    if answer.built:
        typer.echo(f"Built {', '.join(answer.built)}; later asks start instantly.", err=True)
    if as_json:
        print_json(answer.to_dict())
    else:
        from n00bqa.cli.common import print_paged
        from n00bqa.render import answer_parts

        asking = answer.outcome == "candidates" and _interactive()
        print_paged(*answer_parts(answer), pager=pager and not asking)
        if asking:
            picked = _prompt(answer.candidates)
            if picked is not _NO_ANSWER:
                from n00bqa.ask.choices import choices_path

                _record(study, query, picked or "none")
                typer.echo(f"Kept your choice in {choices_path(study)}; later asks of this query use it.", err=True)
                answer = ask(study, query, k=k, run=run, reporter=_BuildReporter(), staged=True)
                print_paged(*answer_parts(answer), pager=pager)
    if answer.pending:
        import sys

        sys.stdout.flush()  # the answer is out before the wait starts
        typer.echo(f"Indexing the {sources(len(answer.pending))} now; Ctrl-C stops safely (the notes "
                   "stay indexed, and the next ask or `n00bqa index build` finishes).", err=True)
        reporter = _BuildReporter()
        try:
            report = complete_index(study, reporter=reporter)
        finally:
            reporter.close()
        typer.echo(f"The index is complete: {report.chunks_total} passages; later answers cite the library "
                   "sources too.", err=True)
    exit_after_output()


_NO_ANSWER = object()  # the prompt ended without a choice (end of input)


def _interactive() -> bool:
    """A learner at a terminal: stdin and stdout both ttys (a pipe or a script is never asked)."""
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()


def _prompt(candidates: list) -> Any:
    """Ask which candidate: Enter the first, a digit another, n none. Returns the question id,
    None for none, or _NO_ANSWER when input ends."""
    numbers = f"1-{len(candidates)}" if len(candidates) > 1 else "1"
    while True:
        try:
            reply = input(f"Which is it? Enter = 1, {numbers}, n = none of them: ").strip().lower()
        except EOFError:
            typer.echo("", err=True)
            return _NO_ANSWER
        if reply == "":
            return candidates[0].question.id
        if reply in ("n", "none"):
            return None
        if reply.isdigit() and 1 <= int(reply) <= len(candidates):
            return candidates[int(reply) - 1].question.id
        typer.echo(f"Type a number {numbers}, press Enter for 1, or n for none of them.", err=True)


def _record(study: Any, query: str, qid: str) -> None:
    """Keep the learner's choice (an id of their list, or none) in routing/choices.jsonl."""
    from n00bqa.ask.choices import record_choice
    from n00bqa.questions import get_question
    from n00bqa.text import check_query

    query = check_query(query)
    if qid.strip().lower() == "none":
        record_choice(study, query, None)
        return
    record_choice(study, query, get_question(study, qid).id)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
