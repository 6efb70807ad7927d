"""Every `n00bqa …` command we print can be copied (issue 26 item 7): rendered at 60 and 80 columns,
each command sits whole on one line, never broken across two. The commands are read from where they
are written (docstrings' examples, the questions' Try sections, the runs' options), then looked for
in what the learner sees."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from n00bqa.cli import COMMANDS, app
from n00bqa.cli.questions import try_commands
from n00bqa.questions import load_questions

runner = CliRunner()
BOX = re.compile(r"[│╭╮╰╯─┃━▕▎▊▁▔]")


def lines_of(output: str) -> list[str]:
    return [" ".join(BOX.sub(" ", line).split()) for line in output.splitlines()]


def whole(command: str, output: str) -> bool:
    """Is `command` (spaces collapsed) inside one line of `output`?"""
    wanted = " ".join(command.split())
    return any(wanted in line for line in lines_of(output))


def help_pages() -> list[list[str]]:
    pages = [[]] + [[name] for name in COMMANDS]
    for group in ("questions", "index", "corpus"):
        result = runner.invoke(app, [group, "--help"])
        pages += [[group, name] for name in re.findall(r"^  (\S+) ", result.stdout.split("Commands:")[-1], re.M)]
    return pages


@pytest.mark.parametrize("width", [60, 80])
def test_help_examples_stay_whole(width):
    for args in help_pages():
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(width)})
        assert result.exit_code == 0, (args, result.output)
        examples = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("n00bqa ")]
        for command in _examples_in_docs(args):
            assert whole(command, result.stdout), (args, width, command, examples)


def _examples_in_docs(args: list[str]) -> list[str]:
    """The example commands written in the command's own help text (its docstring), as written."""
    import typer

    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="n00bqa")
    for name in args:
        command = command.get_command(ctx, name)
        ctx = typer.Context(command, info_name=name, parent=ctx)
    text = command.help or ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("n00bqa ")]


@pytest.mark.parametrize("width", [60, 80])
def test_show_keeps_each_try_command_whole(study, width):
    for question in load_questions(study)[0]:
        result = runner.invoke(app, ["show", question.id, "--no-pager"], env={"COLUMNS": str(width)})
        assert result.exit_code == 0, result.output
        for command in try_commands(question):
            command = command.split("  #")[0].strip()  # the command; its comment may go on its own line
            assert whole(command, result.stdout), (question.id, width, command)


@pytest.mark.parametrize("width", [60, 80])
def test_last_run_options_and_re_run_stay_whole(study_root, tmp_path_factory, width):
    from support.study_loop import copy_probe_cache, param_count_root

    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    result = runner.invoke(app, ["probe", "param-count", "--last", "--no-pager"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    flat = " ".join(lines_of(result.stdout))
    ran_with = re.search(r"ran with: (.*?--seed \d+)", flat).group(1)
    for pair in re.findall(r"--[a-z-]+ \S+", ran_with):  # each option stays with its value
        assert whole(pair, result.stdout), (width, pair)
    assert whole(f"n00bqa probe param-count {ran_with}", result.stdout), (width, ran_with)


@pytest.mark.parametrize("width", [60, 80])
def test_show_keeps_the_re_run_command_of_a_cached_run_whole(study_root, tmp_path_factory, width):
    # issue 26 item 7: the Re-run line sat inside the probe's panel and wrapped at 60 columns
    from support.study_loop import copy_probe_cache, param_count_root

    from n00bqa.probes.runs import last_result
    from n00bqa.render import option_flags
    from n00bqa.study import Study

    from n00bqa.probes.runs import save_result

    copy_probe_cache(param_count_root(tmp_path_factory), study_root)
    study = Study(study_root)
    run = last_result(study, "param-count")
    run.environment["options"] = {"model": str(study_root / "models" / "my-fine-tuned-deberta-v3-base")}
    save_result(study, run)  # the last run, as if it had counted a local folder
    command = f"n00bqa probe param-count {option_flags(run)}"
    assert len(command) > 60  # long enough to have wrapped inside a panel
    result = runner.invoke(app, ["show", "model-size", "--no-pager"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert whole(f"Re-run: {command}", result.stdout), (width, result.stdout)


@pytest.mark.parametrize("width", [60, 80])
def test_ran_with_never_parts_an_option_from_its_value(width):
    from rich.console import Console

    from n00bqa.probes.base import ProbeResult
    from n00bqa.render import option_pairs, probe_result_view

    options = {"seq_len": 1024, "d_model": 768, "n_heads": 12, "model": "/some/long/path/to/a model", "tied": False,
               "batch_size": 16, "threads": 2}
    result = ProbeResult("attention", "q", "summary", ["a finding"], [], {}, {"options": options, "seed": 7}, 1.0)
    pairs = option_pairs(result)
    assert pairs == ["--seq-len 1024", "--d-model 768", "--n-heads 12", "--model '/some/long/path/to/a model'",
                     "--no-tied", "--batch-size 16", "--threads 2", "--seed 7"]
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(probe_result_view(result))
    out = console.export_text()
    for pair in pairs:
        assert whole(pair, out), (width, pair, out)


@pytest.mark.parametrize("width", [60, 80])
def test_run_it_hint_keeps_its_command_whole(study, width):
    result = runner.invoke(app, ["show", "embedding-grad", "--no-pager"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    assert "Run it:" in result.stdout and whole("n00bqa probe embedding-grad", result.stdout)
    assert any(line == "n00bqa probe embedding-grad" for line in lines_of(result.stdout))


@pytest.mark.parametrize("width", [60, 80])
def test_short_table_cells_are_never_split(width):
    from rich.console import Console

    from n00bqa.render import SHORT_CELL, FitTable

    shapes = ["(1, 32, 4096, 128)", "(1, 8, 1024, 64)", "(2, 12, 512, 64)"]
    assert all(len(s) <= SHORT_CELL for s in shapes)
    rows = [[name, shape, "MHA / 12", f"{n:,}", "a longer note that may wrap at its spaces when the table is narrow"]
            for name, shape, n in zip(["llama-2-7b", "tiny", "gpt2"], shapes, [524_288, 2_048, 36_864])]
    table = FitTable("KV cache shapes", ["model", "K shape (B, H, T, d)", "attention", "bytes", "note"], rows)
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(table)
    out = console.export_text()
    for row in rows:
        for cell in row[:4]:
            assert whole(cell, out), (width, cell, out)
