"""Feature robustness under perturbation: ICC(1,1) closed forms, the perturbations, ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy import stats as sps

from medfuse.imaging.robustness import (
    Perturbation,
    feature_icc,
    icc_one_way,
    perturb,
    perturbation_grid,
    rotation_matrix,
    unstable_features,
)


def _ball(shape: tuple[int, int, int], spacing, radius: float,
          centre_mm=None) -> np.ndarray:
    """Voxels whose centre lies within ``radius`` mm of ``centre_mm`` (the array centre)."""
    s = np.asarray(spacing, dtype=float)
    centre = (np.asarray(shape) - 1) / 2 * s if centre_mm is None else np.asarray(centre_mm)
    z, y, x = (np.arange(n) * sk - ck for n, sk, ck in zip(shape, s, centre, strict=True))
    return (z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2) <= radius**2


def _textured(shape, seed: int, sd: float = 5.0) -> np.ndarray:
    """Smooth random texture of about the given sd."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), 1.5)
    return field / field.std() * sd


# --------------------------------------------------------------------------------------------
# ICC(1,1)
# --------------------------------------------------------------------------------------------

def test_icc_by_hand() -> None:
    # Subject means 2, 5, 8 (grand mean 5), k = 2 repeats:
    # MSB = 2 * (9 + 0 + 9) / 2 = 18, MSW = (1 + 1 + 1 + 1 + 0) / (3 * 1) = 4/3,
    # ICC = (18 - 4/3) / (18 + 4/3) = 25/29.
    ratings = np.array([[1.0, 3.0], [4.0, 6.0], [8.0, 8.0]])
    result = icc_one_way(ratings)
    assert result.msb == pytest.approx(18.0)
    assert result.msw == pytest.approx(4.0 / 3.0)
    assert result.icc == pytest.approx(25.0 / 29.0)
    assert (result.df_between, result.df_within) == (2, 3)
    # Case 1 bounds from the F quantiles.
    f0 = 13.5
    f_low = f0 / sps.f.ppf(0.975, 2, 3)
    f_high = f0 * sps.f.ppf(0.975, 3, 2)
    assert result.low == pytest.approx((f_low - 1) / (f_low + 1))
    assert result.high == pytest.approx((f_high - 1) / (f_high + 1))


def test_icc_interval_is_the_f_pivot() -> None:
    # At the bounds rho, F0 (1 - rho) / (1 + (k - 1) rho) follows F(n - 1, n (k - 1)); the
    # lower bound is where it sits at the upper 2.5 % point, the upper bound where the
    # reciprocal sits at the upper 2.5 % point of F(n (k - 1), n - 1).
    rng = np.random.default_rng(3)
    n, k = 12, 4
    ratings = rng.normal(0, 2, (n, 1)) + rng.normal(0, 1, (n, k))
    r = icc_one_way(ratings, confidence=0.9)
    df1, df2 = n - 1, n * (k - 1)

    def pivot(rho: float) -> float:
        return r.f * (1 - rho) / (1 + (k - 1) * rho)

    assert sps.f.sf(pivot(r.low), df1, df2) == pytest.approx(0.05)
    assert sps.f.sf(1 / pivot(r.high), df2, df1) == pytest.approx(0.05)
    assert r.low < r.icc < r.high


def test_icc_identical_repeats_is_one() -> None:
    subject = np.arange(6.0)[:, None] * 3.0
    result = icc_one_way(np.repeat(subject, 5, axis=1))
    assert (result.icc, result.low, result.high) == (1.0, 1.0, 1.0)


def test_icc_pure_noise_is_near_zero() -> None:
    ratings = np.random.default_rng(0).normal(50.0, 4.0, (400, 5))
    result = icc_one_way(ratings)
    assert abs(result.icc) < 0.05
    assert result.low < 0 < result.high


def test_icc_recovers_the_variance_ratio() -> None:
    # sd between 2, within 1: the population ICC is 4 / (4 + 1) = 0.8.
    rng = np.random.default_rng(1)
    ratings = rng.normal(0, 2, (600, 1)) + rng.normal(0, 1, (600, 4))
    result = icc_one_way(ratings)
    assert result.icc == pytest.approx(0.8, abs=0.03)
    assert result.low < 0.8 < result.high


def test_icc_constant_is_undefined() -> None:
    result = icc_one_way(np.full((4, 3), 7.0))
    assert math.isnan(result.icc) and math.isnan(result.low) and math.isnan(result.high)


