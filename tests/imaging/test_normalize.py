"""Intensity normalisation of images: closed forms (invariance to ``a x + b``),
histogram-standardisation landmarks learned from training images only, WhiteStripe on a
synthetic T1 brain, and the ``radiomics`` representation normalising inside every fit and
saving with the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from medfuse.data import MultiModalData, RaggedBlock
from medfuse.imaging.normalize import (
    CT_WINDOWS,
    DEFAULT_PERCENTILES,
    NORMALIZATIONS,
    NyulStandardizer,
    PerImageNormalizer,
    ct_window,
    find_white_stripe,
    make_normalizer,
    white_stripe,
    zscore_in_mask,
)
from medfuse.imaging.represent import Radiomics

#: tissue classes of the synthetic T1 brain: CSF, grey matter, white matter. Grey matter is
#: the most common class (the tallest mode), white matter the brightest (the last mode).
T1_MEANS = np.array([30.0, 70.0, 100.0])
T1_SDS = np.array([5.0, 6.0, 6.0])
T1_FRACTIONS = (0.17, 0.45, 0.38)


def t1_brain(seed: int = 0, shape=(48, 48, 48)):
    """A ``(z, y, x)`` T1-like volume: a spherical brain of three Gaussian tissues in a
    dark, noisy background. Returns the image, the brain mask and the tissue labels."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    brain = ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
             < (0.46 * min(shape)) ** 2)
    labels = rng.choice(3, size=shape, p=T1_FRACTIONS)
    image = rng.normal(T1_MEANS[labels], T1_SDS[labels])
    image[~brain] = rng.normal(0.0, 2.0, size=int((~brain).sum()))
    return image, brain, labels


def order_statistics(values, percentiles=DEFAULT_PERCENTILES):
    return np.percentile(values, percentiles, method="inverted_cdf")


# --------------------------------------------------------------------------- closed forms
def test_an_affine_copy_of_an_image_normalises_to_the_same_image():
    image, brain, _ = t1_brain()
    copy = 2.5 * image + 40.0
    np.testing.assert_allclose(zscore_in_mask(copy, brain), zscore_in_mask(image, brain),
                               rtol=0, atol=1e-9)
    z = zscore_in_mask(image, brain)
    assert abs(z[brain].mean()) < 1e-12 and abs(z[brain].std() - 1.0) < 1e-12

    nyul = NyulStandardizer().fit([image, copy], [brain, brain])
    np.testing.assert_allclose(nyul.transform(copy, brain), nyul.transform(image, brain),
                               rtol=0, atol=1e-9)

    a, b = find_white_stripe(image, brain), find_white_stripe(copy, brain)
    assert a.n_voxels == b.n_voxels and a.quantile == pytest.approx(b.quantile, abs=1e-12)
    assert b.mean == pytest.approx(2.5 * a.mean + 40.0) and b.sd == pytest.approx(2.5 * a.sd)
    np.testing.assert_allclose(white_stripe(copy, brain), white_stripe(image, brain),
                               rtol=0, atol=1e-9)


# --------------------------------------------------------------- histogram standardisation
def _nyul_sets(seed=1):
    """Training images of different sizes and shapes of histogram, and a test image far
    outside their intensities with a histogram of yet another shape."""
    rng = np.random.default_rng(seed)
    train = [rng.gamma(2.0, 50.0, size=(6, 9, 8)), 3.0 * rng.normal(size=(5, 10, 10)) + 7.0,
             rng.lognormal(1.0, 0.6, size=(7, 7, 9)) * 1e3]
    masks = [rng.random(img.shape) < 0.8 for img in train]
    test = 1e6 + 1e4 * rng.standard_exponential(size=(6, 6, 6)) ** 3
    return train, masks, test


