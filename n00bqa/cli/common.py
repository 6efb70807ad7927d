"""What every command module shares: consoles, the one-line error exit, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one `Error: ...` line on stderr; return the Exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"Warning: {message}", err=True)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (never rich-wrapped), so other tools can parse it."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
