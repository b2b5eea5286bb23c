"""``python -m medfuse.cli``: the same as the ``medfuse`` command."""

from medfuse.cli import app

app(prog_name="medfuse")