def test_nyul_landmarks_come_from_the_training_images_only():
    train, masks, test = _nyul_sets()
    model = NyulStandardizer().fit(train, masks)
    learned = model.landmarks_.copy()
    assert isinstance(learned, np.ndarray) and learned.dtype == float
    assert learned[0] == 0.0 and learned[-1] == 100.0 and np.all(np.diff(learned) > 0)
    # the mean over the training images of their landmarks, mapped p_1 -> 0 and p_K -> 100
    mapped = [(order_statistics(img[m]) - order_statistics(img[m])[0])
              / np.ptp(order_statistics(img[m])) * 100.0 for img, m in zip(train, masks,
                                                                           strict=True)]
    np.testing.assert_allclose(learned, np.mean(mapped, axis=0), rtol=0, atol=1e-12)

    out = model.transform(test)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(model.landmarks_, learned)  # transforming learns nothing
    # the test image would have changed the landmarks had it been a training image
    assert not np.allclose(NyulStandardizer().fit([*train, test]).landmarks_, learned)


def test_nyul_maps_training_landmarks_onto_the_standard_ones_and_keeps_the_order():
    train, masks, test = _nyul_sets()
    model = NyulStandardizer().fit(train, masks)
    for img, m in zip(train, masks, strict=True):
        out = model.transform(img, m)
        # order statistics commute with a non-decreasing map: exact up to rounding
        np.testing.assert_allclose(order_statistics(out[m]), model.landmarks_, rtol=0,
                                   atol=1e-9)
    # monotone, linear beyond the end landmarks: a ramp through and past the test image
    ramp = np.linspace(test.min() - 5e5, test.max() + 5e5, 4001)
    marks = order_statistics(test)
    assert np.all(np.diff(model.transform(ramp.reshape(1, 1, -1)).ravel()) > 0)
    # on the test image: the voxels keep their order, and beyond its end landmarks the
    # first and last segments are extended
    out = model.transform(test)
    assert np.array_equal(np.argsort(test, axis=None, kind="stable"),
                          np.argsort(out, axis=None, kind="stable"))
    below, above = test < marks[0], test > marks[-1]
    assert below.any() and above.any()
    slope = (model.landmarks_[1] - model.landmarks_[0]) / (marks[1] - marks[0])
    np.testing.assert_allclose(out[below], model.landmarks_[0]
                               + slope * (test[below] - marks[0]), rtol=1e-9)
    slope = (model.landmarks_[-1] - model.landmarks_[-2]) / (marks[-1] - marks[-2])
    np.testing.assert_allclose(out[above], model.landmarks_[-1]
                               + slope * (test[above] - marks[-1]), rtol=1e-9)


def test_nyul_refuses_bad_settings_and_names_the_subject():
    with pytest.raises(ValueError, match="strictly increasing"):
        NyulStandardizer(percentiles=(50, 10)).fit([np.arange(10.0)])
    with pytest.raises(ValueError, match="s_min < s_max"):
        NyulStandardizer(standard_range=(1, 1)).fit([np.arange(10.0)])
    with pytest.raises(ValueError, match="subject 'p2': the 1th and 99th percentiles"):
        NyulStandardizer().fit([np.arange(10.0), np.ones(10)], names=["p1", "p2"])


