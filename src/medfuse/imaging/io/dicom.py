"""DICOM image series and files (pydicom): slices sorted along their normal, gaps and
uneven spacing refused, CT rescaled to Hounsfield units."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medfuse.data.validation import DataValidationError, listing
from medfuse.imaging.io.common import (
    _RTSTRUCT_SOP_CLASS,
    _SEG_SOP_CLASS,
    MISSING_SLICE_FACTOR,
    SPACING_SPREAD,
    Scan,
    ScanWarning,
    UnitsWarning,
    _import,
    _name,
)
from medfuse.imaging.io.suv import _suv_factor


@dataclass
class _Plane:
    """One 2D image (a slice file or a frame) with its geometry and rescale."""

    name: str
    position: np.ndarray | None  # LPS (x, y, z) of the first pixel, mm
    row: np.ndarray | None  # LPS direction in which the column index grows
    col: np.ndarray | None  # LPS direction in which the row index grows
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns), mm
    pixels: np.ndarray  # (rows, columns)
    slope: float = 1.0
    intercept: float = 0.0
    thickness: float | None = None  # SpacingBetweenSlices or SliceThickness, mm

    def values(self) -> np.ndarray:
        return self.pixels.astype(np.float64) * self.slope + self.intercept


def _read_dicom_file(path: Path, subject: str | None) -> Any:
    pydicom = _import("pydicom", "Reading DICOM")
    try:
        return pydicom.dcmread(str(path))
    except Exception as err:  # InvalidDicomError and damaged files
        raise DataValidationError(
            f"Cannot read {_name(path, subject)}: it is neither NIfTI (.nii, .nii.gz) nor a "
            f"readable DICOM file ({err}). Give a NIfTI file, a DICOM file or the folder of a "
            f"DICOM series.") from err


def _dicom_kind(ds: Any) -> str:
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    if sop == _SEG_SOP_CLASS or modality == "SEG":
        return "SEG"
    if sop == _RTSTRUCT_SOP_CLASS or modality == "RTSTRUCT":
        return "RTSTRUCT"
    return modality


def _read_dicom_folder(folder: Path, subject: str | None) -> Scan:
    pydicom = _import("pydicom", "Reading DICOM")
    entries = []
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        if file.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(str(file))
        except (pydicom.errors.InvalidDicomError, OSError, ValueError):
            continue
        if "PixelData" in ds:
            entries.append((file.name, ds))
    if not entries:
        raise DataValidationError(
            f"Folder {_name(folder, subject)} holds no DICOM image file: give the folder of "
            f"one DICOM series (or a NIfTI file).")
    series: dict[str, list[str]] = {}
    for name, ds in entries:
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(name)
    if len(series) > 1:
        shown = listing([f"{uid or '(none)'} ({len(names)} file(s), e.g. {names[0]})"
                         for uid, names in series.items()])
        raise DataValidationError(
            f"Folder {_name(folder, subject)} holds {len(series)} DICOM series "
            f"(SeriesInstanceUID): {shown}. Put each series in a folder of its own and give "
            f"the folder of the one to read.")
    return _scan_from_datasets(entries, folder, subject)


def _functional_item(ds: Any, frame: int, keyword: str) -> Any:
    """The first item of a functional group macro for a frame (per-frame, else shared)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame),
                          ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if seq is not None and index < len(seq) and keyword in seq[index]:
            items = seq[index][keyword].value
            if len(items):
                return items[0]
    return None


def _floats(value: Any) -> np.ndarray:
    return np.asarray([float(v) for v in value], dtype=np.float64)


def _thickness(*sources: Any) -> float | None:
    for source in sources:
        if source is None:
            continue
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = source.get(keyword)
            if value not in (None, "") and float(value) > 0:
                return float(value)
    return None


def _orientation(value: Any) -> tuple[np.ndarray, np.ndarray]:
    cosines = _floats(value)
    row, col = cosines[:3], cosines[3:6]
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def _classic_planes(name: str, ds: Any) -> list[_Plane]:
    """Planes of a classic image file (one frame, or frames along GridFrameOffsetVector)."""
    pixels = np.asarray(ds.pixel_array)
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise ValueError("colour images (SamplesPerPixel > 1) are not scans")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1 and pixels.ndim == 2:
        pixels = pixels[None]
    row = col = position = None
    if "ImageOrientationPatient" in ds:
        row, col = _orientation(ds.ImageOrientationPatient)
    if "ImagePositionPatient" in ds:
        position = _floats(ds.ImagePositionPatient)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    pixel_spacing = tuple(_floats(spacing)[:2]) if spacing else None
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    thickness = _thickness(ds)
    if frames == 1:
        return [_Plane(name, position, row, col, pixel_spacing, pixels[0], slope, intercept,
                       thickness)]
    if position is None or row is None:
        raise ValueError(f"{frames} frames and no ImagePositionPatient/ImageOrientationPatient")
    normal = np.cross(row, col)
    if "GridFrameOffsetVector" in ds:
        offsets = _floats(ds.GridFrameOffsetVector)
    elif thickness is not None:
        offsets = np.arange(frames) * thickness
    else:
        raise ValueError(f"{frames} frames and neither GridFrameOffsetVector nor "
                         f"SpacingBetweenSlices")
    return [_Plane(f"{name} frame {f + 1}", position + offsets[f] * normal, row, col,
                   pixel_spacing, pixels[f], slope, intercept, thickness)
            for f in range(frames)]


