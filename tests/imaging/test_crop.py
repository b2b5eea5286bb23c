"""Crops around the mask on a fixed physical grid, the input of a CNN on the region of
interest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data.ragged import RaggedBlock
from medfuse.imaging.crop import MaskCrop


def _block(images, masks, spacings):
    ids = [f"s{i}" for i in range(len(images))]
    return RaggedBlock(ids, images, {"mask": masks},
                       meta=pd.DataFrame({"spacing": spacings}, index=ids))


def _linear(shape, spacing, coef=(0.5, -1.0, 2.0)):
    """f = a z + b y + c x in mm, as a 1-channel image."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)],
                        indexing="ij")
    return sum(c * g for c, g in zip(coef, grids, strict=True))[None]


def test_a_crop_samples_the_image_around_the_mask_centre_in_mm():
    spacing = (2.0, 1.0, 1.0)
    image = _linear((20, 30, 30), spacing)
    mask = np.zeros((20, 30, 30))
    mask[8:12, 10:20, 12:18] = 1          # centre (9.5, 14.5, 14.5) voxels
    crop = MaskCrop(size_mm=(8, 8, 6), spacing_mm=2.0, mask_channel=True)
    out = crop.fit(_block([image], [mask], [spacing])).transform(
        _block([image], [mask], [spacing]))
    assert out.shape == (1, 2, 4, 4, 3) and crop.shape_ == (4, 4, 3)
    raw = out[0, 0] * crop.scale_[0] + crop.mean_[0]
    centre = np.array([9.5 * 2.0, 14.5, 14.5])
    offsets = [(np.arange(n) - (n - 1) / 2) * 2.0 for n in (4, 4, 3)]
    z, y, x = np.meshgrid(*[o + c for o, c in zip(offsets, centre, strict=True)],
                          indexing="ij")
    np.testing.assert_allclose(raw, 0.5 * z - 1.0 * y + 2.0 * x, atol=1e-9)
    # the mask channel: 1 inside the box, partial at its edge
    assert out[0, 1].max() == 1.0 and 0 <= out[0, 1].min()


def test_scans_of_different_voxel_sizes_give_the_same_physical_crop():
    fine, coarse = (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)
    a = _linear((40, 40, 40), fine)
    b = _linear((20, 20, 20), coarse)
    ma = np.zeros((40, 40, 40))
    ma[15:25, 15:25, 15:25] = 1            # centre 19.5 mm
    mb = np.zeros((20, 20, 20))
    mb[7:13, 7:13, 7:13] = 1               # centre 9.5 voxels = 19 mm
    block = _block([a, b], [ma, mb], [fine, coarse])
    out = MaskCrop(size_mm=10, spacing_mm=2.0, mask_channel=False).fit(block).transform(block)
    # a linear image: the crops differ by the centre shift only (0.5 mm per axis)
    shift = (0.5 - 1.0 + 2.0) * 0.5
    crop = MaskCrop(size_mm=10, spacing_mm=2.0, mask_channel=False).fit(block)
    diff = (out[0, 0] - out[1, 0]) * crop.scale_[0]
    np.testing.assert_allclose(diff, shift, atol=1e-9)


def test_standardisation_is_learned_on_the_training_crops_only():
    rng = np.random.default_rng(0)
    images = [rng.normal(5.0, 2.0, size=(1, 12, 12, 12)) for _ in range(4)]
    masks = [np.ones((12, 12, 12)) for _ in range(4)]
    train = _block(images[:3], masks[:3], [(1.0, 1.0, 1.0)] * 3)
    crop = MaskCrop(size_mm=6, spacing_mm=1.0).fit(train)
    before = crop.mean_.copy()
    shifted = _block([images[3] + 100.0], masks[3:], [(1.0, 1.0, 1.0)])
    assert crop.transform(shifted)[0, 0].mean() > 10
    np.testing.assert_array_equal(crop.mean_, before)


def test_an_empty_mask_names_the_subject():
    block = _block([np.ones((1, 6, 6, 6))], [np.zeros((6, 6, 6))], [(1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="subject 's0': the mask is empty"):
        MaskCrop(size_mm=4).fit(block)


def test_a_neural_strategy_reads_lesion_crops_by_name_and_is_saved(tmp_path):
    pytest.importorskip("torch")
    from medfuse.data import make_cohort
    from medfuse.fusion import make
    from medfuse.persist import load_model, save_model

    data = make_cohort(80, image_model="lesion", image_shape=(16, 16, 16),
                       effects={"image": 3.0}, random_state=0).select(["image"])
    model = make("intermediate", preprocessors={"image": "mask-crop"}, max_epochs=15,
                 random_state=0)
    train, test = data[:60], data[60:]
    model.fit(train)
    proba = model.predict_proba(test)
    assert np.isfinite(proba).all()
    # 48 mm at 2 mm, the lesion mask as a second channel
    assert model.input_shapes_["image"] == (2, 24, 24, 24)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(test), proba, atol=1e-6)