# --------------------------------------------------------------------------- WhiteStripe
def test_white_stripe_finds_the_white_matter_of_a_synthetic_t1_brain():
    image, brain, labels = t1_brain()
    wm = brain & (labels == 2)
    stripe = find_white_stripe(image, brain, modality="T1")
    # the stripe's mean within 2 % of the white-matter mean (100)
    assert abs(stripe.mean - T1_MEANS[2]) < 0.02 * T1_MEANS[2]
    # without a mask, the voxels above the image mean stand for the brain
    assert abs(find_white_stripe(image).mean - T1_MEANS[2]) < 0.02 * T1_MEANS[2]
    # grey matter is the tallest mode: the T2 rule (largest mode) picks it instead
    assert abs(find_white_stripe(image, brain, modality="t2").mean - T1_MEANS[1]) < 1.4

    out = white_stripe(image, brain)
    in_stripe = brain & (image >= stripe.lower) & (image <= stripe.upper)
    assert in_stripe.sum() == stripe.n_voxels
    # the stripe's voxels are standardised exactly
    assert abs(out[in_stripe].mean()) < 1e-9 and abs(out[in_stripe].std() - 1.0) < 1e-9
    # the white matter is centred: its mean lands within 0.1 of its own sd (6) of zero
    # (at most 0.04 over 15 seeds)
    assert abs(out[wm].mean()) * stripe.sd / T1_SDS[2] < 0.1
    # its sd is not 1: the stripe holds the central 2 * width of all brain voxels, i.e.
    # the voxels within +-c sd of the white-matter mean, pi_wm (2 Phi(c) - 1) = 0.1, whose
    # sd is sd_wm sqrt(1 - 2 c phi(c) / (2 Phi(c) - 1)); that prediction holds within 5 %
    pi_wm = wm.sum() / brain.sum()
    c = norm.ppf(0.5 + 0.05 / pi_wm)
    shrink = np.sqrt(1.0 - 2.0 * c * norm.pdf(c) / (2.0 * norm.cdf(c) - 1.0))
    assert out[wm].std() * shrink == pytest.approx(1.0, rel=0.05)


def test_white_stripe_refuses_what_it_cannot_normalise():
    image, brain, _ = t1_brain(shape=(12, 12, 12))
    with pytest.raises(ValueError, match="subject 'p1': unknown MR modality 'PD'"):
        white_stripe(image, brain, modality="PD", where="subject 'p1'")
    with pytest.raises(ValueError, match="width must be in"):
        white_stripe(image, brain, width=0.6)
    with pytest.raises(ValueError, match="subject 'p1': the mask has shape"):
        white_stripe(image, brain[:-1], where="subject 'p1'")
    with pytest.raises(ValueError, match="the mask is empty"):
        zscore_in_mask(image, np.zeros_like(brain))


# ------------------------------------------------------------------------------ registry
def test_the_registry_names_every_method():
    assert {"none", "zscore-mask", "white-stripe", "nyul"} <= set(NORMALIZATIONS)
    assert {f"ct-window:{name}" for name in CT_WINDOWS} <= set(NORMALIZATIONS)
    hu = np.linspace(-1200, 1200, 25).reshape(1, 5, 5)
    np.testing.assert_array_equal(make_normalizer("ct-window:lung").fit([hu]).transform(hu),
                                  ct_window(hu, *CT_WINDOWS["lung"]))
    assert isinstance(make_normalizer("nyul"), NyulStandardizer)
    assert isinstance(make_normalizer(None), PerImageNormalizer)
    np.testing.assert_array_equal(make_normalizer(None).transform(hu), hu)
    with pytest.raises(ValueError, match="Unknown intensity normalisation 'ct-window:eye'"):
        make_normalizer("ct-window:eye")


