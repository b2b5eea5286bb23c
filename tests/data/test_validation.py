"""Every validation error names what to fix; nothing is dropped silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.data import DataValidationError, Modality, MultiModalData


def frame(values, ids=("s1", "s2", "s3"), cols=("f1", "f2")):
    return pd.DataFrame(values, index=list(ids), columns=list(cols))


def test_duplicate_subject_ids_name_the_modality_and_id():
    x = frame([[1.0, 2], [3, 4], [5, 6]], ids=("s1", "s2", "s1"))
    with pytest.raises(DataValidationError, match=r"'omics'.*duplicate.*'s1'"):
        MultiModalData({"omics": x})


def test_obs_ids_absent_from_every_block():
    x = frame([[1.0, 2], [3, 4], [5, 6]])
    obs = pd.DataFrame({"y": [0, 1, 0, 1]}, index=["s1", "s2", "s3", "ghost"])
    with pytest.raises(DataValidationError, match="ghost"):
        MultiModalData({"omics": x}, obs=obs)


def test_non_numeric_value_names_modality_column_subject():
    x = frame([[1.0, 2], [3, "n/a?"], [5, 6]])
    with pytest.raises(DataValidationError, match=r"'omics'.*'f2'.*'n/a\?'.*'s2'"):
        MultiModalData({"omics": x})


def test_infinite_value():
    x = frame([[1.0, 2], [3, np.inf], [5, 6]])
    with pytest.raises(DataValidationError, match=r"'f2'.*infinite.*'s2'"):
        MultiModalData({"omics": x})


@pytest.mark.parametrize("bad,word", [(-1, "negative"), (2.5, "non-integer")])
def test_counts_must_be_non_negative_integers(bad, word):
    x = frame([[1, 2], [3, bad], [5, 6]])
    with pytest.raises(DataValidationError, match=rf"'rna'.*counts.*'f2'.*{word}.*'s2'"):
        MultiModalData({"rna": x}, modalities={"rna": "counts"})


def test_nan_in_present_row_of_kind_that_forbids_it():
    x = frame([[1.0, 2], [3, np.nan], [5, 6]])
    with pytest.raises(DataValidationError, match=r"'f2'.*missing value.*'s2'"):
        MultiModalData({"omics": x})
    ok = MultiModalData({"omics": x}, modalities={"omics": Modality("continuous",
                                                                     allow_nan=True)})
    assert ok.available["omics"].all()
    clinical = frame([["a", 1.0], [None, 2.0], ["b", np.nan]])
    assert MultiModalData({"clin": clinical}, modalities={"clin": "clinical"}).shape == (3, 1)


def test_all_nan_row_is_a_missing_modality_with_a_warning():
    x = frame([[1.0, 2], [np.nan, np.nan], [5, 6]])
    y = frame([[1.0], [2.0], [3.0]], cols=("g",))
    with pytest.warns(UserWarning, match="'s2'"):
        data = MultiModalData({"omics": x, "other": y})
    assert data.available["omics"].tolist() == [True, False, True]
    assert len(data) == 3


def test_single_class_outcome():
    x = frame([[1.0, 2], [3, 4], [5, 6]])
    obs = pd.DataFrame({"y": [1, 1, 1]}, index=["s1", "s2", "s3"])
    with pytest.raises(DataValidationError, match=r"'y'.*single class"):
        MultiModalData({"omics": x}, obs=obs, outcome="y")


def test_unknown_modality_and_outcome_column():
    x = frame([[1.0, 2], [3, 4], [5, 6]])
    with pytest.raises(DataValidationError, match="nope"):
        MultiModalData({"omics": x}, modalities={"nope": "continuous"})
    with pytest.raises(DataValidationError, match="'label' is not in obs"):
        MultiModalData({"omics": x}, obs=pd.DataFrame({"y": [0, 1, 0]}, index=x.index),
                       outcome="label")


def test_array_block_shape_and_non_finite():
    ids = ["s1", "s2"]
    with pytest.raises(DataValidationError, match="dimensions"):
        MultiModalData({"img": (ids, np.zeros((2, 4, 4)))}, modalities={"img": "image"})
    bad = np.zeros((2, 1, 4, 4))
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(DataValidationError, match="'s2'"):
        MultiModalData({"img": (ids, bad)})
