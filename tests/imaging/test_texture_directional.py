"""GLCM (``cm_*``) and GLRLM (``rlm_*``) features: the IBSI-1 digital phantom, hand-worked
values on tiny regions, brute-force matrices and invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medfuse.imaging.radiomics import cooccurrence, roi_from_levels, runlength
from medfuse.imaging.radiomics.directions import AGGREGATIONS, IN_PLANE_OFFSETS, SPATIAL_OFFSETS
from tests.imaging.ibsi_phantom import mismatches, phantom_arrays, reference_values

FAMILIES = [(cooccurrence, "cm_"), (runlength, "rlm_")]


def three_significant(values: dict[str, float]) -> dict[str, float]:
    """The values as the reference reports them (three significant digits, tolerance 0)."""
    return {tag: float(f"{value:.3g}") for tag, value in values.items()}


@pytest.mark.parametrize(("module", "prefix"), FAMILIES)
def test_digital_phantom_matches_every_reference_tag(module, prefix):
    computed = module.features(roi_from_levels(*phantom_arrays()))
    reference = reference_values(prefix)
    assert len(computed) == len(reference)
    assert set(computed) == set(reference.index)
    assert mismatches(three_significant(computed), prefix) == []


def tiny_roi():
    """One slice ``[[1, 1], [2, 2]]`` (rows along y), every voxel in the ROI."""
    levels = np.array([[[1, 1], [2, 2]]])
    return roi_from_levels(levels, np.ones_like(levels))


def test_glcm_by_hand_on_a_two_by_two_slice():
    # horizontal: (1,1) x2, (2,2) x2; vertical: (1,2)/(2,1) x2 each; each diagonal: x1 each
    f = cooccurrence.features(tiny_roi())
    assert f["cm_joint_max_2D_avg"] == pytest.approx(0.5)
    assert f["cm_contrast_2D_avg"] == pytest.approx(0.75)  # (0 + 1 + 1 + 1) / 4
    assert f["cm_corr_2D_avg"] == pytest.approx(-0.5)  # (1 - 1 - 1 - 1) / 4
    # merged: p(1,1) = p(2,2) = 1/6, p(1,2) = p(2,1) = 1/3
    assert f["cm_joint_max_2D_comb"] == pytest.approx(1 / 3)
    assert f["cm_contrast_2D_comb"] == pytest.approx(2 / 3)
    assert f["cm_energy_2D_comb"] == pytest.approx(5 / 18)
    assert f["cm_joint_entr_2D_comb"] == pytest.approx(np.log2(6) / 3 + 2 * np.log2(3) / 3)
    assert f["cm_corr_2D_comb"] == pytest.approx(-1 / 3)
    # one slice: the out-of-plane directions are empty, so every aggregation agrees
    for name in ("joint_max", "contrast", "energy", "corr"):
        assert f[f"cm_{name}_3D_avg"] == pytest.approx(f[f"cm_{name}_2D_avg"])
        assert f[f"cm_{name}_2_5D_avg"] == pytest.approx(f[f"cm_{name}_2D_avg"])
        assert f[f"cm_{name}_3D_comb"] == pytest.approx(f[f"cm_{name}_2D_comb"])
        assert f[f"cm_{name}_2_5D_comb"] == pytest.approx(f[f"cm_{name}_2D_comb"])


def test_glrlm_by_hand_on_a_two_by_two_slice():
    # horizontal: runs (1, length 2), (2, length 2); the three other directions: 4 runs of 1
    f = runlength.features(tiny_roi())
    assert f["rlm_sre_2D_avg"] == pytest.approx(13 / 16)  # (1/4 + 1 + 1 + 1) / 4
    assert f["rlm_lre_2D_avg"] == pytest.approx(7 / 4)  # (4 + 1 + 1 + 1) / 4
    assert f["rlm_r_perc_2D_avg"] == pytest.approx(7 / 8)  # (2/4 + 1 + 1 + 1) / 4
    # merged: 12 runs of length 1, 2 of length 2, 7 runs per grey level, 4 x 4 voxels
    assert f["rlm_sre_2D_comb"] == pytest.approx(25 / 28)
    assert f["rlm_lre_2D_comb"] == pytest.approx(10 / 7)
    assert f["rlm_glnu_2D_comb"] == pytest.approx(7.0)
    assert f["rlm_rlnu_2D_comb"] == pytest.approx((12**2 + 2**2) / 14)
    assert f["rlm_r_perc_2D_comb"] == pytest.approx(14 / 16)
    # 3D adds 9 out-of-plane directions in which each of the 4 voxels is a run of 1
    assert f["rlm_r_perc_3D_comb"] == pytest.approx((14 + 9 * 4) / (13 * 4))


def test_pairs_and_runs_stop_at_the_roi_edge():
    levels = np.array([[[1, 1, 1, 2, 2, 0, 1]]])
    glcm = cooccurrence.cooccurrence_matrix(levels, 2, (0, 0, 1))
    np.testing.assert_array_equal(glcm, [[4, 1], [1, 2]])
    along_x = runlength.run_length_matrix(levels, 2, (0, 0, 1))
    expected = np.zeros((2, 7))
    expected[0, 2] = expected[1, 1] = expected[0, 0] = 1  # runs 1x3, 2x2, 1x1
    np.testing.assert_array_equal(along_x, expected)
    along_y = runlength.run_length_matrix(levels, 2, (0, -1, 0))
    np.testing.assert_array_equal(along_y[:, 0], [4, 2])
    assert along_y[:, 1:].sum() == 0


def brute_cooccurrence(levels, n_levels, offset):
    counts = np.zeros((n_levels, n_levels))
    for p in itertools.product(*map(range, levels.shape)):
        q = tuple(a + b for a, b in zip(p, offset, strict=True))
        if all(0 <= c < n for c, n in zip(q, levels.shape, strict=True)):
            if levels[p] > 0 and levels[q] > 0:
                counts[levels[p] - 1, levels[q] - 1] += 1
                counts[levels[q] - 1, levels[p] - 1] += 1
    return counts


def brute_runs(levels, n_levels, offset):
    counts = np.zeros((n_levels, max(levels.shape)))
    for p in itertools.product(*map(range, levels.shape)):
        before = tuple(a - b for a, b in zip(p, offset, strict=True))
        inside = all(0 <= c < n for c, n in zip(before, levels.shape, strict=True))
        if levels[p] == 0 or (inside and levels[before] == levels[p]):
            continue  # not the first voxel of a run
        length, q = 0, p
        while all(0 <= c < n for c, n in zip(q, levels.shape, strict=True)) \
                and levels[q] == levels[p]:
            length += 1
            q = tuple(a + b for a, b in zip(q, offset, strict=True))
        counts[levels[p] - 1, length - 1] += 1
    return counts


def test_matrices_match_a_voxel_by_voxel_count():
    rng = np.random.default_rng(3)
    levels = rng.integers(1, 4, size=(4, 5, 6)) * (rng.random((4, 5, 6)) < 0.8)
    for offset in SPATIAL_OFFSETS:
        np.testing.assert_array_equal(cooccurrence.cooccurrence_matrix(levels, 3, offset),
                                      brute_cooccurrence(levels, 3, offset))
        np.testing.assert_array_equal(runlength.run_length_matrix(levels, 3, offset),
                                      brute_runs(levels, 3, offset))
    for offset in IN_PLANE_OFFSETS:
        per_slice = runlength.slice_run_length_matrices(levels, 3, offset, max_length=6)
        for k in range(levels.shape[0]):
            np.testing.assert_array_equal(per_slice[k], brute_runs(levels[k:k + 1], 3, offset))


@pytest.mark.parametrize(("module", "prefix"), FAMILIES)
def test_features_do_not_change_when_the_volume_is_flipped(module, prefix):
    rng = np.random.default_rng(7)
    image = rng.integers(1, 6, size=(5, 7, 6)).astype(float)
    mask = rng.random(image.shape) < 0.7
    original = module.features(roi_from_levels(image, mask))
    for axes in [(2,), (1,), (0,), (0, 1, 2)]:
        flipped = module.features(roi_from_levels(np.flip(image, axes), np.flip(mask, axes)))
        assert flipped.keys() == original.keys()
        np.testing.assert_allclose([flipped[t] for t in original], list(original.values()),
                                   rtol=1e-10, atol=1e-12)


def test_constant_region():
    image = np.full((3, 4, 4), 2.0)
    roi = roi_from_levels(image, np.ones(image.shape, bool))
    glcm, glrlm = cooccurrence.features(roi), runlength.features(roi)
    for suffix in AGGREGATIONS:
        assert glcm[f"cm_joint_max_{suffix}"] == pytest.approx(1.0)
        assert glcm[f"cm_contrast_{suffix}"] == pytest.approx(0.0)
        assert glcm[f"cm_joint_entr_{suffix}"] == pytest.approx(0.0)
        assert glrlm[f"rlm_glnu_norm_{suffix}"] == pytest.approx(1.0)
        assert glrlm[f"rlm_gl_var_{suffix}"] == pytest.approx(0.0)
    # every in-plane line of 4 voxels is one run: x rows, y columns and the diagonals
    assert glrlm["rlm_r_perc_2D_comb"] == pytest.approx((4 + 4 + 7 + 7) / (4 * 16))
