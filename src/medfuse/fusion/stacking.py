"""Stacking: out-of-fold per-modality probabilities feed a meta-learner that has seen
modalities go missing."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import sklearn_class_weight
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import predict_full
from medfuse.fusion.late import fit_per_modality, predict_per_modality
from medfuse.fusion.learners import check_learner
from medfuse.fusion.oof import oof_probabilities
from medfuse.fusion.registry import register


@register("stacking-rf", family="late", learner="random-forest",
          description="Random forests per modality; their out-of-fold probabilities train "
                      "a logistic meta-classifier")
@register("stacking-gb", family="late", learner="gradient-boosting",
          description="Gradient-boosted trees per modality; their out-of-fold probabilities "
                      "train a logistic meta-classifier")
@register("stacking", family="late", interpretable=True)
class StackingFusion(BlockFusion):
    """Per-modality classifiers whose out-of-fold probabilities train a meta-classifier.

    Meta-features per modality: the log-odds of its class probabilities (clipped at 1e-4;
    binary: ``log p1/p0``, multiclass: centred log-probabilities) for the subjects that
    have it, and an availability indicator; a missing modality gets the log-odds of the
    training class prior and indicator 0.

    The meta-learner is trained on the out-of-fold meta-features of every training subject
    plus ``n_augment`` copies in which each subject's modalities are randomly hidden
    (each available modality kept with probability 1/2, at least one kept), so it has learnt
    how to predict from every subset of modalities it may meet at prediction time.

    At prediction the per-modality classifiers refitted on all training subjects give the
    probabilities (the usual stacking convention).

    Parameters
    ----------
    base_estimator : sklearn classifier or dict modality -> classifier, optional
        Default: L2 logistic regression with the penalty chosen by 5-fold inner CV.
    meta_estimator : sklearn classifier, optional
        Default: ``LogisticRegression(C=1.0)`` with ``class_weight``.
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing, fitted on the training subjects that have the modality
        (see :func:`medfuse.preprocess.resolve_preprocessor`).
    cv : int
        Folds of the out-of-fold predictions.
    n_augment : int
        Copies of the training subjects with randomly hidden modalities.
    learner : {"logistic", "gradient-boosting", "random-forest"} or dict modality -> name
        The default classifier when ``base_estimator`` is not given (see
        :mod:`medfuse.fusion.learners`): tree learners see the blocks without z-scores.
        The meta-classifier stays logistic.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the losses of the default classifiers (per-modality and meta).
        ``"balanced"`` weighs class k by ``n / (K * n_k)`` (as the neural strategies do), so
        a rare outcome is still predicted at the 0.5 threshold, at the cost of probabilities
        calibrated to balanced classes; None keeps them calibrated to the training
        prevalence. An estimator passed as ``base_estimator`` keeps its own weighting.
    random_state : int, optional
        Seed of the out-of-fold folds, the inner CV splits and the random hiding of
        modalities in the augmented copies.

    Attributes
    ----------
    estimators_ : dict modality -> fitted per-modality classifier.
    meta_estimator_ : the fitted meta-classifier.
    log_prior_ : (n_classes,) fill value for missing modalities.
    """

    def __init__(self, base_estimator=None, meta_estimator=None, preprocessors=None,
                 cv: int = 5, n_augment: int = 3, learner="logistic",
                 class_weight="balanced", random_state=None) -> None:
        self.base_estimator = base_estimator
        self.meta_estimator = meta_estimator
        self.preprocessors = preprocessors
        self.cv = cv
        self.n_augment = n_augment
        self.learner = learner
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_settings(self) -> None:
        """Refuse a learner that is not a name of
        :data:`~medfuse.fusion.learners.LEARNERS` (or a dict modality -> name), or one
        given with ``base_estimator``, before any fit."""
        check_learner(self.learner, per_modality=True, base_estimator=self.base_estimator)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        check_learner(self.learner, data.modality_names,
                      base_estimator=self.base_estimator)
        n_classes = len(self.classes_)
        rng = np.random.default_rng(self.random_state)
        weights = self._class_weights(y)
        oof = oof_probabilities(data, y, n_classes, self.preprocessors, self.base_estimator,
                                self.cv, self.random_state, weights, self.learner)
        stack = np.stack([oof[m] for m in self.modalities_], axis=1)
        have = ~np.isnan(stack[:, :, 0])
        self.log_prior_ = np.log(np.bincount(y, minlength=n_classes) / len(y))
        feats, targets = [self._meta_features(stack, have)], [y]
        for _ in range(self.n_augment):
            keep = have & (rng.random(have.shape) < 0.5)
            none = ~keep.any(axis=1)
            for i in np.flatnonzero(none):
                keep[i, rng.choice(np.flatnonzero(have[i]))] = True
            feats.append(self._meta_features(stack, keep))
            targets.append(y)
        meta = (LogisticRegression(C=1.0, max_iter=2000,
                                   class_weight=sklearn_class_weight(weights))
                if self.meta_estimator is None else clone(self.meta_estimator))
        self.meta_estimator_ = meta.fit(np.vstack(feats), np.concatenate(targets))
        self.estimators_ = fit_per_modality(self._fit_blocks(data), y, n_classes,
                                            self.base_estimator, self.random_state, weights,
                                            self.learner)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        probs = predict_per_modality(self, self._transform_blocks(data))
        stack = np.stack([probs[m] for m in self.modalities_], axis=1)
        have = ~np.isnan(stack[:, :, 0])
        return predict_full(self.meta_estimator_, self._meta_features(stack, have),
                            len(self.classes_))

    def _meta_features(self, stack: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Per-modality log-odds (binary: one column ``log p1/p0``; multiclass: the centred
        log-probabilities, K columns), the log prior's where the modality is not kept,
        then the M availability indicators."""
        logp = np.log(np.clip(np.nan_to_num(stack, nan=1.0), 1e-4, 1.0))
        logp = np.where(keep[:, :, None], logp, self.log_prior_[None, None, :])
        if logp.shape[2] == 2:
            logit = logp[:, :, 1:] - logp[:, :, :1]
        else:
            logit = logp - logp.mean(axis=2, keepdims=True)
        return np.column_stack([logit.reshape(len(stack), -1), keep.astype(float)])
