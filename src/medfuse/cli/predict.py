"""``medfuse predict``: a thin layer over :class:`medfuse.predictor.Predictor`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import console, fail, shown
from medfuse.files import csv_text, write_file


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
    unseen_batch: Annotated[str | None, typer.Option(
        "--unseen-batch", metavar="POLICY",
        help="What a harmonized model does with new subjects of a batch it was not fitted "
             "on: error, reference (leave them unadjusted, as the reference batch) or "
             "fit-new (estimate their batch from their own subjects). The batch comes from "
             "the new subjects' obs (a study file's batch, or an obs file in the folder).")
    ] = None,
    alpha: Annotated[float | None, typer.Option(
        "--alpha", metavar="ALPHA",
        help="Add conformal prediction sets at miscoverage ALPHA in (0, 1) (0.1: sets hold "
             "the true class for 90% of subjects): columns in_set_<class>, set_size and "
             "set_category. Needs a model saved from a study with a conformal: section.")
    ] = None,
    abstain: Annotated[bool, typer.Option(
        "--abstain", help="Add a column abstain, True where the prediction set is not a "
                          "single class (at --alpha, or the model's own alpha).")] = False,
    follow_links: Annotated[bool, typer.Option(
        "--follow-links", help="Read files of the new subjects' folder that are links to "
                               "places outside it (refused by default).")] = False,
    raw_csv: Annotated[bool, typer.Option(
        "--raw-csv", help="Write text cells exactly as they are; by default a cell starting "
                          "with =, +, - or @ gets a leading ' so that a spreadsheet shows it "
                          "instead of running it.")] = False,
) -> None:
    """Predict new subjects with a saved model; each may have any subset of the modalities."""
    from medfuse.data import DataValidationError
    from medfuse.intake import manifest_layout, same_layout, set_aside_columns
    from medfuse.persist import UntrustedModelError, check_trust, read_manifest

    try:
        # new subjects are read (and bad input refused) as the manifest describes the model,
        # before the model itself is loaded; the loaded model must then match the manifest
        check_trust(tuple(trust or ()))
        manifest = read_manifest(model_dir)
        layout = manifest_layout(manifest)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = read_subjects(layout, set_aside_columns(manifest), data, follow_links)
        from medfuse.predictor import Predictor

        predictor = Predictor.load(model_dir, trust=tuple(trust or ()))
        if not same_layout(layout, predictor.model):
            raise UntrustedModelError(f"{model_dir}/manifest.json does not describe the model "
                                      "in estimator.skops (modalities, kinds or features "
                                      "differ); save the model again.")
        if unseen_batch is not None:
            try:
                n = predictor.set_unseen_batch(unseen_batch)
            except ValueError as err:
                fail(f"--unseen-batch: {err}")
            console.print(f"unseen batches: {unseen_batch} (set on {n} harmonizer"
                          f"{'s' if n != 1 else ''})" if n else
                          "[yellow]warning:[/yellow] --unseen-batch has no effect: the model "
                          "harmonizes nothing")
        if alpha is not None or abstain:
            try:
                predictor.check_sets(alpha)
            except ValueError as err:
                fail(f"--alpha: {err}" if alpha is not None else f"--abstain: {err}")
        with warnings.catch_warnings(record=True) as more:
            warnings.simplefilter("always")
            table = predictor.predict(new, alpha=alpha, abstain=abstain)
        for w in [*caught, *more]:
            console.print(f"[yellow]warning:[/yellow] {shown(w.message)}")
        if explain:
            table = predictor.explain(new, table)
    except (DataValidationError, FileNotFoundError, UntrustedModelError, ValueError) as err:
        fail(_unseen_message(err, predictor) if type(err).__name__ == "UnseenBatchError"
             else err)
    except (OSError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as err:
        fail(f"{model_dir} or {data} could not be used ({type(err).__name__}: {err}).")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file(out, csv_text(table, raw_csv))
    except (OSError, ValueError) as err:
        fail(f"--out {out}: {err}")
    n_none = int(table.iloc[:, 0].isna().sum())
    console.print(f"wrote {len(table) - n_none} predictions to {out}"
                  + (f"; {n_none} subject(s) have none of the model's modalities"
                     if n_none else ""))


def read_subjects(layout, set_aside: dict, path: Path, follow_links: bool = False):
    """New subjects: a study file's (read as the study reads its cohorts), else a folder or
    file read for the model's layout (:func:`medfuse.intake.read_new_subjects`)."""
    if path.suffix in (".yaml", ".yml"):
        from medfuse.config import read_study_data

        return read_study_data(path)
    from medfuse.intake import read_new_subjects

    return read_new_subjects(path, layout, set_aside, follow_links)


def _unseen_message(err, predictor) -> str:
    """The unseen-batch error of a prediction, with this command's remedies."""
    with_reference = all(h.ref_batch is not None for h in predictor.harmonizers)
    remedy = ("Choose --unseen-batch fit-new (estimate it from the new batch's own subjects) "
              + ("or --unseen-batch reference (leave it unadjusted, as the reference batch)."
                 if with_reference else
                 "; --unseen-batch reference needs a model harmonized with a reference batch "
                 "(harmonize.reference_batch)."))
    return (f"Batch(es) {err.batches} of the new subjects had no subject among those the "
            f"model's {err.method} was fitted on (seen: {err.seen}), so their batch effect is "
            f"unknown. {remedy}")
