"""Resampling to a new voxel size and matching of spatial resolution (IBSI-1).

All functions work on plain arrays and their geometry, so that they do not depend on how the
image was read:

* voxel arrays are ordered ``(z, y, x)`` (axis 0 runs across slices); any number of axes is
  accepted, the geometry has one entry per axis;
* ``spacing`` is the distance between neighbouring voxel centres along each axis, in mm, in
  the same order as the array axes;
* ``origin`` is the physical position, in mm, of the centre of voxel ``(0, 0, ..., 0)``,
  again one entry per array axis.

Grid alignment
--------------
Resampling follows the image-grid alignment of the IBSI-1 reference manual (section
"interpolation", grid centre alignment). Along an axis with ``n`` voxels of spacing ``s``
resampled to spacing ``s_new``:

* the new grid has ``n_new = ceil(n * s / s_new)`` voxels, so that the new grid covers at
  least the physical extent ``n * s`` of the original one (and at most one new voxel more);
* the new grid is centred on the original grid's centre, so the first new voxel centre lies
  at ``x_new_0 = x_0 + (s * (n - 1) - s_new * (n_new - 1)) / 2``;
* new voxel ``j`` lies at ``x_new_0 + j * s_new``, which is the continuous index
  ``((s * (n - 1) - s_new * (n_new - 1)) / 2 + j * s_new) / s`` of the original grid; the
  image is interpolated there.

The shift of the first voxel centre is taken along the array axes. For an image whose axes
are not aligned with the physical frame (direction cosines ``D``, column ``k`` the unit
vector of array axis ``k``), the new origin is ``origin + D @ offset`` with ``offset`` from
:func:`resampled_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

__all__ = [
    "FWHM_PER_SIGMA",
    "INTERPOLATORS",
    "ResampledGrid",
    "match_resolution",
    "matching_sigma",
    "resample",
    "resample_mask",
    "resampled_grid",
]

Interpolator = Literal["nearest", "linear", "bspline"]

#: Interpolators known to :func:`resample`, with the spline order each one uses.
INTERPOLATORS: dict[str, int] = {"nearest": 0, "linear": 1, "bspline": 3}

#: Ratio of a Gaussian's full width at half maximum to its standard deviation,
#: ``2 sqrt(2 ln 2)`` (about 2.3548).
FWHM_PER_SIGMA: float = 2.0 * math.sqrt(2.0 * math.log(2.0))

# ``n * s / s_new`` is rounded to this many decimals before the ceiling, so that a ratio that
# is an integer up to floating point error (e.g. 0.7 * 10 / 0.7) is not given one extra voxel.
_RATIO_DECIMALS = 9

# An interpolated mask fraction this close below the partial-volume threshold reaches it. A
# new centre half-way between an inside and an outside voxel is exactly 0.5, but the product
# of interpolation weights can come out as 0.49999999999999 (and a spacing read as a 32-bit
# float, as NIfTI headers store it, moves it by about 1e-7); the IBSI-1 reference manual
# names that unintended exclusion as an error to avoid.
_MASK_TOLERANCE = 1e-6

_AXIS_NAMES = {3: ("z", "y", "x"), 2: ("y", "x"), 1: ("x",)}


class ResampledGrid(NamedTuple):
    """Geometry of a resampled grid, one entry per array axis.

    Attributes
    ----------
    shape : tuple of int
        Number of voxels per axis, ``n_new = ceil(n * s / s_new)``.
    spacing : tuple of float
        Voxel spacing per axis, mm.
    origin : tuple of float
        Physical position of the centre of the first new voxel, mm (the original origin plus
        ``offset``).
    offset : tuple of float
        Shift of the first voxel centre along each array axis, mm,
        ``(s * (n - 1) - s_new * (n_new - 1)) / 2``.
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    offset: tuple[float, ...]


def _axis_name(axis: int, ndim: int) -> str:
    names = _AXIS_NAMES.get(ndim)
    return f"axis {axis} ({names[axis]})" if names else f"axis {axis}"


