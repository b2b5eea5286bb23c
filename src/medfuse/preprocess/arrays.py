"""Array blocks (images, series with channels first): per-channel standardisation."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class ChannelStandardizer(TransformerMixin, BaseEstimator):
    """Standardise each channel of an ``N x C x ...`` array with the mean and standard
    deviation over the training subjects and all positions of that channel (a channel with
    no spread is divided by 1). This is how the neural encoders see image and series blocks.

    Attributes
    ----------
    mean_, std_ : ndarray (C,)
        Per-channel training mean and standard deviation (ddof 0).
    """

    def fit(self, X, y=None):
        """Learn per-channel mean and standard deviation from ``X`` (N x C x ...)."""
        x = np.asarray(X, dtype=np.float64)
        axes = (0, *range(2, x.ndim))
        std = x.std(axis=axes)
        self.mean_ = x.mean(axis=axes)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        """``(X - mean) / std`` per channel, float64, same shape as ``X``."""
        check_is_fitted(self, "mean_")
        x = np.asarray(X, dtype=np.float64)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean_.reshape(shape)) / self.std_.reshape(shape)
