"""Perturbations of an image and its mask that model what an acquisition or a
segmentation could have changed: a small rotation and a sub-voxel shift (positioning and
registration error), additive noise, erosion and dilation of the mask (delineation).
Geometry as in :mod:`medfuse.imaging.robustness`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

#: In-plane rotations of the default grid, degrees about the z axis.
DEFAULT_ROTATIONS_DEG: tuple[float, ...] = (-10.0, -5.0, 0.0, 5.0, 10.0)
#: Translations of the default grid, as a fraction of the voxel spacing along every axis.
DEFAULT_TRANSLATIONS_VOXELS: tuple[float, ...] = (0.0, 0.25, 0.5)
#: Noise levels of the default grid, as a fraction of the ROI's intensity sd.
DEFAULT_NOISE_FRACTIONS: tuple[float, ...] = (0.0, 0.1)
#: Mask changes of the default grid, in voxels of the finest axis (negative erodes).
DEFAULT_MASK_CHANGES_VOXELS: tuple[float, ...] = (-1.0, 0.0, 1.0)

# A partial-volume fraction this close below 0.5 still counts as 0.5, so that a mask moved
# by exactly half a voxel keeps both voxels it straddles whatever the rounding error.
_PV_TOLERANCE = 1e-9


def as_spacing(spacing: ArrayLike) -> np.ndarray:
    arr = np.asarray(spacing, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"spacing must be three positive voxel sizes (z, y, x) in mm; got "
                         f"{np.asarray(spacing).tolist()!r}.")
    return arr


def _angles3(rotation_deg: float | Sequence[float]) -> np.ndarray:
    """Rotation angles ``(about z, about y, about x)`` in degrees; a scalar is about z."""
    arr = np.asarray(rotation_deg, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.array([float(arr), 0.0, 0.0])
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError("rotation_deg must be one angle (about z) or three angles (about z, "
                         f"y, x) in degrees; got {np.asarray(rotation_deg).tolist()!r}.")
    return arr


def rotation_matrix(rotation_deg: float | Sequence[float]) -> np.ndarray:
    """The rotation matrix acting on physical ``(z, y, x)`` vectors.

    Parameters
    ----------
    rotation_deg : float or sequence of 3 float
        Degrees. A single value is an in-plane rotation about the z axis; three values are
        ``(a_z, a_y, a_x)``, rotations about the z, y and x axes. Every rotation is
        right-handed in the ``(x, y, z)`` frame: a positive angle about z turns +x towards
        +y, about x turns +y towards +z, and about y turns +z towards +x.

    Returns
    -------
    ndarray of float, shape (3, 3)
        ``R = R_z(a_z) @ R_y(a_y) @ R_x(a_x)`` (about x first, then y, then z), to be applied
        to column vectors ``(z, y, x)``.
    """
    a_z, a_y, a_x = np.deg2rad(_angles3(rotation_deg))

    def plane(first: int, second: int, angle: float) -> np.ndarray:
        # Turns axis `first` towards axis `second` by `angle` radians.
        r = np.eye(3)
        c, s = math.cos(angle), math.sin(angle)
        r[first, first] = c
        r[second, second] = c
        r[second, first] = s
        r[first, second] = -s
        return r

    z, y, x = 0, 1, 2
    return plane(x, y, a_z) @ plane(z, x, a_y) @ plane(y, z, a_x)


def _roi_centre(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Centroid of the mask in mm, ``mean(index) * spacing``; the image centre if empty."""
    if mask.any():
        return np.argwhere(mask).mean(axis=0) * spacing
    return (np.asarray(mask.shape, dtype=np.float64) - 1.0) / 2.0 * spacing


