"""What every command shares: the console, the one way of failing, and text from files made
safe to show.

Names read from data files (modalities, classes, subjects, columns) reach the terminal in
tables, warnings and errors. Two things in them must never act: rich markup (``[/x]`` would
end in a markup error, ``[link=...]`` would style the screen) and terminal control sequences
(an escape code can clear the screen, set the window title or write the clipboard). User
text is shown through :func:`shown` (markup escaped); and the console's stream drops every
control character and escape sequence except the colours rich writes itself, so nothing
that reaches the terminal can control it.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

DASH = "\u2013"  # shown for undefined values

#: SGR colour sequences (what rich writes); every other escape sequence or control
#: character is dropped on the way to the terminal
_KEEP = re.compile(r"\x1b\[[0-9;]*m")
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _strip(text: str) -> str:
    def replace(match: re.Match) -> str:
        return match.group(0) if _KEEP.fullmatch(match.group(0)) else ""

    return _CONTROL.sub(replace, text)


class SafeStream:
    """A text stream that passes on what is written without control sequences other than
    colours (see the module docstring)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_strip(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


class _StdoutNow:
    """``sys.stdout`` as it is when written to (test runners replace it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return bool(getattr(sys.stdout, "isatty", lambda: False)())

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", "utf-8") or "utf-8"


console = Console(file=SafeStream(_StdoutNow()))


def shown(text) -> str:
    """User text (a name or message from a file) ready for markup: printable, markup
    escaped."""
    return escape(_strip(str(text)))


def fail(err: Exception | str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` on one line (the message shown as written, never read as
    markup or terminal control) and exit with status ``code`` (2: bad input)."""
    message = " ".join(_strip(str(err)).split("\n"))
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=code)
