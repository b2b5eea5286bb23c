"""First-order IBSI-1 features: statistics, intensity histogram, intensity-volume histogram."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from medfuse.imaging.radiomics.intensity import (
    features,
    histogram,
    statistics,
    volume_histogram,
)
from medfuse.imaging.radiomics.roi import ROI, Discretisation, roi_from_levels
from tests.imaging.ibsi_phantom import mismatches, phantom_arrays, reference_values

FAMILIES = ("stat_", "ih_", "ivh_")


def _three_figures(computed: dict[str, float]) -> dict[str, float]:
    """The phantom's references are given to 3 significant figures with tolerance 0."""
    return {tag: float(f"{value:.3g}") for tag, value in computed.items()}


def _roi(image: np.ndarray, levels: np.ndarray, n_levels: int,
         discretisation: Discretisation) -> ROI:
    """An ROI over the whole (1, 1, N) array with the given intensities and grey levels."""
    image = np.asarray(image, dtype=float).reshape(1, 1, -1)
    mask = np.ones(image.shape, dtype=bool)
    return ROI(image=image, intensity_mask=mask, morph_mask=mask.copy(),
               levels=np.asarray(levels, dtype=np.int64).reshape(image.shape),
               n_levels=n_levels, spacing=(1.0, 1.0, 1.0), discretisation=discretisation)


@pytest.fixture(scope="module")
def phantom_features() -> dict[str, float]:
    return features(roi_from_levels(*phantom_arrays()))


@pytest.mark.parametrize("prefix", FAMILIES)
def test_phantom_reference_values(phantom_features: dict[str, float], prefix: str) -> None:
    reference = reference_values(prefix)
    returned = {tag for tag in phantom_features if tag.startswith(prefix)}
    assert returned == set(reference.index)
    # A tag without a reference value (empty cell) cannot be compared; see the AUC test.
    unreferenced = set(reference.index[reference["value"].isna()])
    wrong = [line for line in mismatches(_three_figures(phantom_features), prefix)
             if line.split(":")[0] not in unreferenced]
    assert wrong == []


def test_phantom_tag_count(phantom_features: dict[str, float]) -> None:
    n_reference = sum(len(reference_values(prefix)) for prefix in FAMILIES)
    assert n_reference == 48
    assert len(phantom_features) == n_reference


def test_phantom_ivh_auc(phantom_features: dict[str, float]) -> None:
    # The phantom's IVH at grey levels 1..6 (gamma = 0, 0.2, .., 1): 74 voxels, of which
    # 24 have level >= 2 (and >= 3), 23 level >= 4 and 7 level >= 5 (and = 6).
    nu = np.array([74, 24, 24, 23, 7, 7]) / 74
    expected = 0.2 * float(np.sum(nu[1:] + nu[:-1])) / 2
    assert phantom_features["ivh_auc"] == pytest.approx(expected, rel=1e-12)
    assert _three_figures(phantom_features)["ivh_auc"] == 0.32


def test_statistics_match_scipy_on_random_data() -> None:
    rng = np.random.default_rng(7)
    image = rng.gamma(2.0, 30.0, size=(6, 7, 8)) - 40.0
    mask = rng.random(image.shape) < 0.6
    levels = np.where(mask, np.clip(np.ceil(image / 20.0) + 3, 1, None), 0).astype(np.int64)
    roi = ROI(image=image, intensity_mask=mask, morph_mask=mask, levels=levels,
              n_levels=int(levels.max()), spacing=(1.0, 1.0, 1.0),
              discretisation=Discretisation("fixed_bin_size", bin_size=20.0))
    x = image[mask]
    out = statistics(roi)
    p10, p25, p50, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    central = x[(x >= p10) & (x <= p90)]
    expected = {
        "stat_mean": np.mean(x),
        "stat_var": np.var(x, ddof=0),
        "stat_skew": sps.skew(x, bias=True),
        "stat_kurt": sps.kurtosis(x, fisher=True, bias=True),
        "stat_median": np.median(x),
        "stat_min": x.min(),
        "stat_max": x.max(),
        "stat_p10": p10,
        "stat_p90": p90,
        "stat_iqr": sps.iqr(x),
        "stat_range": np.ptp(x),
        "stat_mad": np.mean(np.abs(x - x.mean())),
        "stat_rmad": np.mean(np.abs(central - central.mean())),
        "stat_medad": np.mean(np.abs(x - p50)),
        "stat_cov": np.std(x) / np.mean(x),
        "stat_qcod": (p75 - p25) / (p75 + p25),
        "stat_energy": np.sum(x**2),
        "stat_rms": np.sqrt(np.mean(x**2)),
    }
    assert set(out) == set(expected)
    for tag, value in expected.items():
        assert out[tag] == pytest.approx(value, rel=1e-10, abs=1e-12), tag


