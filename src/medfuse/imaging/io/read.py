"""``read_scan`` and ``read_mask``: one entry point per kind of file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medfuse.data.validation import DataValidationError
from medfuse.imaging.io.common import Scan, _check_exists, _check_finite, _is_nifti, _name
from medfuse.imaging.io.dicom import (
    _dicom_kind,
    _read_dicom_file,
    _read_dicom_folder,
    _scan_from_datasets,
)
from medfuse.imaging.io.masks import _label_map_mask, _rtstruct_mask, _seg_mask
from medfuse.imaging.io.nifti import _read_nifti


def read_scan(path: str | Path, *, subject: str | None = None,
              require_3d: bool = False) -> Scan:
    """Read a scan from a NIfTI file, a DICOM file or a folder holding one DICOM series.

    NIfTI (``.nii``, ``.nii.gz``) is read with nibabel; its RAS affine is converted to LPS by
    negating its first two rows, and the ``(x, y, z)`` data array is transposed to
    ``(z, y, x)``. DICOM is read with pydicom: single-frame slices of a folder are sorted by
    the projection of ImagePositionPatient on the slice normal (the cross product of the row
    and column vectors of ImageOrientationPatient), so that index z grows along the normal;
    enhanced multi-frame files are read frame by frame from their functional groups.
    RescaleSlope and RescaleIntercept are applied (CT then is in Hounsfield units). A PET in
    Bq/mL is converted to body-weight SUV when its tags allow (see ``units`` of
    :class:`Scan`); otherwise it keeps its units and a :class:`UnitsWarning` says why.

    Parameters
    ----------
    path : str or Path
        NIfTI file, DICOM file, or folder of one DICOM series (non-DICOM files and DICOM
        files without pixel data in it are ignored).
    subject : str, optional
        Subject the scan belongs to, named in error messages.
    require_3d : bool
        Refuse an image of a single slice.

    Returns
    -------
    Scan
        ``array`` float64 of shape (Z, Y, X), spacing in mm, LPS geometry.

    Raises
    ------
    DataValidationError
        Missing or unreadable file; a folder with several series, a missing slice or uneven
        slice spacing; non-finite voxels; a single slice when ``require_3d`` is true.
    """
    path = Path(path)
    _check_exists(path, subject, "Scan")
    if path.is_dir():
        scan = _read_dicom_folder(path, subject)
    elif _is_nifti(path):
        scan = _read_nifti(path, subject)
    else:
        ds = _read_dicom_file(path, subject)
        scan = _scan_from_datasets([(path.name, ds)], path, subject)
    _check_finite(scan, subject)
    if require_3d and scan.shape[0] < 2:
        raise DataValidationError(
            f"{_name(path, subject)} is a 2D image (a single slice of {scan.shape[1]} x "
            f"{scan.shape[2]} voxels) but a 3D volume is required (require_3d=True): give the "
            f"folder of the whole DICOM series or a 3D NIfTI file.")
    return scan


def read_mask(path: str | Path, reference: Scan, *, subject: str | None = None,
              label: int | str | None = None) -> np.ndarray:
    """Read a region of interest on the voxel grid of a reference scan.

    * NIfTI label map (or a DICOM image used as one): its grid must match the reference's
      (shape, spacing, origin, direction within 1e-3); nonzero voxels (or those equal to
      ``label``) form the mask.
    * DICOM SEG: each frame of the chosen segment is placed on the reference slice at its
      PlanePositionSequence position; frames must share the reference's in-plane grid.
      FRACTIONAL segmentations are thresholded at half their maximum.
    * DICOM RTSTRUCT: the closed planar contours of the chosen ROI are mapped to voxel
      coordinates and filled on the reference slice they lie on; a voxel is inside when its
      centre lies inside or on the polygon. Several contours on one slice combine by
      exclusive or, so a contour inside another cuts a hole.

    Parameters
    ----------
    path : str or Path
        NIfTI file, DICOM SEG or RTSTRUCT file, or DICOM image file or folder.
    reference : Scan
        The scan the mask belongs to.
    subject : str, optional
        Subject, named in error messages.
    label : int or str, optional
        Label value of a label map, segment number or SegmentLabel of a SEG, ROINumber or
        ROIName of an RTSTRUCT. Needed when the file holds several.

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
        The mask on the reference grid.

    Raises
    ------
    DataValidationError
        Missing or unreadable file; grids that do not match (both files and the differences
        are named); several labels, segments or ROIs and no ``label`` (they are listed);
        an unknown ``label``; an empty mask.
    """
    path = Path(path)
    _check_exists(path, subject, "Mask")
    if path.is_dir() or _is_nifti(path):
        mask = _label_map_mask(read_scan(path, subject=subject), reference, subject, label)
    else:
        ds = _read_dicom_file(path, subject)
        kind = _dicom_kind(ds)
        if kind == "SEG":
            mask = _seg_mask(ds, path, reference, subject, label)
        elif kind == "RTSTRUCT":
            mask = _rtstruct_mask(ds, path, reference, subject, label)
        else:
            scan = _scan_from_datasets([(path.name, ds)], path, subject)
            _check_finite(scan, subject)
            mask = _label_map_mask(scan, reference, subject, label)
    if not mask.any():
        chosen = f" for label {label!r}" if label is not None else ""
        raise DataValidationError(
            f"Mask {_name(path, subject)} is empty{chosen}: it selects no voxel of the scan "
            f"{reference.source}. Check that the mask belongs to this scan and holds the ROI.")
    return mask
