"""What every command shares: the console and the one way of failing."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()

DASH = "\u2013"  # shown for undefined values


def fail(err: Exception | str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` (the message shown as written, never read as markup) and
    exit with status ``code`` (2: bad input)."""
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(str(err))}", soft_wrap=True)
    raise typer.Exit(code=code)
