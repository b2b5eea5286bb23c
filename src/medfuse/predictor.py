"""The prediction core: a saved model loaded once, aligned to new subjects by ID, predicting
and explaining from any subset of modalities.

It imports no command-line or display library, so the CLI and the prediction service share
it; a :class:`Predictor` is safe to call from several threads at once (prediction changes no
shared state: scikit-learn estimators are read-only once fitted, and the neural strategies
use thread-local inference mode without touching process-wide torch settings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import is_survival


class Predictor:
    """A fitted strategy ready to predict new subjects.

    Parameters
    ----------
    model : FusionClassifier or FusionSurvival
        A fitted medfuse strategy.
    manifest : dict, optional
        The saved model's manifest (strategy name, versions, ...).

    Attributes
    ----------
    model : FusionClassifier or FusionSurvival
        The strategy.
    manifest : dict
        The manifest (empty when not loaded from a folder).
    modalities : list of str
        The training modalities.
    kinds : dict of str to str
        Modality -> kind name.
    """

    def __init__(self, model, manifest: dict | None = None) -> None:
        self.model = model
        self.manifest = dict(manifest or {})
        self.modalities = list(model.modalities_)
        self.kinds = dict(model.modality_kinds_)

    @property
    def harmonizers(self) -> list:
        """The fitted batch harmonizers (ComBat, ComBat-seq) inside the model (found once
        per model: walking a large model costs a millisecond on every prediction)."""
        found = self.__dict__.get("_harmonizers")
        if found is None or found[0] is not self.model:
            found = (self.model, fitted_harmonizers(self.model))
            self._harmonizers = found
        return list(found[1])

    def set_unseen_batch(self, policy: str) -> int:
        """Set what every harmonizer of the model does with new subjects of a batch it was
        not fitted on (see :func:`set_unseen_batch`); returns how many it set. Call it
        before predicting from several threads."""
        return set_unseen_batch(self.model, policy)

    @classmethod
    def load(cls, path: str | Path, trust=()) -> Predictor:
        """Load a model folder written by :func:`medfuse.persist.save_model` (see there for
        what is trusted)."""
        from medfuse.persist import load_model, read_manifest

        return cls(load_model(path, trust=tuple(trust)), read_manifest(path))

    @property
    def task(self) -> str:
        """``"survival"`` or ``"classification"``."""
        return "survival" if is_survival(self.model) else "classification"

    @property
    def strategy(self) -> str:
        """The strategy name recorded when the model was saved."""
        return str(self.manifest.get("strategy", type(self.model).__name__))

    # -------------------------------------------------------------- reading new subjects
    @property
    def set_aside_columns(self) -> dict[str, dict[str, str]]:
        """Modality -> {column: role}: the columns of the training files that the study
        used as outcome, batch, groups or covariate rather than as features (recorded in the
        manifest); :meth:`read` sets them aside in new subjects' files the same way."""
        from medfuse.intake import set_aside_columns

        return set_aside_columns(self.manifest)
    def read(self, path: str | Path, follow_links: bool = False) -> MultiModalData:
        """New subjects from a folder of modality files (first column = subject ID), a
        MOGONET folder or a ``.h5mu`` file, read as the study read its own (see
        :func:`medfuse.intake.read_new_subjects`: the model's kinds, the columns the study
        set aside, every problem of the folder in one error; a file that is a link out of
        the folder is refused unless ``follow_links``). A study file is read by
        :func:`medfuse.config.read_study_data` (``medfuse predict`` does so)."""
        from medfuse.intake import read_new_subjects

        return read_new_subjects(path, self.model, self.set_aside_columns, follow_links)

    def predict(self, data: MultiModalData, alpha: float | None = None,
                abstain: bool = False) -> pd.DataFrame:
        """Predictions per subject: predicted class, class probabilities (``proba_<class>``)
        and the modalities used (those of the model the subject has); subjects with none of
        them get empty cells. A survival model gives a ``risk`` column instead (higher =
        earlier event; a relative score on the model's own scale).

        Parameters
        ----------
        data : the new subjects.
        alpha : float in (0, 1), optional
            Add conformal prediction sets at miscoverage ``alpha`` (the model must carry
            calibration scores: a strategy wrapped in
            :class:`~medfuse.fusion.conformal.ConformalClassifier`, e.g. by a study's
            ``conformal:`` section): ``in_set_<class>`` (bool), ``set_size`` and
            ``set_category`` (the Mondrian category whose scores were used, ``marginal``
            for a pattern with too few calibration subjects).
        abstain : add ``abstain``, True where the set is not a single class (the model
            declines to choose); uses the model's own ``alpha`` when none is given.
        """
        model = self.model
        if alpha is not None or abstain:
            self.check_sets(alpha)
        self.check_obs(data)
        used = self.used_mask(data)
        rows = used.any(axis=1)
        if is_survival(model):
            risk = np.full(len(data), np.nan)
            if rows.any():
                risk[rows] = model.predict(data[np.flatnonzero(rows)])
            return self._with_used(pd.DataFrame({"risk": risk}, index=data.subjects), used)
        proba = np.full((len(data), len(model.classes_)), np.nan)
        if rows.any():
            proba[rows] = model.predict_proba(data[np.flatnonzero(rows)])
        pred = pd.Series(pd.NA, index=data.subjects, dtype=object)
        pred[rows] = model.classes_[np.argmax(proba[rows], axis=1)]
        table = pd.DataFrame({"prediction": pred}, index=data.subjects)
        for k, c in enumerate(model.classes_):
            table[f"proba_{c}"] = proba[:, k]
        if alpha is not None or abstain:
            table = self._with_sets(table, data, rows, alpha, abstain)
        return self._with_used(table, used)

    def check_sets(self, alpha: float | None) -> None:
        """Refuse prediction sets the model cannot give (a survival model, a model without
        conformal calibration) or an ``alpha`` outside (0, 1), saying why."""
        from medfuse.fusion.conformal import check_alpha

        if is_survival(self.model):
            raise ValueError("This is a survival model: it predicts a risk, not class "
                             "probabilities, so it has no prediction sets.")
        if not hasattr(self.model, "set_table"):
            raise ValueError(
                f"The model ({self.strategy}) carries no conformal calibration, so it gives "
                "no prediction sets. Save it from a study with a conformal: section (or wrap "
                "the strategy in medfuse.fusion.conformal.ConformalClassifier).")
        if alpha is not None:
            check_alpha(alpha)

    def _with_sets(self, table: pd.DataFrame, data: MultiModalData, rows: np.ndarray,
                   alpha: float | None, abstain: bool) -> pd.DataFrame:
        classes = self.model.classes_
        sets = pd.DataFrame(index=data.subjects, columns=[f"in_set_{c}" for c in classes]
                            + ["set_size", "set_category"], dtype=object)
        if rows.any():
            got = self.model.set_table(data[np.flatnonzero(rows)], alpha=alpha)
            sets.loc[got.index, got.columns.drop("category")] = got.drop(columns="category")
            sets.loc[got.index, "set_category"] = got["category"]
        for c in classes:
            table[f"in_set_{c}"] = sets[f"in_set_{c}"].astype("boolean")
        table["set_size"] = sets["set_size"].astype("Int64")
        table["set_category"] = sets["set_category"]
        if abstain:
            table["abstain"] = (table["set_size"] != 1).astype("boolean")
            table.loc[~rows, "abstain"] = pd.NA
        return table

    def explain(self, data: MultiModalData, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """``table`` (default: :meth:`predict`) with per-subject modality Shapley values:
        ``explained_class`` (binary: the second class; multiclass: the predicted one;
        survival: ``risk``), ``shapley_base`` (training class frequency; survival: the mean
        risk of the explained subjects) and ``shapley_<modality>``, which add up to the
        probability of ``explained_class`` (or the risk); empty for subjects without a
        prediction."""
        from medfuse.explain import modality_shapley

        table = self.predict(data) if table is None else table
        column = "risk" if "risk" in table.columns else "prediction"
        rows = np.flatnonzero(table[column].notna().to_numpy())
        if not len(rows):
            return table
        return table.join(modality_shapley(self.model, data[rows]).per_prediction())

    def check_obs(self, data: MultiModalData) -> None:
        """Refuse new subjects without the obs columns the model's harmonizers read (the
        batch, protected covariates), saying where to give them."""
        for h in self.harmonizers:
            batch = getattr(h, "batch_col", "batch")
            if batch not in data.obs.columns:
                raise ValueError(
                    f"The model harmonizes its input by batch (obs column {batch!r}), which the "
                    "new subjects lack: give it in an obs file (first column = subject ID) "
                    "next to the modality files, or predict from a study file with batch: "
                    f"{{file: ..., column: {batch}}}.")
            covariates = [c for c in (getattr(h, "covariate_cols", None) or ())
                          if c not in data.obs.columns]
            if covariates:
                raise ValueError(
                    f"The model's harmonizer protects covariate(s) {covariates} (obs columns), "
                    "which the new subjects lack: give them in an obs file next to the "
                    "modality files, or predict from a study file with harmonize.covariates.")

    def used_mask(self, data: MultiModalData) -> np.ndarray:
        """(n_subjects, n_model_modalities) bool: the model's modalities each subject has."""
        used = np.zeros((len(data), len(self.modalities)), dtype=bool)
        avail = data.available
        for j, m in enumerate(self.modalities):
            if m in avail.columns:
                used[:, j] = avail[m].to_numpy()
        return used

    def _with_used(self, table: pd.DataFrame, used: np.ndarray) -> pd.DataFrame:
        table["modalities_used"] = ["+".join(m for m, u in zip(self.modalities, r, strict=True)
                                             if u) for r in used]
        table.index.name = "subject"
        return table


def fitted_parts(obj, types, fitted_attribute: str) -> list:
    """Every fitted instance of ``types`` reachable from ``obj``: through the attributes of
    scikit-learn-style estimators (fitted strategies, chains, pipelines), dicts, lists and
    tuples; each object once.

    Parameters
    ----------
    obj : object
        A fitted model, or any part of one.
    types : type or tuple of types
        The classes to find.
    fitted_attribute : str
        An attribute that only a fitted instance has (e.g. ``"batches_"``).

    Returns
    -------
    list
        The instances found, in the order they are reached.
    """
    from medfuse.persist.modules import iter_parts

    return [part for _, part in iter_parts(obj)
            if isinstance(part, types) and hasattr(part, fitted_attribute)]


def fitted_harmonizers(obj) -> list:
    """Every fitted ComBat / ComBat-seq reachable from ``obj`` (see :func:`fitted_parts`)."""
    from medfuse.preprocess import ComBat, ComBatSeq

    return fitted_parts(obj, (ComBat, ComBatSeq), "batches_")


def set_unseen_batch(model, policy: str) -> int:
    """Set ``unseen_batch`` on every fitted harmonizer of ``model``; returns how many.

    Parameters
    ----------
    model : a fitted strategy.
    policy : ``"error"`` (refuse new subjects of a batch the harmonizer was not fitted on),
        ``"reference"`` (leave them unadjusted, as the reference batch; needs a model
        harmonized with a reference batch) or ``"fit-new"`` (estimate their batch from
        their own subjects).
    """
    from medfuse.preprocess._design import UNSEEN_BATCH_POLICIES

    if policy not in UNSEEN_BATCH_POLICIES:
        raise ValueError(f"{policy!r} is not a policy; choose "
                         f"{', '.join(UNSEEN_BATCH_POLICIES[:-1])} or "
                         f"{UNSEEN_BATCH_POLICIES[-1]}")
    found = fitted_harmonizers(model)
    if policy == "reference" and any(h.ref_batch is None for h in found):
        raise ValueError("'reference' leaves an unseen batch unadjusted, as the reference "
                         "batch, but the model was harmonized without one "
                         "(harmonize.reference_batch); use fit-new")
    for h in found:
        h.set_params(unseen_batch=policy)
    return len(found)
def predict_table(model, data: MultiModalData) -> pd.DataFrame:
    """:meth:`Predictor.predict` for a fitted model.

    Parameters
    ----------
    model : FusionClassifier or FusionSurvival
        A fitted strategy.
    data : MultiModalData
        The subjects to predict.

    Returns
    -------
    DataFrame
        One row per subject (see :meth:`Predictor.predict`).
    """
    return Predictor(model).predict(data)


def explain_table(table: pd.DataFrame, model, data: MultiModalData) -> pd.DataFrame:
    """:meth:`Predictor.explain` for a fitted model and a table from :func:`predict_table`.

    Parameters
    ----------
    table : DataFrame
        Predictions from :func:`predict_table`.
    model : FusionClassifier or FusionSurvival
        The fitted strategy that made them.
    data : MultiModalData
        The same subjects.

    Returns
    -------
    DataFrame
        ``table`` with the modality Shapley columns (see :meth:`Predictor.explain`).
    """
    return Predictor(model).explain(data, table)