def test_histogram_matches_scipy_on_random_levels() -> None:
    rng = np.random.default_rng(11)
    levels = rng.binomial(9, 0.3, size=(5, 6, 7)) + 1
    roi = roi_from_levels(levels, np.ones(levels.shape, dtype=bool))
    out = histogram(roi)
    x = levels.ravel().astype(float)
    counts = np.bincount(levels.ravel(), minlength=roi.n_levels + 1)[1:]
    p = counts / x.size
    assert out["ih_mean"] == pytest.approx(np.mean(x))
    assert out["ih_var"] == pytest.approx(np.var(x))
    assert out["ih_skew"] == pytest.approx(sps.skew(x))
    assert out["ih_kurt"] == pytest.approx(sps.kurtosis(x))
    assert out["ih_p10"] == np.percentile(x, 10)
    assert out["ih_p90"] == np.percentile(x, 90)
    assert out["ih_iqr"] == pytest.approx(sps.iqr(x))
    assert out["ih_entropy"] == pytest.approx(sps.entropy(p[p > 0], base=2))
    assert out["ih_uniformity"] == pytest.approx(np.sum(p**2))
    assert out["ih_mode"] == np.argmax(counts) + 1
    assert len(out) == 23


def test_histogram_mode_tie_and_gradient() -> None:
    # Levels 1, 2, 2, 4, 4 in 4 bins: counts (1, 2, 0, 2); mean 2.6 -> the tied modes 2 and 4
    # are 0.6 and 1.4 away, so 2. Gradient: (2-1, (0-1)/2, (2-2)/2, 2-0) = (1, -0.5, 0, 2).
    roi = roi_from_levels(np.array([1, 2, 2, 4, 4]).reshape(1, 1, 5), np.ones((1, 1, 5)))
    out = histogram(roi)
    assert out["ih_mode"] == 2
    assert (out["ih_max_grad"], out["ih_max_grad_g"]) == (2.0, 4.0)
    assert (out["ih_min_grad"], out["ih_min_grad_g"]) == (-0.5, 2.0)
    # Equidistant tie: levels 1, 3 once each, mean 2 -> the lower one.
    roi = roi_from_levels(np.array([1, 3]).reshape(1, 1, 2), np.ones((1, 1, 2)))
    assert histogram(roi)["ih_mode"] == 1


def test_constant_roi_has_zero_higher_moments() -> None:
    roi = roi_from_levels(np.full((2, 2, 2), 3), np.ones((2, 2, 2)))
    out = features(roi)
    assert out["stat_var"] == out["stat_skew"] == out["stat_kurt"] == 0.0
    assert out["ih_skew"] == out["ih_kurt"] == 0.0
    assert out["ivh_auc"] == 0.0
    assert out["ivh_v10"] == out["ivh_v90"] == 1.0


def test_ivh_closed_form_two_grey_levels() -> None:
    # Grey levels 2 (three voxels) and 5 (one voxel), no discretisation. G = [2, 5], so the
    # IVH is evaluated at i = 2, 3, 4, 5 with gamma = 0, 1/3, 2/3, 1 and
    # nu = 1, 1/4, 1/4, 1/4 (levels 3 and 4 are empty but still evaluated).
    # V10: first gamma >= 0.1 is i = 3 -> 1/4. V90: first gamma >= 0.9 is i = 5 -> 1/4.
    # I90: first nu <= 0.9 is i = 3. I10: no nu <= 0.1 on G, so the step above it, i = 6.
    # AUC = 1/3 * ((1 + 1/4)/2 + 1/4 + 1/4) = 3/8.
    roi = roi_from_levels(np.array([2, 2, 2, 5]).reshape(1, 1, 4), np.ones((1, 1, 4)))
    out = volume_histogram(roi)
    assert out == pytest.approx({
        "ivh_v10": 0.25, "ivh_v90": 0.25, "ivh_i10": 6.0, "ivh_i90": 3.0,
        "ivh_diff_v10_v90": 0.0, "ivh_diff_i10_i90": 3.0, "ivh_auc": 0.375,
    })


def test_ivh_none_uses_roi_grey_levels() -> None:
    # Method "none": the range is [min, max] of the ROI, not [1, N_g]; shifting every level
    # by a constant shifts I10/I90 and leaves the fractions unchanged.
    base = np.array([1, 1, 2, 3, 3, 3, 4, 4, 4, 4, 5, 6]).reshape(1, 1, -1)
    mask = np.ones(base.shape)
    low = volume_histogram(roi_from_levels(base, mask))
    high = volume_histogram(roi_from_levels(base + 10, mask))
    for tag in ("ivh_v10", "ivh_v90", "ivh_auc", "ivh_diff_i10_i90"):
        assert high[tag] == pytest.approx(low[tag])
    assert high["ivh_i10"] == low["ivh_i10"] + 10
    assert high["ivh_i90"] == low["ivh_i90"] + 10


