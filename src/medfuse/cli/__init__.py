"""The ``medfuse`` command line: thin typer commands over the library.

``info`` (:mod:`medfuse.cli.info`), ``benchmark`` and ``demo`` (:mod:`medfuse.cli.study`),
``predict`` (:mod:`medfuse.cli.predict`), ``serve`` (:mod:`medfuse.cli.serve`, the HTTP
prediction service of :mod:`medfuse.serve`; needs the ``serve`` extra), ``plugins``
(:mod:`medfuse.cli.plugins`), ``radiomics`` (:mod:`medfuse.cli.radiomics`), ``stream replay``
(:mod:`medfuse.cli.stream`).
Commands import what they need when they run, so ``medfuse --help`` stays fast.
Third-party modality kinds, representations and strategies are loaded before a command runs
from the ``medfuse.plugins`` entry point group and from the modules named in the
``MEDFUSE_PLUGINS`` environment variable (comma-separated); ``medfuse plugins`` lists what
each registered.
"""

from __future__ import annotations

from typing import Annotated

import typer

from medfuse.cli import info as _info
from medfuse.cli import plugins as _plugins
from medfuse.cli import predict as _predict
from medfuse.cli import radiomics as _radiomics
from medfuse.cli import serve as _serve
from medfuse.cli import stream as _stream
from medfuse.cli import study as _study
from medfuse.cli._common import console, fail
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


def load_plugins() -> list:
    """Import the plugin modules (see :func:`medfuse.plugins.load_plugins`); a module that
    cannot be imported ends the command with one ``error:`` line naming it (exit 2).

    Returns
    -------
    list of medfuse.plugins.Plugin
        The modules imported and what each registered.
    """
    from medfuse.plugins import PluginError
    from medfuse.plugins import load_plugins as load

    try:
        return load()
    except PluginError as err:
        fail(err)


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """medfuse: multi-modal biomedical data fusion."""
    ctx.obj = load_plugins()


app.command("info")(_info.info)
app.command("benchmark")(_study.benchmark)
app.command("demo")(_study.demo)
app.command("predict")(_predict.predict)
app.command("serve")(_serve.serve)
app.add_typer(_stream.app, name="stream")
app.command("plugins")(_plugins.plugins)
app.command("radiomics")(_radiomics.radiomics)