# ------------------------------------------------------------------------ representation
def _image_block(n=8, seed=0):
    """Random 1-channel 3D images of different sizes and scales, masks, 1 mm spacing."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    values, masks = [], []
    for i in range(n):
        shape = (6 + i % 3, 8, 7 + i % 2)
        values.append((rng.gamma(2.0 + i % 4, 10.0, size=shape) * (1 + i))[None])
        mask = np.zeros(shape, np.uint8)
        mask[1:-1, 2:-2, 1:-1] = 1
        masks.append(mask)
    meta = pd.DataFrame({"spacing": pd.Series([(1.0, 1.0, 1.0)] * n, index=ids,
                                              dtype=object)}, index=ids)
    return RaggedBlock(ids, values, {"mask": masks}, meta=meta)


def test_radiomics_learns_nyul_landmarks_from_its_training_subjects_only():
    block = _image_block()
    train, rest = block.take(slice(0, 5)), block.take(slice(5, None))
    rep = Radiomics(normalize="nyul", families=["stat"]).fit(train)
    expected = NyulStandardizer().fit([v[0] for v in train.values]).landmarks_
    np.testing.assert_array_equal(rep.nyul_landmarks_, expected)
    assert type(rep.nyul_landmarks_) is np.ndarray
    out = rep.transform(block)
    assert out.shape == (8, len(rep.feature_names_out_)) and np.all(np.isfinite(out))
    assert list(out.index) == list(block.ids)
    np.testing.assert_array_equal(rep.nyul_landmarks_, expected)  # unchanged by transform
    assert not np.allclose(Radiomics(normalize="nyul", families=["stat"]).fit(rest)
                           .nyul_landmarks_, expected)
    # raw features differ with the subject's scale, the standardised ones much less
    raw = Radiomics(families=["stat"]).fit(train).transform(block)
    assert not hasattr(Radiomics(families=["stat"]).fit(train), "nyul_landmarks_")
    assert out["stat_median"].std() < 0.1 * raw["stat_median"].std()


def test_radiomics_normalises_per_image_inside_a_region_field():
    block = _image_block(4)
    regions = [np.ones(v.shape[1:], bool) for v in block.values]
    with_region = RaggedBlock(block.ids, block.values, {"mask": block.field("mask"),
                                                        "brain": regions}, meta=block.meta)
    rep = Radiomics(normalize="zscore-mask", normalize_field="brain", families=["stat"])
    out = rep.fit(with_region).transform(with_region)
    # the whole image is z-scored, so the ROI mean is the ROI's offset in image sds
    for i, v in enumerate(block.values):
        z = (v[0] - v[0].mean()) / v[0].std()
        roi = block.field("mask")[i] != 0
        assert out["stat_mean"].iloc[i] == pytest.approx(z[roi].mean(), abs=1e-9)
    with pytest.raises(ValueError, match="normalize_field 'skull' is not a field"):
        Radiomics(normalize="zscore-mask", normalize_field="skull").fit(with_region)
    with pytest.raises(ValueError, match="Unknown intensity normalisation 'minmax'"):
        Radiomics(normalize="minmax").fit(with_region)
    bad = RaggedBlock(block.ids, [np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v)
                                  if i == 2 else v for i, v in enumerate(block.values)],
                      {"mask": block.field("mask")}, meta=block.meta)
    ws = Radiomics(normalize="white-stripe", families=["stat"]).fit(block)
    assert np.all(np.isfinite(ws.transform(block)))
    with pytest.raises(ValueError, match="subject 's2': 1 voxel"):
        ws.transform(bad)


def test_a_strategy_with_nyul_radiomics_saves_and_predicts_the_same(tmp_path):
    pytest.importorskip("skops")
    from medfuse.fusion import make
    from medfuse.persist import load_model, save_model

    n = 24
    block = _image_block(n, seed=3)
    rng = np.random.default_rng(3)
    ids = list(block.ids)
    y = np.array([0, 1] * (n // 2))
    clinical = pd.DataFrame(rng.normal(size=(n, 2)) + y[:, None], index=ids,
                            columns=["a", "b"])
    data = MultiModalData({"ct": block, "clinical": clinical},
                          obs=pd.DataFrame({"y": y}, index=ids), outcome="y",
                          modalities={"ct": "image"})
    rep = Radiomics(normalize="nyul", families=["stat"])
    model = make("late-mean", representations={"ct": rep}, random_state=0)
    model.fit(data[:16])
    fitted = model.step_.representations_["ct"]
    expected = NyulStandardizer().fit([v[0] for v in block.values[:16]]).landmarks_
    np.testing.assert_array_equal(fitted.nyul_landmarks_, expected)
    before = model.predict_proba(data[16:])
    loaded = load_model(save_model(model, tmp_path / "model"))
    np.testing.assert_array_equal(loaded.step_.representations_["ct"].nyul_landmarks_,
                                  expected)
    np.testing.assert_allclose(loaded.predict_proba(data[16:]), before, rtol=0, atol=1e-12)
