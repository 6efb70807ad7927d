"""`n00bqa probes` (the list) and `n00bqa probe NAME [options]` (run one).

Each probe's options dataclass becomes the typed options of its own subcommand, so
`n00bqa probe embedding-grad --help` documents exactly that probe's options.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable


import typer

from n00bqa.cli.common import RichReporter, console, print_json
from n00bqa.probes import list_probes
from n00bqa.probes.base import Probe, run_probe


probe_app = typer.Typer(help="Run one probe: a live experiment that measures a question's answer.",
                        no_args_is_help=True)


def _quiet_library_progress() -> None:
    """transformers draws its own tqdm bar while loading weights; the probe's bar is enough."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    hf_logging.disable_progress_bar()


def execute(probe: Probe, values: dict[str, Any], seed: int, as_json: bool) -> None:
    opts = probe.make_options(**values)
    _quiet_library_progress()
    if as_json:
        result = run_probe(probe, opts, seed=seed)
        print_json(result.to_dict())
        return
    with RichReporter() as reporter:
        result = run_probe(probe, opts, seed=seed, reporter=reporter)
    from n00bqa.render import probe_result_view

    console.print(probe_result_view(result))


def _command_for(probe: Probe) -> Callable[..., None]:
    """Build `n00bqa probe NAME`'s function, its signature made from the probe's options dataclass."""
    hints = typing.get_type_hints(probe.options)
    params = []
    for f in dataclasses.fields(probe.options):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        params.append(inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name],
            default=typer.Option(default, help=f.metadata.get("help", ""))))
    params.append(inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                                    default=typer.Option(0, "--seed", help="Random seed: same seed, same numbers.")))
    params.append(inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--json", help="Print the result as JSON.")))

    def command(**kwargs: Any) -> None:
        seed = kwargs.pop("seed")
        as_json = kwargs.pop("as_json")
        execute(probe, kwargs, seed, as_json)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = f"{probe.title}\n\nAnswers question '{probe.question}' (see: n00bqa show {probe.question}).\n\n" \
                      f"Example:\n\n  n00bqa probe {probe.name}"
    return command


def probes() -> None:
    """List the probes and the question each one answers.

    Example:

      n00bqa probes
    """
    from rich.table import Table

    table = Table(title="Probes")
    table.add_column("probe", style="bold magenta", no_wrap=True)
    table.add_column("question", style="cyan", no_wrap=True)
    table.add_column("what it measures")
    for probe in list_probes():
        table.add_row(probe.name, probe.question, probe.title)
    console.print(table)


def register(app: typer.Typer) -> None:
    for probe in list_probes():
        probe_app.command(probe.name, help=None)(_command_for(probe))
    app.add_typer(probe_app, name="probe")
    app.command("probes")(probes)
