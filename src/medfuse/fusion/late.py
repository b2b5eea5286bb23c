"""Late fusion: one model per modality, probabilities combined over the modalities a
subject has."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import modality_series
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import class_prior, predict_full, resolve_estimator
from medfuse.fusion.learners import check_learner
from medfuse.fusion.oof import oof_probabilities
from medfuse.fusion.registry import register

COMBINE = ("mean", "weighted", "vote")


@register("late-mean-rf", family="late", combine="mean", learner="random-forest",
          description="One random forest per modality; probabilities averaged over the "
                      "available modalities")
@register("late-mean-gb", family="late", combine="mean", learner="gradient-boosting",
          description="Gradient-boosted trees per modality; probabilities averaged over the "
                      "available modalities")
@register("late-vote", family="late", interpretable=True, combine="vote",
          description="One model per modality; majority vote over the available modalities")
@register("late-weighted", family="late", interpretable=True, combine="weighted",
          description="One model per modality; probabilities pooled geometrically with "
                      "non-negative weights learned from out-of-fold predictions")
@register("late-mean", family="late", interpretable=True, combine="mean",
          description="One model per modality; probabilities averaged over the available "
                      "modalities")
class LateFusion(BlockFusion):
    """One classifier per modality; class probabilities combined per subject over the
    modalities that subject has.

    Combination rules (``combine``):

    - ``"mean"``: the plain average of the available modalities' probabilities.
    - ``"weighted"``: weighted geometric pooling (a product of experts),
      ``p ∝ exp(s * sum_m w_m log p_m / sum_m w_m)`` over the available modalities, with
      non-negative weights ``w`` summing to 1 and a sharpness ``s`` that minimise the log
      loss of this combination on OUT-OF-FOLD probabilities of the training subjects
      (``cv`` folds; each modality's preprocessing and model refitted without the
      held-out subjects). Geometric rather than arithmetic pooling because the log-loss
      optimum of an arithmetic pool tends to a single modality (a corner of the simplex).
      A subject whose available modalities all have weight 0 gets their geometric mean.
    - ``"vote"``: each available modality votes for its most probable class; the returned
      probability is ``(votes + mean probability) / (n_available + 1)``, whose argmax is
      the majority vote with ties broken by the mean probability.

    Every subject with at least one modality gets a prediction; no imputation is needed.

    Parameters
    ----------
    combine : {"mean", "weighted", "vote"}
    base_estimator : sklearn classifier or dict modality -> classifier, optional
        Default: L2 logistic regression with the penalty chosen by 5-fold inner CV.
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing, fitted on the training subjects that have the modality
        (see :func:`medfuse.preprocess.resolve_preprocessor`).
    cv : int
        Folds of the out-of-fold predictions (``"weighted"`` only).
    learner : {"logistic", "gradient-boosting", "random-forest"} or dict modality -> name
        The default classifier when ``base_estimator`` is not given (see
        :mod:`medfuse.fusion.learners`): tree learners see the blocks without z-scores.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the losses of the default classifiers and of the log loss that the
        pool weights minimise. ``"balanced"`` weighs class k by ``n / (K * n_k)`` (as the
        neural strategies do), so a rare outcome is still predicted at the 0.5 threshold, at
        the cost of probabilities calibrated to balanced classes; None keeps them calibrated
        to the training prevalence. An estimator passed as ``base_estimator`` keeps its own
        weighting.
    random_state : int, optional
        Seed of the inner CV splits of the default classifiers and of the out-of-fold folds
        (``"weighted"``).

    Attributes
    ----------
    estimators_ : dict modality -> fitted classifier.
    modality_weights_ : pandas Series indexed by modality, summing to 1 (uniform for
        ``"mean"`` and ``"vote"``).
    sharpness_ : float, ``s`` of the weighted pool (1 otherwise).
    """

    def __init__(self, combine: str = "mean", base_estimator=None, preprocessors=None,
                 cv: int = 5, learner="logistic", class_weight="balanced",
                 random_state=None) -> None:
        self.combine = combine
        self.base_estimator = base_estimator
        self.preprocessors = preprocessors
        self.cv = cv
        self.learner = learner
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_settings(self) -> None:
        """Refuse a learner that is not a name of
        :data:`~medfuse.fusion.learners.LEARNERS` (or a dict modality -> name), or one
        given with ``base_estimator``, before any fit."""
        check_learner(self.learner, per_modality=True, base_estimator=self.base_estimator)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {self.combine!r}.")
        check_learner(self.learner, data.modality_names,
                      base_estimator=self.base_estimator)
        n_classes = len(self.classes_)
        blocks = self._fit_blocks(data)
        class_w = self._class_weights(y)
        self.estimators_ = fit_per_modality(blocks, y, n_classes, self.base_estimator,
                                            self.random_state, class_w, self.learner)
        weights = np.full(len(blocks), 1.0 / len(blocks))
        self.sharpness_ = 1.0
        if self.combine == "weighted":
            oof = oof_probabilities(data, y, n_classes, self.preprocessors,
                                    self.base_estimator, self.cv, self.random_state,
                                    class_w, self.learner)
            weights, self.sharpness_ = fit_pool_weights([oof[m] for m in self.modalities_], y,
                                                        class_w[y])
        self.modality_weight_values_ = np.asarray(weights, dtype=float)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        probs = predict_per_modality(self, self._transform_blocks(data))
        stack = np.stack([probs[m] for m in self.modalities_], axis=1)  # n x M x K
        if self.combine == "vote":
            return vote(stack)
        if self.combine == "weighted":
            return log_pool(stack, self.modality_weight_values_, self.sharpness_)
        return pool(stack, self.modality_weight_values_)

    @property
    def modality_weights_(self) -> pd.Series:
        """Modality weights (Series indexed by modality, summing to 1)."""
        return modality_series(self.modality_weight_values_, self.modalities_)


def fit_per_modality(blocks: dict[str, np.ndarray], y: np.ndarray, n_classes: int,
                     base_estimator, random_state, weights=None, learner="logistic") -> dict:
    """One fitted classifier per modality on the subjects that have it (a modality seen
    with one class only is stored as that class's prior, a length-K array); ``weights``
    (per-class, K) go to the default classifier, ``learner`` (a name or dict modality ->
    name) chooses it."""
    out = {}
    for m, X in blocks.items():
        rows = ~np.isnan(X).any(axis=1)
        if len(np.unique(y[rows])) < 2:
            out[m] = class_prior(y[rows], n_classes)
            continue
        out[m] = resolve_estimator(base_estimator, m, random_state, weights,
                                   y[rows], learner).fit(X[rows], y[rows])
    return out


def predict_per_modality(model, blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """dict modality -> (n, K) probabilities, NaN rows where the modality is missing."""
    n_classes = len(model.classes_)
    out = {}
    for m, X in blocks.items():
        rows = ~np.isnan(X).any(axis=1)
        p = np.full((len(X), n_classes), np.nan)
        est = model.estimators_[m]
        if rows.any():
            p[rows] = (np.tile(est, (rows.sum(), 1)) if isinstance(est, np.ndarray)
                       else predict_full(est, X[rows], n_classes))
        out[m] = p
    return out


def pool(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of (n, M, K) probabilities over the available (non-NaN) modalities;
    the plain mean where all available weights are 0."""
    have = ~np.isnan(stack[:, :, 0])
    p = np.nan_to_num(stack)
    w = have * weights[None, :]
    total = w.sum(axis=1, keepdims=True)
    plain = have / have.sum(axis=1, keepdims=True)
    w = np.where(total > 1e-12, w / np.where(total > 1e-12, total, 1.0), plain)
    return np.einsum("nm,nmk->nk", w, p)


def vote(stack: np.ndarray) -> np.ndarray:
    """Majority vote with ties broken by the mean probability (see LateFusion)."""
    have = ~np.isnan(stack[:, :, 0])
    p = np.nan_to_num(stack)
    n_classes = stack.shape[2]
    votes = (np.eye(n_classes)[p.argmax(axis=2)] * have[:, :, None]).sum(axis=1)
    mean = p.sum(axis=1) / have.sum(axis=1, keepdims=True)
    return (votes + mean) / (have.sum(axis=1, keepdims=True) + 1)


def log_pool(stack: np.ndarray, weights: np.ndarray, sharpness: float) -> np.ndarray:
    """Weighted geometric pooling of (n, M, K) probabilities over the available modalities:
    ``p ∝ exp(s * sum_m w_m log p_m / sum_m w_m)`` (sums over available modalities),
    the plain geometric mean where all available weights are 0."""
    have = ~np.isnan(stack[:, :, 0])
    logp = np.log(np.clip(np.nan_to_num(stack, nan=1.0), 1e-6, 1.0))
    w = have * weights[None, :]
    total = w.sum(axis=1, keepdims=True)
    plain = have / have.sum(axis=1, keepdims=True)
    w = np.where(total > 1e-12, w / np.where(total > 1e-12, total, 1.0), plain)
    z = sharpness * np.einsum("nm,nmk->nk", w, logp)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_pool_weights(oof: list[np.ndarray], y: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Non-negative modality weights for :func:`log_pool` from out-of-fold probabilities.

    Minimises the mean log loss of ``softmax(sum_m v_m log p_m)`` over ``v >= 0``
    (L-BFGS-B; over the available modalities, rescaled as in :func:`log_pool`), then
    returns ``w = v / sum(v)`` and the sharpness ``s = sum(v)``.

    Parameters
    ----------
    oof : list of (n, K) arrays, NaN rows where a modality is missing.
    y : (n,) class indices.
    sample_weight : (n,) weights of the subjects in the mean log loss (default all 1).
    """
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    sw = sw / sw.mean()
    stack = np.stack(oof, axis=1)
    n_mod = stack.shape[1]

    def loss(v):
        s = v.sum()
        if s <= 1e-12:
            return float(np.log(stack.shape[2]))
        p = log_pool(stack, v / s, s)
        return -float(np.mean(sw * np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    res = minimize(loss, np.ones(n_mod), method="L-BFGS-B", bounds=[(0.0, None)] * n_mod)
    v = np.clip(res.x, 0.0, None)
    v[v < 1e-3 * max(v.max(), 1e-12)] = 0.0
    if v.sum() <= 0:
        return np.full(n_mod, 1.0 / n_mod), 1.0
    return v / v.sum(), float(v.sum())
