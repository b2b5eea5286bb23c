"""One modality only: the baseline every fusion strategy has to beat."""

from __future__ import annotations

import numpy as np

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import class_prior, predict_full, resolve_estimator
from medfuse.fusion.learners import check_learner
from medfuse.fusion.registry import register


@register("unimodal-rf", family="unimodal", needs=("features",), per_modality=True,
          learner="random-forest",
          description="A random forest on one modality; the others are ignored")
@register("unimodal-gb", family="unimodal", needs=("features",), per_modality=True,
          learner="gradient-boosting",
          description="Gradient-boosted trees on one modality; the others are ignored")
@register("unimodal", family="unimodal",
          needs=("features",),
          interpretable=True)
class Unimodal(BlockFusion):
    """A classifier on one modality; the others are ignored.

    Missing-modality rule: a subject without ``modality`` gets the training class prior
    (the class frequencies of the training subjects that have it), so every subject with
    any modality gets a prediction, but an uninformative one.

    Parameters
    ----------
    modality : str
        The modality to use (registered name ``unimodal:<modality>``).
    base_estimator : sklearn classifier, optional
        Fitted on the preprocessed block. Default: L2 logistic regression with the penalty
        chosen by 5-fold inner CV (``LogisticRegressionCV``, log loss).
    preprocessors : None, transformer or dict modality -> transformer
        Preprocessing of the block (see ``medfuse.preprocess.resolve_preprocessor``).
    learner : {"logistic", "gradient-boosting", "random-forest"}
        The default classifier when ``base_estimator`` is not given (see
        :mod:`medfuse.fusion.learners`): tree learners see the blocks without z-scores.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the losses of the default classifiers. ``"balanced"``
        weighs class k by ``n / (K * n_k)`` (as the neural strategies do), so a rare outcome
        is still predicted at the 0.5 threshold, at the cost of probabilities calibrated to
        balanced classes; None keeps them calibrated to the training prevalence. An
        estimator passed as ``base_estimator`` keeps its own weighting.
    random_state : int, optional
        Seed of the inner CV splits.

    Attributes
    ----------
    estimator_ : the fitted classifier.
    prior_ : ndarray (n_classes,), the prediction for subjects without the modality.
    """

    def __init__(self, modality: str | None = None, base_estimator=None, preprocessors=None,
                 learner="logistic", class_weight="balanced", random_state=None) -> None:
        self.modality = modality
        self.base_estimator = base_estimator
        self.preprocessors = preprocessors
        self.learner = learner
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_settings(self) -> None:
        """Refuse a learner that is not a name of
        :data:`~medfuse.fusion.learners.LEARNERS`, or one given with ``base_estimator``,
        before any fit."""
        check_learner(self.learner, per_modality=False, base_estimator=self.base_estimator)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        m = self.modality
        if m is None:
            raise ValueError("Unimodal needs modality=<name> (or make('unimodal:<name>')).")
        if m not in data.modality_names:
            raise DataValidationError(
                f"unimodal:{m} needs modality {m!r}; the data has {data.modality_names}.")
        check_learner(self.learner, per_modality=False,
                      base_estimator=self.base_estimator)
        n_classes = len(self.classes_)
        rows = data.available[m].to_numpy()
        if rows.sum() == 0:
            raise DataValidationError(f"No training subject has modality {m!r}.")
        X = self._fit_blocks(data, [m])[m]
        self.prior_ = class_prior(y[rows], n_classes)
        self.estimator_ = resolve_estimator(self.base_estimator, m, self.random_state,
                                            self._class_weights(y[rows]), y[rows],
                                            self.learner)
        self.estimator_.fit(X[rows], y[rows])

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        X = self._transform_blocks(data)[self.modality]
        rows = ~np.isnan(X).any(axis=1)
        out = np.tile(self.prior_, (len(data), 1))
        if rows.any():
            out[rows] = predict_full(self.estimator_, X[rows], len(self.classes_))
        return out