def _per_axis(value: ArrayLike, ndim: int, what: str) -> np.ndarray:
    """A scalar or a sequence of ``ndim`` values as a float array of length ``ndim``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(ndim, float(arr))
    if arr.shape != (ndim,):
        raise ValueError(f"{what} needs one value per image axis ({ndim}) or a single value; "
                         f"got {np.asarray(value).tolist()!r}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite; got {arr.tolist()!r}.")
    return arr


def _spacing(spacing: ArrayLike, ndim: int, what: str = "spacing") -> np.ndarray:
    arr = _per_axis(spacing, ndim, what)
    if np.any(arr <= 0):
        raise ValueError(f"{what} must be positive (mm); got {arr.tolist()!r}.")
    return arr


def _new_spacing(new_spacing: float | Sequence[float | None], spacing: np.ndarray) -> np.ndarray:
    """The target spacing per axis; ``None`` keeps that axis's spacing."""
    ndim = spacing.size
    if new_spacing is None:
        return spacing.copy()
    if np.ndim(new_spacing) == 0:
        values = [new_spacing] * ndim
    else:
        values = list(new_spacing)  # type: ignore[arg-type]
    if len(values) != ndim:
        raise ValueError(f"new_spacing needs one value per image axis ({ndim}) or a single "
                         f"value; got {values!r}.")
    out = np.array([s if v is None else float(v) for v, s in zip(values, spacing, strict=True)],
                   dtype=np.float64)
    if not np.all(np.isfinite(out)) or np.any(out <= 0):
        raise ValueError(f"new_spacing must be positive and finite (mm); got {values!r}.")
    return out


def resampled_grid(shape: Sequence[int], spacing: ArrayLike,
                   new_spacing: float | Sequence[float | None], *,
                   origin: ArrayLike | None = None) -> ResampledGrid:
    """The IBSI-aligned grid that :func:`resample` produces, without interpolating.

    Parameters
    ----------
    shape : sequence of int
        Number of voxels per axis of the original image, ``(n_z, n_y, n_x)`` for a volume.
    spacing : float or sequence of float
        Original voxel spacing per axis, mm.
    new_spacing : float or sequence of (float or None)
        Target spacing per axis, mm; a single value applies to every axis and ``None`` keeps
        that axis as it is (``(None, s, s)`` resamples in-plane only).
    origin : sequence of float, optional
        Physical position of the centre of the original voxel ``(0, ..., 0)``, mm; zeros when
        not given.

    Returns
    -------
    ResampledGrid
        ``shape`` with ``n_new = ceil(n * s / s_new)``, ``spacing``, ``origin`` (first new
        voxel centre, ``x_0 + offset``) and ``offset = (s * (n - 1) - s_new * (n_new - 1)) / 2``,
        one entry per axis. An axis that keeps its spacing keeps its size and gets offset 0.
    """
    shape_arr = np.asarray(shape, dtype=np.int64)
    if shape_arr.ndim != 1 or np.any(shape_arr < 1):
        raise ValueError(f"shape must list a positive number of voxels per axis; got {shape!r}.")
    ndim = shape_arr.size
    s = _spacing(spacing, ndim)
    s_new = _new_spacing(new_spacing, s)
    x0 = np.zeros(ndim) if origin is None else _per_axis(origin, ndim, "origin")
    ratio = np.round(shape_arr * s / s_new, _RATIO_DECIMALS)
    n_new = np.maximum(np.ceil(ratio).astype(np.int64), 1)
    offset = (s * (shape_arr - 1) - s_new * (n_new - 1)) / 2.0
    return ResampledGrid(shape=tuple(int(n) for n in n_new),
                         spacing=tuple(float(v) for v in s_new),
                         origin=tuple(float(v) for v in x0 + offset),
                         offset=tuple(float(v) for v in offset))


def _index_map(spacing: np.ndarray, grid: ResampledGrid) -> tuple[np.ndarray, np.ndarray]:
    """Scale and shift from new voxel index ``j`` to original continuous index ``i``.

    ``i = j * s_new / s + offset / s``.
    """
    return np.asarray(grid.spacing) / spacing, np.asarray(grid.offset) / spacing


def _interpolate(values: np.ndarray, spacing: np.ndarray, grid: ResampledGrid,
                 order: int) -> np.ndarray:
    """``values`` interpolated at the new voxel centres, spline ``order``, edges clamped."""
    scale, shift = _index_map(spacing, grid)
    if order == 0:
        # Nearest neighbour as explicit indices: the values are taken, never recomputed, and
        # a tie (a new centre half-way between two original ones) goes to the higher index.
        index = [np.clip(np.floor(np.round(np.arange(n) * a + b, _RATIO_DECIMALS) + 0.5),
                         0, size - 1).astype(np.intp)
                 for n, a, b, size in zip(grid.shape, scale, shift, values.shape, strict=True)]
        return values[np.ix_(*index)]
    # A diagonal affine map evaluates the same tensor-product spline as
    # ``ndimage.map_coordinates`` at the grid of new centres, without storing that grid.
    data = values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)
    return ndimage.affine_transform(data, scale, offset=shift, output_shape=grid.shape,
                                    output=np.float64, order=order, mode="nearest",
                                    prefilter=True)


