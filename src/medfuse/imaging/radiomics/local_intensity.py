"""IBSI-1 local intensity features (``loc_*``).

Both features average the image over a sphere of 1 cm^3, radius
``r = (3 / (4 pi))^(1/3) cm ~ 6.2035 mm``, centred on a voxel: every voxel of the image whose
centre lies within ``r`` (mm, with the voxel spacing) counts, inside the ROI or not; voxels
beyond the image border do not exist and are left out of the mean.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from medfuse.imaging.radiomics.roi import ROI

__all__ = ["PEAK_RADIUS_MM", "features", "global_peak", "local_peak", "sphere_kernel",
           "sphere_means"]

PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
"""Radius of the 1 cm^3 sphere, mm."""


def sphere_kernel(spacing: tuple[float, float, float],
                  radius: float = PEAK_RADIUS_MM) -> np.ndarray:
    """Voxel offsets whose centres lie within ``radius`` of the central voxel's centre.

    Parameters
    ----------
    spacing : tuple of float
        mm along ``(z, y, x)``.
    radius : float
        mm.

    Returns
    -------
    ndarray of bool, shape (2 h_z + 1, 2 h_y + 1, 2 h_x + 1)
        ``True`` where ``sum_k (o_k s_k)^2 <= radius^2``, ``h_k = floor(radius / s_k)``.
    """
    half = [int(np.floor(radius / s + 1e-9)) for s in spacing]
    axes = [np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)]
    dz, dy, dx = np.meshgrid(*axes, indexing="ij", sparse=True)
    return dz ** 2 + dy ** 2 + dx ** 2 <= radius ** 2 * (1.0 + 1e-12)


def _sphere_mean_at(image: np.ndarray, kernel: np.ndarray, centre: np.ndarray) -> float:
    """Mean of the image over the kernel placed at ``centre``, clipped to the image."""
    half = np.array(kernel.shape) // 2
    lo = centre - half
    src = tuple(slice(max(a, 0), min(a + k, n))
                for a, k, n in zip(lo, kernel.shape, image.shape, strict=True))
    ker = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, lo, strict=True))
    inside = kernel[ker]
    return float(image[src][inside].sum() / inside.sum())


def sphere_means(image: np.ndarray, mask: np.ndarray,
                 spacing: tuple[float, float, float],
                 radius: float = PEAK_RADIUS_MM) -> np.ndarray:
    """Mean intensity over the sphere centred on every voxel of a mask.

    ``mean_v = (K * I)_v / (K * 1)_v``: the image and an all-ones array of the same extent
    are convolved with the spherical indicator ``K`` (:func:`sphere_kernel`) by FFT, with
    zeros beyond the image border, so that the denominator counts only voxels that exist.
    Only the mask's bounding box, grown by the kernel's half-width, is convolved.

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
        The whole image.
    mask : ndarray of bool, shape (Z, Y, X)
        Candidate sphere centres (the intensity mask).
    spacing : tuple of float
        mm along ``(z, y, x)``.
    radius : float
        mm.

    Returns
    -------
    ndarray of float, shape (N,)
        One mean per mask voxel, in ``np.argwhere(mask)`` order (FFT rounding ~1e-12).
    """
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    kernel = sphere_kernel(spacing, radius)
    half = np.array(kernel.shape) // 2
    where = np.argwhere(mask)
    lo = np.maximum(where.min(axis=0) - half, 0)
    hi = np.minimum(where.max(axis=0) + half + 1, image.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    crop = image[box]
    grid = tuple(sfft.next_fast_len(n + k - 1, real=True)
                 for n, k in zip(crop.shape, kernel.shape, strict=True))
    kernel_f = sfft.rfftn(kernel.astype(float), grid)

    def convolve(field: np.ndarray) -> np.ndarray:
        full = sfft.irfftn(sfft.rfftn(field, grid) * kernel_f, grid)
        return full[tuple(slice(h, h + n) for h, n in zip(half, crop.shape, strict=True))]

    sums = convolve(crop)
    counts = np.rint(convolve(np.ones_like(crop)))
    local = tuple((where - lo).T)
    return sums[local] / counts[local]


def local_peak(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float],
               radius: float = PEAK_RADIUS_MM) -> float:
    """Local intensity peak: the sphere mean around the brightest voxel of the mask.

    Every mask voxel holding the maximum intensity is a candidate centre; the largest of
    their sphere means is returned (computed directly, no FFT).

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
        The whole image.
    mask : ndarray of bool, shape (Z, Y, X)
        Candidate sphere centres (the intensity mask).
    spacing : tuple of float
        mm along ``(z, y, x)``.
    radius : float
        mm.

    Returns
    -------
    float
        Same unit as the image.
    """
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    kernel = sphere_kernel(spacing, radius)
    top = image[mask].max()
    centres = np.argwhere(mask & (image == top))
    return max(_sphere_mean_at(image, kernel, c) for c in centres)


def global_peak(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float],
                radius: float = PEAK_RADIUS_MM) -> float:
    """Global intensity peak: the largest sphere mean over all mask voxels.

    The sphere means come from :func:`sphere_means`; the voxels within ``1e-9`` (relative)
    of the largest are then recomputed directly, so the result carries no FFT rounding.

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
        The whole image.
    mask : ndarray of bool, shape (Z, Y, X)
        Candidate sphere centres (the intensity mask).
    spacing : tuple of float
        mm along ``(z, y, x)``.
    radius : float
        mm.

    Returns
    -------
    float
        Same unit as the image.
    """
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    means = sphere_means(image, mask, spacing, radius)
    best = means.max()
    slack = 1e-9 * max(1.0, float(np.abs(means).max()))
    centres = np.argwhere(mask)[means >= best - slack]
    kernel = sphere_kernel(spacing, radius)
    return max(_sphere_mean_at(image, kernel, c) for c in centres)


def features(roi: ROI) -> dict[str, float]:
    """The two IBSI-1 local intensity features of an ROI.

    Parameters
    ----------
    roi : ROI
        Uses ``image`` (all of it) and ``intensity_mask`` (the candidate centres).

    Returns
    -------
    dict of str to float
        ``loc_peak_loc`` and ``loc_peak_glob``, in the image's intensity unit.
    """
    return {
        "loc_peak_loc": local_peak(roi.image, roi.intensity_mask, roi.spacing),
        "loc_peak_glob": global_peak(roi.image, roi.intensity_mask, roi.spacing),
    }
