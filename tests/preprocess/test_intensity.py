"""Image intensity transforms: closed-form known answers."""

import numpy as np
import pandas as pd
import pytest

from medfuse.data import make_cohort
from medfuse.preprocess import (
    PETSUV,
    CTWindow,
    HistogramMatching,
    IntensityZScore,
    ScaleMapping,
    fit_transform_block,
)
from medfuse.preprocess.intensity import ct_window, map_scale, suv


def test_zscore_per_image_and_dataset():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(4, 2, 5, 6))
    out = IntensityZScore().fit_transform(X)
    assert out.shape == X.shape
    np.testing.assert_allclose(out.mean(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(2, 3)), 1, atol=1e-12)
    model = IntensityZScore(scope="dataset").fit(X)
    np.testing.assert_allclose(model.mean_, X.mean(axis=(0, 2, 3)))
    new = model.transform(X[:1] + 1.0)    # frozen training statistics
    np.testing.assert_allclose(new, (X[:1] + 1.0 - model.mean_[:, None, None])
                               / model.std_[:, None, None])


def test_scale_mapping_closed_form():
    x = np.array([0.0, 10.0, 20.0])
    np.testing.assert_allclose(map_scale(x, (10.0, 5.0), (100.0, 15.0)), [70.0, 100.0, 130.0])
    X = np.arange(2 * 1 * 2 * 2, dtype=float).reshape(2, 1, 2, 2)   # values 0..7
    out = ScaleMapping(target_mean=50, target_std=10).fit_transform(X)
    np.testing.assert_allclose(out.mean(), 50)
    np.testing.assert_allclose(out.std(), 10)
    fixed = ScaleMapping(1.0, 2.0, source_mean=4.0, source_std=2.0).fit_transform(X)
    np.testing.assert_allclose(fixed, 1.0 + 2.0 * (X - 4.0) / 2.0)


def test_histogram_matching_to_reference_is_rank_exact():
    rng = np.random.default_rng(1)
    ref = rng.exponential(size=(1, 4, 4))
    img = rng.normal(size=(1, 4, 4))
    out = HistogramMatching(reference=ref).fit(img[None]).transform(img[None])[0]
    # same size, distinct values: the reference's values in the image's rank order
    expected = np.empty(16)
    expected[np.argsort(img.ravel())] = np.sort(ref.ravel())
    np.testing.assert_allclose(out.ravel(), expected)


def test_histogram_matching_pooled_reference_on_list_of_sizes():
    rng = np.random.default_rng(2)
    train = [rng.normal(5, 1, size=(1, 8, 8)), rng.normal(5, 1, size=(1, 6, 10))]
    model = HistogramMatching().fit(train)
    new = [rng.normal(-3, 4, size=(1, 30, 30))]
    out = model.transform(new)
    assert isinstance(out, list) and out[0].shape == (1, 30, 30)
    pooled = np.concatenate([t.ravel() for t in train])
    assert abs(out[0].mean() - pooled.mean()) < 0.1
    assert abs(out[0].std() - pooled.std()) < 0.1


def test_ct_window_known_values():
    hu = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0])
    np.testing.assert_allclose(ct_window(hu, 40, 400), [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(CTWindow("lung").fit_transform(hu.reshape(1, 1, 1, 5)).ravel(),
                               np.clip((hu + 1350.0) / 1500.0, 0, 1))
    with pytest.raises(ValueError, match="Unknown CT window"):
        CTWindow("nope").fit_transform(hu.reshape(1, 1, 1, 5))


def test_pet_suv_known_values_from_obs():
    # 5 kBq/mL, 350 MBq, 70 kg -> SUV = 5000 * 70000 / 3.5e8 = 1.0
    X = np.full((2, 1, 2, 2), 5000.0)
    obs = pd.DataFrame({"injected_dose_bq": [3.5e8, 7e8], "weight_kg": [70.0, 70.0],
                        "delay_s": [0.0, 6586.2]})
    out = fit_transform_block(PETSUV(), X, obs=obs)
    np.testing.assert_allclose(out[0], 1.0)
    np.testing.assert_allclose(out[1], 0.5)
    decayed = PETSUV(delay_col="delay_s", log=True).fit_transform(X, obs=obs)
    np.testing.assert_allclose(decayed[1], np.log1p(1.0))    # one half-life: dose halves
    np.testing.assert_allclose(suv(5000.0, 3.5e8, 70.0), 1.0)
    with pytest.raises(ValueError, match="weight_kg"):
        PETSUV().fit_transform(X, obs=obs.drop(columns="weight_kg"))


def test_on_simulated_image_block():
    data = make_cohort(20, image_shape=(8, 8), random_state=0)
    images = data.block("image")
    out = IntensityZScore().fit_transform(np.asarray(images))
    assert out.shape == np.asarray(images).shape
