"""`n00bqa probes` (the list), `n00bqa probe NAME [options]` (run one), `n00bqa probe new NAME`.

Each probe's options dataclass becomes the typed options of its own subcommand, so
`n00bqa probe embedding-grad --help` documents exactly that probe's options. The `probe` group is
lazy: it lists names from the registry without importing any probe, and builds a probe's command
only when that probe is asked for, so a broken probe file troubles only the command that needs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import typing
from typing import Any, Callable, Iterator

import typer
import typer._click as click  # typer vendors its own click; its classes are the live ones
from typer.core import TyperGroup

from n00bqa.cli.common import console, fail, get_study, pager_option, print_json, print_paged, warn
from n00bqa.errors import N00bqaError, ProbeError

if typing.TYPE_CHECKING:
    from n00bqa.probes.base import Probe

RESERVED = ("new", "test")  # subcommands of `probe` that no probe may be named


def _quiet_library_progress() -> None:
    """transformers draws its own tqdm bar while loading weights; the probe's bar is enough."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    hf_logging.disable_progress_bar()


def show_last(probe: Probe, as_json: bool, pager: bool = True) -> None:
    """`--last`: the probe's last cached run for its current code, shown without running anything."""
    from n00bqa.probes.runs import last_result

    result = last_result(get_study(), probe.name)
    if result is None:
        raise fail(f"no cached run of {probe.name} for its current code; run it with: n00bqa probe {probe.name}")
    if as_json:
        print_json(result.to_dict())
        return
    from n00bqa.render import CommandLine, option_flags, probe_result_view

    # the re-run command outside the panel, whole on its own line at any width (copyable)
    print_paged(probe_result_view(result), "Re-run it with:",
                CommandLine(f"  n00bqa probe {probe.name} {option_flags(result)}"), pager=pager)


