"""Reading scans and masks: NIfTI, DICOM series, enhanced DICOM, SEG and RTSTRUCT."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from medfuse.data.validation import DataValidationError
from medfuse.imaging.io import Scan, UnitsWarning, read_mask, read_scan

SHARED = Path(__file__).resolve().parents[3] / "shared"
PHANTOM = SHARED / "data" / "ibsi_digital_phantom"

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# rows run inferior, columns posterior: the slice normal is -x (towards the patient's right)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _phantom() -> Path:
    if not PHANTOM.exists():
        pytest.skip("the IBSI digital phantom (../shared/data/ibsi_digital_phantom) is absent")
    return PHANTOM


# --------------------------------------------------------------------------------------
# writers of synthetic files
# --------------------------------------------------------------------------------------


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib = pytest.importorskip("nibabel")
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def _new_dicom(path: Path, sop_class: str):
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "P1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    return ds


def _write_slice(path: Path, pixels: np.ndarray, position, *, series: str = "1.2.3.4.1",
                 orientation=AXIAL, pixel_spacing=(0.8, 0.6), modality: str = "CT",
                 slope: float = 1.0, intercept: float = 0.0, instance: int = 1,
                 **tags) -> Path:
    """One single-frame image with signed 16-bit pixels, built from scratch."""
    ds = _new_dicom(path, PET_STORAGE if modality == "PT" else CT_STORAGE)
    ds.Modality = modality
    ds.SeriesInstanceUID = series
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = list(pixel_spacing)
    ds.SliceThickness = 2.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.asarray(pixels, dtype="<i2").tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


BASE = np.arange(6 * 7, dtype=np.int16).reshape(6, 7) % 50
XS = (10.0, 8.0, 6.0, 4.0, 2.0)  # slice positions (LPS x, mm) in the order the normal sorts


def _sagittal_series(folder: Path, xs=XS, skip: float | None = None,
                     moved: dict[float, float] | None = None) -> Path:
    """Slices at LPS x = ``xs``; slice i holds BASE + 100 i; files named in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(3).permutation(len(xs))
    for n, i in enumerate(order):
        x = xs[i]
        if x == skip:
            continue
        x = (moved or {}).get(x, x)
        _write_slice(folder / f"im{n:02d}.dcm", BASE + 100 * int(i), (x, -20.0, 35.0),
                     orientation=SAGITTAL, intercept=-1024.0, instance=int(n) + 1)
    return folder


# --------------------------------------------------------------------------------------
# pydicom's CT_small.dcm
# --------------------------------------------------------------------------------------


def test_ct_small_in_hounsfield_units_with_the_tag_geometry():
    pydicom = pytest.importorskip("pydicom")
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    scan = read_scan(path)
    assert scan.modality == "CT" and scan.units == "HU"
    assert scan.array.dtype == np.float64 and scan.shape == (1, ds.Rows, ds.Columns)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(scan.array[0], expected)
    assert scan.spacing[1:] == tuple(float(v) for v in ds.PixelSpacing)
    assert scan.spacing[0] == float(ds.SpacingBetweenSlices)
    np.testing.assert_allclose(scan.origin, [float(v) for v in ds.ImagePositionPatient])
    row, col = np.asarray(ds.ImageOrientationPatient, dtype=float).reshape(2, 3)
    np.testing.assert_allclose(scan.direction, np.column_stack([row, col, np.cross(row, col)]))
    assert scan.source == str(path)


def test_a_single_slice_is_refused_only_when_3d_is_required():
    pydicom = pytest.importorskip("pydicom")
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    with pytest.raises(DataValidationError, match=r"2D image.*require_3d=True.*S9|S9.*2D"):
        read_scan(path, subject="S9", require_3d=True)


# --------------------------------------------------------------------------------------
# the IBSI digital phantom: NIfTI and DICOM (enhanced multi-frame MR and a SEG)
# --------------------------------------------------------------------------------------


