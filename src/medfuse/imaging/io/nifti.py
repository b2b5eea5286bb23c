"""NIfTI files (nibabel), their RAS affine brought to LPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medfuse.data.validation import DataValidationError
from medfuse.imaging.io.common import _NIFTI_UNIT_MM, _RAS_TO_LPS, Scan, _import, _name


def _read_nifti(path: Path, subject: str | None) -> Scan:
    nib = _import("nibabel", "Reading NIfTI")
    try:
        image = nib.load(str(path))
        data = np.asarray(image.get_fdata(caching="unchanged"), dtype=np.float64)
    except Exception as err:  # nibabel raises several types for a damaged file
        raise DataValidationError(
            f"Cannot read {_name(path, subject)} as NIfTI ({err}): check that the file is a "
            f"complete .nii or .nii.gz image.") from err
    if data.ndim == 2:
        data = data[:, :, None]
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataValidationError(
            f"{_name(path, subject)} holds a {data.ndim}D image of shape {data.shape}; a 3D "
            f"scan is expected: save the volume to use as a file of its own.")
    spatial_unit = image.header.get_xyzt_units()[0]
    to_mm = _NIFTI_UNIT_MM.get(spatial_unit, 1.0)
    # nibabel's affine maps (i, j, k, 1) to RAS+ millimetres; negating the first two rows
    # gives LPS+, the frame DICOM and ITK use.
    affine_lps = _RAS_TO_LPS @ np.asarray(image.affine, dtype=np.float64)
    columns = affine_lps[:3, :3] * to_mm
    spacing_xyz = np.linalg.norm(columns, axis=0)
    if np.any(spacing_xyz <= 0) or not np.all(np.isfinite(columns)):
        raise DataValidationError(
            f"{_name(path, subject)} has a degenerate affine {image.affine.tolist()}: fix its "
            f"sform/qform (pixdim must be positive).")
    direction = columns / spacing_xyz[None, :]
    origin = affine_lps[:3, 3] * to_mm
    return Scan(array=np.ascontiguousarray(np.transpose(data, (2, 1, 0))),
                spacing=tuple(spacing_xyz[::-1]), origin=tuple(origin), direction=direction,
                modality="", units="", source=str(path))
