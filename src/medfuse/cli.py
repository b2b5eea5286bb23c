"""The ``medfuse`` command line: typer commands that wire data and studies through the layers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import medfuse

app = typer.Typer(
    name="medfuse",
    help="Multi-modal biomedical data fusion: aligned modalities, fusion strategies, "
         "leakage-free benchmarks and explanations.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"medfuse {medfuse.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """medfuse: multi-modal biomedical data fusion."""


@app.command()
def info(
    data: Annotated[Path, typer.Argument(help="A MOGONET folder, a folder of modality files "
                                              "(first column = subject ID) or a .h5mu file.")],
    outcome: Annotated[str | None, typer.Option(help="obs column to use as outcome.")] = None,
) -> None:
    """Summarise a dataset: modalities, kinds, features, subjects and missingness."""
    from medfuse.data import DataValidationError, read_data

    try:
        loaded = read_data(data, outcome=outcome)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=2) from None
    console.print(loaded.summary())
    pattern = loaded.available.value_counts()
    console.print("availability patterns (subjects):")
    for combo, count in pattern.items():
        names = [m for m, has in zip(loaded.modality_names, combo, strict=True) if has]
        console.print(f"  {' + '.join(names) or '(none)'}: {count}")
    if "split" in loaded.obs.columns:
        console.print("splits: " + ", ".join(f"{k}={v}" for k, v in
                                             loaded.obs["split"].value_counts().items()))


def _register_study_commands() -> None:
    from medfuse.cli_study import register

    register(app)


_register_study_commands()