def _same_as_simpleitk(scan: Scan, image) -> None:
    """Every voxel of ``scan`` has the value SimpleITK reads at the same LPS point."""
    values = np.asarray(pytest.importorskip("SimpleITK").GetArrayFromImage(image), float)
    for k, j, i in np.ndindex(scan.shape):
        point = scan.voxel_to_lps((k, j, i))
        ii, jj, kk = image.TransformPhysicalPointToContinuousIndex(tuple(point))
        index = np.round([kk, jj, ii]).astype(int)
        np.testing.assert_allclose([kk, jj, ii], index, atol=1e-3)
        assert values[tuple(index)] == scan.array[k, j, i]


def test_phantom_nifti_and_dicom_give_the_same_values_and_each_its_lps_geometry():
    sitk = pytest.importorskip("SimpleITK")
    pytest.importorskip("nibabel")
    pytest.importorskip("pydicom")
    phantom = _phantom()
    nifti = read_scan(phantom / "nifti" / "image" / "phantom.nii.gz")
    dicom = read_scan(phantom / "dicom" / "image" / "phantom.dcm", require_3d=True)
    assert nifti.shape == dicom.shape == (4, 4, 5)
    assert dicom.modality == "MR" and nifti.modality == ""
    # the files store the same 80 grey levels; the NIfTI's z index runs along the DICOM's
    # rows and its y index along the DICOM's (sorted) frames
    np.testing.assert_array_equal(nifti.array, np.transpose(dicom.array, (1, 0, 2)))
    assert set(np.unique(nifti.array)) == {1.0, 3.0, 4.0, 6.0, 9.0}

    # NIfTI: RAS affine diag(-2, -2, 2) -> LPS identity with 2 mm voxels
    assert nifti.spacing == (2.0, 2.0, 2.0)
    np.testing.assert_allclose(nifti.origin, (0, 0, 0), atol=1e-3)
    np.testing.assert_allclose(nifti.direction, np.eye(3), atol=1e-3)
    # DICOM: ImageOrientationPatient (1, 0, 0, 0, 0, -1), frames at y = 3, 2, 1, 0 -> sorted
    # along the normal (0, 1, 0), 1 mm voxels
    assert dicom.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(dicom.origin, (0, 0, 0), atol=1e-3)
    np.testing.assert_allclose(dicom.direction, [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-3)

    # each reading puts every value where SimpleITK (an independent LPS reader) puts it
    for scan in (nifti, dicom):
        image = sitk.ReadImage(scan.source)
        _same_as_simpleitk(scan, image)
        np.testing.assert_allclose(sorted(image.GetSpacing()), sorted(scan.spacing), atol=1e-3)


def test_phantom_formats_do_not_share_a_voxel_grid():
    """The shipped NIfTI and DICOM files disagree on the geometry (2 mm axial voxels vs 1 mm
    coronal voxels whose rows run inferior): the readers report it rather than hide it."""
    pytest.importorskip("nibabel")
    pytest.importorskip("pydicom")
    phantom = _phantom()
    nifti = read_scan(phantom / "nifti" / "image" / "phantom.nii.gz")
    dicom = read_scan(phantom / "dicom" / "image" / "phantom.dcm")
    differences = nifti.geometry_differences(dicom)
    assert not nifti.geometry_matches(dicom)
    assert [d.split(" ")[0] for d in differences] == ["spacing", "direction"]
    with pytest.raises(DataValidationError, match=r"mask\.nii\.gz.*phantom\.dcm.*spacing"):
        read_mask(phantom / "nifti" / "mask" / "mask.nii.gz", dicom)
    with pytest.raises(DataValidationError, match=r"mask\.dcm.*phantom\.nii\.gz"):
        read_mask(phantom / "dicom" / "mask" / "mask.dcm", nifti)


def test_phantom_masks_from_nifti_and_dicom_seg_match():
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("nibabel")
    phantom = _phantom()
    seg_path = phantom / "dicom" / "mask" / "mask.dcm"
    assert pydicom.dcmread(seg_path).Modality == "SEG"  # the DICOM mask is a SEG
    nifti = read_scan(phantom / "nifti" / "image" / "phantom.nii.gz")
    dicom = read_scan(phantom / "dicom" / "image" / "phantom.dcm")
    from_nifti = read_mask(phantom / "nifti" / "mask" / "mask.nii.gz", nifti)
    from_seg = read_mask(seg_path, dicom)
    assert from_nifti.dtype == bool and from_nifti.shape == nifti.shape
    assert from_seg.dtype == bool and from_seg.shape == dicom.shape
    np.testing.assert_array_equal(from_nifti, np.transpose(from_seg, (1, 0, 2)))
    assert from_nifti.sum() == 74
    # the segment chosen by number or (case-insensitive) label
    np.testing.assert_array_equal(read_mask(seg_path, dicom, label=1), from_seg)
    np.testing.assert_array_equal(read_mask(seg_path, dicom, label="roi"), from_seg)
    with pytest.raises(DataValidationError, match=r"no segment 2.*1 'ROI'"):
        read_mask(seg_path, dicom, label=2)


def test_seg_with_several_segments_needs_a_label(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    phantom = _phantom()
    ds = pydicom.dcmread(phantom / "dicom" / "mask" / "mask.dcm")
    extra = copy.deepcopy(ds.SegmentSequence[0])
    extra.SegmentNumber = 2
    extra.SegmentLabel = "other"
    ds.SegmentSequence.append(extra)
    path = tmp_path / "two_segments.dcm"
    ds.save_as(str(path))
    dicom = read_scan(phantom / "dicom" / "image" / "phantom.dcm")
    with pytest.raises(DataValidationError, match=r"2 segments: 1 'ROI', 2 'other'.*label="):
        read_mask(path, dicom, subject="S1")
    assert read_mask(path, dicom, label="ROI").sum() == 74
    # segment 2 has no frames
    with pytest.raises(DataValidationError, match=r"two_segments\.dcm.*empty"):
        read_mask(path, dicom, label="other")


# --------------------------------------------------------------------------------------
# orientation of NIfTI
# --------------------------------------------------------------------------------------

_ROT_Z = np.array([[0.0, -2.0, 0.0, 10.0], [3.0, 0.0, 0.0, -20.0], [0.0, 0.0, 1.5, 5.0],
                   [0.0, 0.0, 0.0, 1.0]])
_c, _s = np.cos(np.pi / 6), np.sin(np.pi / 6)
_OBLIQUE = np.array([[1, 0, 0, 0], [0, _c, -_s, 0], [0, _s, _c, 0], [0, 0, 0, 1]]) @ _ROT_Z


@pytest.mark.parametrize("affine", [_ROT_Z, _OBLIQUE], ids=["rot90", "oblique"])
def test_nifti_ras_affine_becomes_lps(tmp_path, affine):
    sitk = pytest.importorskip("SimpleITK")
    data = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)  # (i, j, k)
    path = _save_nifti(tmp_path / "rotated.nii.gz", data, affine)
    scan = read_scan(path)
    np.testing.assert_array_equal(scan.array, np.transpose(data, (2, 1, 0)))
    np.testing.assert_allclose(scan.spacing, (1.5, 2.0, 3.0), atol=1e-6)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    np.testing.assert_allclose(scan.origin, lps[:3, 3], atol=1e-5)
    np.testing.assert_allclose(scan.direction, lps[:3, :3] / [3.0, 2.0, 1.5], atol=1e-6)
    if affine is _ROT_Z:  # i runs posterior-to-anterior, j right-to-left
        np.testing.assert_allclose(scan.origin, (-10.0, 20.0, 5.0))
        np.testing.assert_allclose(scan.direction, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]],
                                   atol=1e-7)
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(image.GetOrigin(), scan.origin, atol=1e-4)
    np.testing.assert_allclose(image.GetSpacing(), scan.spacing[::-1], atol=1e-5)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), scan.direction,
                               atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), scan.array)
    for i, j, k in [(0, 0, 0), (3, 0, 0), (0, 4, 0), (0, 0, 5), (2, 3, 4), (3, 4, 5)]:
        expected = (lps @ [i, j, k, 1.0])[:3]
        np.testing.assert_allclose(scan.voxel_to_lps((k, j, i)), expected, atol=1e-5)
        np.testing.assert_allclose(
            image.TransformContinuousIndexToPhysicalPoint((i, j, k)), expected, atol=1e-4)
        np.testing.assert_allclose(scan.lps_to_voxel(expected), (k, j, i), atol=1e-6)
    many = np.array([[0, 0, 0], [5, 4, 3], [1.5, 2.5, 0.5]])
    np.testing.assert_allclose(scan.lps_to_voxel(scan.voxel_to_lps(many)), many, atol=1e-9)


