"""MultiModalData: alignment by ID, availability, indexing, subsets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data import DataValidationError, MultiModalData


def _blocks(rng):
    ids = [f"P{i}" for i in range(6)]
    a = pd.DataFrame(rng.normal(size=(6, 3)), index=ids, columns=["a1", "a2", "a3"])
    b = pd.DataFrame(rng.normal(size=(4, 2)), index=ids[2:], columns=["b1", "b2"])
    obs = pd.DataFrame({"y": [0, 1, 0, 1, 0, 1]}, index=ids)
    return a, b, obs


def test_blocks_are_joined_on_subject_id_not_row_position():
    rng = np.random.default_rng(0)
    a, b, obs = _blocks(rng)
    base = MultiModalData({"a": a, "b": b}, obs=obs, outcome="y")
    perm = rng.permutation(6)
    shuffled = MultiModalData({"a": a.iloc[perm], "b": b.iloc[::-1]}, obs=obs.iloc[::-1],
                              outcome="y")
    for subject in base.subjects:
        one, two = base.loc([subject]), shuffled.loc([subject])
        pd.testing.assert_frame_equal(one.block("a"), two.block("a"))
        assert one.available.equals(two.available)
        assert one.y.iloc[0] == two.y.iloc[0]
        if one.available.loc[subject, "b"]:
            pd.testing.assert_frame_equal(one.block("b"), two.block("b"))


def test_missing_modality_is_an_availability_state():
    a, b, obs = _blocks(np.random.default_rng(1))
    data = MultiModalData({"a": a, "b": b}, obs=obs)
    assert data.shape == (6, 2) and len(data) == 6
    assert data.available["b"].tolist() == [False, False, True, True, True, True]
    assert list(data.block("b").index) == ["P2", "P3", "P4", "P5"]
    assert data.block("b", available_only=False).shape == (6, 2)


def test_integer_and_string_ids_match():
    a = pd.DataFrame({"x": [1.0, 2.0]}, index=[7, 8])
    b = pd.DataFrame({"z": [3.0, 4.0]}, index=["8", "7"])
    data = MultiModalData({"a": a, "b": b})
    assert list(data.subjects) == ["7", "8"]
    assert data.block("b").loc["7", "z"] == 4.0


def test_positional_indexing_and_subsets():
    a, b, obs = _blocks(np.random.default_rng(2))
    data = MultiModalData({"a": a, "b": b}, obs=obs, outcome="y")
    sub = data[np.array([5, 0, 3])]
    assert list(sub.subjects) == ["P5", "P0", "P3"]
    assert sub.block("a").index.tolist() == ["P5", "P0", "P3"]
    assert sub.y.tolist() == [1, 0, 1]
    assert len(data[data.available["b"].to_numpy()]) == 4
    assert len(data[1:3]) == 2
    with pytest.warns(UserWarning, match="P0"):
        only_b = data.select(["b"])
    assert len(only_b) == 4
    assert data.drop_modalities("b").modality_names == ["a"]
    hidden = data.hide("a", subjects=["P4"])
    assert not hidden.available.loc["P4", "a"] and hidden.available.loc["P3", "a"]
    assert len(hidden) == len(data)


def test_arrays_need_ids_and_are_aligned():
    rng = np.random.default_rng(3)
    img = rng.normal(size=(3, 1, 4, 4))
    tab = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=["s1", "s2", "s3"])
    data = MultiModalData({"tab": tab, "img": (["s3", "s1", "s2"], img)})
    assert data.kinds["img"] == "image"
    np.testing.assert_array_equal(data.loc(["s3"]).block("img")[0], img[0])
    with pytest.raises(DataValidationError, match="row position"):
        MultiModalData({"tab": tab, "img": img}, modalities={"img": "image"})


def test_concat_and_summary():
    a, _, obs = _blocks(np.random.default_rng(4))
    one = MultiModalData({"a": a.iloc[:3]}, obs=obs.iloc[:3])
    two = MultiModalData({"a": a.iloc[3:]}, obs=obs.iloc[3:])
    both = MultiModalData.concat([one, two], label="split", keys=["train", "test"])
    assert len(both) == 6 and both.obs["split"].tolist() == ["train"] * 3 + ["test"] * 3
    assert both.summary_frame().loc["a", "subjects"] == 6
    with pytest.raises(DataValidationError, match="several cohorts"):
        MultiModalData.concat([one, one])


def test_summary_counts_zero_variance_features_and_says_what_happens_to_them():
    ids = [f"s{i}" for i in range(6)]
    rna = pd.DataFrame({"g1": [1.0, 2, 3, 4, 5, 6], "g2": 7.0, "g3": 0.0}, index=ids)
    counts = pd.DataFrame({"c1": [1, 5, 3, 0, 2, 9], "c2": 0}, index=ids)
    clinical = pd.DataFrame({"age": [50, 60, 70, 55, 65, np.nan], "sex": "f",
                             "stage": [1, 1, 1, 1, 1, np.nan]}, index=ids)
    data = MultiModalData({"rna": rna, "counts": counts, "clinical": clinical},
                          modalities={"rna": "continuous", "counts": "counts",
                                      "clinical": "clinical"},
                          obs=pd.DataFrame({"y": [0, 1] * 3}, index=ids), outcome="y",
                          uns={"notes": ["modality 'rna': 'site' (batch) of rna.csv is not a "
                                         "feature"]})
    frame = data.summary_frame()
    assert frame["constant"].to_dict() == {"rna": 2, "counts": 1, "clinical": 2}
    from rich.console import Console

    console = Console(width=400, record=True)
    console.print(data.summary())
    text = " ".join(console.export_text().split())
    assert ("zero-variance features: rna 2 (kept; the default z-score maps them to 0, so they "
            "carry no weight); counts 1 (kept; log-CPM then z-score map a gene counted 0 in "
            "every subject to 0 (a constant non-zero count varies with library size after "
            "log-CPM)); clinical 2 (kept; the default encoding maps a constant number to 0 "
            "and a one-level category to a constant indicator)") in text
    assert "modality 'rna': 'site' (batch) of rna.csv is not a feature" in text
    # z-scoring does map them to 0
    from sklearn.base import clone

    from medfuse.preprocess import default_preprocessor

    z = clone(default_preprocessor(data.modalities["rna"])).fit_transform(rna)
    assert (z[["g2", "g3"]].to_numpy() == 0).all()
    encoded = clone(default_preprocessor(data.modalities["clinical"])).fit_transform(
        clinical.iloc[:5])
    assert (encoded["stage"] == 0).all() and (encoded["sex=f"] == 1).all()
