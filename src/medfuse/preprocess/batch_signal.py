"""How much batch signal a block carries: can the batch be predicted from the features,
before and after harmonization?"""

from __future__ import annotations

import numpy as np
import pandas as pd


def residual_batch_signal(before, after, batch, *, covariates=None, cv: int = 5,
                          random_state: int | None = 0) -> pd.Series:
    """Cross-validated AUC of predicting batch from the features, before and after harmonizing.

    A logistic regression (median-imputed NaN, standardised features) is evaluated by
    stratified ``cv``-fold cross-validation; with more than two batches the AUC is the macro
    one-vs-rest average. ~0.5 means no batch signal is left.

    Parameters
    ----------
    before : array-like (n_subjects, n_features)
        Features before harmonization.
    after : array-like (n_subjects, n_features) or transformer
        Either the harmonized features, or an (unfitted) harmonizer such as :class:`ComBat`,
        which is then fitted on each training fold and applied to its held-out fold. Prefer
        the harmonizer: data harmonized on all subjects at once have batch means forced equal
        in-sample, which makes held-out folds anti-predictable (AUC well below 0.5).
    batch : array-like of shape (n_subjects,)
        The batch (site) of every subject.
    covariates : DataFrame, optional
        Passed to the harmonizer's fit/transform.
    cv : int
        Folds of the stratified cross-validation.
    random_state : int, optional
        Seed of the folds.

    Returns
    -------
    Series with entries ``before`` and ``after``.
    """
    from sklearn.base import clone
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, StandardScaler

    batch = np.asarray(batch, dtype=object)
    labels = LabelEncoder().fit_transform(batch.astype(str))
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=random_state).split(
        np.zeros(len(labels)), labels))
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(max_iter=2000))
    X_before = np.asarray(before, dtype=float)
    harmonizer = after if hasattr(after, "fit") and hasattr(after, "transform") else None
    result = {}
    for name in ("before", "after"):
        proba = np.zeros((len(labels), labels.max() + 1))
        for train, test in folds:
            if name == "before" or harmonizer is None:
                X = X_before if name == "before" else np.asarray(after, dtype=float)
                X_tr, X_te = X[train], X[test]
            else:
                cov_tr = cov_te = None
                if covariates is not None:
                    cov_tr, cov_te = covariates.iloc[train], covariates.iloc[test]
                fitted = clone(harmonizer).fit(X_before[train], batch=batch[train],
                                               covariates=cov_tr)
                X_tr = fitted.transform(X_before[train], batch=batch[train], covariates=cov_tr)
                X_te = fitted.transform(X_before[test], batch=batch[test], covariates=cov_te)
            proba[test] = clone(model).fit(X_tr, labels[train]).predict_proba(X_te)
        if proba.shape[1] == 2:
            result[name] = roc_auc_score(labels, proba[:, 1])
        else:
            result[name] = roc_auc_score(labels, proba, multi_class="ovr", average="macro")
    return pd.Series(result, name="batch_auc")
