"""GLSZM, GLDZM, NGTDM and NGLDM: the IBSI-1 digital phantom, hand-worked cases, symmetry."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from medfuse.imaging.radiomics import neighbourhood, zones
from medfuse.imaging.radiomics.roi import roi_from_levels
from tests.imaging.ibsi_phantom import mismatches, phantom_arrays, reference_values

PREFIXES = ("szm", "dzm", "ngt", "ngl")


def _three_figures(value: float) -> float:
    """The phantom's reference values are published to three significant figures with zero
    tolerance, so the computed value is compared at that precision."""
    return float(f"{value:.3g}")


def _all_features(roi) -> dict[str, float]:
    return {**zones.features(roi), **neighbourhood.features(roi)}


def _slice_roi(levels: list[list[int]]):
    """A single-slice ROI covering the whole array."""
    image = np.asarray(levels, dtype=float)[None]
    return roi_from_levels(image, np.ones(image.shape, dtype=bool))


@pytest.fixture(scope="module")
def phantom_features() -> dict[str, float]:
    return _all_features(roi_from_levels(*phantom_arrays()))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_digital_phantom_reference_values(phantom_features, prefix):
    computed = {tag: _three_figures(v) for tag, v in phantom_features.items()
                if tag.startswith(prefix)}
    assert mismatches(computed, prefix) == []
    assert len(computed) == len(reference_values(prefix))


def test_digital_phantom_tag_count(phantom_features):
    expected = sum(len(reference_values(prefix)) for prefix in PREFIXES)
    assert expected == 162
    assert set(phantom_features) == {
        tag for prefix in PREFIXES for tag in reference_values(prefix).index}


def test_constant_square_by_hand():
    """A constant 3 x 3 slice: one zone of 9 voxels touching the edge, no grey tone
    difference, dependences 4 (corners), 6 (edges) and 9 (centre)."""
    f = _all_features(_slice_roi([[2, 2, 2]] * 3))
    for suffix in ("_2D", "_2_5D", "_3D"):
        assert f[f"szm_sze{suffix}"] == pytest.approx(1 / 81)
        assert f[f"szm_lze{suffix}"] == pytest.approx(81)
        assert f[f"szm_z_perc{suffix}"] == pytest.approx(1 / 9)
        assert f[f"szm_gl_var{suffix}"] == 0
        assert f[f"szm_zs_entr{suffix}"] == 0
        assert f[f"dzm_sde{suffix}"] == 1
        assert f[f"ngt_contrast{suffix}"] == 0
        assert f[f"ngt_busyness{suffix}"] == 0
        assert f[f"ngt_strength{suffix}"] == 0
        assert f[f"ngt_coarseness{suffix}"] == neighbourhood.MAX_COARSENESS
        assert f[f"ngl_lde{suffix}"] == pytest.approx((4 / 16 + 4 / 36 + 1 / 81) / 9)
        assert f[f"ngl_hde{suffix}"] == pytest.approx((4 * 16 + 4 * 36 + 81) / 9)
        assert f[f"ngl_dc_entr{suffix}"] == pytest.approx(
            -(2 * (4 / 9) * math.log2(4 / 9) + (1 / 9) * math.log2(1 / 9)))
        assert f[f"ngl_dc_perc{suffix}"] == 1


def test_ngtdm_row_by_hand():
    """Row 1, 2, 3: s = (1, 0, 1), n = (1, 1, 1), so p_i = 1/3 and N_v = 3."""
    roi = _slice_roi([[1, 2, 3]])
    s, n = neighbourhood.ngtdm(roi, "3D")
    np.testing.assert_allclose(s, [1, 0, 1])
    np.testing.assert_allclose(n, [1, 1, 1])
    f = neighbourhood.ngtdm_features(s, n)
    assert f["coarseness"] == pytest.approx(1.5)  # 1 / (2/3)
    assert f["contrast"] == pytest.approx(4 / 27)  # (12/9) / 6 * (2/3)
    assert f["busyness"] == pytest.approx(0.25)  # (2/3) / (8/3)
    assert f["complexity"] == pytest.approx(2.0)  # 2 * (1/2 + 2 + 1/2) / 3
    assert f["strength"] == pytest.approx(4.0)  # (2/3) * 12 / 2
    g = zones.features(roi)
    assert g["szm_sze_3D"] == 1
    assert g["szm_gl_var_3D"] == pytest.approx(2 / 3)
    assert g["szm_zs_entr_3D"] == pytest.approx(math.log2(3))


def test_zone_connectivity_by_hand():
    """Diagonal neighbours join a zone in-plane (8-connectivity) and across slices only in
    3D (26-connectivity)."""
    roi = _slice_roi([[1, 2], [2, 1]])
    np.testing.assert_array_equal(zones.glszm(roi, "3D"), [[0, 1], [0, 1]])
    image = np.full((2, 2, 2), 2.0)
    image[0, 0, 0] = image[1, 1, 1] = 1
    roi = roi_from_levels(image, np.ones(image.shape, dtype=bool))
    np.testing.assert_array_equal(zones.glszm(roi, "3D"), [[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(zones.glszm(roi, "2.5D"), [[2, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(zones.glszm(roi, "2D")[0], [[1, 0, 0], [0, 0, 1]])


def test_zone_distance_by_hand():
    """A 5 x 5 slice with a different centre: in-plane the centre lies 3 voxels from the
    edge; in 3D the single slice makes every voxel an edge voxel."""
    levels = np.ones((5, 5), dtype=int)
    levels[2, 2] = 2
    roi = _slice_roi(levels.tolist())
    np.testing.assert_array_equal(zones.gldzm(roi, "2D")[0], [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(zones.gldzm(roi, "3D"), [[1], [1]])
    # The distance is measured on the morphological mask: growing it by a ring moves the
    # edge one voxel outwards.
    image = np.pad(levels, 1, constant_values=1)[None].astype(float)
    inner = np.pad(np.ones((5, 5), dtype=bool), 1)[None]
    roi = dataclasses.replace(roi_from_levels(image, inner), morph_mask=np.ones_like(inner))
    np.testing.assert_array_equal(zones.gldzm(roi, "2D")[0], [[0, 1, 0, 0], [0, 0, 0, 1]])


def test_ngldm_matrix_by_hand():
    roi = _slice_roi([[1, 1, 2]])
    np.testing.assert_array_equal(neighbourhood.ngldm(roi, "2.5D")[:, :2], [[0, 2], [1, 0]])


def test_invalid_mode():
    roi = _slice_roi([[1]])
    with pytest.raises(ValueError, match="mode"):
        zones.glszm(roi, "4D")
    with pytest.raises(ValueError, match="mode"):
        neighbourhood.ngldm(roi, "2d")


@pytest.mark.parametrize("axes", [(2,), (1,), (1, 2)])
def test_invariant_to_in_plane_flips(axes):
    rng = np.random.default_rng(7)
    image = rng.integers(1, 6, size=(4, 7, 9)).astype(float)
    mask = rng.random(image.shape) < 0.8
    reference = _all_features(roi_from_levels(image, mask))
    flipped = _all_features(roi_from_levels(np.flip(image, axes), np.flip(mask, axes)))
    assert flipped.keys() == reference.keys()
    for tag, value in reference.items():
        assert flipped[tag] == pytest.approx(value, rel=1e-12, abs=1e-12), tag


def test_invariant_to_swapping_in_plane_axes():
    rng = np.random.default_rng(11)
    image = rng.integers(1, 5, size=(3, 6, 6)).astype(float)
    mask = rng.random(image.shape) < 0.9
    reference = _all_features(roi_from_levels(image, mask))
    swapped = _all_features(roi_from_levels(image.transpose(0, 2, 1), mask.transpose(0, 2, 1)))
    for tag, value in reference.items():
        assert swapped[tag] == pytest.approx(value, rel=1e-12, abs=1e-12), tag
