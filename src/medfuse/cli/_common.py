"""What every command shares: the console and the one way of failing."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()

DASH = "\u2013"  # shown for undefined values


def fail(err: Exception | str) -> NoReturn:
    """Print ``error: <message>`` and exit with status 2."""
    console.print(f"[red]error:[/red] {err}")
    raise typer.Exit(code=2)