# --------------------------------------------------------------------------------------
# DICOM series written from scratch
# --------------------------------------------------------------------------------------


def test_series_read_in_shuffled_file_order_comes_back_sorted(tmp_path):
    folder = _sagittal_series(tmp_path / "ct")
    (tmp_path / "ct" / "notes.txt").write_text("not DICOM")
    scan = read_scan(folder, require_3d=True)
    assert scan.shape == (5, 6, 7) and scan.units == "HU"
    for k in range(5):
        np.testing.assert_array_equal(scan.array[k], BASE + 100 * k - 1024.0)
    np.testing.assert_allclose(scan.spacing, (2.0, 0.8, 0.6))
    np.testing.assert_allclose(scan.origin, (10.0, -20.0, 35.0))
    np.testing.assert_allclose(scan.direction, [[0, 0, -1], [1, 0, 0], [0, -1, 0]])
    np.testing.assert_allclose(scan.voxel_to_lps((4, 5, 6)),
                               (10.0 - 8.0, -20.0 + 6 * 0.6, 35.0 - 5 * 0.8))
    sitk = pytest.importorskip("SimpleITK")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    _same_as_simpleitk(scan, reader.Execute())


def test_series_with_a_missing_slice_is_refused(tmp_path):
    folder = _sagittal_series(tmp_path / "ct", skip=6.0)
    with pytest.raises(DataValidationError,
                       match=r"slice seems to be missing in .*ct \(subject 'S3'\).*4 mm"):
        read_scan(folder, subject="S3")


