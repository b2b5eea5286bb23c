"""An inherently interpretable fusion: a non-negative sum of sparse per-modality logits.

    g(x) = b + sum_m w_m r_m(x_m),   r_m(x_m) = sum_j beta_mj (x~_mj - mu_mj),   w_m >= 0

``x~_m`` is modality ``m`` after its default preprocessing (z-scored log-CPM for counts,
z-score for continuous, the clinical encoder's columns for clinical tables), ``mu_m`` its
training mean, and ``beta_m`` an L1-penalised logistic regression on that modality alone. The
weights ``w`` and intercept ``b`` are a logistic regression, constrained to ``w >= 0``, on
out-of-fold scores ``r_m`` (so that a modality's weight reflects how well its score predicts
unseen subjects, not how well it fits its own training data).

Centring each ``r_m`` on its training mean makes the missing-modality rule part of the model:
a subject without modality ``m`` gets ``r_m = 0``, the score of an average training subject,
and the modality contributes nothing to its logit. The explanation is the decomposition
itself: ``explain(data)`` returns ``w_m r_m`` per subject and modality and
``w_m beta_mj (x~_mj - mu_mj)`` per encoded feature; with ``b`` they add up to the logit.
For ``K > 2`` classes every quantity gains a class axis (multinomial scores, softmax link).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from medfuse.data.kinds import get_kind
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion._class_weight import class_weights, sklearn_class_weight
from medfuse.fusion.base import FusionClassifier
from medfuse.fusion.inner_cv import inner_folds
from medfuse.fusion.registry import register
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)


@dataclass
class AdditiveExplanation:
    """Exact decomposition of an :class:`AdditiveFusion` model's logits.

    Attributes
    ----------
    logit : ndarray (n_subjects, n_scores)
        The model's logit (``n_scores`` = 1 for binary: the log-odds of the second class;
        ``K`` for multiclass: the softmax inputs).
    intercept : ndarray (n_scores,)
    modality_contributions : ndarray (n_subjects, n_modalities, n_scores)
        ``w_m r_m``; exactly 0 where the subject lacks the modality.
    feature_contributions : dict modality -> DataFrame or ndarray
        For binary models a DataFrame (subjects x encoded features) of
        ``w_m beta_mj (x~_mj - mu_mj)``; for multiclass an array (subjects x features x K).
    subjects, modalities, classes : the axes.
    """

    logit: np.ndarray
    intercept: np.ndarray
    modality_contributions: np.ndarray
    feature_contributions: dict
    subjects: pd.Index
    modalities: list[str]
    classes: np.ndarray

    def modality_frame(self, class_=None) -> pd.DataFrame:
        """Subjects x modalities contributions to the logit (binary: of the second class)."""
        k = 0
        if self.modality_contributions.shape[2] > 1:
            if class_ is None:
                raise ValueError(f"Name a class: one of {list(self.classes)}.")
            k = int(np.flatnonzero(self.classes == class_)[0])
        return pd.DataFrame(self.modality_contributions[:, :, k], index=self.subjects,
                            columns=pd.Index(self.modalities, name="modality"))

    def feature_frame(self, class_=None) -> pd.DataFrame:
        """Subjects x (modality, feature) contributions to the logit."""
        k = 0
        if self.modality_contributions.shape[2] > 1:
            if class_ is None:
                raise ValueError(f"Name a class: one of {list(self.classes)}.")
            k = int(np.flatnonzero(self.classes == class_)[0])
        parts = {}
        for m, c in self.feature_contributions.items():
            parts[m] = c if isinstance(c, pd.DataFrame) else pd.DataFrame(
                c[:, :, k], index=self.subjects)
        return pd.concat(parts, axis=1, names=["modality", "feature"])


@register("additive", family="interpretable", needs=("tabular",),
          handles_missing=True, interpretable=True)
class AdditiveFusion(FusionClassifier):
    """Additive fusion: non-negative weighted sum of sparse per-modality logistic scores.

    Parameters
    ----------
    C : float
        Inverse L1 penalty of each per-modality logistic regression (smaller = sparser).
    cv : int
        Folds used to build the out-of-fold modality scores that the weights are learned on.
    preprocessors : None, dict or transformer
        Per-modality preprocessing (see ``medfuse.preprocess.resolve_preprocessor``).
    max_iter : int
        Iterations of the per-modality solvers.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the per-modality losses and the combiner's. ``"balanced"``
        weighs class k by ``n / (K * n_k)`` (as the neural strategies do), so a rare
        outcome is still predicted at the 0.5 threshold, at the cost of probabilities
        calibrated to balanced classes; None keeps them calibrated to the training
        prevalence.
    random_state : int, optional
        Seed of the fold split and solvers.

    Attributes
    ----------
    modality_weights_ : ndarray (n_modalities,), ``w_m >= 0`` in ``modalities_`` order.
    intercept_ : ndarray (n_scores,)
    coef_ : dict modality -> ndarray (encoded features, n_scores) of ``beta_m``
    encoded_features_ : dict modality -> list of the encoded feature names (rows of ``coef_``)
    feature_means_ : dict modality -> ndarray (encoded features,) of ``mu_m``
    preprocessors_ : dict modality -> fitted transformer (or None)

    Notes
    -----
    Fitted attributes are plain arrays, lists and dicts (so that the model can be saved
    without pickle); :meth:`coefficients` gives the labelled table.

    Missing modality: contributes exactly 0 to the logit (its score is centred on the
    training mean), which is also what :meth:`explain` reports for it.
    """

    def __init__(self, C: float = 0.1, cv: int = 5, preprocessors=None, max_iter: int = 2000,
                 class_weight="balanced", random_state: int | None = None) -> None:
        self.C = C
        self.cv = cv
        self.preprocessors = preprocessors
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _linear(self, n_classes: int, class_w: np.ndarray) -> LogisticRegression:
        solver = "liblinear" if n_classes == 2 else "saga"
        return LogisticRegression(C=self.C, l1_ratio=1.0, solver=solver, max_iter=self.max_iter,
                                  class_weight=sklearn_class_weight(class_w),
                                  random_state=self.random_state)

    def _fit_modality(self, data: MultiModalData, m: str, rows: np.ndarray, y: np.ndarray,
                      n_classes: int, class_w: np.ndarray):
        """Fitted preprocessor, coefficients (features x n_scores) and training feature means
        of modality m on the given rows (coefficients are 0 if a class is absent there)."""
        block = data.block(m, available_only=False).iloc[rows]
        obs = data.obs.iloc[rows]
        transformer = resolve_preprocessor(self.preprocessors, m, data.modalities[m])
        X = as_matrix(fit_transform_block(transformer, block, obs))
        n_scores = 1 if n_classes == 2 else n_classes
        coef = np.zeros((X.shape[1], n_scores))
        present = np.unique(y)
        if len(present) == n_classes:
            lr = self._linear(n_classes, class_w).fit(X, y)
            coef = lr.coef_.T.copy()
        return transformer, coef, X.mean(axis=0)

    def _scores(self, data: MultiModalData, m: str, rows: np.ndarray, transformer, coef,
                mean) -> np.ndarray:
        block = data.block(m, available_only=False).iloc[rows]
        X = as_matrix(transform_block(transformer, block, data.obs.iloc[rows]))
        return (X - mean) @ coef

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        kinds = {m: k for m, k in self.modality_kinds_.items()
                 if "tabular" not in get_kind(k).capabilities}
        if kinds:
            raise DataValidationError(
                f"additive fusion takes tabular modalities only; {kinds} are not. Use "
                "intermediate or attention fusion for images and series.")
        n_classes = len(self.classes_)
        n_scores = 1 if n_classes == 2 else n_classes
        avail = data.available.to_numpy()
        n, n_mod = avail.shape
        class_w = class_weights(self.class_weight, np.asarray(self.classes_), y)
        folds = inner_folds(y, self.cv, self.random_state,
                            fixed="in-sample modality scores for the combiner")
        splits = (folds.split(np.zeros(n), y) if folds is not None
                  else [(np.arange(n), np.arange(n))])
        oof = np.zeros((n, n_mod, n_scores))
        for train_idx, test_idx in splits:
            for j, m in enumerate(self.modalities_):
                tr = train_idx[avail[train_idx, j]]
                te = test_idx[avail[test_idx, j]]
                if len(tr) == 0 or len(te) == 0:
                    continue
                transformer, coef, mean = self._fit_modality(data, m, tr, y[tr], n_classes,
                                                             class_w)
                oof[te, j] = self._scores(data, m, te, transformer, coef, mean)
        self.modality_weights_, self.intercept_ = self._combine(oof, y, n_classes,
                                                                class_w[y])
        self.preprocessors_, self.coef_, self.feature_means_ = {}, {}, {}
        self.encoded_features_ = {}
        for j, m in enumerate(self.modalities_):
            rows = np.flatnonzero(avail[:, j])
            transformer, coef, mean = self._fit_modality(data, m, rows, y[rows], n_classes,
                                                         class_w)
            self.preprocessors_[m] = transformer
            self.coef_[m] = coef
            self.encoded_features_[m] = _encoded_names(transformer, self.feature_names_[m],
                                                       coef.shape[0])
            self.feature_means_[m] = mean

    def _combine(self, scores: np.ndarray, y: np.ndarray, n_classes: int,
                 sample_weight: np.ndarray | None = None):
        """Non-negative weights and free intercepts of the logistic combiner (subjects
        weighted by ``sample_weight``, rescaled to mean 1)."""
        n, n_mod, n_scores = scores.shape
        sw = (np.ones(n) if sample_weight is None
              else np.asarray(sample_weight, float) / np.mean(sample_weight))
        target = np.eye(n_classes)[y] if n_scores > 1 else y.astype(float)[:, None]

        def loss(theta):
            w, b = theta[:n_mod], theta[n_mod:]
            eta = b + np.einsum("imk,m->ik", scores, w)
            if n_scores == 1:
                p = expit(eta)
                value = np.sum(sw[:, None] * (np.logaddexp(0, eta) - target * eta))
            else:
                p = softmax(eta, axis=1)
                value = -np.sum(sw[:, None] * target * log_softmax(eta, axis=1))
            resid = sw[:, None] * (p - target)
            grad_w = np.einsum("imk,ik->m", scores, resid) / n + ridge * w
            return (value / n + 0.5 * ridge * w @ w,
                    np.concatenate([grad_w, resid.sum(axis=0) / n]))

        ridge = 1e-4   # makes the weights unique when modality scores are collinear
        theta0 = np.zeros(n_mod + n_scores)
        bounds = [(0, None)] * n_mod + [(None, None)] * n_scores
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
        return res.x[:n_mod].copy(), res.x[n_mod:].copy()

    # ------------------------------------------------------------------ prediction
    def _decompose(self, data: MultiModalData) -> AdditiveExplanation:
        avail = data.available.to_numpy()
        n = len(data)
        n_scores = len(self.intercept_)
        contrib = np.zeros((n, len(self.modalities_), n_scores))
        features: dict = {}
        for j, m in enumerate(self.modalities_):
            coef = self.coef_[m]
            w = float(self.modality_weights_[j])
            per_feature = np.zeros((n, coef.shape[0], n_scores))
            rows = np.flatnonzero(avail[:, j])
            if len(rows):
                block = data.block(m, available_only=False).iloc[rows]
                X = as_matrix(transform_block(self.preprocessors_[m], block,
                                              data.obs.iloc[rows]))
                per_feature[rows] = w * (X - self.feature_means_[m])[:, :, None] * coef[None]
            contrib[:, j] = per_feature.sum(axis=1)
            features[m] = (pd.DataFrame(per_feature[:, :, 0], index=data.subjects,
                                        columns=pd.Index(self.encoded_features_[m],
                                                         name="feature"))
                           if n_scores == 1 else per_feature)
        logit = self.intercept_ + contrib.sum(axis=1)
        return AdditiveExplanation(logit=logit, intercept=self.intercept_.copy(),
                                   modality_contributions=contrib,
                                   feature_contributions=features, subjects=data.subjects,
                                   modalities=list(self.modalities_),
                                   classes=np.asarray(self.classes_))

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        logit = self._decompose(data).logit
        if logit.shape[1] == 1:
            p = expit(logit[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(logit, axis=1)

    def decision_function(self, data: MultiModalData) -> np.ndarray:
        """The logit: (n_subjects,) log-odds of the second class, or (n_subjects, K)."""
        logit = self.explain(data).logit
        return logit[:, 0] if logit.shape[1] == 1 else logit

    def coefficients(self) -> pd.DataFrame:
        """Tidy table of the fitted model: modality, feature, class (the second class for
        binary models: the log-odds), weight ``w_m``, ``beta`` and the effective coefficient
        ``w_m * beta`` on the encoded, centred feature."""
        check_is_fitted(self, "coef_")
        labels = ([self.classes_[1]] if len(self.classes_) == 2 else list(self.classes_))
        rows = []
        for j, m in enumerate(self.modalities_):
            w = float(self.modality_weights_[j])
            for f, betas in zip(self.encoded_features_[m], self.coef_[m], strict=True):
                for c, b in zip(labels, betas, strict=True):
                    rows.append((m, f, c, w, float(b), w * float(b)))
        return pd.DataFrame(rows, columns=["modality", "feature", "class", "weight", "beta",
                                           "coefficient"])

    def explain(self, data: MultiModalData) -> AdditiveExplanation:
        """Exact per-subject decomposition of the logit into modality and feature terms:
        ``intercept + modality_contributions.sum(axis=1) == logit`` and each modality's
        feature contributions sum to its modality contribution."""
        check_is_fitted(self, "coef_")
        return self._decompose(self.align(data))




def _encoded_names(transformer, raw: list[str] | None, n: int) -> list[str]:
    if transformer is not None and hasattr(transformer, "get_feature_names_out"):
        try:
            names = [str(c) for c in transformer.get_feature_names_out()]
            if len(names) == n:
                return names
        except (AttributeError, ValueError, TypeError):
            pass
    if raw is not None and len(raw) == n:
        return list(raw)
    return [f"f{j}" for j in range(n)]