# --------------------------------------------------------------------------------------------
# perturbations
# --------------------------------------------------------------------------------------------

def test_zero_perturbation_is_identity() -> None:
    image = _textured((12, 14, 16), seed=0)
    mask = _ball(image.shape, (2.0, 0.8, 0.7), 4.0)
    out_image, out_mask = perturb(image, mask, (2.0, 0.8, 0.7), rotation_deg=0.0,
                                  translation_mm=(0, 0, 0), noise_sd=0.0, mask_change_mm=0.0)
    assert np.array_equal(out_image, image)
    assert np.array_equal(out_mask, mask)
    assert out_mask.dtype == bool


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_one_voxel_translation_is_a_roll(axis: int) -> None:
    spacing = (2.0, 0.8, 0.7)
    image = _textured((12, 14, 16), seed=1)
    mask = _ball(image.shape, spacing, 4.0)
    shift = [0.0, 0.0, 0.0]
    shift[axis] = spacing[axis]
    out_image, out_mask = perturb(image, mask, spacing, translation_mm=shift)
    interior = [slice(None)] * 3
    interior[axis] = slice(1, None)
    interior = tuple(interior)
    np.testing.assert_allclose(out_image[interior], np.roll(image, 1, axis)[interior],
                               atol=1e-12)
    assert np.array_equal(out_mask[interior], np.roll(mask, 1, axis)[interior])


def test_quarter_turn_is_rot90() -> None:
    # A mask symmetric about a voxel centre, so the ROI centre is that voxel.
    image = _textured((5, 11, 11), seed=2)
    mask = np.zeros(image.shape, bool)
    mask[1:4, 3:8, 3:8] = True
    out_image, out_mask = perturb(image, mask, (3.0, 1.0, 1.0), rotation_deg=90.0)
    # +90 degrees about z turns +x towards +y.
    assert rotation_matrix(90.0) @ np.array([0, 0, 1.0]) == pytest.approx([0, 1.0, 0])
    expected = np.rot90(image, 1, axes=(2, 1))
    np.testing.assert_allclose(out_image, expected, atol=1e-9)
    assert np.array_equal(out_mask, np.rot90(mask, 1, axes=(2, 1)))


def test_rotation_is_in_millimetres() -> None:
    # A physical sphere on an anisotropic grid stays the same sphere when rotated about its
    # centre, in-plane or in 3D; a rotation in voxel units would distort it.
    spacing = (1.5, 0.6, 1.0)
    shape = (17, 41, 25)
    mask = _ball(shape, spacing, 7.0)
    image = np.where(mask, 100.0, 0.0)
    for angle in (25.0, (20.0, 10.0, -15.0)):
        out_image, out_mask = perturb(image, mask, spacing, rotation_deg=angle)
        dice = 2 * (out_mask & mask).sum() / (out_mask.sum() + mask.sum())
        assert dice > 0.95
        assert out_mask.sum() == pytest.approx(mask.sum(), rel=0.05)
        assert out_image[mask].mean() > 90.0


@pytest.mark.parametrize(("spacing", "radius", "change"),
                         [((1.0, 1.0, 1.0), 10.0, 2.0),
                          ((1.5, 0.8, 0.8), 8.0, 2.0),
                          ((0.5, 0.5, 0.5), 6.0, 1.5)])
def test_dilated_sphere_has_the_larger_volume(spacing, radius, change) -> None:
    s = np.asarray(spacing)
    shape = tuple(int(n) for n in np.ceil(2 * (radius + change + 3) / s))
    mask = _ball(shape, s, radius, centre_mm=(np.asarray(shape) - 1) / 2 * s + 0.13)
    _, grown = perturb(np.zeros(shape), mask, spacing, mask_change_mm=change)
    volume = grown.sum() * s.prod()
    assert volume == pytest.approx(4 / 3 * math.pi * (radius + change) ** 3, rel=0.05)
    assert np.all(grown[mask])