def test_series_with_uneven_spacing_is_refused(tmp_path):
    folder = _sagittal_series(tmp_path / "ct", moved={6.0: 6.3})
    with pytest.raises(DataValidationError, match=r"spacing of .*ct \(subject 'S3'\) is uneven"):
        read_scan(folder, subject="S3")


def test_folder_with_two_series_is_refused(tmp_path):
    folder = _sagittal_series(tmp_path / "ct")
    _write_slice(folder / "other.dcm", BASE, (0.0, -20.0, 35.0), series="1.2.3.4.2",
                 orientation=SAGITTAL)
    with pytest.raises(DataValidationError, match=r"ct \(subject 'S3'\) holds 2 DICOM series"):
        read_scan(folder, subject="S3")


_PET_TAGS = {"Units": "BQML", "DecayCorrection": "START", "PatientWeight": 72.5,
             "SeriesDate": "20240102", "SeriesTime": "101500",
             "AcquisitionDate": "20240102", "AcquisitionTime": "101530"}


def _pet_series(folder: Path, **tags) -> tuple[Path, list[np.ndarray]]:
    from pydicom.dataset import Dataset

    folder.mkdir()
    drug = Dataset()
    drug.RadiopharmaceuticalStartTime = "091000"
    drug.RadionuclideTotalDose = 370000000
    drug.RadionuclideHalfLife = 6586.2
    activity = []
    for z, slope in enumerate((0.5, 0.25, 2.0)):
        pixels = (BASE + 10 * z) * 40
        activity.append(pixels * slope)
        _write_slice(folder / f"pt{2 - z}.dcm", pixels, (-5.0, 7.0, 3.0 * z), modality="PT",
                     slope=slope, RadiopharmaceuticalInformationSequence=[drug],
                     **{**_PET_TAGS, **tags})
    return folder, activity