def resample(image: ArrayLike, spacing: ArrayLike, new_spacing: float | Sequence[float | None],
             *, order: Interpolator = "linear",
             origin: ArrayLike | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Resample an image to a new voxel size, keeping its physical extent and centre.

    The new grid is the IBSI-1 centre-aligned grid (see the module notes and
    :func:`resampled_grid`): along each axis ``n_new = ceil(n * s / s_new)`` voxels whose
    centres lie at ``x_new_0 + j * s_new`` with
    ``x_new_0 = x_0 + (s * (n - 1) - s_new * (n_new - 1)) / 2``, so that the centre
    ``x_0 + s * (n - 1) / 2`` is the same before and after.

    Parameters
    ----------
    image : array_like, shape (n_z, n_y, n_x)
        Voxel values, axis 0 across slices; any number of axes is accepted.
    spacing : float or sequence of float
        Voxel spacing per axis, mm, same order as the array axes.
    new_spacing : float or sequence of (float or None)
        Target spacing per axis, mm. A single value applies to every axis; ``None`` keeps that
        axis unchanged, e.g. ``(None, 2.0, 2.0)`` resamples in-plane only (the "2D"
        resampling of IBSI configuration B).
    order : {"linear", "nearest", "bspline"}, default "linear"
        Interpolator:

        * ``"nearest"``: value of the original voxel whose centre is nearest to the new
          centre (a tie goes to the higher index); only original values are returned and the
          dtype is kept;
        * ``"linear"``: trilinear interpolation (tensor product of 1-D linear interpolation)
          between the ``2**ndim`` surrounding voxel centres; reproduces a linear function of
          position exactly;
        * ``"bspline"``: cubic B-spline interpolation, the image first prefiltered into cubic
          spline coefficients so that the spline passes through the original values (as
          ``scipy.ndimage.map_coordinates`` with ``order=3, prefilter=True``); reproduces
          polynomials up to degree 3 away from the edges.

        Linear and B-spline results are float64.
    origin : sequence of float, optional
        Physical position of the centre of voxel ``(0, ..., 0)``, mm; zeros when not given.

    Returns
    -------
    resampled : ndarray, shape (n_new_z, n_new_y, n_new_x)
        The image on the new grid.
    new_origin : tuple of float
        Physical position of the centre of the first new voxel, mm.

    Notes
    -----
    Beyond the edge of the original grid the image is extended with its nearest edge value
    (``mode="nearest"``): a new centre that falls outside the outermost original centres
    (at most half a new voxel past them) takes a value clamped at the border rather than
    zero. The B-spline prefilter sees the same clamped extension, so its result is exact for
    polynomials only some voxels away from the edges.
    """
    values = np.asarray(image)
    if values.ndim == 0:
        raise ValueError("image must have at least one axis.")
    if order not in INTERPOLATORS:
        raise ValueError(f"Unknown interpolator {order!r}; choose one of "
                         f"{sorted(INTERPOLATORS)}.")
    s = _spacing(spacing, values.ndim)
    grid = resampled_grid(values.shape, s, new_spacing, origin=origin)
    if values.dtype == bool:
        values = values.astype(np.uint8) if order == "nearest" else values.astype(np.float64)
        out = _interpolate(values, s, grid, INTERPOLATORS[order])
        return (out.astype(bool) if order == "nearest" else out), grid.origin
    return _interpolate(values, s, grid, INTERPOLATORS[order]), grid.origin


def resample_mask(mask: ArrayLike, spacing: ArrayLike,
                  new_spacing: float | Sequence[float | None], *,
                  threshold: float = 0.5) -> np.ndarray:
    """Resample a region mask onto the grid :func:`resample` gives the image.

    The mask is taken as a float image of 0 (outside) and 1 (inside; any non-zero voxel),
    interpolated linearly at the new voxel centres, and a new voxel belongs to the region
    where the interpolated value is ``>= threshold`` (the IBSI-1 partial-volume rule, with
    0.5 by default). A value within 1e-6 below the threshold counts as reaching it, so that
    rounding error (``0.4999999...`` for an exact 0.5) does not drop a voxel.

    Parameters
    ----------
    mask : array_like, shape (n_z, n_y, n_x)
        Region mask, bool or 0/1 values.
    spacing : float or sequence of float
        Voxel spacing per axis, mm.
    new_spacing : float or sequence of (float or None)
        Target spacing per axis, mm, as for :func:`resample` (``None`` keeps an axis).
    threshold : float, default 0.5
        Smallest interpolated fraction, in ``(0, 1]``, for which a new voxel is kept.

    Returns
    -------
    ndarray of bool, shape (n_new_z, n_new_y, n_new_x)
        The resampled mask; its origin is the ``new_origin`` that :func:`resample` returns for
        the same geometry.

    Notes
    -----
    The edge is extended with the nearest value (``mode="nearest"``), as for the image.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold!r}.")
    fraction, _ = resample(np.asarray(mask) != 0, spacing, new_spacing, order="linear")
    return fraction >= threshold - _MASK_TOLERANCE