def _change_mask(mask: np.ndarray, spacing: np.ndarray, distance_mm: float) -> np.ndarray:
    """The mask grown (positive) or shrunk (negative) by ``|distance_mm|``.

    The region's boundary is taken to lie half-way between its voxel centres and the
    centres outside it. The distance, mm, from a voxel centre ``x`` on one side to that
    boundary is estimated as ``t(x) = (a(x) + b(x)) / 2`` with ``a`` the Euclidean distance
    to the nearest voxel centre on the other side and ``b`` the distance to the nearest
    voxel on its own side that has a face neighbour on the other side (0 for such a
    voxel). Both come from a Euclidean distance transform sampled at the voxel spacing. For
    a flat boundary across an axis ``a = b + s`` and ``t`` is the exact distance to the
    plane half-way between centres; on a curved boundary ``a`` overestimates and ``b``
    underestimates the distance, and their mean is closer than either.

    Growing adds every outside voxel with ``t <= distance_mm``; shrinking removes every
    inside voxel with ``t <= |distance_mm|``. So one voxel of the spacing ``s`` adds or
    removes the layer of face neighbours across the boundary, and ``d`` mm moves a flat
    boundary across an axis of spacing ``s_k`` by ``floor(d / s_k + 1/2)`` voxels. Beyond
    the array's edge is outside (an ROI touching the edge is eroded from it).
    """
    if distance_mm == 0.0:
        return mask.copy()
    grow = distance_mm > 0
    if not mask.any() or (grow and mask.all()):
        return mask.copy()
    # Work on the mask's bounding box with a margin wide enough for the change plus the
    # one-voxel pad that makes the array's edge outside.
    margin = np.ceil(abs(distance_mm) / spacing).astype(np.int64) + 2 if grow \
        else np.ones(3, np.int64)
    hits = np.argwhere(mask)
    lo = np.maximum(hits.min(axis=0) - margin, 0)
    hi = np.minimum(hits.max(axis=0) + margin + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    region = np.pad(mask[box], 1, constant_values=False)
    # `near` is the side that moves into the other: the inside to grow, the outside to shrink
    near = region if grow else ~region
    faces = ndimage.generate_binary_structure(3, 1)
    layer = ndimage.binary_dilation(near, structure=faces) & ~near
    # `layer` lies on the far side next to the boundary; t is the distance of far-side
    # voxels from the boundary
    to_near = ndimage.distance_transform_edt(~near, sampling=spacing)
    to_layer = ndimage.distance_transform_edt(~layer, sampling=spacing)
    within = ~near & (0.5 * (to_near + to_layer) <= abs(distance_mm))
    within = within[1:-1, 1:-1, 1:-1]
    out = mask.copy()
    out[box] = mask[box] | within if grow else mask[box] & ~within
    return out


def perturb(image: ArrayLike, mask: ArrayLike, spacing: ArrayLike, *,
            rotation_deg: float | Sequence[float] = 0.0,
            translation_mm: Sequence[float] = (0.0, 0.0, 0.0), noise_sd: float = 0.0,
            mask_change_mm: float = 0.0, seed: int | None = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """One perturbed copy of an image and its mask.

    The steps, in this order:

    1. **Rotation and translation** (positioning, registration error). With physical
       positions ``p = index * spacing`` (mm, ``(z, y, x)``), ROI centre ``c`` (the mask's
       centroid, mm), rotation ``R`` (:func:`rotation_matrix`) and translation ``t`` (mm),
       the content at ``p`` moves to ``R (p - c) + c + t``. Each output voxel centre ``q``
       therefore reads the input at ``R^T (q - c - t) + c``: the image by trilinear
       interpolation, the mask as a 0/1 image interpolated the same way and kept where the
       interpolated fraction is ``>= 0.5`` (the IBSI-1 partial-volume rule; a shift of
       exactly half a voxel keeps both voxels that straddle the old boundary, so the mask
       grows by one layer on the trailing side). Beyond the array's edge the image takes
       its nearest edge value and the mask is outside. Rotating in mm rather than in voxels
       keeps angles and lengths true for anisotropic spacing. Skipped entirely (values
       untouched) when the rotation and translation are 0.
    2. **Mask change** (delineation). ``mask_change_mm > 0`` dilates, ``< 0`` erodes. With
       the boundary half-way between inside and outside voxel centres, the distance ``t``
       (mm) of each voxel centre to it is estimated from Euclidean distance transforms in
       mm (so anisotropic spacing is handled): dilation adds the outside voxels with
       ``t <= mask_change_mm``, erosion removes the inside voxels with
       ``t <= |mask_change_mm|``. One voxel (``mask_change_mm = s`` for isotropic spacing
       ``s``) adds or removes the layer of face neighbours; a sphere of radius ``r``
       becomes close to one of radius ``r + mask_change_mm``. Beyond the array's edge is
       outside.
    3. **Noise** (image noise). Independent Gaussian noise of standard deviation
       ``noise_sd`` (intensity units) is added to every voxel, drawn from
       ``numpy.random.default_rng(seed)``. It is added last, so that interpolation does not
       smooth it and its sd is the one requested.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensities.
    mask : array_like, shape (Z, Y, X)
        Non-zero inside the region of interest.
    spacing : sequence of 3 float
        Voxel size along ``(z, y, x)``, mm.
    rotation_deg : float or sequence of 3 float, default 0
        Degrees; a single value rotates in-plane (about the z axis), three values are
        ``(about z, about y, about x)``; all about the ROI centre (see
        :func:`rotation_matrix` for signs).
    translation_mm : sequence of 3 float, default (0, 0, 0)
        Shift of the content along ``(z, y, x)``, mm; a shift of one spacing along an axis
        moves every voxel one index up along it (``np.roll`` by +1 away from the edges).
    noise_sd : float, default 0
        Standard deviation of the additive Gaussian noise, intensity units (HU, SUV, ...).
    mask_change_mm : float, default 0
        Dilation (positive) or erosion (negative) of the mask, mm.
    seed : int or None, default 0
        Seed of the noise.

    Returns
    -------
    image : ndarray of float64, shape (Z, Y, X)
    mask : ndarray of bool, shape (Z, Y, X)

    Raises
    ------
    ValueError
        When the shapes differ or are not 3D, or a parameter is not finite or ``noise_sd``
        is negative.
    """
    img = np.asarray(image, dtype=np.float64)
    msk = np.asarray(mask) != 0
    if img.ndim != 3 or img.shape != msk.shape:
        raise ValueError(f"image {img.shape} and mask {msk.shape} must be the same 3D shape "
                         "(z, y, x).")
    s = as_spacing(spacing)
    angles = _angles3(rotation_deg)
    t = np.asarray(translation_mm, dtype=np.float64)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"translation_mm must be three finite shifts (z, y, x) in mm; got "
                         f"{np.asarray(translation_mm).tolist()!r}.")
    if not (math.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be finite and >= 0; got {noise_sd!r}.")
    if not math.isfinite(mask_change_mm):
        raise ValueError(f"mask_change_mm must be finite; got {mask_change_mm!r}.")

    out_img = img.copy()
    out_msk = msk.copy()
    # 1. rotation about the ROI centre and translation, in mm
    if np.any(angles != 0) or np.any(t != 0):
        r = rotation_matrix(angles)
        c = _roi_centre(msk, s)
        # input index = S^-1 (R^T (S j - c - t) + c) = matrix @ j + offset, S = diag(spacing)
        matrix = (r.T * s[np.newaxis, :]) / s[:, np.newaxis]
        offset = (c - r.T @ (c + t)) / s
        out_img = ndimage.affine_transform(img, matrix, offset=offset, output=np.float64,
                                           order=1, mode="nearest")
        fraction = ndimage.affine_transform(msk.astype(np.float64), matrix, offset=offset,
                                            output=np.float64, order=1, mode="constant",
                                            cval=0.0)
        out_msk = fraction >= 0.5 - _PV_TOLERANCE
    # 2. erosion / dilation in mm
    if mask_change_mm != 0:
        out_msk = _change_mask(out_msk, s, float(mask_change_mm))
    # 3. additive Gaussian noise
    if noise_sd > 0:
        out_img = out_img + np.random.default_rng(seed).normal(0.0, noise_sd, img.shape)
    return out_img, out_msk


@dataclass(frozen=True)
class Perturbation:
    """One perturbation in units relative to the subject it is applied to.

    Parameters
    ----------
    rotation_deg : float or tuple of 3 float
        Degrees; one value about z (in-plane), or ``(about z, about y, about x)``.
    translation_voxels : tuple of 3 float
        Shift along ``(z, y, x)`` as a fraction of that axis's spacing (0.5 is half a voxel).
    noise_fraction : float
        Noise sd as a fraction of the sd of the intensities inside the subject's mask.
    mask_change_voxels : float
        Dilation (positive) or erosion (negative) in voxels of the subject's finest axis
        (``min(spacing)`` mm per voxel).
    """

    rotation_deg: float | tuple[float, float, float] = 0.0
    translation_voxels: tuple[float, float, float] = (0.0, 0.0, 0.0)
    noise_fraction: float = 0.0
    mask_change_voxels: float = 0.0

    @property
    def is_identity(self) -> bool:
        """Whether the perturbation leaves image and mask unchanged."""
        return (not np.any(_angles3(self.rotation_deg)) and not any(self.translation_voxels)
                and self.noise_fraction == 0 and self.mask_change_voxels == 0)

    def resolve(self, image: ArrayLike, mask: ArrayLike,
                spacing: ArrayLike) -> dict[str, Any]:
        """The keyword arguments of :func:`perturb` in absolute units for one subject.

        Parameters
        ----------
        image : array_like, shape (Z, Y, X)
            The subject's intensities.
        mask : array_like, shape (Z, Y, X)
            Non-zero inside the subject's region of interest.
        spacing : sequence of 3 float
            mm along ``(z, y, x)``.

        Returns
        -------
        dict
            ``rotation_deg``; ``translation_mm = translation_voxels * spacing``;
            ``noise_sd = noise_fraction * sd(image inside mask)`` (population sd, intensity
            units); ``mask_change_mm = mask_change_voxels * min(spacing)``.
        """
        s = as_spacing(spacing)
        noise_sd = 0.0
        if self.noise_fraction:
            inside = np.asarray(mask) != 0
            values = np.asarray(image, dtype=np.float64)[inside]
            noise_sd = float(self.noise_fraction * values.std()) if values.size else 0.0
        return {
            "rotation_deg": self.rotation_deg,
            "translation_mm": tuple(float(v) for v in np.asarray(self.translation_voxels) * s),
            "noise_sd": noise_sd,
            "mask_change_mm": float(self.mask_change_voxels * s.min()),
        }


def perturbation_grid(rotations_deg: Sequence[float] = DEFAULT_ROTATIONS_DEG,
                      translations_voxels: Sequence[float] = DEFAULT_TRANSLATIONS_VOXELS,
                      noise_fractions: Sequence[float] = DEFAULT_NOISE_FRACTIONS,
                      mask_changes_voxels: Sequence[float] = DEFAULT_MASK_CHANGES_VOXELS,
                      *, n: int | None = None, seed: int = 0) -> list[Perturbation]:
    """A factorial set of perturbations, or a seeded subset of it.

    Every combination of one rotation, one translation, one noise level and one mask change
    is a perturbation. The default set has ``5 x 3 x 2 x 3 = 90`` members:

    * rotations -10, -5, 0, 5, 10 degrees about the z axis (in-plane, about the ROI centre);
    * translations of 0, 0.25 and 0.5 voxel along every axis at once (a diagonal sub-voxel
      shift, the order of a registration error);
    * Gaussian noise of sd 0 and 0.1 times the ROI's intensity sd;
    * the mask eroded by one voxel, unchanged, or dilated by one voxel (in mm of the finest
      axis).

    Parameters
    ----------
    rotations_deg : sequence of float
        In-plane rotations, degrees.
    translations_voxels : sequence of float
        Translations, fraction of a voxel, applied along z, y and x alike.
    noise_fractions : sequence of float
        Noise sd, fraction of the ROI's intensity sd (>= 0).
    mask_changes_voxels : sequence of float
        Mask changes, voxels of the finest axis; negative erodes.
    n : int, optional
        How many perturbations to return. None returns all of them (the product of the four
        lengths) in factorial order; otherwise ``n`` are drawn without replacement with
        ``numpy.random.default_rng(seed)``, the unperturbed one (when the set has it) always
        first, the rest in factorial order.
    seed : int, default 0
        Seed of the draw; the same seed gives the same subset.

    Returns
    -------
    list of Perturbation
        ``len`` of it is the count.
    """
    levels = [tuple(float(v) for v in values) for values in
              (rotations_deg, translations_voxels, noise_fractions, mask_changes_voxels)]
    if any(not values for values in levels):
        raise ValueError("every perturbation axis needs at least one level.")
    if any(v < 0 for v in levels[2]):
        raise ValueError(f"noise fractions must be >= 0; got {list(levels[2])}.")
    grid = [Perturbation(rotation_deg=rot, translation_voxels=(tr, tr, tr),
                         noise_fraction=noise, mask_change_voxels=change)
            for rot, tr, noise, change in itertools.product(*levels)]
    if n is None:
        return grid
    if not 1 <= int(n) <= len(grid):
        raise ValueError(f"n must be between 1 and the size of the grid ({len(grid)}); got "
                         f"{n!r}.")
    n = int(n)
    identity = [i for i, p in enumerate(grid) if p.is_identity]
    rest = [i for i in range(len(grid)) if i not in identity[:1]]
    chosen = identity[:1]
    draw = np.random.default_rng(seed).choice(len(rest), size=n - len(chosen), replace=False)
    chosen = chosen + sorted(rest[i] for i in draw)
    return [grid[i] for i in chosen]
