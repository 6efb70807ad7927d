"""`n00bqa progress`: per chapter of the notes, and the prediction error over time (plotext)."""

from __future__ import annotations

import typer

from n00bqa.cli.common import console, get_study, print_json, warn

PLOT_WIDTH, PLOT_HEIGHT = 64, 14


def error_plot(points, width: int = PLOT_WIDTH) -> str:
    """The mean error of each prediction quiz, in orders of magnitude, as plain terminal text."""
    import plotext as plt

    shown = [(i, p) for i, p in enumerate(points, 1) if p.mean_log10_error is not None]
    if not shown:
        return ""
    fig = plt.figure
    fig.clear()
    xs = [i for i, _ in shown]
    ys = [p.mean_log10_error for _, p in shown]
    signal = fig.signal(xs, ys, marker="•")
    fig.draw(signal.lines() if len(xs) > 1 else signal)
    fig.plot_size(width, PLOT_HEIGHT)
    fig.theme("colorless")
    fig.title("prediction error per quiz (lower is better)")
    fig.label("quiz, oldest first", "x")
    fig.label("orders of magnitude off", "y")
    fig.ruler("y").lim(0, max(1.0, max(ys)))  # 0 is a perfect guess: keep it in view
    step = max(1, -(-len(xs) // 8))  # at most about 8 whole-number ticks
    ticks = xs[::step]
    fig.ruler("x").ticks(ticks, [str(t) for t in ticks])
    text = fig.build().string(colorless=True)
    fig.clear()
    return "\n".join(line.rstrip() for line in text.splitlines())


def progress(
    as_json: bool = typer.Option(False, "--json", help="Print {now, chapters, error_over_time, problems} as JSON."),
) -> None:
    """Show how you are doing: per chapter of the notes, questions answered / open / due / new,
    reviews and predictions made and their mean score and error, then your prediction error quiz
    by quiz over time.

    Examples:

      n00bqa progress

      n00bqa progress --json
    """
    from n00bqa.study_loop.progress import progress as compute

    report = compute(get_study())
    if as_json:
        print_json(report.to_dict())
    else:
        from n00bqa.render import FitTable

        # a FitTable: at a narrow terminal it wraps the topic, then stacks (one block per chapter),
        # never crops a header or a number
        columns = ["ch", "topic", "questions", "answered", "open", "due", "new", "reviews", "guesses", "score",
                   "off by"]
        rows = [[str(row.chapter or "-"), row.short_title, str(row.questions), str(row.answered), str(row.open),
                 str(row.due), str(row.new), str(row.reviews), str(row.predictions),
                 "-" if row.mean_score is None else f"{row.mean_score:.2f}",
                 "-" if row.mean_log10_error is None else f"{row.mean_log10_error:.2f}"] for row in report.chapters]
        console.print(FitTable("Progress by chapter of the notes", columns, rows))
        console.print("[dim]score: 1 exact .. 0 far off; off by: orders of magnitude (means of the guesses)[/]")
        plot = error_plot(report.error_over_time, min(PLOT_WIDTH, console.width))
        if plot:
            console.print(plot, markup=False, highlight=False)
        else:
            console.print("No prediction made yet: start with n00bqa quiz", highlight=False)
    for problem in report.to_dict()["problems"]:
        warn(problem)


def register(app: typer.Typer) -> None:
    app.command("progress")(progress)