def matching_sigma(spacing: ArrayLike, fwhm_source: ArrayLike,
                   fwhm_target: ArrayLike) -> np.ndarray:
    """Standard deviation, in voxels, of the Gaussian that degrades one resolution to another.

    A Gaussian point-spread function of full width at half maximum ``FWHM`` has standard
    deviation ``sigma = FWHM / (2 sqrt(2 ln 2))`` (``FWHM / 2.3548``). Gaussian blurs add in
    variance, so going from ``fwhm_source`` to ``fwhm_target`` needs, per axis,
    ``sigma_k = sqrt(sigma_target**2 - sigma_source**2)`` mm, that is ``sigma_k / spacing``
    voxels.

    Parameters
    ----------
    spacing : float or sequence of float
        Voxel spacing per axis, mm; its length sets the number of axes (a single value means
        three axes).
    fwhm_source, fwhm_target : float or sequence of float
        Resolution (FWHM of the point-spread function), mm, of the image and of the wanted
        result; a single value or one per axis. 0 means a perfectly sharp image.

    Returns
    -------
    ndarray of float, shape (ndim,)
        ``sigma_k`` in voxels per axis; 0 on an axis where target equals source.

    Raises
    ------
    ValueError
        Where the target is finer (smaller FWHM) than the source on some axis: resolution
        can only be degraded, not sharpened.
    """
    ndim = 3 if np.ndim(spacing) == 0 else len(np.atleast_1d(spacing))
    s = _spacing(spacing, ndim)
    source = _per_axis(fwhm_source, ndim, "fwhm_source")
    target = _per_axis(fwhm_target, ndim, "fwhm_target")
    for name, value in (("fwhm_source", source), ("fwhm_target", target)):
        if np.any(value < 0):
            raise ValueError(f"{name} must not be negative (mm); got {value.tolist()!r}.")
    # Equal up to rounding counts as equal: no blur rather than an error.
    tolerance = 1e-9 * np.maximum(1.0, np.maximum(source, target))
    for axis in range(ndim):
        if target[axis] < source[axis] - tolerance[axis]:
            raise ValueError(
                f"Resolution cannot be sharpened: on {_axis_name(axis, ndim)} the target FWHM "
                f"{target[axis]:g} mm is finer than the source FWHM {source[axis]:g} mm; a "
                "Gaussian blur can only widen the point-spread function.")
    variance = np.clip(target**2 - source**2, 0.0, None)
    variance[np.abs(target - source) <= tolerance] = 0.0
    return np.sqrt(variance) / FWHM_PER_SIGMA / s


def match_resolution(image: ArrayLike, spacing: ArrayLike, fwhm_source: ArrayLike,
                     fwhm_target: ArrayLike) -> np.ndarray:
    """Blur an image from one spatial resolution to a coarser one with a Gaussian.

    Per axis the image is convolved with a Gaussian of standard deviation
    ``sigma_k = sqrt(sigma_target**2 - sigma_source**2)``, ``sigma = FWHM / 2.3548``
    (``FWHM = 2 sqrt(2 ln 2) sigma``), converted from mm to voxels by the spacing (see
    :func:`matching_sigma`), with ``scipy.ndimage.gaussian_filter`` (kernel truncated at
    4 sigma, edge extended with the nearest value, ``mode="nearest"``). An axis where target
    and source are equal is not blurred.

    Parameters
    ----------
    image : array_like, shape (n_z, n_y, n_x)
        Voxel values; any number of axes is accepted.
    spacing : float or sequence of float
        Voxel spacing per axis, mm.
    fwhm_source : float or sequence of float
        Resolution of the image (FWHM of its point-spread function), mm; one value for every
        axis or one per axis.
    fwhm_target : float or sequence of float
        Wanted resolution, mm, no finer than ``fwhm_source`` on any axis.

    Returns
    -------
    ndarray of float64, same shape as ``image``

    Raises
    ------
    ValueError
        If the target is finer than the source on an axis (resolution cannot be sharpened);
        the message names the axis and both FWHMs.
    """
    values = np.asarray(image, dtype=np.float64)
    if values.ndim == 0:
        raise ValueError("image must have at least one axis.")
    s = _spacing(spacing, values.ndim)
    sigma = matching_sigma(s, fwhm_source, fwhm_target)
    if not np.any(sigma > 0):
        return values.copy()
    return ndimage.gaussian_filter(values, sigma=sigma, mode="nearest")
