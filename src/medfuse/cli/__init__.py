"""The ``medfuse`` command line: thin typer commands over the library.

``info`` (:mod:`medfuse.cli.info`), ``benchmark`` and ``demo`` (:mod:`medfuse.cli.study`),
``predict`` (:mod:`medfuse.cli.predict`). Commands import what they need when they run, so
``medfuse --help`` stays fast. Third-party modality kinds, representations and strategies
are loaded before a command runs from the ``medfuse.plugins`` entry point group and from
the modules named in the ``MEDFUSE_PLUGINS`` environment variable (comma-separated).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from medfuse.cli import info as _info
from medfuse.cli import predict as _predict
from medfuse.cli import study as _study
from medfuse.cli._common import console
from medfuse.cli._flag_help import FlagHelpGroup

app = typer.Typer(
    name="medfuse",
    help="Multi-modal biomedical data fusion: aligned modalities, fusion strategies, "
         "leakage-free benchmarks and explanations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=FlagHelpGroup,
)


def _version(value: bool) -> None:
    if value:
        import medfuse

        console.print(f"medfuse {medfuse.__version__}")
        raise typer.Exit()


def load_plugins() -> list[str]:
    """Import the plugin modules (entry points ``medfuse.plugins`` and ``MEDFUSE_PLUGINS``).

    Returns
    -------
    list of str
        The modules imported (entry point values, then the environment variable's names).
    """
    import importlib
    from importlib.metadata import entry_points

    names = [ep.value for ep in entry_points(group="medfuse.plugins")]
    names += [n.strip() for n in os.environ.get("MEDFUSE_PLUGINS", "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name.split(":")[0])
    return names


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """medfuse: multi-modal biomedical data fusion."""
    load_plugins()


app.command("info")(_info.info)
app.command("benchmark")(_study.benchmark)
app.command("demo")(_study.demo)
app.command("predict")(_predict.predict)
