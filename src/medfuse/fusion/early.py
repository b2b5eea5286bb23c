"""Early fusion: preprocessed blocks concatenated into one feature matrix."""

from __future__ import annotations

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._linear import BlockFusion, predict_full, resolve_estimator
from medfuse.fusion.registry import register


@register("early", family="early", interpretable=True)
class EarlyFusion(BlockFusion):
    """Concatenate the preprocessed modalities and fit one classifier.

    Each block is preprocessed on its own (fitted on the training subjects that have it),
    then divided by ``sqrt(n_features)`` when ``block_scaling`` is on, so that every
    modality carries the same total variance whatever its width.

    Missing-modality rule: a subject's missing block is imputed with the training mean of
    that (preprocessed, scaled) block, and one 0/1 availability indicator per modality is
    appended, so the model can learn an offset for "not measured". The same rule is used in
    training and prediction; every subject with any modality gets a prediction.

    Parameters
    ----------
    base_estimator : sklearn classifier, optional
        Default: L2 logistic regression with the penalty chosen by 5-fold inner CV.
    preprocessors : None, transformer or dict modality -> transformer
    block_scaling : bool
        Divide each block by the square root of its number of columns.
    random_state : int, optional

    Attributes
    ----------
    estimator_ : the fitted classifier.
    block_means_ : dict modality -> (p_m,) imputation values.
    feature_slices_ : dict modality -> slice of the concatenated columns.
    """

    def __init__(self, base_estimator=None, preprocessors=None, block_scaling: bool = True,
                 random_state=None) -> None:
        self.base_estimator = base_estimator
        self.preprocessors = preprocessors
        self.block_scaling = block_scaling
        self.random_state = random_state

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        blocks = self._fit_blocks(data)
        self.block_means_ = {}
        self.feature_slices_ = {}
        start = 0
        for m, X in blocks.items():
            scaled = X / self._divisor(m)
            self.block_means_[m] = np.nanmean(scaled, axis=0)
            self.feature_slices_[m] = slice(start, start + X.shape[1])
            start += X.shape[1]
        design = self._design(blocks)
        self.estimator_ = resolve_estimator(self.base_estimator, None, self.random_state)
        self.estimator_.fit(design, y)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        return predict_full(self.estimator_, self._design(self._transform_blocks(data)),
                            len(self.classes_))

    def _divisor(self, m: str) -> float:
        return float(np.sqrt(self.n_block_features_[m])) if self.block_scaling else 1.0

    def _design(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        parts, flags = [], []
        for m in self.modalities_:
            X = blocks[m] / self._divisor(m)
            have = ~np.isnan(X).any(axis=1)
            parts.append(np.where(have[:, None], X, self.block_means_[m][None, :]))
            flags.append(have.astype(float))
        return np.column_stack([*parts, *flags])
