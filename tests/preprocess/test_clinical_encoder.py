"""ClinicalEncoder: one known answer per measurement scale, plus free-text notes."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from medfuse.preprocess import ClinicalEncoder

NOTES = ["patient reports chest pain and chest tightness overnight",
         "no pain reported, follow up in clinic next week please",
         None,
         "chest x-ray clear; pain resolved after treatment started"]


def _table():
    return pd.DataFrame({
        "sex": ["F", "M", "F", None],
        "stage": pd.Categorical(["II", "I", "III", "II"], categories=["I", "II", "III"],
                                ordered=True),
        "age": [40.0, 50.0, 60.0, 70.0],
        "note": NOTES,
    }, index=["p1", "p2", "p3", "p4"])


def test_scales_inferred_and_each_encoded():
    enc = ClinicalEncoder().fit(_table())
    assert {k: str(v) for k, v in enc.scales_.items()} == {
        "sex": "nominal", "stage": "ordinal", "age": "ratio", "note": "text"}
    out = enc.transform(_table())
    assert out.index.tolist() == ["p1", "p2", "p3", "p4"]
    # nominal -> one-hot (missing -> all zero + indicator)
    np.testing.assert_array_equal(out["sex=F"], [1, 0, 1, 0])
    np.testing.assert_array_equal(out["sex=M"], [0, 1, 0, 0])
    np.testing.assert_array_equal(out["sex__missing"], [0, 0, 0, 1])
    # ordinal -> codes 1, 0, 2, 1; median 1, IQR (np.percentile) 0.25 quantile 0.75 -> 1.25-0.75
    np.testing.assert_allclose(out["stage"], (np.array([1, 0, 2, 1]) - 1.0) / 0.5)
    # ratio -> (x - median 55) / IQR (62.5 - 47.5 = 15)
    np.testing.assert_allclose(out["age"], (np.array([40, 50, 60, 70]) - 55.0) / 15.0)
    assert "age__missing" not in out.columns


def test_free_text_becomes_term_frequencies():
    enc = ClinicalEncoder().fit(_table())
    out = enc.transform(_table())
    tf = out.filter(like="note__tf[")
    # default: relative frequencies over the training vocabulary (rows sum to 1; empty -> 0)
    np.testing.assert_allclose(tf.sum(axis=1), [1, 1, 0, 1])
    words = "patient reports chest pain and chest tightness overnight".split()
    assert tf.loc["p1", "note__tf[chest]"] == pytest.approx(2 / len(words))
    assert tf.loc["p1", "note__tf[pain]"] == pytest.approx(1 / len(words))
    np.testing.assert_array_equal(out["note__missing"], [0, 0, 1, 0])
    # unseen words in new notes are ignored; known ones counted
    new = _table().iloc[:1].assign(note="pain pain unknownword")
    assert enc.transform(new).loc["p1", "note__tf[pain]"] == pytest.approx(1.0)


def test_custom_text_vectorizer_and_constructor_compatible():
    enc = ClinicalEncoder({"note": "text"}, True, text_vectorizer=CountVectorizer(
        vocabulary=["chest", "pain"]))
    out = enc.fit_transform(_table())
    np.testing.assert_array_equal(out["note__tf[chest]"], [2, 0, 0, 1])
    np.testing.assert_array_equal(out["note__tf[pain]"], [1, 1, 0, 1])


def test_unseen_category_encodes_as_zeros_and_missing_column_named():
    enc = ClinicalEncoder().fit(_table())
    new = _table().iloc[:1].assign(sex="X")
    row = enc.transform(new).iloc[0]
    assert row["sex=F"] == 0 and row["sex=M"] == 0
    with pytest.raises(ValueError, match="age"):
        enc.transform(_table().drop(columns="age"))
