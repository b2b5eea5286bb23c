"""Piecewise-linear histogram standardisation of image intensities: standard landmarks at
fixed percentiles are learned from training images only (:func:`nyul_landmarks` per image,
averaged by :class:`NyulStandardizer`), and each image's own percentiles are then mapped onto
them piecewise linearly (:func:`nyul_standardize`), so that the same tissue reads alike across
images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from medfuse.imaging._intensity_region import _prefix, _region_values

__all__ = ["DEFAULT_PERCENTILES", "NyulStandardizer", "nyul_landmarks", "nyul_standardize"]

#: Default histogram-standardisation landmarks: the 1st, 10th, 20th ... 90th and 99th percentiles.
DEFAULT_PERCENTILES: tuple[float, ...] = (1.0, *(10.0 * k for k in range(1, 10)), 99.0)


def _check_percentiles(percentiles, where: str = "") -> np.ndarray:
    p = np.asarray(percentiles, dtype=float)
    if (p.ndim != 1 or p.size < 2 or not np.all(np.isfinite(p)) or np.any(np.diff(p) <= 0)
            or p[0] < 0 or p[-1] > 100):
        raise ValueError(f"{_prefix(where)}percentiles must be at least two strictly "
                         f"increasing numbers in [0, 100], got {list(np.ravel(p))}.")
    return p


def _check_range(standard_range, where: str = "") -> tuple[float, float]:
    lo, hi = (float(v) for v in standard_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{_prefix(where)}standard_range must be (s_min, s_max) with "
                         f"s_min < s_max, got {tuple(standard_range)}.")
    return lo, hi


def _percentiles(values: np.ndarray, p: np.ndarray) -> np.ndarray:
    # order statistics (the inverse of the empirical distribution function): a
    # non-decreasing map of the intensities maps these landmarks exactly
    return np.percentile(values, p, method="inverted_cdf")


def nyul_landmarks(image: np.ndarray, mask: np.ndarray | None = None, *,
                   percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                   standard_range: tuple[float, float] = (0.0, 100.0),
                   where: str = "") -> np.ndarray:
    """One image's landmarks on the standard scale (the per-image step of the training).

    With ``p_k`` the image's ``k``-th percentile inside the mask (an order statistic), the
    landmarks are ``s_k = s_min + (p_k - p_1) / (p_K - p_1) (s_max - s_min)``: the lowest
    percentile goes to ``s_min``, the highest to ``s_max``.

    Parameters
    ----------
    image : ndarray, any shape
        Intensities.
    mask : ndarray, the image's shape, optional
        Non-zero in the region whose percentiles are the landmarks; None: every voxel.
    percentiles : sequence of float, length K >= 2
        Strictly increasing, in [0, 100].
    standard_range : (float, float)
        ``(s_min, s_max)``, ``s_min < s_max``.
    where : str
        Start of the validation messages.

    Returns
    -------
    ndarray (K,)
        Non-decreasing, from ``s_min`` to ``s_max``.
    """
    p = _check_percentiles(percentiles, where)
    s_min, s_max = _check_range(standard_range, where)
    _, values = _region_values(image, mask, where)
    marks = _percentiles(values, p)
    if marks[-1] <= marks[0]:
        raise ValueError(f"{_prefix(where)}the {p[0]:g}th and {p[-1]:g}th percentiles of the "
                         f"region are equal ({marks[0]:g}): no scale to standardise.")
    return s_min + (marks - marks[0]) / (marks[-1] - marks[0]) * (s_max - s_min)


def _piecewise_linear(x: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map ``source[k] -> target[k]`` linearly in between, extending the end segments.

    Tied source points are merged (their targets averaged), so the map stays a function and
    non-decreasing when ``target`` is.
    """
    src, inverse = np.unique(source, return_inverse=True)
    dst = np.bincount(inverse, weights=target) / np.bincount(inverse)
    out = np.interp(x, src, dst)
    below, above = x < src[0], x > src[-1]
    out[below] = dst[0] + (dst[1] - dst[0]) / (src[1] - src[0]) * (x[below] - src[0])
    out[above] = dst[-1] + (dst[-1] - dst[-2]) / (src[-1] - src[-2]) * (x[above] - src[-1])
    return out