def test_pet_with_the_tags_is_read_as_body_weight_suv(tmp_path):
    pytest.importorskip("pydicom")
    folder, activity = _pet_series(tmp_path / "pet")
    scan = read_scan(folder)
    assert scan.modality == "PT" and scan.units == "SUV"
    # injected 09:10:00, scan (series) start 10:15:00: 3900 s of decay of 370 MBq of F-18
    dose_at_start = 370e6 * 0.5 ** (3900 / 6586.2)
    expected = np.stack(activity) * 72.5 * 1000.0 / dose_at_start
    np.testing.assert_allclose(scan.array, expected, rtol=1e-12)
    np.testing.assert_allclose(scan.spacing, (3.0, 0.8, 0.6))


def test_pet_without_weight_keeps_its_units_and_warns(tmp_path):
    pytest.importorskip("pydicom")
    folder, activity = _pet_series(tmp_path / "pet", PatientWeight="")
    with pytest.warns(UnitsWarning, match=r"BQML.*PatientWeight is missing"):
        scan = read_scan(folder)
    assert scan.units == "BQML"
    np.testing.assert_allclose(scan.array, np.stack(activity))


def _square(scan: Scan, k: int, y0: float, y1: float, x0: float, x1: float) -> list[float]:
    """Contour points (LPS, flattened) of a rectangle in voxel coordinates on slice k; the
    corners run the other way round when y0 > y1."""
    corners = [(k, y0, x0), (k, y0, x1), (k, y1, x1), (k, y1, x0)]
    return [round(float(v), 4) for v in scan.voxel_to_lps(np.array(corners)).ravel()]


def test_rtstruct_roi_is_filled_on_the_reference_slices(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset

    folder = tmp_path / "ct"
    folder.mkdir()
    pixels = np.zeros((10, 12), dtype=np.int16)
    for z in range(3):
        _write_slice(folder / f"ct{z}.dcm", pixels, (-5.0, 7.0, 2.0 * z))
    scan = read_scan(folder)
    contours = {
        # a ring on slice 1: a contour inside another cuts a hole
        2: [(1, 0.5, 6.5, 1.5, 8.5), (1, 2.5, 4.5, 3.5, 5.5),
            # drawn through voxel centres, either way round: centres on the edge are inside
            (2, 2, 4, 2, 4), (0, 8, 6, 8, 10)],
        1: [(0, -0.5, 9.5, -0.5, 11.5)],
    }
    rts = _new_dicom(tmp_path / "rs.dcm", RTSTRUCT_STORAGE)
    rts.Modality = "RTSTRUCT"
    rts.SeriesInstanceUID = "1.2.3.4.9"
    names = {1: "body", 2: "lesion"}
    rts.StructureSetROISequence = []
    rts.ROIContourSequence = []
    for number, name in names.items():
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        rts.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for k, y0, y1, x0, x1 in contours[number]:
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = 4
            contour.ContourData = _square(scan, k, y0, y1, x0, x1)
            item.ContourSequence.append(contour)
        rts.ROIContourSequence.append(item)
    rts.save_as(str(tmp_path / "rs.dcm"), enforce_file_format=True)

    expected = np.zeros(scan.shape, dtype=bool)
    expected[1, 1:7, 2:9] = True
    expected[1, 3:5, 4:6] = False
    expected[2, 2:5, 2:5] = True
    expected[0, 6:9, 8:11] = True
    lesion = read_mask(tmp_path / "rs.dcm", scan, label="lesion")
    np.testing.assert_array_equal(lesion, expected)
    np.testing.assert_array_equal(read_mask(tmp_path / "rs.dcm", scan, label=2), expected)
    body = read_mask(tmp_path / "rs.dcm", scan, label="body")
    assert body[0].all() and not body[1:].any()
    with pytest.raises(DataValidationError, match=r"2 ROIs: 1 'body', 2 'lesion'"):
        read_mask(tmp_path / "rs.dcm", scan, subject="S2")
    with pytest.raises(DataValidationError, match=r"read it with read_mask"):
        read_scan(tmp_path / "rs.dcm")


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------


def _nifti_pair(tmp_path: Path, mask: np.ndarray, mask_affine=None) -> tuple[Scan, Path]:
    """A 4 x 5 x 6 NIfTI scan (1 mm) and a mask file; arrays given as (x, y, z)."""
    image = _save_nifti(tmp_path / "scan.nii.gz", np.ones((4, 5, 6), np.float32), np.eye(4))
    path = _save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.int16),
                       np.eye(4) if mask_affine is None else mask_affine)
    return read_scan(image), path


