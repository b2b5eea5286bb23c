"""Dense arrays as features: flatten and z-score."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from medfuse.data.ragged import RaggedBlock
from medfuse.represent.base import Representation


class Flatten(Representation):
    """Flatten an array block (subjects first, the same shape for every subject) to
    subjects x values and z-score each value (the default features of image and series
    blocks for the classical strategies).

    A ragged block (subjects of different shapes) cannot be flattened to common columns: use
    a representation that summarises each subject (e.g. ``image-statistics``,
    ``series-summary``) or resample the images to one grid first.

    Attributes
    ----------
    scaler_ : StandardScaler fitted on the flattened training arrays.
    """

    def fit(self, X, y=None):
        """Fit the per-value z-score on ``X`` (N x ...)."""
        self.scaler_ = StandardScaler().fit(_flat(X))
        return self

    def transform(self, X) -> np.ndarray:
        """(N, prod(shape)) z-scored values."""
        check_is_fitted(self, "scaler_")
        return self.scaler_.transform(_flat(X))


def _flat(X) -> np.ndarray:
    if isinstance(X, RaggedBlock):
        shapes = {s for s in X.shapes if s is not None}
        if len(shapes) > 1:
            raise ValueError(
                f"Cannot flatten a ragged block whose subjects have {len(shapes)} different "
                "shapes; give the modality a representation (e.g. 'image-statistics' or "
                "'series-summary') in the strategy's representations or the study file.")
        X = np.stack([np.asarray(v, dtype=float) for v in X.values])
    return np.asarray(X, dtype=float).reshape(len(X), -1)


def series_values(length: int | None = None):
    """Series resampled to one length (the median training length by default) at evenly
    spaced times, then flattened and z-scored: the default features of a ``timeseries``
    modality, ragged or dense (a dense block passes the resampling unchanged).

    Parameters
    ----------
    length : int, optional
        Samples per series after resampling.

    Returns
    -------
    Pipeline
        Unfitted ``SeriesResampler`` then :class:`Flatten`.
    """
    from sklearn.pipeline import make_pipeline

    from medfuse.preprocess.resample import SeriesResampler

    return make_pipeline(SeriesResampler(length), Flatten())


def image_values(shape: tuple[int, ...] | None = None):
    """Images resampled to one size (the median training size by default), then flattened
    and z-scored: the default features of an ``image`` modality, ragged or dense.

    Parameters
    ----------
    shape : tuple of int, optional
        Spatial shape after resampling.

    Returns
    -------
    Pipeline
        Unfitted ``ImageResampler`` then :class:`Flatten`.
    """
    from sklearn.pipeline import make_pipeline

    from medfuse.preprocess.resample import ImageResampler

    return make_pipeline(ImageResampler(shape), Flatten())
