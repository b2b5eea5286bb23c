"""Lesion images acquired at scanner sites: the site model ``a_s (h_s * x) + b_s + n_s`` and
the outcome in the lesion texture hold as simulated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

from medfuse.data import MultiModalData, get_kind, make_cohort
from medfuse.data.simulate_images import simulate_lesion_images

SPACING = (2.0, 1.0, 1.0)


def lesion_sd(block) -> np.ndarray:
    """Within-lesion intensity sd of each subject's image."""
    return np.array([image[0][mask > 0].std()
                     for image, mask in zip(block.values, block.field("mask"), strict=True)])


def mean_squared_gradient(volume: np.ndarray) -> float:
    """Mean squared intensity gradient per mm of a (Z, Y, X) volume."""
    return float(np.mean([g ** 2 for g in np.gradient(volume, *SPACING)]))


@pytest.mark.parametrize("shape", [(16, 16, 16), (12, 20, 16), (24, 24, 24)])
def test_reproducible_and_masks_inside_the_volume(shape):
    y = np.tile([0, 1], 6)
    site = np.arange(12) % 3
    kw = dict(shape=shape, spacing=SPACING, site_fwhm_mm=[1.0, 2.0, (3.0, 2.0, 2.0)],
              site_noise=[0.05, 0.1, 0.0])
    block = simulate_lesion_images(y, site, random_state=5, **kw)
    assert block.equals(simulate_lesion_images(y, site, random_state=5, **kw))
    assert not block.equals(simulate_lesion_images(y, site, random_state=6, **kw))
    assert block.shapes == [(1, *shape)] * 12
    for image, mask in zip(block.values, block.field("mask"), strict=True):
        assert image.dtype == np.float32 and np.isfinite(image).all()
        assert mask.shape == image.shape[1:] and set(np.unique(mask)) == {0, 1}
        # the lesion lies inside the volume: it touches none of the six faces
        for axis in range(3):
            assert not mask.take([0, -1], axis=axis).any()
    meta = block.meta
    assert list(meta["site"]) == [f"site{k}" for k in site]
    assert meta["spacing"].iloc[0] == SPACING
    assert meta["fwhm"].iloc[2] == (3.0, 2.0, 2.0) and meta["fwhm"].iloc[0] == (1.0,) * 3


def test_the_true_image_does_not_depend_on_the_site():
    # one subject imaged at two sites without blur, noise or intensity change: the same image
    same = dict(site_fwhm_mm=[0.0, 0.0], site_noise=[0.0, 0.0], random_state=3)
    a = simulate_lesion_images([1], [0], **same)
    b = simulate_lesion_images([1], [1], **same)
    assert np.array_equal(a.values[0], b.values[0])
    assert np.array_equal(a.field("mask")[0], b.field("mask")[0])


def test_a_wider_point_spread_function_gives_a_smoother_image():
    sites = dict(site_fwhm_mm=[1.0, 3.0, 6.0], site_scale=[1.0] * 3, site_noise=[0.0] * 3,
                 spacing=SPACING)
    msg = [mean_squared_gradient(simulate_lesion_images([1], [s], random_state=11,
                                                        **sites).values[0][0])
           for s in range(3)]
    assert msg[0] > msg[1] > msg[2]


def test_the_site_scale_multiplies_the_mean_inside_the_lesion():
    sites = dict(site_fwhm_mm=[2.0, 2.0], site_scale=[1.0, 2.5], site_noise=[0.0, 0.0])
    for subject in range(3):
        low = simulate_lesion_images([subject % 2], [0], random_state=subject, **sites)
        high = simulate_lesion_images([subject % 2], [1], random_state=subject, **sites)
        mask = low.field("mask")[0] > 0
        assert np.array_equal(mask, high.field("mask")[0] > 0)
        ratio = high.values[0][0][mask].mean() / low.values[0][0][mask].mean()
        assert ratio == pytest.approx(2.5, rel=1e-5)


def test_the_noise_sd_in_flat_background_is_the_sites():
    noise = [0.03, 0.1, 0.25]
    block = simulate_lesion_images([0, 1, 1], [0, 1, 2], spacing=SPACING,
                                   site_fwhm_mm=[2.0, 3.0, 2.0], site_scale=[1.0, 1.4, 0.8],
                                   site_offset=[0.0, 0.3, -0.2], site_noise=noise,
                                   random_state=2)
    for image, mask, sd in zip(block.values, block.field("mask"), noise, strict=True):
        # flat tissue: farther than twice the widest FWHM from the lesion
        far = ndimage.distance_transform_edt(mask == 0, sampling=SPACING) > 6.0
        assert far.sum() > 1000
        assert image[0][far].std() == pytest.approx(sd, rel=0.1)


def test_the_outcome_is_in_the_lesion_texture():
    y = np.repeat([0, 1], 30)
    site = np.arange(60) % 2
    kw = dict(shape=(20, 20, 20), site_fwhm_mm=[2.0, 3.0], site_noise=[0.05, 0.08],
              random_state=0)
    with_effect = lesion_sd(simulate_lesion_images(y, site, **kw))
    assert with_effect[y == 1].mean() > with_effect[y == 0].mean()
    assert stats.mannwhitneyu(with_effect[y == 1], with_effect[y == 0]).pvalue < 0.01
    without = lesion_sd(simulate_lesion_images(y, site, texture_effect=0.0, **kw))
    assert stats.mannwhitneyu(without[y == 1], without[y == 0]).pvalue > 0.05


def test_make_cohort_with_lesion_images():
    data = make_cohort(40, image_model="lesion", image_shape=(16, 16, 16), n_batches=3,
                       missing={"image": 0.2}, random_state=4)
    assert isinstance(data, MultiModalData) and data.kinds["image"] == "image"
    block = data.block("image")
    get_kind("image").check("image", data.modalities["image"], block)
    assert 0 < len(block) < 40 and set(block.shapes) == {(1, 16, 16, 16)}
    assert "batch" in data.obs.columns
    sites = data.obs.loc[block.ids, "batch"].astype(str).tolist()
    assert block.meta["site"].tolist() == sites
    truth = data.uns["truth"]["sites"]
    assert list(truth.index) == ["site0", "site1", "site2"]
    assert [block.meta["fwhm"].iloc[i][0] for i in range(3)] == pytest.approx(
        truth.loc[sites[:3], "fwhm_mm"].tolist())
    # the default volume, and no site effect when batch_effect is 0
    flat = make_cohort(20, image_model="lesion", batch_effect=0.0, random_state=1)
    assert set(flat.block("image").shapes) == {(1, 24, 24, 24)}
    assert np.allclose(flat.uns["truth"]["sites"][["fwhm_mm", "scale", "offset"]],
                       [2.0, 1.0, 0.0])


def test_the_default_image_model_is_unchanged():
    data = make_cohort(10, image_shape=(8, 8), random_state=0)
    assert data.block("image").shape == (10, 1, 8, 8) and "sites" not in data.uns["truth"]
    assert "image" not in make_cohort(10, random_state=0).modality_names


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="image_model"):
        make_cohort(10, image_model="blob")
    with pytest.raises(ValueError, match="3D"):
        make_cohort(10, image_model="lesion", image_shape=(16, 16))
    with pytest.raises(ValueError, match="grades"):
        simulate_lesion_images([0, 2])
    with pytest.raises(ValueError, match="site_scale"):
        simulate_lesion_images([0, 1], [0, 2], site_scale=[1.0, 2.0])
    with pytest.raises(ValueError, match="site_fwhm_mm"):
        simulate_lesion_images([0], site_fwhm_mm=[(1.0, 2.0)])
