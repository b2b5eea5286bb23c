"""The radiomics representation's own options: resolution matching from each subject's
FWHM, and dropping unstable features inside each fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data.ragged import RaggedBlock
from medfuse.imaging.represent import Radiomics

pytest.importorskip("skimage")


def _lesions(n=6, seed=0, fwhm=None, noise=0.0):
    """Spheres of different radii and brightness on a textured background."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    z, y, x = np.mgrid[:16, :16, :16]
    for i in range(n):
        r = 3 + i % 3
        mask = ((z - 8) ** 2 + (y - 8) ** 2 + (x - 8) ** 2) <= r * r
        image = 10 + 5 * (i % 4) * mask + rng.normal(0, 1.0, size=mask.shape)
        image = image + rng.normal(0, noise, size=mask.shape)
        images.append(image[None])
        masks.append(mask.astype(np.uint8))
    ids = [f"s{i}" for i in range(n)]
    meta = {"spacing": [(1.0, 1.0, 1.0)] * n}
    if fwhm is not None:
        meta["fwhm"] = fwhm
    return RaggedBlock(ids, images, {"mask": masks}, meta=pd.DataFrame(meta, index=ids))


def test_matching_resolution_makes_two_sites_of_one_scan_alike():
    from medfuse.imaging.resample import match_resolution

    sharp = _lesions(2, fwhm=[2.0, 2.0])
    # the same scans as a blurrier site records them
    blurred = RaggedBlock(sharp.ids, [match_resolution(v[0], (1, 1, 1), 2.0, 5.0)[None]
                                      for v in sharp.values],
                          {"mask": sharp.field("mask")},
                          meta=sharp.meta.assign(fwhm=[5.0, 5.0]))
    raw = Radiomics(families=["stat"]).fit(sharp)
    matched = Radiomics(families=["stat"], match_fwhm=5.0).fit(sharp)
    gap_raw = (raw.transform(sharp) - raw.transform(blurred)).abs()["stat_var"].max()
    gap = (matched.transform(sharp) - matched.transform(blurred)).abs()["stat_var"].max()
    assert gap < 1e-9 < gap_raw


def test_a_subject_sharper_than_the_target_cannot_be_reached_and_is_named():
    block = _lesions(2, fwhm=[2.0, 6.0])
    with pytest.raises(ValueError, match=r"subject 's1': .*cannot be sharpened"):
        Radiomics(families=["stat"], match_fwhm=4.0).fit(block)
    with pytest.raises(ValueError, match="'fwhm' metadata"):
        Radiomics(families=["stat"], match_fwhm=4.0).fit(_lesions(2))


def test_unstable_features_are_dropped_on_the_training_subjects_of_each_fit():
    block = _lesions(6, noise=2.0)
    model = Radiomics(families=["stat"], min_icc=0.75, icc_perturbations=4).fit(block)
    assert "stat_mean" in model.feature_names_out_
    assert model.dropped_features_ and set(model.dropped_features_).isdisjoint(
        model.feature_names_out_)
    assert all(model.feature_icc_[n] < 0.75 or np.isnan(model.feature_icc_[n])
               for n in model.dropped_features_)
    assert list(model.transform(block).columns) == model.feature_names_out_
    everything = Radiomics(families=["stat"]).fit(block)
    assert set(everything.feature_names_out_) == set(model.feature_names_out_) | set(
        model.dropped_features_)
