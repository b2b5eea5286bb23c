"""The radiomics chain as a whole: settings, discretisation, every IBSI-1 family of the
digital phantom at once, the ``medfuse radiomics`` command and the ``radiomics``
representation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.imaging.radiomics.features import FAMILIES, aggregation_of, extract
from medfuse.imaging.radiomics.settings import (
    PRESETS,
    RadiomicsSettings,
    discretise,
    make_roi,
    preset,
    resegment,
    volume_histogram_roi,
)
from tests.imaging.ibsi_phantom import PHANTOM, mismatches, phantom_arrays, reference_values

pytest.importorskip("skimage")


def test_every_family_of_the_digital_phantom_matches_the_ibsi_references():
    image, mask, spacing = phantom_arrays()
    values = extract(image, mask, spacing, preset("ibsi1-phantom"))
    reference = reference_values()
    offered = reference.index.intersection(list(values))
    assert len(offered) / len(reference) >= 0.95, f"{len(offered)} of {len(reference)}"
    assert set(values) <= set(reference.index), set(values) - set(reference.index)
    assert not mismatches(values, ""), mismatches(values, "")


def test_families_and_aggregations_filter_the_tags():
    image, mask, spacing = phantom_arrays()
    some = extract(image, mask, spacing,
                   RadiomicsSettings(discretisation="none", n_bins=None, aggregation=("3D",)),
                   families=["stat", "cm", "szm"])
    assert {t.split("_")[0] for t in some} == {"stat", "cm", "szm"}
    assert {aggregation_of(t) for t in some} == {None, "3D"}
    with pytest.raises(ValueError, match="unknown feature family glcm; choose from morph"):
        extract(image, mask, spacing, families=["glcm"])
    assert set(FAMILIES) == {t.split("_")[0] for t in reference_values().index}


def test_fixed_bin_number_and_size_follow_the_ibsi_formulas():
    x = np.array([-10.0, -4.0, 0.0, 5.0, 10.0])
    levels, n, how = discretise(x, RadiomicsSettings(n_bins=4))
    # floor(4 (x + 10) / 20) + 1, the maximum in the last bin
    assert levels.tolist() == [1, 2, 3, 4, 4] and n == 4 and how.lower == -10.0
    by_size = RadiomicsSettings(discretisation="fixed_bin_size", n_bins=None, bin_size=5.0,
                                resegment=(-20.0, 20.0))
    levels, n, how = discretise(x, by_size)
    # floor((x + 20) / 5) + 1: the lower bound of the re-segmentation range starts bin 1
    assert levels.tolist() == [3, 4, 5, 6, 7] and n == 7 and how.bin_size == 5.0
    constant, n, _ = discretise(np.full(3, 2.0), RadiomicsSettings(n_bins=8))
    assert constant.tolist() == [1, 1, 1] and n == 1


def test_resegmentation_by_range_and_outliers():
    image = np.zeros((1, 1, 12))
    image[0, 0, :] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, -300]
    mask = np.ones_like(image, bool)
    kept = resegment(image, mask, RadiomicsSettings(resegment=(-100.0, 1000.0)))
    assert kept.sum() == 11 and not kept[0, 0, 11]
    limit = 1.0 * image.std()
    kept = resegment(image, mask, RadiomicsSettings(resegment=(-100.0, 1000.0),
                                                    outlier_sd=1.0))
    assert np.array_equal(kept[0, 0], np.abs(image[0, 0] - image.mean()) <= limit)
    assert not kept[0, 0, 10] and not kept[0, 0, 11]


def test_outlier_limits_come_from_the_whole_roi_not_the_range_limited_one():
    # Ten voxels at 0, one at 30 and one at -1000 outside the range. Over the whole ROI the
    # 3 sd limits are about [-913, 751] and keep the 30; over the range-limited voxels they
    # would be about [-23, 29] and drop it. IBSI-1 takes the mean and sd of the ROI, and each
    # method removes voxels from the intensity mask: an intersection, in either order.
    image = np.zeros((1, 1, 12))
    image[0, 0, 10:] = [30.0, -1000.0]
    mask = np.ones_like(image, bool)
    kept = resegment(image, mask, RadiomicsSettings(resegment=(-100.0, 1000.0),
                                                    outlier_sd=3.0))
    assert kept[0, 0, 10] and not kept[0, 0, 11] and kept.sum() == 11
    outliers = resegment(image, mask, RadiomicsSettings(outlier_sd=3.0))
    in_range = resegment(image, mask, RadiomicsSettings(resegment=(-100.0, 1000.0)))
    assert np.array_equal(kept, outliers & in_range)


def test_the_ivh_of_integer_intensities_reads_them_over_the_resegmentation_range():
    # Integer HU and no IVH discretisation (IBSI-1 "definite intensity units, discrete
    # case"): the IVH steps by 1 HU over G = [-10, 30], not over the 4 texture bins. With
    # X = 0, 0, 5, 10, 10, 20: nu = 1 up to 0, 4/6 up to 5, 3/6 up to 10, 1/6 up to 20, then
    # 0; gamma = (i + 10) / 40. V10 = nu(-6) = 1, V90 = nu(26) = 0, I90 = 1, I10 = 21 and
    # AUC = (11 + 5 * 4/6 + 5 * 3/6 + 10/6 - 1/2) / 40 = 0.45.
    image = np.array([0, 0, 5, 10, 10, 20], float).reshape(1, 1, -1)
    mask = np.ones_like(image)
    settings = RadiomicsSettings(resegment=(-10.0, 30.0), n_bins=4, aggregation=("2D",))
    values = extract(image, mask, (1, 1, 1), settings, families=["ivh"])
    assert values == pytest.approx({"ivh_v10": 1.0, "ivh_v90": 0.0, "ivh_i10": 21.0,
                                    "ivh_i90": 1.0, "ivh_diff_v10_v90": 1.0,
                                    "ivh_diff_i10_i90": 20.0, "ivh_auc": 0.45})
    # without a range G is the ROI's [0, 20]: V90 = nu(18) = 1/6
    free = extract(image, mask, (1, 1, 1), RadiomicsSettings(n_bins=4, aggregation=("2D",)),
                   families=["ivh"])
    assert free["ivh_v90"] == pytest.approx(1 / 6) and free["ivh_i10"] == 21.0
    # intensities that are not integers keep the texture grey levels
    roi = make_roi(image + 0.5, mask, (1, 1, 1), settings)
    assert volume_histogram_roi(roi, settings) is roi


def test_presets_are_the_five_ibsi_ct_configurations():
    assert {f"ibsi1-{c}" for c in "abcde"} <= set(PRESETS)
    a, b, c, d, e = (preset(f"ibsi1-{k}") for k in "abcde")
    assert a.spacing is None and a.bin_size == 25 and a.resegment == (-500, 400)
    assert b.spacing == (None, 2.0, 2.0) and b.n_bins == 32
    assert c.spacing == (2.0, 2.0, 2.0) and c.resegment == (-1000, 400) and c.bin_size == 25
    assert d.outlier_sd == 3 and d.resegment is None and d.n_bins == 32
    # IVH: the HU as they are for A, B and D; 2.5 HU bins for C, 1000 bins for E
    assert a.ivh is None and b.ivh is None and d.ivh is None
    assert c.ivh == ("fixed_bin_size", 2.5) and e.ivh == ("fixed_bin_number", 1000)
    assert e.interpolator == "bspline" and e.outlier_sd == 3 and e.resegment == (-1000, 400)
    assert {x.aggregation for x in (a, b)} == {("2D", "2_5D")}
    assert {x.aggregation for x in (c, d, e)} == {("3D",)}
    with pytest.raises(ValueError, match="unknown radiomics preset 'ibsi9'"):
        preset("ibsi9")


def test_settings_from_a_mapping_start_from_a_preset_and_name_unknown_keys():
    s = RadiomicsSettings.from_mapping({"preset": "ibsi1-c", "bin_size": 10,
                                        "spacing": [1, 1, 1]})
    assert s.bin_size == 10 and s.spacing == (1, 1, 1) and s.resegment == (-1000, 400)
    with pytest.raises(ValueError, match=r"unknown radiomics setting.*bins"):
        RadiomicsSettings.from_mapping({"bins": 4})
    with pytest.raises(ValueError, match="interpolator 'cubic'"):
        RadiomicsSettings(interpolator="cubic")


def test_a_preset_with_interpolation_resamples_image_and_mask_to_its_grid():
    rng = np.random.default_rng(0)
    image = rng.normal(0, 50, size=(10, 20, 20)).round()
    mask = np.zeros(image.shape, bool)
    mask[3:7, 5:15, 5:15] = True
    roi = make_roi(image, mask, (3.0, 1.0, 1.0), preset("ibsi1-c"))
    # ceil(10 * 3 / 2) = 15 slices, ceil(20 * 1 / 2) = 10 rows and columns of 2 mm
    assert roi.image.shape == (15, 10, 10) and roi.spacing == (2.0, 2.0, 2.0)
    assert np.array_equal(roi.image, np.round(roi.image))
    # new voxel centres (mm) on the IBSI grid centred on the old one: old centres 0, 3, .. 27
    # (z) and 0 .. 19 (y, x) -> new first centres -0.5 (z) and 0.5 (y, x), 2 mm apart
    z = -0.5 + 2.0 * np.arange(15)
    yx = 0.5 + 2.0 * np.arange(10)
    # the box spans 7.5 .. 19.5 mm in z and 4.5 .. 14.5 mm in y and x: a centre strictly
    # inside is kept, one more than a voxel outside is not (ties at 0.5 are kept by IBSI)
    inside = ((z > 7.5) & (z < 19.5))[:, None, None] & ((yx > 4.5) & (yx < 14.5))[
        None, :, None] & ((yx > 4.5) & (yx < 14.5))[None, None, :]
    outside = ~(((z > 6) & (z < 21))[:, None, None] & ((yx > 3.5) & (yx < 15.5))[
        None, :, None] & ((yx > 3.5) & (yx < 15.5))[None, None, :])
    assert roi.morph_mask[inside].all() and not roi.morph_mask[outside].any()
    assert roi.levels[roi.intensity_mask].min() >= 1


@pytest.mark.parametrize(("image", "mask", "message"), [
    (np.ones((2, 3, 3)), np.zeros((2, 3, 3)), "the mask is empty"),
    (np.ones((2, 3, 3)), np.ones((2, 3, 4)), "must be the same 3D shape"),
    (np.full((2, 3, 3), np.nan), np.ones((2, 3, 3)), "18 voxel\\(s\\) are NaN"),
])
def test_bad_images_name_what_is_wrong(image, mask, message):
    with pytest.raises(ValueError, match=f"subject 'p1': .*{message}"):
        extract(image, mask, (1, 1, 1), where="subject 'p1'")


def test_the_command_writes_the_phantom_features_of_nifti_and_dicom(tmp_path):
    pytest.importorskip("nibabel")
    pytest.importorskip("pydicom")
    from typer.testing import CliRunner

    from medfuse.cli import app

    runner = CliRunner()
    tables = {}
    for fmt, image, mask in (("nifti", "image/phantom.nii.gz", "mask/mask.nii.gz"),
                             ("dicom", "image", "mask/mask.dcm")):
        out = tmp_path / f"{fmt}.csv"
        done = runner.invoke(app, ["radiomics", str(PHANTOM / fmt / image),
                                   str(PHANTOM / fmt / mask), "--preset", "ibsi1-phantom",
                                   "--out", str(out)])
        assert done.exit_code == 0, done.output
        tables[fmt] = pd.read_csv(out, index_col=0)
    assert tables["nifti"].shape == (1, len(reference_values()))
    row = tables["nifti"].iloc[0]
    assert not mismatches(row.to_dict(), ""), mismatches(row.to_dict(), "")
    # the DICOM phantom holds the same grey levels on another grid (1 mm, coronal slices):
    # what does not depend on voxel size or slice direction is the same
    dicom = tables["dicom"].iloc[0]
    same = [t for t in row.index if t.split("_")[0] in ("stat", "ih", "ivh")
            or aggregation_of(t) == "3D"]
    assert len(same) == 18 + 23 + 7 + 25 * 2 + 16 * 2 + 16 * 2 + 5 + 17
    np.testing.assert_allclose(dicom[same].to_numpy(), row[same].to_numpy(), rtol=1e-9,
                               atol=1e-9)
    assert dicom["morph_vol_approx"] == pytest.approx(row["morph_vol_approx"] / 8)


def test_the_command_refuses_a_preset_and_a_config_together(tmp_path):
    from typer.testing import CliRunner

    from medfuse.cli import app

    config = tmp_path / "r.yaml"
    config.write_text("bin_size: 5\n")
    done = CliRunner().invoke(app, ["radiomics", "a.nii", "b.nii", "--preset", "ibsi1-a",
                                    "--config", str(config)])
    assert done.exit_code == 2 and "not both" in done.output
    assert not (tmp_path / "features.csv").exists()


def test_a_single_slice_under_3d_settings_is_refused_with_what_to_use():
    image = np.full((1, 6, 6), 3.0)
    image[0, 2:4, 2:4] = 5.0
    with pytest.raises(ValueError, match=r"a 2D image .* where 3D is expected.*ibsi1-a"):
        extract(image, np.ones_like(image), (1, 1, 1), preset("ibsi1-c"), where="scan.nii")
    values = extract(image, np.ones_like(image), (1, 1, 1), preset("ibsi1-a"),
                     families=["stat", "cm"])
    assert values["stat_max"] == 5.0 and "cm_contrast_2D_avg" in values


def test_the_command_reads_a_yaml_config_that_starts_from_a_preset(tmp_path):
    pytest.importorskip("nibabel")
    from typer.testing import CliRunner

    from medfuse.cli import app

    config = tmp_path / "radiomics.yaml"
    config.write_text("preset: ibsi1-phantom\naggregation: [3D]\n")
    out = tmp_path / "f.csv"
    done = CliRunner().invoke(app, [
        "radiomics", str(PHANTOM / "nifti" / "image" / "phantom.nii.gz"),
        str(PHANTOM / "nifti" / "mask" / "mask.nii.gz"), "--config", str(config),
        "--families", "stat,cm", "--out", str(out)])
    assert done.exit_code == 0, done.output
    row = pd.read_csv(out, index_col=0).iloc[0]
    assert {aggregation_of(t) for t in row.index} == {None, "3D"}
    assert not mismatches(row.to_dict(), "stat_")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bins: 4\n")
    done = CliRunner().invoke(app, ["radiomics", "a.nii", "b.nii", "--config", str(bad)])
    assert done.exit_code == 2 and "unknown radiomics setting" in done.output