def _enhanced_planes(name: str, ds: Any) -> list[_Plane]:
    """Planes of an enhanced multi-frame file, read from its functional groups."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = np.asarray(ds.pixel_array)
    if pixels.ndim == 2:
        pixels = pixels[None]
    planes = []
    top_slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    top_intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    for f in range(frames):
        position = _functional_item(ds, f, "PlanePositionSequence")
        orientation = _functional_item(ds, f, "PlaneOrientationSequence")
        measures = _functional_item(ds, f, "PixelMeasuresSequence")
        rescale = _functional_item(ds, f, "PixelValueTransformationSequence")
        row = col = None
        if orientation is not None and "ImageOrientationPatient" in orientation:
            row, col = _orientation(orientation.ImageOrientationPatient)
        pixel_spacing = None
        if measures is not None and measures.get("PixelSpacing"):
            pixel_spacing = tuple(_floats(measures.PixelSpacing)[:2])
        slope, intercept = top_slope, top_intercept
        if rescale is not None:
            slope = float(rescale.get("RescaleSlope", slope) or slope)
            intercept = float(rescale.get("RescaleIntercept", intercept) or intercept)
        planes.append(_Plane(
            f"{name} frame {f + 1}",
            _floats(position.ImagePositionPatient) if position is not None else None,
            row, col, pixel_spacing, pixels[f], slope, intercept, _thickness(measures, ds)))
    return planes


def _planes(entries: list[tuple[str, Any]], where: Path, subject: str | None) -> list[_Plane]:
    multi = [name for name, ds in entries if int(ds.get("NumberOfFrames", 1) or 1) > 1
             or "PerFrameFunctionalGroupsSequence" in ds]
    if multi and len(entries) > 1:
        raise DataValidationError(
            f"{_name(where, subject)} mixes {len(entries)} files of which multi-frame ones "
            f"({listing(multi)}): give the multi-frame file itself.")
    planes = []
    for name, ds in entries:
        try:
            if "PerFrameFunctionalGroupsSequence" in ds:
                planes.extend(_enhanced_planes(name, ds))
            else:
                planes.extend(_classic_planes(name, ds))
        except (ValueError, AttributeError, KeyError, TypeError) as err:
            raise DataValidationError(
                f"Cannot read the image of {name} in {_name(where, subject)}: {err}. Check "
                f"that it is an uncompressed (or decodable) greyscale DICOM image.") from err
    return planes


def _stack(planes: list[_Plane], where: Path, subject: str | None
           ) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray, np.ndarray]:
    """Sort planes along their normal and check the spacing.

    Returns the (Z, Y, X) float64 values, the (z, y, x) spacing in mm, the LPS origin and
    the direction matrix.
    """
    here = _name(where, subject)
    shapes = {p.pixels.shape for p in planes}
    if len(shapes) > 1:
        raise DataValidationError(
            f"The slices of {here} differ in size (rows, columns): {sorted(shapes)}. Give a "
            f"folder holding a single series.")
    if len(planes) == 1 and (planes[0].position is None or planes[0].row is None):
        plane = planes[0]
        warnings.warn(
            f"{here} carries no ImagePositionPatient/ImageOrientationPatient: it is placed at "
            f"the origin with identity direction.", ScanWarning, stacklevel=4)
        plane.position = np.zeros(3) if plane.position is None else plane.position
        if plane.row is None:
            plane.row, plane.col = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    lacking = [p.name for p in planes if p.position is None or p.row is None]
    if lacking:
        raise DataValidationError(
            f"Slices of {here} lack ImagePositionPatient or ImageOrientationPatient "
            f"({listing(lacking)}): the slices cannot be ordered. Re-export the series with "
            f"its geometry.")
    first = planes[0]
    odd = [p.name for p in planes
           if not (np.allclose(p.row, first.row, atol=1e-3)
                   and np.allclose(p.col, first.col, atol=1e-3))]
    if odd:
        raise DataValidationError(
            f"The slices of {here} have different orientations (ImageOrientationPatient of "
            f"{listing(odd)} differs from {first.name}): the folder must hold one volume.")
    pixel_spacings = {p.pixel_spacing for p in planes if p.pixel_spacing is not None}
    if len(pixel_spacings) > 1 and not np.allclose(
            np.array(sorted(pixel_spacings)), next(iter(pixel_spacings)), rtol=1e-4):
        raise DataValidationError(
            f"The slices of {here} have different PixelSpacing: {sorted(pixel_spacings)}. "
            f"The folder must hold one volume.")
    pixel_spacing = first.pixel_spacing
    if pixel_spacing is None:
        warnings.warn(f"{here} has no PixelSpacing: 1 mm is assumed.", ScanWarning,
                      stacklevel=4)
        pixel_spacing = (1.0, 1.0)
    normal = np.cross(first.row, first.col)
    normal /= np.linalg.norm(normal)
    positions = np.stack([p.position for p in planes])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along = along[order]
    planes = [planes[i] for i in order]
    positions = positions[order]
    if len(planes) == 1:
        dz = first.thickness if first.thickness is not None else 1.0
    else:
        gaps = np.diff(along)
        same = np.flatnonzero(gaps < 1e-3)
        if same.size:
            i = int(same[0])
            raise DataValidationError(
                f"Two slices of {here} lie at the same position ({along[i]:.6g} mm along the "
                f"slice normal: {planes[i].name} and {planes[i + 1].name}): the series holds "
                f"several volumes (echoes, phases or time points). Keep one volume per folder.")
        median = float(np.median(gaps))
        wide = np.flatnonzero(gaps > MISSING_SLICE_FACTOR * median)
        if wide.size:
            i = int(wide[0])
            raise DataValidationError(
                f"A slice seems to be missing in {here}: the gap between {planes[i].name} "
                f"({along[i]:.6g} mm along the slice normal) and {planes[i + 1].name} "
                f"({along[i + 1]:.6g} mm) is {gaps[i]:.6g} mm, more than "
                f"{MISSING_SLICE_FACTOR} x the median slice spacing {median:.6g} mm. Check "
                f"that the folder holds the complete series.")
        spread = float((gaps.max() - gaps.min()) / median)
        if spread > SPACING_SPREAD:
            raise DataValidationError(
                f"The slice spacing of {here} is uneven: it ranges from {gaps.min():.6g} to "
                f"{gaps.max():.6g} mm (median {median:.6g} mm, spread {spread:.1%} > "
                f"{SPACING_SPREAD:.0%}). Resample the series to even spacing first.")
        offsets = positions - positions[0]
        drift = offsets - np.outer(offsets @ normal, normal)
        worst = float(np.linalg.norm(drift, axis=1).max())
        if worst > 0.05 * min(pixel_spacing):
            raise DataValidationError(
                f"The slices of {here} are not stacked along their normal (they drift "
                f"{worst:.6g} mm sideways, as with a tilted gantry): resample the series to "
                f"an orthogonal grid first.")
        dz = float((along[-1] - along[0]) / (len(planes) - 1))
    array = np.stack([p.values() for p in planes])
    direction = np.column_stack([first.row, first.col, normal])
    spacing = (float(dz), float(pixel_spacing[0]), float(pixel_spacing[1]))
    return array, spacing, positions[0].copy(), direction


def _scan_from_datasets(entries: list[tuple[str, Any]], where: Path,
                        subject: str | None) -> Scan:
    ds = entries[0][1]
    kind = _dicom_kind(ds)
    if kind in ("SEG", "RTSTRUCT"):
        raise DataValidationError(
            f"{_name(where, subject)} is a DICOM {kind}, not an image: read it with read_mask "
            f"together with the scan it was drawn on.")
    if "PixelData" not in ds:
        raise DataValidationError(
            f"{_name(where, subject)} is a DICOM file without pixel data "
            f"(SOP class {ds.get('SOPClassUID', '?')}): give an image.")
    array, spacing, origin, direction = _stack(_planes(entries, where, subject), where,
                                               subject)
    modality = str(ds.get("Modality", "")).upper()
    units = ""
    if modality == "CT":
        units = "HU"
    elif modality == "PT":
        stored = str(ds.get("Units", "")).upper()
        factor, problem = _suv_factor([d for _, d in entries])
        if factor is not None:
            array = array * factor
            units = "SUV"
        else:
            units = stored
            warnings.warn(
                f"PET {_name(where, subject)} is left in its stored units "
                f"({stored or 'unknown'}): body-weight SUV cannot be computed ({problem}).",
                UnitsWarning, stacklevel=3)
    else:
        rescale_type = str(ds.get("RescaleType", "")).strip()
        units = rescale_type if rescale_type.upper() not in ("", "US") else ""
    return Scan(array=array, spacing=spacing, origin=tuple(origin), direction=direction,
                modality=modality, units=units, source=str(where))