def test_missing_files_are_named_with_the_subject(tmp_path):
    with pytest.raises(DataValidationError, match=r"absent\.nii\.gz \(subject 'S-007'\)"):
        read_scan(tmp_path / "absent.nii.gz", subject="S-007")
    scan = Scan(np.zeros((2, 2, 2)), (1, 1, 1), (0, 0, 0), np.eye(3))
    with pytest.raises(DataValidationError, match=r"Mask file .*roi\.dcm \(subject 'S-007'\)"):
        read_mask(tmp_path / "roi.dcm", scan, subject="S-007")


def test_mask_on_another_grid_names_both_files_and_the_difference(tmp_path):
    mask = np.zeros((4, 5, 6))
    mask[1:3, 1:3, 1:3] = 1
    scan, path = _nifti_pair(tmp_path, mask, np.diag([2.0, 2.0, 2.0, 1.0]))
    with pytest.raises(DataValidationError) as err:
        read_mask(path, scan, subject="S4")
    message = str(err.value)
    assert "mask.nii.gz (subject 'S4')" in message and "scan.nii.gz" in message
    assert "spacing (z, y, x) (1, 1, 1) mm vs (2, 2, 2) mm" in message
    assert "origin" not in message and "Resample the mask" in message


def test_mask_with_several_labels_needs_one(tmp_path):
    mask = np.zeros((4, 5, 6))
    mask[0, 0, :3] = 1
    mask[2, 3, 1:] = 2
    scan, path = _nifti_pair(tmp_path, mask)
    with pytest.raises(DataValidationError, match=r"mask\.nii\.gz holds 2 labels \(1, 2\)"):
        read_mask(path, scan)
    chosen = read_mask(path, scan, label=2)
    assert chosen.dtype == bool and chosen.sum() == 5 and chosen[1:, 3, 2].all()
    with pytest.raises(DataValidationError, match=r"no label 3; its labels are 1, 2"):
        read_mask(path, scan, label=3)


def test_empty_mask_is_refused(tmp_path):
    scan, path = _nifti_pair(tmp_path, np.zeros((4, 5, 6)))
    with pytest.raises(DataValidationError, match=r"mask\.nii\.gz \(subject 'S5'\) is empty"):
        read_mask(path, scan, subject="S5")


def test_nan_voxels_are_refused_with_their_count(tmp_path):
    data = np.ones((4, 5, 6), np.float32)
    data[0, 1, 2] = data[3, 4, 5] = data[2, 2, 2] = np.nan
    path = _save_nifti(tmp_path / "nan.nii.gz", data, np.eye(4))
    with pytest.raises(DataValidationError, match=r"nan\.nii\.gz \(subject 'S6'\) has 3 NaN"):
        read_scan(path, subject="S6")


def test_unreadable_file_is_refused(tmp_path):
    pytest.importorskip("pydicom")
    path = tmp_path / "scan.txt"
    path.write_text("hello")
    with pytest.raises(DataValidationError, match=r"scan\.txt.*neither NIfTI"):
        read_scan(path)
