"""Placeholder: this command group is being built (see the issue list)."""

import typer


def register(app: typer.Typer) -> None:
    pass
