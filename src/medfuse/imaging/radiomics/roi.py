"""The region of interest that every IBSI-1 feature family reads.

Arrays are in ``(z, y, x)`` voxel order: axis 0 runs across slices, so a "2D" feature is
computed per slice ``roi.levels[k]`` and in-plane neighbours lie along axes 1 and 2. The
spacing is in millimetres per axis in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Discretisation:
    """How intensities became grey levels.

    ``method`` is ``"none"`` (the intensities are already integer grey levels, as in the
    IBSI digital phantom), ``"fixed_bin_number"`` (``n_bins`` bins between the lowest and
    highest intensity in the ROI) or ``"fixed_bin_size"`` (bins of ``bin_size`` starting at
    ``lower``, the lower bound of the re-segmentation range or the ROI minimum; ``upper``,
    the upper bound when there is one, ends the range of the intensity-volume histogram).
    """

    method: str = "none"
    n_bins: int | None = None
    bin_size: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class ROI:
    """An image and its masks after interpolation and re-segmentation, with its grey levels.

    Attributes
    ----------
    image : ndarray of float, shape (Z, Y, X)
        Intensities of the whole image (voxels outside the masks included: local intensity
        features look beyond the ROI).
    intensity_mask : ndarray of bool, shape (Z, Y, X)
        The voxels whose intensities the features use (the morphological mask after
        re-segmentation).
    morph_mask : ndarray of bool, shape (Z, Y, X)
        The voxels whose shape the morphological features use.
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``1 .. n_levels`` inside ``intensity_mask``, 0 outside.
    n_levels : int
        The number of grey levels ``N_g``.
    spacing : tuple of float
        Voxel size along ``(z, y, x)``, mm.
    discretisation : Discretisation
    """

    image: np.ndarray
    intensity_mask: np.ndarray
    morph_mask: np.ndarray
    levels: np.ndarray
    n_levels: int
    spacing: tuple[float, float, float]
    discretisation: Discretisation = Discretisation()

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel, mm^3."""
        return float(np.prod(self.spacing))


def roi_from_levels(image: np.ndarray, mask: np.ndarray,
                    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> ROI:
    """An ROI whose intensities are already integer grey levels (no interpolation, no
    re-segmentation, no re-discretisation: the IBSI digital phantom's configuration).

    Parameters
    ----------
    image : array-like, shape (Z, Y, X)
        Integer-valued intensities >= 1 inside the mask.
    mask : array-like of bool or {0, 1}, shape (Z, Y, X)
    spacing : tuple of float
        mm along ``(z, y, x)``.

    Returns
    -------
    ROI
        ``n_levels`` is the highest grey level inside the mask.
    """
    image = np.asarray(image, dtype=float)
    inside = np.asarray(mask) != 0
    if image.shape != inside.shape or image.ndim != 3:
        raise ValueError(f"image {image.shape} and mask {inside.shape} must be the same 3D "
                         "shape (z, y, x).")
    if not inside.any():
        raise ValueError("The mask is empty: no voxel to compute features on.")
    values = image[inside]
    if not np.allclose(values, np.round(values)) or values.min() < 1:
        raise ValueError("Without discretisation the intensities inside the mask must be "
                         "integer grey levels >= 1.")
    levels = np.where(inside, np.round(image), 0).astype(np.int64)
    return ROI(image=image, intensity_mask=inside, morph_mask=inside.copy(), levels=levels,
               n_levels=int(levels.max()), spacing=tuple(float(s) for s in spacing))


def voxel_positions(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Centres of the voxels in a mask.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        The voxels to use.
    spacing : tuple of float
        mm along ``(z, y, x)``.

    Returns
    -------
    ndarray of float, shape (N, 3)
        ``index * spacing``, mm, in ``(z, y, x)`` order.
    """
    return np.argwhere(mask).astype(float) * np.asarray(spacing, dtype=float)