def execute(probe: Probe, values: dict[str, Any], seed: int, as_json: bool, pager: bool = True) -> None:
    """Run the probe, show its result, then cache it; a result that cannot be cached is still shown."""
    from n00bqa.cli.common import RichReporter
    from n00bqa.errors import WriteError
    from n00bqa.probes.runs import run_probe, save_result

    study = get_study()
    try:
        opts = probe.make_options(**values)
    except ProbeError as exc:  # an option's value out of its range: a usage error, as click's own are
        raise fail(f"{exc} (see: n00bqa probe {probe.name} --help)", code=2) from None
    _quiet_library_progress()
    if as_json:
        with _stdout_to_stderr():  # whatever the probe prints must not land inside the JSON
            result = run_probe(study, probe, opts, seed=seed, cache=False)
        print_json(result.to_dict())
    else:
        with RichReporter() as reporter:
            result = run_probe(study, probe, opts, seed=seed, reporter=reporter, cache=False)
        from n00bqa.render import probe_result_view

        print_paged(probe_result_view(result), pager=pager)
    from n00bqa.probes.base import unexplained_numbers

    for missing in unexplained_numbers(result):  # the house rule, checked on every run of every probe
        warn(f"probe {probe.name}: a number in a finding is no metric, table cell or option of this run: {missing}")
    try:
        save_result(study, result)
    except WriteError as exc:
        warn(f"{exc} (the result above was not cached)")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send stdout to stderr meanwhile: Python's `print` and, for the real stdout, file descriptor 1
    too (a library's C code writes there)."""
    import sys

    sys.stdout.flush()
    try:
        real = sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test's captured stdout has no descriptor
        real = False
    saved = os.dup(1) if real else None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def option_metavar(f: dataclasses.Field, annotation: Any) -> str | None:
    """What `--help` shows after a probe option's flag: the field's own `metadata["metavar"]`, else
    N for an int, X for a float, PATH for a folder or file, A,B,... for a comma-separated list, TEXT
    (a flag takes none)."""
    if "metavar" in f.metadata:
        return f.metadata["metavar"]
    kinds = {t for t in typing.get_args(annotation) or (annotation,) if t is not type(None)}
    if kinds == {bool}:
        return None
    if kinds == {int}:
        return "N"
    if kinds == {float}:
        return "X"
    if f.name in ("model", "path", "data") or f.name.endswith(("_path", "_dir", "_file")):
        return "PATH"
    return "A,B,..." if "comma-separated" in f.metadata.get("help", "").lower() else "TEXT"


def _command_for(probe: Probe) -> Callable[..., None]:
    """Build `n00bqa probe NAME`'s function, its signature made from the probe's options dataclass."""
    hints = typing.get_type_hints(probe.options)
    params = []
    for f in dataclasses.fields(probe.options):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        params.append(inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name],
            default=typer.Option(default, metavar=option_metavar(f, hints[f.name]), help=f.metadata.get("help", ""))))
    params.append(inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                                    default=typer.Option(0, "--seed", metavar="N",
                                                         help="Random seed: same seed, same numbers.")))
    params.append(inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--json", help="Print the result as JSON.")))
    params.append(inspect.Parameter("last", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--last", help="Show the last run (of the probe's "
                                                         "current code) without running it.")))
    params.append(inspect.Parameter("pager", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=pager_option()))

    def command(**kwargs: Any) -> None:
        seed, as_json, last, pager = kwargs.pop("seed"), kwargs.pop("as_json"), kwargs.pop("last"), kwargs.pop("pager")
        if last:
            show_last(probe, as_json, pager)
        else:
            execute(probe, kwargs, seed, as_json, pager)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    answers = f"Answers question '{probe.question}' (see: n00bqa show {probe.question}).\n\n" if probe.question else ""
    command.__doc__ = f"{probe.title}\n\n{answers}Example:\n\n  n00bqa probe {probe.name}"
    return command


def _click_command(probe: Probe) -> click.Command:
    single = typer.Typer(rich_markup_mode=None, add_completion=False)  # plain help, as every command
    single.command(probe.name)(_command_for(probe))
    return typer.main.get_command(single)


def _broken_command(name: str, message: str) -> click.Command:
    """Stands in for a probe that fails to load: running it says why in one line (exit 1)."""
    single = typer.Typer(rich_markup_mode=None, add_completion=False)  # plain help, as every command

    @single.command(name, help=f"(cannot run) {message}", add_help_option=False,
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def broken() -> None:
        raise fail(message)

    return typer.main.get_command(single)


def _study_or_none():
    """The study for finding probes; without a usable root, the built-in and installed probes only."""
    try:
        return get_study()
    except N00bqaError:
        return None


class ProbeGroup(TyperGroup):
    """`n00bqa probe NAME`: names come from the registry, a command is built only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from n00bqa.probes import probe_names  # names only: no probe module is imported

        names = probe_names(_study_or_none())
        return [*super().list_commands(ctx), *(n for n in names if n not in RESERVED)]

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if not name.startswith("-") and self.get_command(ctx, name) is None:
            from n00bqa.probes import find_spec

            # an unknown name is the same mistake as an unknown question id: ProbeError, exit 1
            find_spec(_study_or_none(), name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        from n00bqa.probes import find_probe, find_spec

        study = _study_or_none()
        try:
            find_spec(study, name)
        except ProbeError:
            return None  # resolve_command says why, as a usage error
        try:
            return _click_command(find_probe(study, name))
        except ProbeError as exc:
            return _broken_command(name, str(exc))


probe_app = typer.Typer(
    cls=ProbeGroup,
    help="Run one probe: a live experiment that measures a question's answer.\n\n"
         "Example:\n\n  n00bqa probe param-count --json",
    no_args_is_help=True,
)


@probe_app.command("new")
def new(
    name: str = typer.Argument(..., help="The new probe's name: lowercase words joined by '-'."),
    question: typing.Optional[str] = typer.Option(
        None, "--question", metavar="ID", help="Link it to this question id (its front matter gains the probe)."),
) -> None:
    """Write <root>/probes/NAME.py from the house template: a small, real probe to edit.

    Example:

      n00bqa probe new my-probe --question model-size
    """
    from n00bqa.probes.scaffold import new_probe

    path, linked = new_probe(get_study(write=True), name, question)
    console.print(f"Wrote {path}", soft_wrap=True, highlight=False)
    if linked is not None:
        console.print(f"Linked it to question {linked.id} ({linked.path})", soft_wrap=True, highlight=False)
    console.print(f"and its tests {path.with_name('test_' + path.name)}", soft_wrap=True, highlight=False)
    console.print("Run it, and its tests (no pytest needed):")
    console.print(f"  n00bqa probe {name}", soft_wrap=True, highlight=False)
    console.print(f"  n00bqa probe test {name}", soft_wrap=True, highlight=False)


@probe_app.command("test")
def test(name: str = typer.Argument(..., metavar="NAME", help="A probe of your study root's probes/ folder.")) -> None:
    """Run the tests `probe new` wrote beside your probe (probes/test_NAME.py), without pytest.

    Example:

      n00bqa probe test my-probe
    """
    from n00bqa.selftest import run

    study = get_study()
    path = study.probes_dir / f"test_{name.replace('-', '_')}.py"
    if not path.is_file():
        raise fail(f"no tests for a probe {name!r}: {path} is not there (n00bqa probe new NAME writes them)")
    if run(path):
        raise typer.Exit(1)


def probes(as_json: bool = typer.Option(False, "--json", help="Print the probes as a JSON list.")) -> None:
    """List the probes, where each comes from, and the questions each one answers.

    A probe file that fails to load is named (file, line, error); the others still work.

    Example:

      n00bqa probes
    """
    from n00bqa.probes import discover, load_probes
    from n00bqa.questions import load_questions

    study = get_study()
    loaded, problems = load_probes(study)
    specs, _ = discover(study)
    questions, _ = load_questions(study)
    served = {p.name: [q.id for q in questions if p.name in q.probes] for p in loaded}
    if as_json:
        print_json([_probe_record(study, p, served[p.name], specs[p.name].origin) for p in loaded])
    else:
        from n00bqa.render import probes_table

        console.print(probes_table([(p, served[p.name], specs[p.name].origin) for p in loaded]))
    for problem in problems:
        warn(str(problem))
    if problems:
        raise fail(f"{len(problems)} probe(s) failed to load; fix them as shown above (the others work)")


def _probe_record(study: Any, probe: Probe, questions: list[str], origin: str) -> dict[str, Any]:
    """One probe in `probes --json`: what it is, and its last run and typical time on this machine."""
    import statistics

    from n00bqa.probes.runs import cached_runs

    runs = cached_runs(study, probe.name)
    last = runs[-1] if runs else None
    return {
        "name": probe.name, "title": probe.title, "questions": questions, "origin": origin,
        "last_run": None if last is None else {"measured_at": last.measured_at, "seconds": last.seconds,
                                               "options": last.options, "seed": last.environment.get("seed", 0)},
        "typical_seconds": statistics.median(r.seconds for r in runs) if runs else None,
        "runs_cached": len(runs),
    }


def register(app: typer.Typer) -> None:
    app.add_typer(probe_app, name="probe")
    app.command("probes")(probes)
