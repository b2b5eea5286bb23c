"""What the readers share: the scan with its geometry (conventions in
:mod:`medfuse.imaging.io`), the warnings and the checks of every input."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medfuse.data.validation import DataValidationError

__all__ = ["Scan", "ScanWarning", "UnitsWarning"]

#: A gap between neighbouring slices larger than this multiple of the median slice spacing
#: is taken for a missing slice.
MISSING_SLICE_FACTOR = 1.5
#: Largest accepted spread of the slice spacings, (max - min) / median.
SPACING_SPREAD = 0.01
#: How far (in voxels) a mask frame or contour may lie from a slice of the reference scan.
PLANE_TOLERANCE = 0.1

_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
# NIfTI spatial units (xyzt_units) to millimetres
_NIFTI_UNIT_MM = {"meter": 1000.0, "mm": 1.0, "micron": 1e-3}
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class ScanWarning(UserWarning):
    """A scan was read with an assumption (its geometry or units are incomplete)."""


class UnitsWarning(ScanWarning):
    """A scan is returned in its stored units because the conversion could not be made."""


@dataclass(frozen=True, eq=False)
class Scan:
    """A 3D image with its physical geometry.

    The fields are checked and normalised on construction: ``array`` becomes float64,
    ``spacing`` and ``origin`` tuples of float, ``direction`` a read-only 3 x 3 array.

    Parameters
    ----------
    array : ndarray of float64, shape (Z, Y, X)
        Voxel values in ``units``; axis 0 runs across slices.
    spacing : tuple of float, length 3
        Distance between voxel centres along z, y and x, in mm.
    origin : tuple of float, length 3
        LPS position ``(x, y, z)`` of the centre of voxel ``(0, 0, 0)``, in mm.
    direction : array_like of float, shape (3, 3) or (9,)
        Columns: LPS unit vectors of the array's x, y and z index axes (a 9-element ITK
        direction is reshaped row by row).
    modality : str
        DICOM modality (``"CT"``, ``"MR"``, ``"PT"`` ...) or ``""`` when unknown (NIfTI).
    units : str
        Units of the values: ``"HU"`` (CT), ``"SUV"`` (body-weight SUV of a PET), the DICOM
        ``Units`` of a PET that could not be converted (``"BQML"`` ...), or ``""``.
    source : str
        The file or folder the scan was read from.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    modality: str = ""
    units: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        array = np.asarray(self.array, dtype=np.float64)
        if array.ndim != 3:
            raise DataValidationError(
                f"A scan array must be 3D (z, y, x); got shape {array.shape} "
                f"for {self.source or 'an unnamed scan'}.")
        spacing = tuple(float(s) for s in self.spacing)
        origin = tuple(float(o) for o in self.origin)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise DataValidationError(
                f"Spacing of {self.source or 'a scan'} must be three positive numbers (mm); "
                f"got {self.spacing}.")
        if len(origin) != 3 or not np.all(np.isfinite(origin)):
            raise DataValidationError(
                f"Origin of {self.source or 'a scan'} must be three finite numbers (mm); "
                f"got {self.origin}.")
        direction = np.array(self.direction, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < 1e-6:
            raise DataValidationError(
                f"Direction of {self.source or 'a scan'} must be an invertible 3 x 3 matrix; "
                f"got {direction.tolist()}.")
        direction.setflags(write=False)
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "modality", str(self.modality))
        object.__setattr__(self, "units", str(self.units))
        object.__setattr__(self, "source", str(self.source))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along z, y and x."""
        z, y, x = self.array.shape
        return int(z), int(y), int(x)

    def _index_to_lps_matrix(self) -> np.ndarray:
        """Shape (3, 3): maps an (x, y, z) index step to an LPS displacement in mm."""
        return self.direction * np.asarray(self.spacing[::-1])[None, :]

    def voxel_to_lps(self, index_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
        """LPS position of voxel indices.

        Parameters
        ----------
        index_zyx : array_like, shape (3,) or (N, 3)
            Voxel indices in array order ``(z, y, x)``; fractional indices are allowed.

        Returns
        -------
        ndarray of float64, shape (3,) or (N, 3)
            Positions ``(x, y, z)`` in LPS, mm.
        """
        index = np.asarray(index_zyx, dtype=np.float64)
        if index.shape[-1:] != (3,):
            raise ValueError(f"index_zyx must end in an axis of length 3; got {index.shape}.")
        return np.asarray(self.origin) + index[..., ::-1] @ self._index_to_lps_matrix().T

    def lps_to_voxel(self, point_xyz: Sequence[float] | np.ndarray) -> np.ndarray:
        """Continuous voxel indices of LPS positions (the inverse of :meth:`voxel_to_lps`).

        Parameters
        ----------
        point_xyz : array_like, shape (3,) or (N, 3)
            Positions ``(x, y, z)`` in LPS, mm.

        Returns
        -------
        ndarray of float64, shape (3,) or (N, 3)
            Indices in array order ``(z, y, x)``, not rounded.
        """
        point = np.asarray(point_xyz, dtype=np.float64)
        if point.shape[-1:] != (3,):
            raise ValueError(f"point_xyz must end in an axis of length 3; got {point.shape}.")
        inverse = np.linalg.inv(self._index_to_lps_matrix())
        return ((point - np.asarray(self.origin)) @ inverse.T)[..., ::-1]

    def geometry_differences(self, other: Scan, atol: float = 1e-3) -> list[str]:
        """What differs between the voxel grids of two scans.

        Parameters
        ----------
        other : Scan
            The scan to compare with.
        atol : float
            Absolute tolerance for spacing and origin (mm) and for the direction cosines.

        Returns
        -------
        list of str
            One readable line per differing property (shape, spacing, origin, direction);
            empty when the grids match.
        """
        out = []
        if self.shape != other.shape:
            out.append(f"shape (z, y, x) {self.shape} vs {other.shape}")
        if not np.allclose(self.spacing, other.spacing, rtol=0.0, atol=atol):
            out.append(f"spacing (z, y, x) {_fmt(self.spacing)} mm vs {_fmt(other.spacing)} mm")
        if not np.allclose(self.origin, other.origin, rtol=0.0, atol=atol):
            out.append(f"origin (LPS x, y, z) {_fmt(self.origin)} mm vs {_fmt(other.origin)} mm")
        if not np.allclose(self.direction, other.direction, rtol=0.0, atol=atol):
            out.append(f"direction {_fmt(self.direction.ravel())} vs "
                       f"{_fmt(other.direction.ravel())}")
        return out

    def geometry_matches(self, other: Scan, atol: float = 1e-3) -> bool:
        """Whether two scans share their voxel grid (shape, spacing, origin, direction).

        Parameters
        ----------
        other : Scan
            The scan to compare with.
        atol : float
            Absolute tolerance for spacing and origin (mm) and for the direction cosines.

        Returns
        -------
        bool
        """
        return not self.geometry_differences(other, atol)


def _name(path: str | Path, subject: str | None) -> str:
    """The file, and the subject when known, for messages."""
    return f"{path}" + (f" (subject {subject!r})" if subject is not None else "")


def _fmt(values: Sequence[float] | np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v) + 0.0:.6g}" for v in values) + ")"


def _import(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{what} needs the package {module!r}: install it "
                          f"(pip install {module}).") from err


def _check_exists(path: Path, subject: str | None, what: str) -> None:
    if not path.exists():
        raise DataValidationError(
            f"{what} file {_name(path, subject)} does not exist: check the path (and the "
            f"subject's entry that points to it).")


def _check_finite(scan: Scan, subject: str | None) -> None:
    nan = int(np.isnan(scan.array).sum())
    inf = int(np.isinf(scan.array).sum())
    if nan or inf:
        parts = [f"{n} {kind} voxel(s)" for n, kind in ((nan, "NaN"), (inf, "infinite")) if n]
        raise DataValidationError(
            f"Scan {_name(scan.source, subject)} has {' and '.join(parts)} out of "
            f"{scan.array.size}: replace them by a valid value (e.g. the background) before "
            f"reading it.")


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")
