"""``medfuse predict``: a thin layer over :class:`medfuse.predictor.Predictor`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail


def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by benchmark.")],
    data: Annotated[Path, typer.Argument(help="A study YAML file, a folder of modality files "
                                              "(first column = subject ID), a MOGONET folder "
                                              "or a .h5mu file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of predictions.")] = Path(
        "predictions.csv"),
    trust: Annotated[list[str] | None, typer.Option(
        help="Also load this class (or function) of your own, given by its exact fully "
             "qualified name, e.g. 'mylab.models.MyStrategy'; repeatable. Prefixes are "
             "refused, and a trust list inside the model folder is never read.")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Add each subject's modality attributions: Shapley values of the "
                          "explained class probability (columns shapley_*).")] = False,
) -> None:
    """Predict new subjects with a saved model; each may have any subset of the modalities."""
    from medfuse.data import DataValidationError
    from medfuse.persist import UntrustedModelError
    from medfuse.predictor import Predictor

    try:
        predictor = Predictor.load(model_dir, trust=tuple(trust or ()))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = predictor.read(data)
        for w in caught:
            console.print(f"[yellow]warning:[/yellow] {w.message}")
        table = predictor.predict(new)
        if explain:
            table = predictor.explain(new, table)
    except (DataValidationError, FileNotFoundError, UntrustedModelError, ValueError) as err:
        fail(err)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out)
    n_none = int(table.iloc[:, 0].isna().sum())
    console.print(f"wrote {len(table) - n_none} predictions to {out}"
                  + (f"; {n_none} subject(s) have none of the model's modalities"
                     if n_none else ""))
