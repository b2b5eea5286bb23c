"""Morphological and local intensity features: IBSI digital phantom and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medfuse.imaging.radiomics import local_intensity, morphology
from medfuse.imaging.radiomics.roi import roi_from_levels
from tests.imaging.ibsi_phantom import mismatches, phantom_arrays, reference_values


def _sphere(radius: float, shape: int) -> np.ndarray:
    z, y, x = np.indices((shape,) * 3)
    centre = (shape - 1) / 2
    return (z - centre) ** 2 + (y - centre) ** 2 + (x - centre) ** 2 <= radius ** 2


@pytest.fixture(scope="module")
def phantom_roi():
    return roi_from_levels(*phantom_arrays())


@pytest.mark.parametrize("prefix, module", [("morph_", morphology),
                                            ("loc_", local_intensity)])
def test_digital_phantom(phantom_roi, prefix, module):
    computed = module.features(phantom_roi)
    reference = reference_values(prefix)
    assert set(computed) == set(reference.index)
    assert len(computed) == len(reference)
    assert all(np.isfinite(v) for v in computed.values())
    assert mismatches(computed, prefix) == []


def test_reference_counts():
    assert len(reference_values("morph_")) == 29
    assert len(reference_values("loc_")) == 2


def test_sphere_volume_and_sphericity():
    radius = 20
    mask = _sphere(radius, 2 * radius + 5)
    vertices, faces = morphology.surface_mesh(mask, (1.0, 1.0, 1.0))
    volume = morphology.mesh_volume(vertices, faces)
    area = morphology.mesh_area(vertices, faces)
    assert volume == pytest.approx(4 / 3 * np.pi * radius ** 3, rel=0.01)
    sphericity = (36 * np.pi * volume ** 2) ** (1 / 3) / area
    # The mesh of a binary mask keeps a staircase texture whose area exceeds the smooth
    # sphere's by about 8 %, so sphericity levels off near 0.92 rather than 1.
    assert 0.9 < sphericity <= 1.0


def test_box_aabb_density():
    sides = (10, 6, 4)
    spacing = (2.0, 1.0, 3.0)
    mask = np.zeros(tuple(s + 4 for s in sides), bool)
    mask[2:12, 2:8, 2:6] = True
    roi = roi_from_levels(mask.astype(float) + 1.0, mask, spacing)
    out = morphology.features(roi)
    a, b, c = sides
    # Marching cubes at 0.5 reaches half a voxel past the outer centres (AABB sides
    # n_k s_k) and chamfers the box: each of the 12 edges loses a prism of section 1/8
    # voxel, each corner 5/48 voxel, leaving abc - (a + b + c) / 2 + 2/3 voxels.
    expected = (a * b * c - (a + b + c) / 2 + 2 / 3) / (a * b * c)
    assert out["morph_vol_dens_aabb"] == pytest.approx(expected, rel=1e-9)
    assert out["morph_volume"] == pytest.approx(expected * a * b * c * np.prod(spacing))
    assert out["morph_vol_approx"] == pytest.approx(a * b * c * np.prod(spacing))


def test_oriented_box_of_rotated_box():
    corners = np.array(list(itertools.product([0, 8], [0, 3], [0, 2])), float)
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                    [0, 0, 1]])
    sides = morphology.oriented_min_bounding_box(corners @ rot.T)
    assert np.sort(sides) == pytest.approx([2, 3, 8])


def test_mvee_of_box_corners():
    corners = np.array(list(itertools.product([-3, 3], [-2, 2], [-1, 1])), float)
    centre, semi = morphology.min_volume_enclosing_ellipsoid(corners)
    assert centre == pytest.approx(np.zeros(3), abs=1e-9)
    assert semi == pytest.approx(np.sqrt(3) * np.array([3, 2, 1]), rel=1e-3)


def test_ellipsoid_area_of_sphere():
    assert morphology.ellipsoid_surface_area(3, 3, 3) == pytest.approx(4 * np.pi * 9)


def test_moran_geary_fft_matches_pairwise(monkeypatch):
    rng = np.random.default_rng(3)
    mask = _sphere(4.5, 11)
    image = rng.normal(size=mask.shape) + np.indices(mask.shape)[0] * 0.3
    spacing = (1.5, 1.0, 0.8)
    direct = morphology.moran_geary_pairwise(image[mask],
                                             morphology.voxel_positions(mask, spacing))
    monkeypatch.setattr(morphology, "AUTOCORR_MAX_PAIRWISE", 10)
    via_fft = morphology.moran_geary(image, mask, spacing)
    assert via_fft == pytest.approx(direct, rel=1e-9)


def test_moran_geary_subset_is_deterministic(monkeypatch):
    rng = np.random.default_rng(4)
    mask = _sphere(6, 14)
    image = rng.normal(size=mask.shape)
    monkeypatch.setattr(morphology, "AUTOCORR_MAX_PAIRWISE", 200)
    monkeypatch.setattr(morphology, "AUTOCORR_MAX_GRID", 10)
    first = morphology.moran_geary(image, mask, (1.0, 1.0, 1.0))
    assert first == morphology.moran_geary(image, mask, (1.0, 1.0, 1.0))
    assert all(np.isfinite(first))


def test_local_peaks_of_constant_image():
    mask = np.zeros((20, 20, 20), bool)
    mask[3:17, 2:10, 5:18] = True
    roi = roi_from_levels(np.full(mask.shape, 7.0), mask, (1.0, 0.8, 1.2))
    out = local_intensity.features(roi)
    assert out["loc_peak_loc"] == pytest.approx(7.0, abs=1e-12)
    assert out["loc_peak_glob"] == pytest.approx(7.0, abs=1e-12)


def test_sphere_means_match_direct_average():
    rng = np.random.default_rng(5)
    image = rng.integers(1, 20, size=(12, 11, 10)).astype(float)
    mask = np.zeros(image.shape, bool)
    mask[1:9, 0:6, 4:10] = True
    spacing = (2.0, 1.5, 1.0)
    means = local_intensity.sphere_means(image, mask, spacing)
    grid = np.stack(np.indices(image.shape), axis=-1) * np.array(spacing)
    radius = local_intensity.PEAK_RADIUS_MM
    for mean, voxel in zip(means, np.argwhere(mask), strict=True):
        inside = ((grid - voxel * np.array(spacing)) ** 2).sum(axis=-1) <= radius ** 2
        assert mean == pytest.approx(image[inside].mean(), rel=1e-10)
    assert local_intensity.global_peak(image, mask, spacing) == pytest.approx(means.max())
