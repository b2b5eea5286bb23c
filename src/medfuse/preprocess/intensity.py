"""Image intensity normalisation: z-score, scale mapping, histogram matching, CT windows, SUV.

Each operation is a function on one subject's array (``C x H x W [x D]``, or any shape with
``channel_axis=None``) and a scikit-learn transformer over a batch of images: an ndarray
``N x C x H x W [x D]`` (returned as an ndarray of the same shape) or a list of per-subject
arrays that may differ in size (returned as a list).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

CT_WINDOWS: dict[str, tuple[float, float]] = {
    # name: (center, width) in Hounsfield units
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "soft_tissue": (40.0, 400.0),
    "liver": (60.0, 160.0),
    "mediastinum": (50.0, 350.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


# ------------------------------------------------------------------ functions on one array
def zscore(image: np.ndarray, channel_axis: int | None = 0, eps: float = 1e-8) -> np.ndarray:
    """``(x - mean) / sd`` per channel of one image (sd 0 -> centred only)."""
    x = np.asarray(image, dtype=float)
    axes = _other_axes(x, channel_axis)
    mean = x.mean(axis=axes, keepdims=True)
    sd = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.where(sd > eps, sd, 1.0)


def map_scale(x, source: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """Map intensities from a source to a target scale: ``mu_t + sigma_t (x - mu_s) / sigma_s``."""
    (mu_s, sigma_s), (mu_t, sigma_t) = source, target
    if sigma_s <= 0:
        raise ValueError(f"source scale must be positive, got {sigma_s}.")
    return mu_t + sigma_t * (np.asarray(x, dtype=float) - mu_s) / sigma_s


def ct_window(hu, center: float = 40.0, width: float = 400.0) -> np.ndarray:
    """Clip Hounsfield units to ``[center - width/2, center + width/2]`` and scale to [0, 1]."""
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}.")
    lo = center - width / 2.0
    return np.clip((np.asarray(hu, dtype=float) - lo) / width, 0.0, 1.0)


def suv(activity, injected_dose_bq: float, weight_kg: float, *, delay_s: float = 0.0,
        half_life_s: float = 6586.2, log: bool = False) -> np.ndarray:
    """Body-weight standardised uptake value of a PET image.

    ``SUV = C * weight / dose_at_scan`` with ``C`` in Bq/mL, weight in g (1 g = 1 mL of
    tissue) and the dose decayed over ``delay_s`` seconds with ``half_life_s`` (18F default).
    ``log=True`` returns ``log(1 + SUV)``.
    """
    if injected_dose_bq <= 0 or weight_kg <= 0:
        raise ValueError("injected dose and body weight must be positive.")
    dose = injected_dose_bq * 2.0 ** (-delay_s / half_life_s)
    out = np.asarray(activity, dtype=float) * (weight_kg * 1000.0) / dose
    return np.log1p(out) if log else out


def match_histogram(image: np.ndarray, ref_values: np.ndarray, ref_quantiles: np.ndarray
                    ) -> np.ndarray:
    """Map ``image`` so that its empirical distribution follows a reference distribution.

    Each distinct value is sent to the reference value at the same cumulative proportion
    (linear interpolation between the reference's distinct values). With as many distinct
    values as the reference, the result is the reference sorted into the image's rank order.
    """
    x = np.asarray(image, dtype=float)
    _, inverse, counts = np.unique(x.ravel(), return_inverse=True, return_counts=True)
    quantiles = np.cumsum(counts) / x.size
    mapped = np.interp(quantiles, ref_quantiles, ref_values)
    return mapped[inverse].reshape(x.shape)


def reference_distribution(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their cumulative proportions (the input of :func:`match_histogram`)."""
    v, counts = np.unique(np.asarray(values, dtype=float).ravel(), return_counts=True)
    return v, np.cumsum(counts) / counts.sum()


# ------------------------------------------------------------------------- transformers
class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Batch plumbing: ndarray N x C x ... or a list of per-subject arrays."""

    def fit(self, X, y=None):
        self._check(X)
        return self

    def transform(self, X):
        images = self._check(X)
        out = [self._one(img, i) for i, img in enumerate(images)]
        return np.stack(out) if isinstance(X, np.ndarray) else out

    def _one(self, image: np.ndarray, i: int) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _check(X) -> list[np.ndarray]:
        if isinstance(X, np.ndarray):
            if X.ndim < 3:
                raise ValueError(f"Expected images N x C x H x W [x D], got shape {X.shape}.")
            return list(X)
        images = [np.asarray(img) for img in X]
        if any(img.ndim < 2 for img in images):
            raise ValueError("Expected one C x H x W [x D] array per subject.")
        return images


class IntensityZScore(_ImageTransformer):
    """Z-score intensities per channel.

    Parameters
    ----------
    scope : {"image", "dataset"}
        ``image``: each image by its own mean and sd (stateless). ``dataset``: by the pooled
        mean and sd of each channel over the training images.

    Attributes
    ----------
    mean_, std_ : ndarray (n_channels,)
        Training statistics (``scope="dataset"``).
    """

    def __init__(self, scope: str = "image") -> None:
        self.scope = scope

    def fit(self, X, y=None):
        if self.scope not in ("image", "dataset"):
            raise ValueError(f"scope must be 'image' or 'dataset', got {self.scope!r}.")
        images = self._check(X)
        if self.scope == "dataset":
            flat = [img.reshape(img.shape[0], -1) for img in images]
            pooled = np.concatenate(flat, axis=1).astype(float)
            self.mean_ = pooled.mean(axis=1)
            self.std_ = pooled.std(axis=1)
        self.fitted_ = True
        return self

    def _one(self, image, i):
        check_is_fitted(self, "fitted_")
        if self.scope == "image":
            return zscore(image)
        shape = (-1,) + (1,) * (image.ndim - 1)
        std = np.where(self.std_ > 0, self.std_, 1.0)
        return (image - self.mean_.reshape(shape)) / std.reshape(shape)


class ScaleMapping(_ImageTransformer):
    """Map intensities to a target scale: ``mu_t + sigma_t (x - mu_s) / sigma_s`` per channel.

    Parameters
    ----------
    target_mean, target_std : float
        ``mu_t`` and ``sigma_t``.
    source_mean, source_std : float, optional
        Source scale; when omitted, learned per channel from the training images (pooled).
    """

    def __init__(self, target_mean: float = 0.0, target_std: float = 1.0,
                 source_mean: float | None = None, source_std: float | None = None) -> None:
        self.target_mean = target_mean
        self.target_std = target_std
        self.source_mean = source_mean
        self.source_std = source_std

    def fit(self, X, y=None):
        images = self._check(X)
        n_channels = images[0].shape[0]
        pooled = np.concatenate([img.reshape(img.shape[0], -1) for img in images], axis=1)
        self.source_mean_ = (np.full(n_channels, float(self.source_mean))
                             if self.source_mean is not None else pooled.mean(axis=1))
        self.source_std_ = (np.full(n_channels, float(self.source_std))
                            if self.source_std is not None else pooled.std(axis=1))
        return self

    def _one(self, image, i):
        check_is_fitted(self, "source_mean_")
        return np.stack([map_scale(image[c], (self.source_mean_[c], self.source_std_[c]),
                                   (self.target_mean, self.target_std))
                         for c in range(image.shape[0])])


class HistogramMatching(_ImageTransformer):
    """Match every image's per-channel histogram to a reference distribution.

    Parameters
    ----------
    reference : ndarray (C x ...), optional
        Reference image; when omitted the reference is the pooled training intensities of
        each channel.

    Attributes
    ----------
    reference_ : list of (values, cumulative proportions), one per channel
    """

    def __init__(self, reference: np.ndarray | None = None) -> None:
        self.reference = reference

    def fit(self, X, y=None):
        images = self._check(X)
        if self.reference is not None:
            ref = np.asarray(self.reference, dtype=float)
            per_channel = [ref[c] for c in range(ref.shape[0])]
        else:
            per_channel = [np.concatenate([img[c].ravel() for img in images])
                           for c in range(images[0].shape[0])]
        self.reference_ = [reference_distribution(v) for v in per_channel]
        return self

    def _one(self, image, i):
        check_is_fitted(self, "reference_")
        if image.shape[0] != len(self.reference_):
            raise ValueError(f"Image has {image.shape[0]} channels, reference "
                             f"{len(self.reference_)}.")
        return np.stack([match_histogram(image[c], *self.reference_[c])
                         for c in range(image.shape[0])])


class CTWindow(_ImageTransformer):
    """Window CT Hounsfield units: clip to ``center +- width/2`` and scale to [0, 1].

    Parameters
    ----------
    window : str or (center, width)
        A name of :data:`CT_WINDOWS` (``"brain"``, ``"lung"``, ``"bone"`` ...) or the pair.
    """

    def __init__(self, window="soft_tissue") -> None:
        self.window = window

    def _one(self, image, i):
        if isinstance(self.window, str):
            if self.window not in CT_WINDOWS:
                raise ValueError(f"Unknown CT window {self.window!r}; known: "
                                 f"{sorted(CT_WINDOWS)}.")
            center, width = CT_WINDOWS[self.window]
        else:
            center, width = self.window
        return ct_window(image, center, width)


class PETSUV(_ImageTransformer):
    """Convert PET activity concentration (Bq/mL) to body-weight SUV, optionally ``log1p``.

    The per-subject dose (Bq), weight (kg) and optional injection-to-scan delay (s) come from
    ``obs`` columns (medfuse passes the subjects' obs rows) or from explicit arrays.

    Parameters
    ----------
    log : bool
        Return ``log(1 + SUV)``.
    dose_col, weight_col : str
        obs columns of injected dose in Bq and body weight in kg.
    delay_col : str, optional
        obs column of the injection-to-scan delay in seconds (decay correction).
    half_life_s : float
        Tracer half-life (18F: 6586.2 s).
    """

    def __init__(self, log: bool = False, dose_col: str = "injected_dose_bq",
                 weight_col: str = "weight_kg", delay_col: str | None = None,
                 half_life_s: float = 6586.2) -> None:
        self.log = log
        self.dose_col = dose_col
        self.weight_col = weight_col
        self.delay_col = delay_col
        self.half_life_s = half_life_s

    def fit(self, X, y=None, *, obs=None):
        self._check(X)
        return self

    def fit_transform(self, X, y=None, *, obs=None, dose=None, weight=None, delay=None):
        return self.fit(X).transform(X, obs=obs, dose=dose, weight=weight, delay=delay)

    def transform(self, X, *, obs=None, dose=None, weight=None, delay=None):
        images = self._check(X)
        n = len(images)
        dose = self._column(dose, obs, self.dose_col, n)
        weight = self._column(weight, obs, self.weight_col, n)
        delay = (self._column(delay, obs, self.delay_col, n)
                 if delay is not None or self.delay_col else np.zeros(n))
        out = [suv(img, dose[i], weight[i], delay_s=delay[i], half_life_s=self.half_life_s,
                   log=self.log) for i, img in enumerate(images)]
        return np.stack(out) if isinstance(X, np.ndarray) else out

    @staticmethod
    def _column(values, obs, col, n) -> np.ndarray:
        if values is None:
            if obs is None or col is None or col not in obs.columns:
                raise ValueError(f"PETSUV needs per-subject {col!r} (obs column or argument).")
            values = obs[col]
        arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values,
                         dtype=float)
        if arr.shape != (n,):
            raise ValueError(f"{col!r} has {arr.size} values for {n} images.")
        return arr


def _other_axes(x: np.ndarray, channel_axis: int | None) -> tuple[int, ...]:
    if channel_axis is None:
        return tuple(range(x.ndim))
    channel_axis %= x.ndim
    return tuple(a for a in range(x.ndim) if a != channel_axis)


__all__ = [
    "CT_WINDOWS",
    "PETSUV",
    "CTWindow",
    "HistogramMatching",
    "IntensityZScore",
    "ScaleMapping",
    "ct_window",
    "map_scale",
    "match_histogram",
    "reference_distribution",
    "suv",
    "zscore",
]
