"""Moran's I and Geary's C of the intensities in a mask: spatial autocorrelation with
inverse-distance weights (see :mod:`.morphology` for when they are estimated)."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from medfuse.imaging.radiomics.roi import voxel_positions

AUTOCORR_MAX_PAIRWISE = 5000
"""Largest ROI, in voxels, whose Moran's I / Geary's C use explicit pairwise sums."""
AUTOCORR_MAX_GRID = 2**24
"""Largest FFT grid, in points, for the exact convolution form of Moran's I / Geary's C."""
AUTOCORR_SEED = 0
"""Seed of the random voxel subset used only beyond ``AUTOCORR_MAX_GRID``."""


def moran_geary_pairwise(values: np.ndarray, positions: np.ndarray,
                         chunk: int = 1024) -> tuple[float, float]:
    """Moran's I and Geary's C from explicit pairwise sums.

    With weights ``w_ij = 1 / ||p_i - p_j||`` (``i != j``), ``W = sum w_ij``, mean ``mu``:
    ``I = N / W * sum w_ij (x_i - mu)(x_j - mu) / sum (x_i - mu)^2`` and
    ``C = (N - 1) / (2 W) * sum w_ij (x_i - x_j)^2 / sum (x_i - mu)^2``.

    Parameters
    ----------
    values : ndarray of float, shape (N,)
        Intensities of the voxels.
    positions : ndarray of float, shape (N, 3)
        mm.
    chunk : int
        Rows handled at once.

    Returns
    -------
    tuple of float
        ``(I, C)``; NaN when the intensities are constant or ``N < 2``.
    """
    x = np.asarray(values, dtype=float)
    p = np.asarray(positions, dtype=float)
    n = len(x)
    y = x - x.mean()
    denom = float(y @ y)
    if n < 2 or denom <= 0:
        return float("nan"), float("nan")
    w_sum = moran = geary = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d = np.sqrt(((p[start:stop, None, :] - p[None, :, :]) ** 2).sum(axis=-1))
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf
        w = 1.0 / d
        w_sum += float(w.sum())
        moran += float(y[start:stop] @ w @ y)
        geary += float((w * (x[start:stop, None] - x[None, :]) ** 2).sum())
    return (n / w_sum * moran / denom, (n - 1) / (2.0 * w_sum) * geary / denom)


def _fft_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Circular FFT size free of wrap-around for offsets up to ``n - 1`` either way."""
    return tuple(sfft.next_fast_len(2 * s - 1, real=True) for s in shape)


def moran_geary(values: np.ndarray, mask: np.ndarray,
                spacing: tuple[float, float, float]) -> tuple[float, float]:
    """Moran's I and Geary's C of the intensities inside a mask.

    Same definitions as :func:`moran_geary_pairwise`. Up to ``AUTOCORR_MAX_PAIRWISE``
    voxels the pairwise sums are used. Beyond, the sums are rewritten with ``m`` the mask,
    ``y = (x - mu) m`` and ``K`` the inverse-distance kernel (0 at the centre):
    ``W = sum m (K * m)``, ``sum w_ij y_i y_j = sum y (K * y)`` and
    ``sum w_ij (x_i - x_j)^2 = 2 sum y^2 (K * m) - 2 sum y (K * y)``, each convolution by
    FFT (exact up to rounding). If that grid would exceed ``AUTOCORR_MAX_GRID`` points, a
    random subset of ``AUTOCORR_MAX_PAIRWISE`` voxels (seed ``AUTOCORR_SEED``) is used.

    Parameters
    ----------
    values : ndarray of float, shape (Z, Y, X)
        Intensities (only those inside ``mask`` are read).
    mask : ndarray of bool, shape (Z, Y, X)
        The voxels to use.
    spacing : tuple of float
        mm along ``(z, y, x)``.

    Returns
    -------
    tuple of float
        ``(I, C)``; NaN when the intensities are constant or the mask has < 2 voxels.
    """
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if n <= AUTOCORR_MAX_PAIRWISE:
        return moran_geary_pairwise(values[mask], voxel_positions(mask, spacing))
    bounds = np.argwhere(mask)
    lo, hi = bounds.min(axis=0), bounds.max(axis=0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    m = mask[box].astype(float)
    shape = m.shape
    grid = _fft_shape(shape)
    if int(np.prod(grid)) > AUTOCORR_MAX_GRID:
        rng = np.random.default_rng(AUTOCORR_SEED)
        pick = np.sort(rng.choice(n, size=AUTOCORR_MAX_PAIRWISE, replace=False))
        return moran_geary_pairwise(values[mask][pick], voxel_positions(mask, spacing)[pick])
    x = np.where(mask[box], values[box], 0.0).astype(float)
    mu = x.sum() / n
    y = (x - mu) * m
    denom = float((y * y).sum())
    if denom <= 0:
        return float("nan"), float("nan")
    # Circular offsets: with grid >= 2 n - 1 every offset within +-(n - 1) has its own
    # slot, and the other slots only feed outputs beyond the box, which are dropped.
    offsets = [sfft.fftfreq(g, 1.0 / g) for g in grid]
    dz, dy, dx = np.meshgrid(*(o * s for o, s in zip(offsets, spacing, strict=True)),
                             indexing="ij", sparse=True)
    dist = np.sqrt(dz ** 2 + dy ** 2 + dx ** 2)
    dist[0, 0, 0] = np.inf
    kernel_f = sfft.rfftn(1.0 / dist, grid)
    del dist

    def convolve(field: np.ndarray) -> np.ndarray:
        out = sfft.irfftn(sfft.rfftn(field, grid) * kernel_f, grid)
        return out[: shape[0], : shape[1], : shape[2]]

    km = convolve(m)
    ky = convolve(y)
    w_sum = float((m * km).sum())
    moran = float((y * ky).sum())
    geary = 2.0 * float((y * y * km).sum()) - 2.0 * moran
    return (n / w_sum * moran / denom, (n - 1) / (2.0 * w_sum) * geary / denom)
