"""The MAR probe: can a modality's availability be predicted from what is observed?

For each modality that some subjects lack, a logistic regression (L2, C = 1; missing cells
filled with the training median plus a missing-indicator column; standardised) predicts
"has the modality" from the subject metadata (``obs`` columns other than the outcome, the
time/event pair and the ``split`` column) and the principal component scores of the other
tabular modalities. Its stratified cross-validated ROC AUC reads:

- below :data:`WEAK` (0.6): availability is hardly predictable from the observed data,
  consistent with missing completely at random;
- :data:`WEAK` to :data:`STRONG` (0.7): weakly predictable;
- :data:`STRONG` and above (acceptable discrimination in Hosmer and Lemeshow's scale):
  availability depends on observed data (at least MAR), so complete-case analyses and mean
  imputation can be biased; impute from the predictors named, or model them.

A probe near 0.5 cannot rule out missingness that depends on the missing values themselves
(MNAR); :mod:`medfuse.evaluate.missingness.sensitivity` asks how far conclusions move then.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medfuse.data import MultiModalData
from medfuse.evaluate.missingness.summaries import modality_scores, numeric_table

#: cross-validated AUC from which availability counts as weakly predictable
WEAK = 0.6
#: cross-validated AUC from which availability counts as predictable (MAR at least)
STRONG = 0.7
#: obs columns that describe the study design, not the subject
DESIGN_COLUMNS = ("split", "time", "event")


def reading(auc: float) -> str:
    """Plain-language reading of a probe's cross-validated AUC."""
    if np.isnan(auc):
        return "too few subjects with and without it to probe"
    if auc >= STRONG:
        return ("predictable from what is observed: missing at random at best (MAR); "
                "complete-case results and mean imputation may be biased")
    if auc >= WEAK:
        return "weakly predictable from what is observed"
    return "not predictable from what is observed (consistent with MCAR)"


def _predictors(data: MultiModalData, target: str, scores: pd.DataFrame) -> pd.DataFrame:
    """Subject metadata and the other tabular modalities' scores (``scores``: every
    modality's, from :func:`modality_scores`), joined on subject ID."""
    excluded = set(DESIGN_COLUMNS) | ({data.outcome} if data.outcome else set())
    obs = data.obs.drop(columns=[c for c in data.obs.columns if c in excluded])
    parts = [numeric_table(obs, "clinical")] if obs.shape[1] else []
    parts.append(scores.loc[:, ~scores.columns.str.startswith(f"{target}:")])
    frame = pd.concat(parts, axis=1).reindex(data.subjects)
    return frame.loc[:, frame.notna().sum() >= 2]


def mar_probe(data: MultiModalData, folds: int = 5, n_components: int = 2,
              random_state: int | None = 0, modalities: Sequence[str] | None = None
              ) -> pd.DataFrame:
    """Cross-validated AUC of predicting each modality's availability from observed data.

    Parameters
    ----------
    data : MultiModalData
        The cohort; its metadata and tabular modalities are the predictors.
    folds : int
        Stratified folds, fewer when fewer subjects lack (or have) the modality; at least 2.
    n_components : int
        Principal component scores per other tabular modality used as predictors.
    random_state : int, optional
        Seed of the fold assignment.
    modalities : sequence of str, optional
        Modalities to probe; by default every modality that some subjects lack.

    Returns
    -------
    DataFrame indexed by modality with columns ``missing`` (subjects without it),
    ``auc`` and ``auc_sd`` (over folds), ``top_predictors`` (the three largest standardised
    coefficients of the model fitted on everyone, signed: positive makes the modality more
    likely present) and ``reading``.
    """
    available = data.available
    names = list(modalities) if modalities is not None else [
        m for m in data.modality_names if not available[m].all()]
    scores = modality_scores(data, n_components)[0]
    rows = []
    for name in names:
        if name not in data.modality_names:
            raise ValueError(f"No modality {name!r} to probe; the data have "
                             f"{data.modality_names}.")
        target = available[name].to_numpy()
        x = _predictors(data, name, scores)
        minority = int(min(target.sum(), (~target).sum()))
        k = min(folds, minority)
        if k < 2 or x.shape[1] == 0:
            rows.append({"modality": name, "missing": int((~target).sum()), "auc": np.nan,
                         "auc_sd": np.nan, "top_predictors": "", "reading": reading(np.nan)})
            continue
        values = x.to_numpy(dtype=float)
        splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
        aucs = []
        for train, test in splitter.split(values, target):
            model = _model().fit(values[train], target[train])
            aucs.append(roc_auc_score(target[test], model.predict_proba(values[test])[:, 1]))
        model = _model().fit(values, target)
        coef = model[-1].coef_[0][:x.shape[1]]
        order = np.argsort(-np.abs(coef))[:3]
        top = ", ".join(f"{x.columns[i]} ({coef[i]:+.2f})" for i in order)
        auc = float(np.mean(aucs))
        rows.append({"modality": name, "missing": int((~target).sum()), "auc": auc,
                     "auc_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0,
                     "top_predictors": top, "reading": reading(auc)})
    return pd.DataFrame(rows, columns=["modality", "missing", "auc", "auc_sd",
                                       "top_predictors", "reading"]).set_index("modality")


def _model():
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                       keep_empty_features=False),
                         StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
