"""The study's shared splits and the checks of its design before anything is fitted:
batch-outcome confounding, reference and unseen batches, learners that name modalities the
data does not have."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.study.chains import _harmonize_spec


def study_splits(train, *, folds: int, repeats: int, seed: int, scheme: str,
                 task: str = "classification") -> list:
    """The CV splits every strategy is scored on, as the runner would make them.

    Parameters
    ----------
    train : MultiModalData
        The training subjects.
    folds, repeats, seed : int
        k of k-fold, its repetitions and the seed of the first.
    scheme : {"stratified", "grouped", "leave-site-out"}
        Grouped by the ``group`` obs column, or one fold per value of ``batch``.
    task : {"classification", "survival"}
        Survival splits are stratified on the event indicator.

    Returns
    -------
    list of Split
    """
    from medfuse.evaluate.splits import make_splits

    obs = train.obs
    return make_splits(_target(train, task), folds=folds, repeats=repeats, seed=seed,
                       scheme=scheme,
                       groups=obs["group"].to_numpy() if scheme == "grouped" else None,
                       sites=obs["batch"].to_numpy() if scheme == "leave-site-out" else None)


def _target(train, task: str) -> np.ndarray:
    if task == "survival":
        from medfuse.fusion.survival import survival_target

        return survival_target(train)["event"].astype(int)
    return np.asarray(train.y)


def check_design(train, splits, *, batch: str | None, harmonize=None,
                 task: str = "classification") -> list[str]:
    """Check the batch against the splits before anything is fitted.

    Parameters
    ----------
    train : MultiModalData
        The training subjects.
    splits : list of Split
        The shared splits (:func:`study_splits`).
    batch : str or None
        The obs column of the batch; None checks nothing.
    harmonize : HarmonizeSpec or dict, optional
        The study's ``harmonize:`` section.
    task : {"classification", "survival"}
        The outcome is the event indicator for survival.

    Returns
    -------
    list of str
        Warnings to show (a moderate or strong batch-outcome association).

    Raises
    ------
    ConfoundingError
        Batch and outcome are perfectly confounded in some fold's training subjects and
        harmonization without covariates is requested.
    StudyError
        With harmonization under the ``error`` policy: a batch has held-out subjects in a
        fold whose training part has none of it.
    """
    from medfuse.config import StudyError
    from medfuse.evaluate.confounding import (
        ConfoundingError,
        batch_outcome_association,
        confounding_verdict,
    )
    from medfuse.evaluate.splits import missing_from_training

    if batch is None or batch not in train.obs.columns:
        return []
    spec = _harmonize_spec(harmonize)
    labels = train.obs[batch].to_numpy()
    table = batch_outcome_association(labels, _target(train, task), splits)
    outcome = train.outcome or "event"
    level, message = confounding_verdict(
        table, batch, outcome, harmonizer=spec.method if spec else None,
        covariates=bool(spec and spec.covariates))
    if level == "error":
        raise ConfoundingError(message)
    out = [message] if level == "warning" else []
    if spec is not None and spec.reference_batch is not None:
        _check_reference(labels, splits, spec.reference_batch)
    if spec is not None and spec.unseen_batch == "error":
        missing = missing_from_training(labels, splits)
        if missing:
            label, where = next(iter(missing.items()))
            size = int((labels == label).sum())
            others = (f" and {len(where) - 1} other fold(s)" if len(where) > 1 else "")
            also = (f" (also batch(es) {', '.join(map(repr, list(missing)[1:]))})"
                    if len(missing) > 1 else "")
            raise StudyError(
                f"harmonize: batch {label!r} ({size} subject{'s' if size != 1 else ''}) has "
                f"no subject in the training part of fold {where[0]}{others}{also}, so the "
                f"{spec.method} fitted there cannot adjust its test subjects. Merge the batch "
                "into another one, set harmonize.unseen_batch to 'fit-new' (estimate it from "
                "its own subjects) or 'reference' (leave it unadjusted; needs "
                "harmonize.reference_batch), or evaluate unseen sites on purpose with "
                "cv.scheme: leave-site-out and one of those policies.")
    return out


def _check_reference(labels: np.ndarray, splits, reference) -> None:
    """Refuse a reference batch that is not a batch, or is absent from a fold's training
    part (the fold's harmonizer could not map the others onto it)."""
    from medfuse.config import StudyError

    text = np.asarray([str(v) for v in labels], dtype=object)
    batches = sorted({str(v) for v in labels if not pd.isna(v)})
    if str(reference) not in batches:
        raise StudyError(f"harmonize.reference_batch: {reference!r} is not a batch of the data "
                         f"(batches: {', '.join(batches)}).")
    lacking = [s.label for s in splits if str(reference) not in set(text[s.train])]
    if lacking:
        raise StudyError(
            f"harmonize.reference_batch: {reference!r} has no subject in the training part of "
            f"fold(s) {', '.join(lacking)} (leave-site-out holds it out once), so those folds "
            "cannot map the other batches onto it. Harmonize without a reference batch, or "
            "use a scheme that keeps it in every training part.")


def check_learners(estimators, modalities) -> None:
    """Refuse, before any fit, a strategy whose ``learner`` cannot be used with the study's
    modalities (a name that is not a learner, or a per-modality dict naming modalities the
    data does not have), naming the strategy. Every kind's feature block is numeric, so every
    learner can use every kind; what can be wrong is the name or the modality.

    Parameters
    ----------
    estimators : mapping of str to estimator
        The study's strategies by name (wrappers are looked through).
    modalities : sequence of str
        The training data's modality names.

    Raises
    ------
    DataValidationError
        ``params.<strategy>: <what is wrong>``.
    """
    from medfuse.data.multimodal import DataValidationError
    from medfuse.fusion.learners import check_learner
    from medfuse.fusion.wrappers import StrategyWrapper

    for name, estimator in estimators.items():
        params = estimator.get_params(deep=False)
        while isinstance(estimator, StrategyWrapper) and params.get("estimator") is not None:
            estimator = params["estimator"]      # unfitted: look through the wrappers
            params = estimator.get_params(deep=False)
        if "learner" not in params:
            continue
        per_modality = isinstance(params["learner"], dict)
        try:
            check_learner(params["learner"], list(modalities), per_modality=per_modality,
                          base_estimator=params.get("base_estimator"))
        except ValueError as err:
            raise DataValidationError(f"params.{name}: {err}") from None
