"""Early fusion: preprocessed blocks concatenated into one feature matrix."""

from __future__ import annotations

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import chosen_C, default_classifier, predict_full, resolve_estimator
from medfuse.fusion.learners import check_learner, default_is_tree
from medfuse.fusion.registry import register


@register("early-rf", family="early", learner="random-forest",
          description="Blocks concatenated, unscaled, into one random forest; an absent "
                      "block is left missing")
@register("early-gb", family="early", learner="gradient-boosting",
          description="Blocks concatenated, unscaled, into gradient-boosted trees; an "
                      "absent block is left missing")
@register("early", family="early", interpretable=True)
class EarlyFusion(BlockFusion):
    """Concatenate the preprocessed modalities and fit one classifier.

    Each block is preprocessed on its own (fitted on the training subjects that have it),
    then scaled (``block_scaling``):

    - ``"cv"``: multiplied by ``sqrt(C_m)``, with ``C_m`` the L2 strength that inner CV
      (log loss) chooses for a logistic regression on that block alone. Scaling a block by
      ``s`` divides the L2 penalty on its coefficients by ``s**2``, so the joint model
      penalises each block as its own best model does, up to the common strength the
      final classifier's inner CV chooses: a group-wise ridge whose relative penalties are
      learned per block (a noisy block gets a small ``C_m`` and is shrunk hard).
    - ``"width"`` (or True): divided by ``sqrt(n_features)``, so that every modality
      carries the same total variance whatever its width.
    - False: left as preprocessed.

    Missing-modality rule: a subject's missing block is imputed with the training mean of
    that (preprocessed, scaled) block, and one 0/1 availability indicator per modality is
    appended, so the model can learn an offset for "not measured". A block that an imputer
    filled in (:mod:`medfuse.fusion.imputed`; the subjects listed in ``uns["imputed"]``)
    counts as not measured in its indicator, so imputation does not hide that a subject
    lacked the modality. The same rule is used in training and prediction; every subject
    with any modality gets a prediction. A tree
    learner gets the blocks unscaled and an absent block as missing values, which it routes
    at every split (no imputation, no indicators).

    Parameters
    ----------
    base_estimator : sklearn classifier, optional
        Default: L2 logistic regression with the penalty chosen by 5-fold inner CV.
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing, fitted on the training subjects that have the modality
        (see :func:`medfuse.preprocess.resolve_preprocessor`).
    learner : {"logistic", "gradient-boosting", "random-forest"}
        The classifier when ``base_estimator`` is not given (see
        :mod:`medfuse.fusion.learners`); ``block_scaling`` applies to ``"logistic"`` only.
    block_scaling : {"cv", "width", True, False}
        How blocks are scaled before concatenation (see above). "cv" (default) needs
        the default classifier's inner CV per block; a block whose subjects have fewer
        than two classes, or too few for the folds, falls back to "width".
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the losses of the default classifiers. ``"balanced"``
        weighs class k by ``n / (K * n_k)`` (as the neural strategies do), so a rare outcome
        is still predicted at the 0.5 threshold, at the cost of probabilities calibrated to
        balanced classes; None keeps them calibrated to the training prevalence. An
        estimator passed as ``base_estimator`` keeps its own weighting.
    random_state : int, optional
        Seed of the inner CV splits (block scaling and the default classifier); given to
        ``base_estimator`` when it has an unset ``random_state``.

    Attributes
    ----------
    estimator_ : the fitted classifier.
    block_means_ : dict modality -> (p_m,) imputation values.
    block_divisors_ : (n_modalities,) array, what each block was divided by.
    feature_slices_ : dict modality -> slice of the concatenated columns.
    """

    def __init__(self, base_estimator=None, preprocessors=None, learner="logistic",
                 block_scaling="cv", class_weight="balanced", random_state=None) -> None:
        self.base_estimator = base_estimator
        self.preprocessors = preprocessors
        self.learner = learner
        self.block_scaling = block_scaling
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_settings(self) -> None:
        """Refuse a learner that is not a name of
        :data:`~medfuse.fusion.learners.LEARNERS`, or one given with ``base_estimator``,
        before any fit."""
        check_learner(self.learner, per_modality=False, base_estimator=self.base_estimator)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        check_learner(self.learner, per_modality=False,
                      base_estimator=self.base_estimator)
        blocks = self._fit_blocks(data)
        weights = self._class_weights(y)
        self.block_divisors_ = np.array([self._fit_divisor(m, blocks[m], y, weights)
                                         for m in self.modalities_], dtype=float)
        self.block_means_ = {}
        self.feature_slices_ = {}
        start = 0
        for m, X in blocks.items():
            scaled = X / self._divisor(m)
            self.block_means_[m] = np.nanmean(scaled, axis=0)
            self.feature_slices_[m] = slice(start, start + X.shape[1])
            start += X.shape[1]
        design = self._design(blocks, measured_mask(data))
        self.estimator_ = resolve_estimator(self.base_estimator, None, self.random_state,
                                            weights, y, self.learner)
        self.estimator_.fit(design, y)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        return predict_full(self.estimator_,
                            self._design(self._transform_blocks(data), measured_mask(data)),
                            len(self.classes_))

    def _divisor(self, m: str) -> float:
        return float(self.block_divisors_[self.modalities_.index(m)])

    def _fit_divisor(self, m: str, X: np.ndarray, y: np.ndarray, weights=None) -> float:
        """What block ``m`` is divided by (see ``block_scaling``)."""
        mode = self.block_scaling
        if mode is False or mode is None or self._missing_as_nan():
            return 1.0
        if mode not in (True, "width", "cv"):
            raise ValueError(f"block_scaling must be 'cv', 'width', True or False, got {mode!r}.")
        width = float(np.sqrt(self.n_block_features_[m]))
        if mode != "cv":
            return width
        rows = ~np.isnan(X).any(axis=1)
        counts = np.bincount(y[rows])
        if (counts > 0).sum() < 2 or counts[counts > 0].min() < 5:
            return width
        search = default_classifier(self.random_state, weights=weights, y=y[rows])
        search.fit(X[rows], y[rows])
        return 1.0 / np.sqrt(chosen_C(search))

    def _missing_as_nan(self) -> bool:
        """Whether absent blocks stay missing values (a tree learner of the default's)."""
        return default_is_tree(self.base_estimator, self.learner)

    def _design(self, blocks: dict[str, np.ndarray],
                measured: dict[str, np.ndarray] | None = None) -> np.ndarray:
        if self._missing_as_nan():
            return np.column_stack([blocks[m] for m in self.modalities_])
        parts, flags = [], []
        for m in self.modalities_:
            X = blocks[m] / self._divisor(m)
            have = ~np.isnan(X).any(axis=1)
            parts.append(np.where(have[:, None], X, self.block_means_[m][None, :]))
            flag = have if measured is None or m not in measured else have & measured[m]
            flags.append(flag.astype(float))
        return np.column_stack([*parts, *flags])


def measured_mask(data: MultiModalData) -> dict[str, np.ndarray]:
    """modality -> bool (n_subjects,): False for the subjects whose block an imputer filled
    in (``uns["imputed"]``); only modalities with imputed subjects are listed."""
    imputed = data.uns.get("imputed") or {}
    return {m: ~data.subjects.isin(ids) for m, ids in imputed.items() if len(ids)}
