"""``medfuse info``: what a dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail, shown


def info(
    data: Annotated[Path, typer.Argument(help="A study YAML file, a MOGONET folder, a folder "
                                              "of modality files (first column = subject ID) "
                                              "or a .h5mu file.")],
    outcome: Annotated[str | None, typer.Option(help="obs column to use as outcome.")] = None,
    follow_links: Annotated[bool, typer.Option(
        "--follow-links", help="Read files of a data folder that are links to places outside "
                               "it (refused by default).")] = False,
) -> None:
    """Summarise a dataset: modalities, kinds, features, subjects and missingness."""
    from medfuse.data import DataValidationError, read_data

    try:
        if data.suffix in (".yaml", ".yml"):
            from medfuse.config import read_study_data

            loaded = read_study_data(data)
            if outcome is not None:
                loaded = loaded.with_outcome(outcome)
        else:
            loaded = read_data(data, outcome=outcome, follow_links=follow_links)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        fail(err)
    console.print(loaded.summary())
    pattern = loaded.available.value_counts()
    console.print("availability patterns (subjects):")
    for combo, count in pattern.items():
        names = [m for m, has in zip(loaded.modality_names, combo, strict=True) if has]
        console.print(f"  {shown(' + '.join(names)) or '(none)'}: {count}")
    _print_missingness(loaded)
    if "split" in loaded.obs.columns:
        console.print("splits: " + ", ".join(f"{shown(k)}={v}" for k, v in
                                             loaded.obs["split"].value_counts().items()))


def _print_missingness(data) -> None:
    """Little's test, the MAR probe and the outcome per availability pattern, when anything
    is missing."""
    from medfuse.evaluate.missingness import diagnose_missingness

    diagnostics = diagnose_missingness(data)
    lines = diagnostics.lines()
    if not lines:
        return
    console.print("missingness:")
    for line in lines:
        console.print(f"  {shown(line)}")
    table = diagnostics.outcome_table
    if table is not None and len(table) > 1:
        console.print("outcome per availability pattern:")
        for pattern, row in table.iterrows():
            rates = ", ".join(f"{shown(str(col)[5:])} {value:.2f}" for col, value in row.items()
                              if str(col).startswith("rate:"))
            if "mean" in row:
                rates = f"mean {row['mean']:.3g}, sd {row['sd']:.3g}"
            console.print(f"  {shown(pattern)}: {int(row['subjects'])} subjects; {rates}")