def test_mask_change_on_a_box_moves_flat_faces_by_voxels() -> None:
    # A flat face moves by the voxels whose centres lie within d of the boundary half-way
    # between centres, floor(d / s + 1/2): with d = 1 mm, one voxel along z (2 mm: the next
    # centre is exactly 1 mm from the boundary), one along y (1 mm) and two along x (0.5 mm).
    spacing = (2.0, 1.0, 0.5)
    mask = np.zeros((12, 16, 24), bool)
    mask[4:8, 5:11, 8:16] = True
    _, grown = perturb(np.zeros(mask.shape), mask, spacing, mask_change_mm=1.0)
    assert np.array_equal(np.argwhere(grown).min(0), [3, 4, 6])
    assert np.array_equal(np.argwhere(grown).max(0), [8, 11, 17])
    assert np.all(grown[3:9, 5:11, 8:16]) and np.all(grown[4:8, 4:12, 8:16])
    assert np.all(grown[4:8, 5:11, 6:18])
    _, shrunk = perturb(np.zeros(mask.shape), mask, spacing, mask_change_mm=-1.0)
    expected = np.zeros_like(mask)
    expected[5:7, 6:10, 10:14] = True
    assert np.array_equal(shrunk, expected)
    # The array edge counts as outside.
    full = np.ones((6, 6, 6), bool)
    _, eroded = perturb(np.zeros(full.shape), full, (1.0, 1.0, 1.0), mask_change_mm=-1.0)
    assert eroded.sum() == 4**3


