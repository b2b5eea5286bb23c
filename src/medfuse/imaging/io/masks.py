"""Masks: label maps (NIfTI or DICOM images), DICOM SEG and RTSTRUCT, on a reference grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medfuse.data.validation import DataValidationError, listing
from medfuse.imaging.io.common import PLANE_TOLERANCE, Scan, _fmt, _import, _name
from medfuse.imaging.io.dicom import _floats, _functional_item, _orientation


def _label_map_mask(scan: Scan, reference: Scan, subject: str | None,
                    label: int | str | None) -> np.ndarray:
    differences = reference.geometry_differences(scan)
    if differences:
        raise DataValidationError(
            f"Mask {_name(scan.source, subject)} does not lie on the grid of the scan "
            f"{reference.source} (scan vs mask): " + "; ".join(differences)
            + ". Resample the mask onto the scan (nearest neighbour) or give the mask drawn "
            "on this scan.")
    values = scan.array
    labels = np.unique(values[values != 0])
    shown = listing([f"{v:g}" for v in labels], limit=20)
    if label is None:
        if labels.size > 1:
            raise DataValidationError(
                f"Mask {_name(scan.source, subject)} holds {labels.size} labels ({shown}): "
                f"pass label= to choose one.")
        return values != 0
    try:
        wanted = float(label)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"Mask {_name(scan.source, subject)} is a label map whose labels are numbers "
            f"({shown}); label={label!r} is not one.") from None
    if wanted not in labels:
        raise DataValidationError(
            f"Mask {_name(scan.source, subject)} has no label {label!r}; its labels are "
            f"{shown or 'none (it is empty)'}.")
    return values == wanted


def _pick(options: dict[int, str], label: int | str | None, what: str, where: str) -> int:
    """Number of the segment or ROI chosen by ``label`` (a number or a name)."""
    shown = listing([f"{n} {name!r}" for n, name in sorted(options.items())], limit=20)
    if not options:
        raise DataValidationError(f"{where} holds no {what}.")
    if label is None:
        if len(options) == 1:
            return next(iter(options))
        raise DataValidationError(
            f"{where} holds {len(options)} {what}s: {shown}. Pass label= (a number or a name) "
            f"to choose one.")
    if isinstance(label, int | np.integer) and not isinstance(label, bool):
        if int(label) in options:
            return int(label)
    else:
        text = str(label)
        for matches in ([n for n, name in options.items() if name == text],
                        [n for n, name in options.items()
                         if name.strip().casefold() == text.strip().casefold()]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise DataValidationError(
                    f"{where} has {len(matches)} {what}s named {text!r} (numbers "
                    f"{matches}): pass the number as label=.")
        if text.strip().isdigit() and int(text) in options:
            return int(text)
    raise DataValidationError(f"{where} has no {what} {label!r}; it holds {shown}.")


def _frame_slice(reference: Scan, position: np.ndarray, row: np.ndarray, col: np.ndarray,
                 pixel_spacing: Sequence[float] | None, shape: tuple[int, int],
                 what: str, where: str) -> int:
    """Index of the reference slice a mask plane lies on; the plane must share its grid."""
    if not (np.allclose(row, reference.direction[:, 0], atol=1e-3)
            and np.allclose(col, reference.direction[:, 1], atol=1e-3)):
        raise DataValidationError(
            f"{what} of {where} has ImageOrientationPatient {_fmt(np.concatenate([row, col]))}"
            f" but the scan {reference.source} "
            f"{_fmt(reference.direction[:, :2].T.ravel())}: resample the mask onto the scan.")
    if tuple(shape) != reference.shape[1:]:
        raise DataValidationError(
            f"{what} of {where} has {shape[0]} x {shape[1]} pixels, the slices of the scan "
            f"{reference.source} {reference.shape[1]} x {reference.shape[2]}: resample the mask "
            f"onto the scan.")
    if pixel_spacing is not None and not np.allclose(pixel_spacing, reference.spacing[1:],
                                                     rtol=1e-3, atol=1e-4):
        raise DataValidationError(
            f"{what} of {where} has pixel spacing {_fmt(pixel_spacing)} mm, the scan "
            f"{reference.source} {_fmt(reference.spacing[1:])} mm: resample the mask onto "
            f"the scan.")
    z, y, x = reference.lps_to_voxel(position)
    k = round(z)
    if (abs(y) > PLANE_TOLERANCE or abs(x) > PLANE_TOLERANCE or abs(z - k) > PLANE_TOLERANCE
            or not 0 <= k < reference.shape[0]):
        raise DataValidationError(
            f"{what} of {where} at {_fmt(position)} mm (LPS) does not fall on a slice of the "
            f"scan {reference.source} (voxel index z, y, x = {_fmt((z, y, x))}): check that the "
            f"mask was drawn on this scan.")
    return int(k)


def _seg_mask(ds: Any, path: Path, reference: Scan, subject: str | None,
              label: int | str | None) -> np.ndarray:
    where = f"Segmentation {_name(path, subject)}"
    segments = {int(item.SegmentNumber): str(item.get("SegmentLabel", ""))
                for item in ds.get("SegmentSequence", [])}
    number = _pick(segments, label, "segment", where)
    try:
        frames = np.asarray(ds.pixel_array)
    except Exception as err:  # pixel decoding errors of several types
        raise DataValidationError(f"Cannot decode the frames of {where}: {err}.") from err
    if frames.ndim == 2:
        frames = frames[None]
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        frames = frames > float(ds.get("MaximumFractionalValue", 255) or 255) / 2.0
    else:
        frames = frames > 0
    mask = np.zeros(reference.shape, dtype=bool)
    for f in range(frames.shape[0]):
        ident = _functional_item(ds, f, "SegmentIdentificationSequence")
        segment = int(ident.ReferencedSegmentNumber) if ident is not None else None
        if segment is None and len(segments) == 1:
            segment = number
        if segment != number:
            continue
        position = _functional_item(ds, f, "PlanePositionSequence")
        orientation = _functional_item(ds, f, "PlaneOrientationSequence")
        measures = _functional_item(ds, f, "PixelMeasuresSequence")
        if position is None or orientation is None:
            raise DataValidationError(
                f"Frame {f + 1} of {where} has no PlanePositionSequence or "
                f"PlaneOrientationSequence: it cannot be placed on the scan.")
        row, col = _orientation(orientation.ImageOrientationPatient)
        spacing = (_floats(measures.PixelSpacing)[:2]
                   if measures is not None and measures.get("PixelSpacing") else None)
        k = _frame_slice(reference, _floats(position.ImagePositionPatient), row, col, spacing,
                         frames.shape[1:], f"Frame {f + 1}", where)
        mask[k] |= frames[f]
    return mask


def _rtstruct_mask(ds: Any, path: Path, reference: Scan, subject: str | None,
                   label: int | str | None) -> np.ndarray:
    mpath = _import("matplotlib.path", "Filling RTSTRUCT contours")
    where = f"Structure set {_name(path, subject)}"
    rois = {int(item.ROINumber): str(item.get("ROIName", ""))
            for item in ds.get("StructureSetROISequence", [])}
    number = _pick(rois, label, "ROI", where)
    _, ny, nx = reference.shape
    mask = np.zeros(reference.shape, dtype=bool)
    for roi in ds.get("ROIContourSequence", []):
        if int(roi.get("ReferencedROINumber", -1)) != number:
            continue
        for c, contour in enumerate(roi.get("ContourSequence", [])):
            if str(contour.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue
            points = _floats(contour.get("ContourData", [])).reshape(-1, 3)
            if len(points) < 3:
                continue
            index = reference.lps_to_voxel(points)  # (N, 3) as (z, y, x)
            k = round(float(np.median(index[:, 0])))
            off = float(np.abs(index[:, 0] - k).max())
            if off > PLANE_TOLERANCE or not 0 <= k < reference.shape[0]:
                raise DataValidationError(
                    f"Contour {c + 1} of ROI {rois[number]!r} in {where} does not lie on a "
                    f"slice of the scan {reference.source} (slice index "
                    f"{float(np.median(index[:, 0])):.3g}, {off:.3g} voxel off): check that "
                    f"the structure set was drawn on this scan.")
            xy = index[:, [2, 1]]
            # only the voxel centres in the polygon's bounding box can be inside
            x0, y0 = np.maximum(np.ceil(xy.min(axis=0) - 1e-6), 0).astype(int)
            x1, y1 = np.minimum(np.floor(xy.max(axis=0) + 1e-6), [nx - 1, ny - 1]).astype(int)
            if x1 < x0 or y1 < y0:
                continue
            grid_y, grid_x = np.mgrid[y0:y1 + 1, x0:x1 + 1]
            centres = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(np.float64)
            polygon = mpath.Path(xy)
            # a centre on the polygon's edge counts as inside: the polygon grown by a hair
            # (the sign of radius that grows it depends on the winding)
            inside = (polygon.contains_points(centres, radius=1e-6)
                      | polygon.contains_points(centres, radius=-1e-6))
            mask[k, y0:y1 + 1, x0:x1 + 1] ^= inside.reshape(grid_y.shape)
    return mask
