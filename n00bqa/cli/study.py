"""`n00bqa init [PATH]` (make a study root) and `n00bqa where` (what is used, and where)."""

from __future__ import annotations

from pathlib import Path

import typer

from n00bqa.cli.common import console, get_study, print_json


def init(
    path: Path = typer.Argument(Path("."), help="The folder to make a study root of (created if missing).",
                                show_default=False),
    empty: bool = typer.Option(False, "--empty", help="Start with no questions and an empty reading list."),
) -> None:
    """Make a study root: the built-in questions, reading list and notes, yours to edit.

    Examples:

      n00bqa init ~/llm-study && cd ~/llm-study && n00bqa ask "How large is a transformer model?"

      n00bqa init my-questions --empty
    """
    from n00bqa.study import init_root

    study, counts = init_root(path, empty=empty)
    console.print(f"Made a study root at {study.root}: {counts['questions']} questions, "
                  f"{counts['notes']} notes in the reading list.")
    console.print("Next:")
    console.print(f"  cd {study.root}", soft_wrap=True)
    console.print('  n00bqa ask "How large is a transformer model?"', soft_wrap=True)


def where(as_json: bool = typer.Option(False, "--json", help="Print the folders as JSON.")) -> None:
    """Show the study root in use and where n00bqa keeps its index and caches.

    Example:

      n00bqa where
    """
    study = get_study()
    places = study.places()
    if as_json:
        print_json({"root": str(study.root), "builtin": study.builtin,
                    **{name: str(path) for name, path in places.items()}})
        return
    kind = "the built-in journey (read-only; n00bqa init PATH makes your own)" if study.builtin else "your own"
    console.print(f"study root: {study.root}  ({kind})", soft_wrap=True)
    for name, path in places.items():
        there = "" if path.exists() else "  (not made yet)"
        console.print(f"{name}: {path}{there}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("where")(where)