def nyul_standardize(image: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None,
                     *, percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                     where: str = "") -> np.ndarray:
    """Map an image's percentile landmarks onto standard landmarks, piecewise linearly.

    With ``p_k`` the image's percentiles inside the mask and ``mu_k`` the standard
    landmarks, ``f(x) = mu_k + (x - p_k) (mu_{k+1} - mu_k) / (p_{k+1} - p_k)`` for
    ``p_k <= x <= p_{k+1}``; below ``p_1`` and above ``p_K`` the first and last segments are
    extended. ``f`` is non-decreasing (strictly increasing when both landmark sets are), so
    the order of the voxels is kept, and it sends the image's landmarks to ``mu_k`` exactly.

    Parameters
    ----------
    image : ndarray, any shape
        Intensities.
    landmarks : ndarray (K,)
        Standard landmarks ``mu_k`` (:attr:`NyulStandardizer.landmarks_`).
    mask : ndarray, the image's shape, optional
        Non-zero in the region whose percentiles are the image's landmarks; None: every
        voxel. The whole image is mapped.
    percentiles : sequence of float, length K
        The percentiles the landmarks stand for.
    where : str
        Start of the validation messages.

    Returns
    -------
    ndarray, the image's shape, float
        Intensities on the standard scale.
    """
    p = _check_percentiles(percentiles, where)
    mu = np.asarray(landmarks, dtype=float)
    if mu.shape != p.shape or not np.all(np.isfinite(mu)) or np.any(np.diff(mu) < 0):
        raise ValueError(f"{_prefix(where)}expected {p.size} finite non-decreasing standard "
                         f"landmarks, got {mu.shape} values.")
    x, values = _region_values(image, mask, where)
    marks = _percentiles(values, p)
    if marks[-1] <= marks[0]:
        raise ValueError(f"{_prefix(where)}the {p[0]:g}th and {p[-1]:g}th percentiles of the "
                         f"region are equal ({marks[0]:g}): no scale to standardise.")
    return _piecewise_linear(x.ravel(), marks, mu).reshape(x.shape)


class NyulStandardizer(BaseEstimator):
    """Piecewise-linear histogram standardisation, learned from training images.

    Training: each image's percentiles ``p_1 < ... < p_K`` (inside its mask) are mapped
    linearly so that ``p_1 -> s_min`` and ``p_K -> s_max`` (:func:`nyul_landmarks`); the
    standard landmarks are their means over the training images,
    ``mu_k = mean_i s_k^(i)``. Transforming: an image's own percentiles are mapped
    piecewise linearly onto ``mu_k``, the end segments extended
    (:func:`nyul_standardize`). Only training images enter ``landmarks_``; a transformed
    image never changes it.

    Parameters
    ----------
    percentiles : sequence of float
        Landmark percentiles, strictly increasing in [0, 100]; by default 1, 10, 20, ...,
        90, 99.
    standard_range : (float, float)
        ``(s_min, s_max)`` of the standard scale.

    Attributes
    ----------
    landmarks_ : ndarray (K,)
        Standard landmarks ``mu_k`` (plain floats; the fitted state saves as an array).
    percentiles_ : ndarray (K,)
        The percentiles, as floats.
    n_images_ : int
        Training images.
    """

    def __init__(self, percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                 standard_range: tuple[float, float] = (0.0, 100.0)) -> None:
        self.percentiles = percentiles
        self.standard_range = standard_range

    def fit(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None,
            *, names: Sequence | None = None) -> NyulStandardizer:
        """Learn the standard landmarks from training images.

        Parameters
        ----------
        images : sequence of ndarray (or an ``N x ...`` ndarray)
            Training images; shapes may differ.
        masks : sequence of ndarray or None, optional
            One per image (None: every voxel).
        names : sequence, optional
            Labels of the images in validation messages (subject IDs); positions by default.

        Returns
        -------
        self
        """
        images = list(images)
        if not images:
            raise ValueError("NyulStandardizer needs at least one training image.")
        masks = [None] * len(images) if masks is None else list(masks)
        names = list(range(len(images))) if names is None else list(names)
        if len(masks) != len(images) or len(names) != len(images):
            raise ValueError(f"{len(images)} images but {len(masks)} masks and {len(names)} "
                             f"names.")
        p = _check_percentiles(self.percentiles)
        marks = [nyul_landmarks(img, m, percentiles=p, standard_range=self.standard_range,
                                where=f"subject {name!r}")
                 for img, m, name in zip(images, masks, names, strict=True)]
        self.percentiles_ = p
        self.landmarks_ = np.mean(marks, axis=0)
        self.n_images_ = len(images)
        return self

    def transform(self, image: np.ndarray, mask: np.ndarray | None = None, *,
                  where: str = "") -> np.ndarray:
        """Standardise one image (see :func:`nyul_standardize`); shape kept, float."""
        check_is_fitted(self, "landmarks_")
        return nyul_standardize(image, self.landmarks_, mask, percentiles=self.percentiles_,
                                where=where)
