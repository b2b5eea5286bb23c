"""Ragged modalities: one array of its own shape per subject, with companions and metadata,
through every MultiModalData operation and file round trip, never densified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data import (
    DataValidationError,
    MultiModalData,
    RaggedBlock,
    from_mudata,
    read_folder,
    to_mudata,
    write_folder,
)


def _images(n=6, seed=0):
    """3-D images of different sizes per subject, with masks and voxel spacing."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i}" for i in range(n)]
    values, masks, spacing = [], [], []
    for i in range(n):
        shape = (1, 4 + i, 5, 3 + i % 2)
        values.append(rng.normal(size=shape))
        masks.append((rng.random(shape[1:]) > 0.5).astype(np.uint8))
        spacing.append((1.0 + 0.5 * i, 1.0, 2.0))
    meta = pd.DataFrame({"spacing": pd.Series(spacing, index=ids, dtype=object)}, index=ids)
    return RaggedBlock(ids, values, {"mask": masks}, meta)


def _cohort():
    img = _images()
    ids = list(img.ids)
    tab = pd.DataFrame({"x": np.arange(8.0)}, index=[*ids, "Q0", "Q1"])
    obs = pd.DataFrame({"y": [0, 1] * 4}, index=tab.index)
    return MultiModalData({"tab": tab, "ct": img.take([0, 2, 3, 5])}, obs=obs, outcome="y"), img


def test_ragged_block_keeps_each_subject_array_and_metadata():
    img = _images()
    assert [s[1] for s in img.shapes] == [4, 5, 6, 7, 8, 9]
    sub = img.take([4, 1])
    assert list(sub.ids) == ["P4", "P1"]
    assert sub.values[0] is img.values[4]  # shared, not copied or padded
    assert sub.meta.loc["P1", "spacing"] == (1.5, 1.0, 2.0)
    assert sub.item(0)["mask"] is img.field("mask")[4]
    back = img.reindex(["P3", "new"])
    assert back.values[1] is None and np.isnan(back.meta.loc["new", "spacing"])
    with pytest.raises(DataValidationError, match="duplicate"):
        RaggedBlock(["a", "a"], [np.zeros(2), np.zeros(3)])


def test_multimodal_operations_work_without_densifying():
    data, img = _cohort()
    assert data.storage("ct") == "ragged" and data.kinds["ct"] == "image"
    assert data.n_features("ct") is None and data.feature_names("ct") is None
    assert data.available["ct"].tolist() == [True, False, True, True, False, True, False, False]
    block = data.block("ct")
    assert isinstance(block, RaggedBlock) and list(block.ids) == ["P0", "P2", "P3", "P5"]
    assert block.values[1] is img.values[2]
    sub = data[np.array([5, 2, 1])]
    assert list(sub.block("ct").ids) == ["P5", "P2"] and sub.block("ct").values[0].shape == (
        1, 9, 5, 4)
    hidden = data.hide("ct", subjects=["P2"])
    assert len(hidden) == len(data) and list(hidden.block("ct").ids) == ["P0", "P3", "P5"]
    assert hidden.block("ct", available_only=False).values[2] is img.values[2]
    masked = data.with_available(data.available.assign(ct=[True] * 8))
    assert masked.available["ct"].sum() == 4  # never gains a modality
    with pytest.warns(UserWarning, match="Q0"):
        only = data.select(["ct"])
    assert len(only) == 4 and only.block("ct").meta["spacing"].iloc[-1] == (3.5, 1.0, 2.0)
    both = MultiModalData.concat([data[:3], data[3:]])
    assert both.block("ct").equals(data.block("ct"))
    assert "ragged 1x4-9x5x3-4" in str(data.summary_frame().loc["ct", "features"])


def test_ragged_values_are_validated_per_subject():
    img = _images()
    bad = list(img.values)
    bad[2] = bad[2].copy()
    bad[2][0, 0, 0, 0] = np.inf
    with pytest.raises(DataValidationError, match="P2"):
        MultiModalData({"ct": RaggedBlock(img.ids, bad)}, modalities={"ct": "image"})
    flat = RaggedBlock(["a"], [np.zeros(3)])
    with pytest.raises(DataValidationError, match="'a'"):
        MultiModalData({"ct": flat}, modalities={"ct": "image"})


def test_folder_and_mudata_round_trips(tmp_path):
    data, _ = _cohort()
    write_folder(data, tmp_path / "f")
    back = read_folder(tmp_path / "f")
    assert back.storage("ct") == "ragged"
    assert back.block("ct").equals(data.block("ct"))
    assert back.available.equals(data.available)
    pd.testing.assert_frame_equal(back.block("tab"), data.block("tab"))
    mu = from_mudata(to_mudata(data))
    assert mu.block("ct").equals(data.block("ct")) and mu.available.equals(data.available)
    file = tmp_path / "c.h5mu"
    to_mudata(data).write(file)
    import mudata as md

    again = from_mudata(md.read_h5mu(file))
    assert again.block("ct").equals(data.block("ct"))
    assert again.block("ct").meta.loc["P3", "spacing"] == (2.5, 1.0, 2.0)


# ---------------------------------------------------------------------- validation by kind
def _stream(n=4, bad=None):
    ids = [f"s{i}" for i in range(n)]
    values = [np.zeros((2, 10)) for _ in ids]
    stamps = [np.arange(10.0) for _ in ids]
    if bad is not None:
        stamps[2] = bad
    return RaggedBlock(ids, values, {"timestamps": stamps})


@pytest.mark.parametrize("bad, problem", [
    (np.arange(7.0), "'s2' (7 timestamps for 10 samples)"),
    (np.r_[np.arange(5.0), np.arange(5.0)], "'s2' (timestamp 5 (0.0) is not after timestamp 4"),
    (np.r_[np.arange(9.0), np.nan], "'s2' (non-finite timestamps)"),
    (np.zeros((2, 5)), "'s2' (timestamps of shape (2, 5)"),
])
def test_a_series_kind_validates_its_timestamps(bad, problem):
    """Bug 5: a ragged block's fields were never validated by its kind, so 7 timestamps for
    a 10-sample series failed later in a representation, naming neither modality nor
    subject."""
    block = _stream(bad=bad)  # the block alone cannot know what its fields mean
    with pytest.raises(DataValidationError) as err:
        MultiModalData({"watch": block}, modalities={"watch": "timeseries"})
    assert "Modality 'watch' (timeseries)" in str(err.value) and problem in str(err.value)


def test_an_image_kind_validates_its_masks():
    ids = ["a", "b", "c"]
    images = [np.zeros((1, 6, 6, 4)) for _ in ids]
    masks = [np.ones((6, 6, 4)), np.ones((6, 6)), np.ones((6, 6, 4))]
    with pytest.raises(DataValidationError, match="'b' \\(mask \\(6, 6\\), image "
                                                  "\\(1, 6, 6, 4\\)\\)"):
        MultiModalData({"ct": RaggedBlock(ids, images, {"mask": masks})},
                       modalities={"ct": "image"})


def test_dense_arrays_go_through_the_same_kind_check():
    ids = ["a", "b"]
    values = np.zeros((2, 1, 4, 4))
    values[1, 0, 0, 0] = np.inf
    with pytest.raises(DataValidationError, match=r"non-finite values .* 'b'"):
        MultiModalData({"ct": (ids, values)}, modalities={"ct": "image"})
    assert len(MultiModalData({"watch": _stream()}, modalities={"watch": "timeseries"})) == 4