def test_noise_has_the_requested_sd_and_is_seeded() -> None:
    image = np.full((20, 20, 20), 10.0)
    mask = _ball(image.shape, (1, 1, 1), 5.0)
    a, a_mask = perturb(image, mask, (1, 1, 1), noise_sd=3.0, seed=7)
    b, _ = perturb(image, mask, (1, 1, 1), noise_sd=3.0, seed=7)
    c, _ = perturb(image, mask, (1, 1, 1), noise_sd=3.0, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.std(a - image) == pytest.approx(3.0, rel=0.03)
    assert np.mean(a - image) == pytest.approx(0.0, abs=0.1)
    assert np.array_equal(a_mask, mask)


def test_perturb_rejects_bad_input() -> None:
    image, mask = np.zeros((4, 4, 4)), np.ones((4, 4, 4))
    with pytest.raises(ValueError, match="same 3D shape"):
        perturb(image, mask[:3], (1, 1, 1))
    with pytest.raises(ValueError, match="noise_sd"):
        perturb(image, mask, (1, 1, 1), noise_sd=-1.0)
    with pytest.raises(ValueError, match="spacing"):
        perturb(image, mask, (1, 0, 1))


# --------------------------------------------------------------------------------------------
# the perturbation grid
# --------------------------------------------------------------------------------------------

def test_default_grid_and_subsets() -> None:
    grid = perturbation_grid()
    assert len(grid) == 5 * 3 * 2 * 3
    assert len(set(grid)) == len(grid)
    assert sum(p.is_identity for p in grid) == 1
    subset = perturbation_grid(n=10, seed=4)
    assert len(subset) == 10 and subset[0].is_identity
    assert subset == perturbation_grid(n=10, seed=4)
    assert subset != perturbation_grid(n=10, seed=5)
    assert set(subset) <= set(grid)
    small = perturbation_grid(rotations_deg=(0, 10), translations_voxels=(0,),
                              noise_fractions=(0,), mask_changes_voxels=(-1, 1))
    assert len(small) == 4
    with pytest.raises(ValueError, match="between 1 and"):
        perturbation_grid(n=91)


def test_perturbation_resolves_to_subject_units() -> None:
    image = np.zeros((6, 6, 6))
    image[2:4, 2:4, 2:4] = [[[0, 2], [4, 6]], [[8, 10], [12, 14]]]
    mask = np.zeros(image.shape, bool)
    mask[2:4, 2:4, 2:4] = True
    p = Perturbation(rotation_deg=5.0, translation_voxels=(0.5, 0.5, 0.5),
                     noise_fraction=0.1, mask_change_voxels=-1.0)
    kwargs = p.resolve(image, mask, (3.0, 0.8, 0.8))
    assert kwargs["translation_mm"] == pytest.approx((1.5, 0.4, 0.4))
    assert kwargs["noise_sd"] == pytest.approx(0.1 * np.arange(0, 16, 2).std())
    assert kwargs["mask_change_mm"] == pytest.approx(-0.8)
    assert kwargs["rotation_deg"] == 5.0


# --------------------------------------------------------------------------------------------
# features under perturbation
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohort() -> list[tuple[np.ndarray, np.ndarray, tuple[float, float, float]]]:
    """Five 20^3 subjects: spheres of different radii and mean intensities, lesion
    intensity reaching 2 mm beyond the mask so that a one-voxel dilation stays inside it."""
    spacing = (1.0, 1.0, 1.0)
    shape = (20, 20, 20)
    subjects = []
    for i, (radius, level) in enumerate([(4.0, 100.0), (5.0, 130.0), (6.0, 160.0),
                                         (4.5, 190.0), (5.5, 220.0)]):
        lesion = _ball(shape, spacing, radius + 2.0)
        image = np.where(lesion, level, 0.0) + _textured(shape, seed=10 + i, sd=4.0)
        subjects.append((image, _ball(shape, spacing, radius), spacing))
    return subjects


#: Two copies with strong noise among six: the ROI maximum jumps, the mean does not.
PERTURBATIONS = [
    {},
    {"rotation_deg": 7.0},
    {"translation_mm": (0.0, 0.5, 0.5)},
    {"mask_change_mm": 1.0},
    {"noise_sd": 40.0},
    {"noise_sd": 40.0, "mask_change_mm": -1.0},
]


@pytest.fixture(scope="module")
def table(cohort) -> pd.DataFrame:
    return feature_icc(cohort, families=["stat", "morph"], perturbations=PERTURBATIONS,
                       seed=0)


def test_table_layout(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["feature", "icc", "icc_low", "icc_high", "rank", "stable"]
    assert table["feature"].str.startswith(("stat_", "morph_")).all()
    assert table["stable"].dtype == bool
    defined = table.dropna(subset=["icc"])
    assert (defined["icc_low"] <= defined["icc"]).all()
    assert (defined["icc"] <= defined["icc_high"]).all()
    # most robust first, rank 1 at the top
    assert defined["icc"].is_monotonic_decreasing
    assert table["rank"].iloc[0] == 1
    assert table.attrs["n_subjects"] == 5 and table.attrs["n_perturbations"] == 6
    assert table.attrs["values"].shape[0] == 5 * 6
    assert (table["stable"] == (table["icc"] >= 0.75)).all()


def test_mean_is_robust_and_maximum_is_fragile(table: pd.DataFrame) -> None:
    icc = table.set_index("feature")["icc"]
    assert icc["stat_mean"] > 0.95
    assert icc["stat_max"] < 0.75
    assert icc["stat_mean"] > icc["stat_max"]
    # a one-voxel mask change is large for these small ROIs: volume is less robust than mean
    assert icc["morph_volume"] < icc["stat_mean"]
    stable = table.set_index("feature")["stable"]
    assert stable["stat_mean"] and not stable["stat_max"]
    unstable = unstable_features(table)
    assert "stat_max" in unstable and "stat_mean" not in unstable
    assert set(unstable) == set(table.loc[~table["stable"], "feature"])
    # a stricter threshold lists more
    assert set(unstable) <= set(unstable_features(table, threshold=0.95))


def test_noise_is_reproducible(cohort) -> None:
    subjects = cohort[:2]
    perturbations = [{}, {"noise_sd": 10.0}]
    a = feature_icc(subjects, families=["stat"], perturbations=perturbations, seed=3)
    b = feature_icc(subjects, families=["stat"], perturbations=perturbations, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_constant_features_are_undefined_and_unstable(cohort) -> None:
    # Two copies of one subject, left unperturbed: every feature is one value throughout.
    image, mask, spacing = cohort[0]
    subjects = [(image, mask, spacing), (image.copy(), mask.copy(), spacing)]
    table = feature_icc(subjects, families=["stat"], perturbations=[{}, {}])
    assert table["icc"].isna().all() and table["rank"].isna().all()
    assert not table["stable"].any()
    assert set(unstable_features(table)) == set(table["feature"])


def test_unstable_features_order_and_undefined() -> None:
    table = pd.DataFrame({"feature": ["a", "b", "c", "d"],
                          "icc": [0.95, float("nan"), 0.2, 0.6]})
    assert unstable_features(table) == ["b", "c", "d"]
    assert unstable_features(table, threshold=0.5) == ["b", "c"]


def test_feature_icc_needs_two_of_each(cohort) -> None:
    with pytest.raises(ValueError, match="two subjects"):
        feature_icc(cohort[:1], families=["stat"], perturbations=PERTURBATIONS)
    with pytest.raises(ValueError, match="two perturbations"):
        feature_icc(cohort, families=["stat"], perturbations=[{}])
    with pytest.raises(ValueError, match="unknown perturbation key"):
        feature_icc(cohort[:2], families=["stat"], perturbations=[{}, {"angle": 3}])
