"""Shared machinery of the classical strategies: per-modality preprocessing held inside the
estimator, the default regularised logistic regression, and out-of-fold probabilities.

Every classical strategy fits its preprocessing on the training subjects that have each
modality, so cross-validation refits it inside every fold.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from medfuse.data.modality import ModalityKind
from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import class_weights, present_weights
from medfuse.fusion.base import FusionClassifier
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)

#: Inverse regularisation strengths searched by the default logistic regression.
DEFAULT_CS = tuple(np.logspace(-4, 2, 13))


def neg_log_loss(estimator, X, y) -> float:
    """Mean log-likelihood of the true classes (sklearn's ``neg_log_loss`` without its
    input validation, which dominates the cost of the inner CV on small data)."""
    z = X @ np.atleast_2d(estimator.coef_).T + np.atleast_1d(estimator.intercept_)
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(z)), z[:, 0]])
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    idx = np.searchsorted(estimator.classes_, y)
    return float(np.mean(np.maximum(logp[np.arange(len(y)), idx], np.log(1e-15))))


def default_classifier(random_state=None, cv: int = 5, class_weight=None):
    """L2-penalised logistic regression (L-BFGS) whose strength is chosen by ``cv``-fold
    inner cross-validation (log loss) over :data:`DEFAULT_CS` on the data it is fitted on.

    ``class_weight``: None, ``"balanced"`` or dict class index -> weight (see
    :func:`class_weights`).
    """
    params = dict(Cs=list(DEFAULT_CS), cv=StratifiedKFold(cv, shuffle=True,
                                                           random_state=random_state),
                  scoring=neg_log_loss, max_iter=2000, random_state=random_state,
                  solver="lbfgs", class_weight=class_weight)
    accepted = inspect.signature(LogisticRegressionCV.__init__).parameters
    if "l1_ratios" in accepted:
        params["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in accepted:
        params["use_legacy_attributes"] = False
    return LogisticRegressionCV(**params)


def best_cv_score(search) -> float:
    """Mean inner-CV score at the best regularisation of a fitted ``LogisticRegressionCV``
    (legacy or new attribute layout)."""
    scores = search.scores_
    if isinstance(scores, dict):
        scores = next(iter(scores.values()))
    scores = np.asarray(scores, dtype=float)
    return float(scores.mean(axis=0).max())


def resolve_estimator(estimator, modality: str | None, random_state,
                      class_weight=None, y: np.ndarray | None = None) -> object:
    """An unfitted clone of the base estimator: ``estimator`` is None (default), one
    estimator, or a dict modality -> estimator (modalities left out get the default, which
    takes ``class_weight``, a dict class index -> weight, restricted to the classes of the
    target ``y`` it will be fitted on; an estimator of the user's keeps its own)."""
    if isinstance(estimator, dict):
        estimator = estimator.get(modality)
    if estimator is None:
        return default_classifier(random_state,
                                  class_weight=present_weights(class_weight, y))
    est = clone(estimator)
    if random_state is not None and "random_state" in est.get_params(deep=False):
        if est.get_params(deep=False)["random_state"] is None:
            est.set_params(random_state=random_state)
    return est


def predict_full(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all ``n_classes`` columns (a model fitted on a subset
    of the classes leaves the others at 0)."""
    proba = model.predict_proba(X)
    classes = np.asarray(model.classes_, dtype=int)
    out = np.zeros((len(X), n_classes))
    out[:, classes] = proba
    return out


def modality_series(values, modalities) -> pd.Series:
    """A pandas Series indexed by modality (fitted state is stored as numpy arrays, which
    every serialiser handles; the Series is built on access)."""
    return pd.Series(np.asarray(values, dtype=float), index=pd.Index(list(modalities),
                                                                       name="modality"))


def class_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Training class frequencies (n_classes,)."""
    return np.bincount(y, minlength=n_classes) / len(y)


class KmerSpectrum(TransformerMixin, BaseEstimator):
    """Feature map of the k-mer spectrum kernel: counts of every length-``k`` substring of
    the one string column of a ``sequence`` block.

    Unseen k-mers are dropped at transform (they add nothing to an inner product with the
    training sequences). Rows are L2-normalised, so the linear kernel on the output is the
    cosine-normalised spectrum kernel (Leslie et al., 2002).

    Parameters
    ----------
    k : int
        Length of the substrings.
    """

    def __init__(self, k: int = 3) -> None:
        self.k = k

    def _kmers(self, s: str) -> dict[str, int]:
        out: dict[str, int] = {}
        s = str(s).upper()
        for i in range(len(s) - self.k + 1):
            w = s[i:i + self.k]
            out[w] = out.get(w, 0) + 1
        return out

    def fit(self, X: pd.DataFrame, y=None):
        vocab: set[str] = set()
        for s in _strings(X):
            vocab.update(self._kmers(s))
        self.vocabulary_ = {w: j for j, w in enumerate(sorted(vocab))}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        strings = _strings(X)
        out = np.zeros((len(strings), len(self.vocabulary_)))
        for i, s in enumerate(strings):
            for w, c in self._kmers(s).items():
                j = self.vocabulary_.get(w)
                if j is not None:
                    out[i, j] = c
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.where(norm > 0, norm, 1.0)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index, columns=list(self.vocabulary_))


def _strings(X) -> list[str]:
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else np.asarray(X).reshape(len(X))
    return [str(v) for v in values]


class Flatten(TransformerMixin, BaseEstimator):
    """Flatten an array block (subjects first) to subjects x values and z-score each value."""

    def fit(self, X, y=None):
        self.scaler_ = StandardScaler().fit(np.asarray(X, dtype=float).reshape(len(X), -1))
        return self

    def transform(self, X) -> np.ndarray:
        return self.scaler_.transform(np.asarray(X, dtype=float).reshape(len(X), -1))


def block_preprocessor(preprocessors, name: str, spec):
    """The unfitted preprocessor of one modality (see :class:`BlockFusion`)."""
    t = resolve_preprocessor(preprocessors, name, spec)
    if t is None and spec.kind == ModalityKind.SEQUENCE:
        return KmerSpectrum(3)
    if t is None and spec.kind.is_array:
        return Flatten()
    return t


class BlockPreprocessing:
    """Mixin of per-modality preprocessing fitted in ``fit`` (classifiers and survival
    models alike; the estimator needs a ``preprocessors`` parameter).

    Subclasses call :meth:`_fit_blocks` at the start of ``_fit`` and :meth:`_transform_blocks`
    in ``_predict_proba``; both return dict modality -> float matrix over ALL subjects of
    the data, with NaN rows for subjects that lack the modality.

    Preprocessing per modality: ``medfuse.preprocess.resolve_preprocessor(preprocessors,
    name, spec)`` (z-score for continuous, log-CPM + z-score for counts, ClinicalEncoder for
    clinical); sequence blocks with no preprocessor get their k-mer spectrum (k=3); array
    blocks (image, time series) with no preprocessor are flattened and z-scored.
    """

    def _fit_blocks(self, data: MultiModalData, names=None) -> dict[str, np.ndarray]:
        """Fit the preprocessing of each modality (``names``: default all) on the subjects
        that have it; returns the transformed blocks over all subjects (NaN rows where
        missing)."""
        self.preprocessors_ = {}
        self.n_block_features_ = {}
        out = {}
        avail = data.available
        for m in (data.modality_names if names is None else names):
            t = block_preprocessor(self.preprocessors, m, data.modalities[m])
            rows = avail[m].to_numpy()
            z = as_matrix(fit_transform_block(t, data.block(m), obs=data.obs.loc[rows]))
            self.preprocessors_[m] = t
            self.n_block_features_[m] = int(z.shape[1])
            out[m] = _spread(z, rows)
        return out

    def _transform_blocks(self, data: MultiModalData) -> dict[str, np.ndarray]:
        """Apply the fitted preprocessing (see :meth:`_fit_blocks`) to aligned data."""
        out = {}
        avail = data.available
        for m, t in self.preprocessors_.items():
            rows = avail[m].to_numpy()
            width = self.n_block_features_[m]
            z = (as_matrix(transform_block(t, data.block(m), obs=data.obs.loc[rows]))
                 if rows.any() else np.empty((0, width)))
            out[m] = _spread(z, rows, width)
        return out


class BlockFusion(BlockPreprocessing, FusionClassifier):
    """Base of the classical classification strategies (see :class:`BlockPreprocessing`)."""

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-class weights (K,) from the ``class_weight`` parameter (see
        :func:`class_weights`); ``y`` are the training class indices."""
        return class_weights(self.class_weight, np.asarray(self.classes_), y)


def _spread(z: np.ndarray, rows: np.ndarray, width: int | None = None) -> np.ndarray:
    """Place the rows of the subjects that have a modality into an all-subject matrix."""
    full = np.full((len(rows), z.shape[1] if width is None else width), np.nan)
    full[rows] = z
    return full


def oof_probabilities(data: MultiModalData, y: np.ndarray, n_classes: int, preprocessors,
                      estimator, cv: int, random_state,
                      class_weight=None) -> dict[str, np.ndarray]:
    """Out-of-fold class probabilities of one model per modality.

    For each modality, the subjects that have it are split into ``cv`` stratified folds
    (fewer when a class is rarer); the preprocessing and the model of each fold are fitted
    on the other folds only, so no prediction is in-sample.

    ``class_weight``: dict class index -> weight (or None) of the default classifier.

    Returns
    -------
    dict modality -> (n_subjects, n_classes) array; NaN rows for subjects without it.
    """
    out = {}
    avail = data.available
    for j, m in enumerate(data.modality_names):
        idx = np.flatnonzero(avail[m].to_numpy())
        ym = y[idx]
        proba = np.full((len(y), n_classes), np.nan)
        counts = np.bincount(ym, minlength=n_classes)
        n_splits = int(min(cv, counts[counts > 0].min())) if (counts > 0).sum() > 1 else 0
        if n_splits < 2:
            proba[idx] = class_prior(ym, n_classes) if len(ym) else np.nan
            out[m] = proba
            continue
        seed = None if random_state is None else int(random_state) + j
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        for tr, te in folds.split(idx, ym):
            train, test = data[idx[tr]], data[idx[te]]
            t = block_preprocessor(preprocessors, m, data.modalities[m])
            z = as_matrix(fit_transform_block(t, train.block(m), obs=train.obs))
            model = resolve_estimator(estimator, m, random_state, class_weight,
                                      ym[tr]).fit(z, ym[tr])
            zt = as_matrix(transform_block(t, test.block(m), obs=test.obs))
            proba[idx[te]] = predict_full(model, zt, n_classes)
        out[m] = proba
    return out