def test_ivh_fixed_bin_number_spans_all_bins() -> None:
    # Four bins, only 1 and 2 occupied: G = [1, 4], gamma = 0, 1/3, 2/3, 1 and
    # nu = 1, 1/2, 0, 0. V10 = 1/2 (i = 2), V90 = 0 (i = 4), I10 = 3, I90 = 2,
    # AUC = 1/3 * ((1 + 1/2)/2 + (1/2 + 0)/2 + 0) = 1/3.
    roi = _roi([0.1, 0.2, 0.8, 0.9], [1, 1, 2, 2], 4,
               Discretisation("fixed_bin_number", n_bins=4))
    out = volume_histogram(roi)
    assert out == pytest.approx({
        "ivh_v10": 0.5, "ivh_v90": 0.0, "ivh_i10": 3.0, "ivh_i90": 2.0,
        "ivh_diff_v10_v90": 0.5, "ivh_diff_i10_i90": 1.0, "ivh_auc": 1 / 3,
    })


def test_ivh_fixed_bin_size_uses_bin_centres() -> None:
    # Bins of 0.5 from 10: intensities 10.1, 10.4, 10.7, 11.9 fall in bins 1, 1, 2, 4, whose
    # centres are 10.25, 10.25, 10.75, 11.75. G = [10.25, 11.75] with step 0.5, so
    # gamma = 0, 1/3, 2/3, 1 at 10.25, 10.75, 11.25, 11.75 and nu = 1, 1/2, 1/4, 1/4.
    # V10 = 1/2, V90 = 1/4; I90 = 10.75; I10 lies one step above G: 12.25.
    # AUC = 1/3 * ((1 + 1/2)/2 + (1/2 + 1/4)/2 + 1/4) = 11/24.
    image = [10.1, 10.4, 10.7, 11.9]
    levels = [1, 1, 2, 4]
    expected = {
        "ivh_v10": 0.5, "ivh_v90": 0.25, "ivh_i10": 12.25, "ivh_i90": 10.75,
        "ivh_diff_v10_v90": 0.25, "ivh_diff_i10_i90": 1.5, "ivh_auc": 11 / 24,
    }
    with_lower = _roi(image, levels, 4, Discretisation("fixed_bin_size", bin_size=0.5,
                                                       lower=10.0))
    assert volume_histogram(with_lower) == pytest.approx(expected)
    # Without a re-segmentation bound the bins start at the ROI minimum, 10.1: the same
    # intensities fall in bins 1, 2, 3, 4 with centres 10.35, 10.85, 11.35, 11.85, so
    # nu = 1, 3/4, 1/2, 1/4; V10 = 3/4, V90 = 1/4, I90 = 10.85, I10 = 12.35 and
    # AUC = 1/3 * ((1 + 3/4)/2 + (3/4 + 1/2)/2 + (1/2 + 1/4)/2) = 5/8.
    no_lower = _roi(image, [1, 2, 3, 4], 4, Discretisation("fixed_bin_size", bin_size=0.5))
    assert volume_histogram(no_lower) == pytest.approx({
        "ivh_v10": 0.75, "ivh_v90": 0.25, "ivh_i10": 12.35, "ivh_i90": 10.85,
        "ivh_diff_v10_v90": 0.5, "ivh_diff_i10_i90": 1.5, "ivh_auc": 5 / 8,
    })


def test_ivh_rejects_unknown_method() -> None:
    roi = _roi([1.0, 2.0], [1, 2], 2, Discretisation("equal_probability"))
    with pytest.raises(ValueError, match="Unknown discretisation"):
        volume_histogram(roi)


def test_features_are_plain_floats(phantom_features: dict[str, float]) -> None:
    assert all(type(value) is float for value in phantom_features.values())
    assert all(math.isfinite(value) for value in phantom_features.values())


def test_the_ivh_range_of_a_fixed_bin_size_ends_below_the_resegmentation_bound():
    from medfuse.imaging.radiomics.intensity import volume_histogram
    from medfuse.imaging.radiomics.settings import RadiomicsSettings, make_roi

    image = np.zeros((1, 4, 4))
    image[0] = [[0, 10, 20, 30], [0, 10, 20, 30], [0, 10, 20, 30], [0, 10, 20, 30]]
    settings = RadiomicsSettings(discretisation="fixed_bin_size", n_bins=None, bin_size=10.0,
                                 resegment=(0.0, 100.0), aggregation=("2D",))
    roi = make_roi(image, np.ones_like(image), (1, 1, 1), settings)
    values = volume_histogram(roi)
    # the range is 5 .. 95 (bin centres up to 100 - 10 / 2): the top 10 % of it holds no
    # voxel, so V90 is 0; with the ROI's own highest bin (35) it would be 0.25
    assert roi.discretisation.upper == 100.0
    assert values["ivh_v90"] == 0.0
    assert values["ivh_v10"] == pytest.approx(0.75)
