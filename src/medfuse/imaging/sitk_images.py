"""SimpleITK images from ``(z, y, x)`` arrays and their geometry, and back: :func:`to_sitk`
builds a checked 3-D image from an array indexed ``(z, y, x)``, its spacing in mm ordered
``(z, y, x)``, the LPS origin of voxel ``(0, 0, 0)`` ordered ``(x, y, z)`` and a 3 x 3
direction matrix whose columns are the LPS directions of the x, y and z index axes;
:func:`from_sitk` splits an image into the same four parts; the private helpers accept either
form where an image is expected and place voxels, corners and extents in physical space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from medfuse.data.validation import DataValidationError

__all__ = ["ImageLike", "from_sitk", "to_sitk"]

ImageLike = sitk.Image | tuple[Any, ...]


def _who(subject: str | None) -> str:
    return f"subject {subject!r}" if subject is not None else "an unnamed subject"


def to_sitk(array: np.ndarray, spacing: Sequence[float],
            origin: Sequence[float] | None = None,
            direction: np.ndarray | Sequence[float] | None = None, *,
            subject: str | None = None) -> sitk.Image:
    """Build a SimpleITK image from a ``(z, y, x)`` array and its geometry.

    Parameters
    ----------
    array : numpy.ndarray
        Voxel values, shape ``(z, y, x)``. Boolean arrays are stored as ``uint8``.
    spacing : sequence of float
        Voxel size in millimetres, ordered ``(z, y, x)``; each must be positive.
    origin : sequence of float, optional
        Physical position of voxel ``(0, 0, 0)`` in millimetres, ordered ``(x, y, z)`` in LPS.
        Defaults to ``(0, 0, 0)``.
    direction : array_like, optional
        3 x 3 matrix (or its 9 entries row by row) whose columns are the LPS directions of the
        x, y and z index axes. Defaults to the identity.
    subject : str, optional
        Subject ID, named in error messages.

    Returns
    -------
    SimpleITK.Image
        The image, with spacing and origin in millimetres.

    Raises
    ------
    DataValidationError
        If the array is not 3-D, or the spacing, origin or direction is malformed.
    """
    who = _who(subject)
    arr = np.asarray(array)
    if arr.ndim != 3:
        raise DataValidationError(
            f"Image of {who} has shape {arr.shape}; registration needs a 3-D (z, y, x) array.")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    sp = np.asarray(spacing, dtype=float).ravel()
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise DataValidationError(
            f"Image of {who} has spacing {tuple(sp)}; give three positive voxel sizes in mm, "
            "ordered (z, y, x).")
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    image.SetSpacing([float(s) for s in sp[::-1]])
    if origin is not None:
        org = np.asarray(origin, dtype=float).ravel()
        if org.shape != (3,) or not np.all(np.isfinite(org)):
            raise DataValidationError(
                f"Image of {who} has origin {tuple(org)}; give three finite coordinates in mm, "
                "ordered (x, y, z) in LPS.")
        image.SetOrigin([float(o) for o in org])
    if direction is not None:
        mat = np.asarray(direction, dtype=float)
        if mat.size != 9 or not np.all(np.isfinite(mat)):
            raise DataValidationError(
                f"Image of {who} has a direction of {mat.size} entries; give a 3 x 3 matrix "
                "whose columns are the LPS directions of the x, y and z index axes.")
        mat = mat.reshape(3, 3)
        if abs(abs(np.linalg.det(mat)) - 1.0) > 1e-3 or not np.allclose(
                mat.T @ mat, np.eye(3), atol=1e-3):
            raise DataValidationError(
                f"Image of {who} has a direction matrix that is not orthonormal; its columns "
                "must be unit vectors at right angles (the LPS directions of the index axes).")
        image.SetDirection([float(v) for v in mat.ravel()])
    return image


def from_sitk(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float],
                                           tuple[float, float, float], np.ndarray]:
    """Split a 3-D SimpleITK image into its array and geometry (the inverse of :func:`to_sitk`).

    Parameters
    ----------
    image : SimpleITK.Image
        A 3-D image.

    Returns
    -------
    array : numpy.ndarray
        Voxel values, shape ``(z, y, x)``.
    spacing : tuple of float
        Voxel size in millimetres, ordered ``(z, y, x)``.
    origin : tuple of float
        Physical position of voxel ``(0, 0, 0)`` in millimetres, ``(x, y, z)`` in LPS.
    direction : numpy.ndarray
        3 x 3 matrix whose columns are the LPS directions of the x, y and z index axes.
    """
    array = sitk.GetArrayFromImage(image)
    spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
    origin = tuple(float(o) for o in image.GetOrigin())
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return array, spacing, origin, direction  # type: ignore[return-value]


def _as_image(image: ImageLike, role: str, subject: str | None,
              contrast: bool = False) -> sitk.Image:
    """A SimpleITK image from either accepted input form, checked to be 3-D and scalar (and,
    with ``contrast``, to hold more than one value)."""
    who = _who(subject)
    if isinstance(image, sitk.Image):
        out = image
    elif isinstance(image, tuple) and 2 <= len(image) <= 4:
        out = to_sitk(*image, subject=subject)
    else:
        raise DataValidationError(
            f"The {role} image of {who} is a {type(image).__name__}; pass a SimpleITK image or "
            "a tuple (array, spacing, origin, direction) with the array indexed (z, y, x).")
    if out.GetDimension() != 3:
        raise DataValidationError(
            f"The {role} image of {who} is {out.GetDimension()}-D; registration needs 3-D "
            "images.")
    if out.GetNumberOfComponentsPerPixel() != 1:
        raise DataValidationError(
            f"The {role} image of {who} has {out.GetNumberOfComponentsPerPixel()} values per "
            "voxel; registration needs one (convert colour or vector images to a scalar one).")
    if not contrast:
        return out
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(out)
    if not stats.GetMinimum() < stats.GetMaximum():
        raise DataValidationError(
            f"The {role} image of {who} has the single value {stats.GetMinimum():g} "
            "throughout (or is empty); registration needs contrast. Check that the right "
            "file was read.")
    return out


def _physical_points(image: sitk.Image, index: np.ndarray) -> np.ndarray:
    """Physical LPS positions (mm) of continuous ``(x, y, z)`` indices, one row per point."""
    origin = np.asarray(image.GetOrigin())
    spacing = np.asarray(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return origin + (index * spacing) @ direction.T


def _continuous_index(image: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Continuous ``(x, y, z)`` indices of physical LPS points (mm), one row per point."""
    origin = np.asarray(image.GetOrigin())
    spacing = np.asarray(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return np.linalg.solve(direction, (points - origin).T).T / spacing


def _corners(image: sitk.Image) -> np.ndarray:
    """The 8 corners of the image's voxel-edge box, as physical LPS points (mm)."""
    size = np.asarray(image.GetSize(), dtype=float)
    index = np.array([np.where(b, size - 0.5, -0.5) for b in np.ndindex(2, 2, 2)], dtype=float)
    return _physical_points(image, index)


def _extent(image: sitk.Image) -> str:
    lo, hi = _corners(image).min(axis=0), _corners(image).max(axis=0)
    return ", ".join(f"{a} {lo[i]:.0f} to {hi[i]:.0f}" for i, a in enumerate("xyz")) + " mm"
