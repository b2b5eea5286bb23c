"""Ragged array blocks resampled to one shape: what a neural encoder needs of series or
images whose subjects differ in length or size.

Both transformers learn the target shape on the training subjects (the median length or
size per axis), so it is fitted inside every fold and saved with the model; a dense block
whose subjects already share that shape passes through unchanged.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.ragged import RaggedBlock


def _arrays(X) -> list[np.ndarray]:
    if isinstance(X, RaggedBlock):
        missing = [i for i, v in zip(X.ids, X.values, strict=True) if v is None]
        if missing:
            raise ValueError(f"Subject(s) {missing[:5]} have no value in this block.")
        return [np.asarray(v, dtype=np.float64) for v in X.values]
    return list(np.asarray(X, dtype=np.float64))


def _channels(arrays: list[np.ndarray]) -> int:
    channels = {a.shape[0] for a in arrays}
    if len(channels) != 1:
        raise ValueError(f"Subjects have different numbers of channels {sorted(channels)}; "
                         "resampling keeps channels as they are.")
    return channels.pop()


class SeriesResampler(TransformerMixin, BaseEstimator):
    """Resample each ``C x T_i`` series to ``C x length`` by linear interpolation at
    evenly spaced times between its first and last sample.

    Sample times are the block's ``timestamps`` field when it has one (irregular
    sampling), else the sample index.

    Parameters
    ----------
    length : int, optional
        Samples per series after resampling; None learns the median training length.

    Attributes
    ----------
    length_ : int
        The length every series is resampled to.
    n_channels_ : int
    """

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    def fit(self, X, y=None):
        """Learn the target length (and the number of channels) from the training series."""
        arrays = _arrays(X)
        self.n_channels_ = _channels(arrays)
        lengths = [a.shape[-1] for a in arrays]
        self.length_ = int(self.length if self.length is not None
                           else max(int(np.median(lengths)), 2))
        if self.length_ < 2:
            raise ValueError(f"length must be at least 2, got {self.length}")
        return self

    def transform(self, X) -> np.ndarray:
        """(N, C, length) float array."""
        check_is_fitted(self, "length_")
        arrays = _arrays(X)
        if _channels(arrays) != self.n_channels_:
            raise ValueError(f"Series have {_channels(arrays)} channels; the resampler was "
                             f"fitted on {self.n_channels_}.")
        times = (X.field("timestamps") if isinstance(X, RaggedBlock)
                 and "timestamps" in X.field_names else [None] * len(arrays))
        out = np.empty((len(arrays), self.n_channels_, self.length_))
        for i, (a, t) in enumerate(zip(arrays, times, strict=True)):
            out[i] = _resample_series(a, t, self.length_)
        return out


def _resample_series(a: np.ndarray, t, length: int) -> np.ndarray:
    t = np.arange(a.shape[-1], dtype=float) if t is None else np.asarray(t, float).ravel()
    if a.shape[-1] == length and t is not None and np.allclose(
            np.diff(t), (t[-1] - t[0]) / max(length - 1, 1)):
        return a
    if a.shape[-1] == 1:
        return np.repeat(a, length, axis=-1)
    grid = np.linspace(t[0], t[-1], length)
    return np.stack([np.interp(grid, t, channel) for channel in a])


class ImageResampler(TransformerMixin, BaseEstimator):
    """Resample each ``C x H x W [x D]`` image to one spatial shape by linear
    interpolation (``scipy.ndimage.zoom``, order 1), channels kept.

    This gives the neural encoders a fixed grid; it does not look at voxel spacing, so
    resample to a common physical spacing first when the scans differ in it.

    Parameters
    ----------
    shape : tuple of int, optional
        Spatial shape after resampling; None learns the median training size per axis.

    Attributes
    ----------
    shape_ : tuple of int
    n_channels_ : int
    """

    def __init__(self, shape: tuple[int, ...] | None = None) -> None:
        self.shape = shape

    def fit(self, X, y=None):
        """Learn the target shape (and the number of channels) from the training images."""
        arrays = _arrays(X)
        self.n_channels_ = _channels(arrays)
        dims = {a.ndim for a in arrays}
        if len(dims) != 1:
            raise ValueError(f"Images have different numbers of dimensions {sorted(dims)}.")
        if self.shape is not None:
            self.shape_ = tuple(int(s) for s in self.shape)
        else:
            sizes = np.array([a.shape[1:] for a in arrays])
            self.shape_ = tuple(int(s) for s in np.median(sizes, axis=0).round())
        if len(self.shape_) != dims.pop() - 1 or min(self.shape_) < 1:
            raise ValueError(f"shape {self.shape_} does not fit images of "
                             f"{arrays[0].ndim - 1} spatial dimensions.")
        return self

    def transform(self, X) -> np.ndarray:
        """``(N, C, *shape)`` float array."""
        from scipy.ndimage import zoom

        check_is_fitted(self, "shape_")
        arrays = _arrays(X)
        out = np.empty((len(arrays), self.n_channels_, *self.shape_))
        for i, a in enumerate(arrays):
            if a.shape[0] != self.n_channels_ or a.ndim != len(self.shape_) + 1:
                raise ValueError(f"An image has shape {a.shape}; the resampler was fitted on "
                                 f"{self.n_channels_} channels of {len(self.shape_)} spatial "
                                 "dimensions.")
            if a.shape[1:] == self.shape_:
                out[i] = a
                continue
            factors = (1.0, *(t / s for t, s in zip(self.shape_, a.shape[1:], strict=True)))
            resized = zoom(a, factors, order=1, mode="nearest", grid_mode=True)
            out[i] = resized[(slice(None), *(slice(0, t) for t in self.shape_))]
        return out
