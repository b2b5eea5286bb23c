"""The estimator contract shared by every strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from medfuse.data import DataValidationError, make_cohort
from medfuse.fusion import FusionClassifier, make


class Prior(FusionClassifier):
    """Predicts the training class frequencies; records what it was given."""

    def __init__(self, random_state=None) -> None:
        self.random_state = random_state

    def _fit(self, data, y):
        self.prior_ = np.bincount(y, minlength=len(self.classes_)) / len(y)

    def _predict_proba(self, data):
        self.seen_ = data
        return np.tile(self.prior_, (len(data), 1))


@pytest.fixture(scope="module")
def data():
    return make_cohort(40, missing={"imaging": 0.3}, random_state=0)


def test_fit_sets_contract_attributes(data):
    model = Prior().fit(data)
    assert list(model.classes_) == [0, 1]
    assert model.modalities_ == ["rna", "imaging", "clinical"]
    assert model.modality_kinds_["rna"] == "counts"
    assert model.feature_names_["clinical"][0] == "age"
    assert model.predict(data).shape == (40,)


def test_y_series_aligned_by_subject_id(data):
    y = data.y.iloc[::-1]
    model = Prior().fit(data, y)
    np.testing.assert_allclose(model.prior_, Prior().fit(data).prior_)


class LabelRecorder(FusionClassifier):
    """Records the label each training subject was fitted with."""

    def _fit(self, data, y):
        self.trained_with_ = dict(zip(data.subjects, np.asarray(self.classes_)[y], strict=True))

    def _predict_proba(self, data):
        return np.full((len(data), len(self.classes_)), 1.0 / len(self.classes_))


def test_y_series_in_another_order_trains_each_subject_with_its_own_label(data):
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.choice(["case", "control", "other"], len(data)),
                       index=data.subjects)
    shuffled = labels.iloc[rng.permutation(len(data))]
    assert (shuffled.to_numpy() != labels.to_numpy()).any()  # not aligned by position
    model = LabelRecorder().fit(data, shuffled)
    assert model.trained_with_ == labels.to_dict()
    # a real strategy: the unimodal prior is the class frequencies of the subjects that
    # have the modality (about 70% of them have imaging)
    y = pd.Series(np.where(data.available["imaging"].to_numpy(), 1, 0), index=data.subjects)
    y.iloc[:4] = 1 - y.iloc[:4]  # both classes among the subjects with imaging
    expected = np.bincount(y[data.available["imaging"]], minlength=2) / data.available[
        "imaging"].sum()
    unimodal = make("unimodal:imaging", random_state=0,
                    base_estimator=LogisticRegression(max_iter=1000))
    unimodal.fit(data, y.iloc[::-1])
    np.testing.assert_allclose(unimodal.prior_, expected)


def test_missing_outcome_and_single_class_are_named(data):
    y = data.y.astype(float).copy()
    y.iloc[3] = np.nan
    with pytest.raises(DataValidationError, match=data.subjects[3]):
        Prior().fit(data, y)
    with pytest.raises(DataValidationError, match="single class"):
        Prior().fit(data, np.zeros(len(data)))


def test_align_reorders_columns_and_names_missing_ones(data):
    model = Prior().fit(data)
    rna = data.block("rna")
    shuffled = data.modalities
    from medfuse.data import MultiModalData

    reordered = MultiModalData({"rna": rna[rna.columns[::-1]],
                                "clinical": data.block("clinical")},
                               modalities={"rna": shuffled["rna"],
                                           "clinical": shuffled["clinical"]})
    model.predict_proba(reordered)
    seen = model.seen_
    assert seen.feature_names("rna") == model.feature_names_["rna"]
    assert not seen.available["imaging"].any()
    broken = MultiModalData({"rna": rna.drop(columns=["gene0003"]).assign(extra=1)},
                            modalities={"rna": "counts"})
    with pytest.raises(DataValidationError, match=r"missing 'gene0003'.*extra 'extra'"):
        model.predict_proba(broken)


def test_subject_without_any_model_modality(data):
    with pytest.warns(UserWarning, match="excluded"):
        model = Prior().fit(data.select(["imaging"]))
    with pytest.raises(DataValidationError, match="none of the model's modalities"):
        model.predict_proba(data)


def test_rejects_non_multimodal_input():
    with pytest.raises(TypeError, match="MultiModalData"):
        Prior().fit(pd.DataFrame({"a": [1, 2]}), [0, 1])


def test_feature_mismatch_message_has_only_the_non_empty_parts(data):
    from medfuse.data import MultiModalData

    model = Prior().fit(data)
    rna = data.block("rna")
    only_extra = MultiModalData({"rna": rna.assign(extra=1)}, modalities={"rna": "counts"})
    with pytest.raises(DataValidationError) as err:
        model.predict_proba(only_extra)
    assert str(err.value) == ("Modality 'rna' does not have the training features: extra "
                              "'extra'.")
    only_missing = MultiModalData({"rna": rna.drop(columns=["gene0003"])},
                                  modalities={"rna": "counts"})
    with pytest.raises(DataValidationError) as err:
        model.predict_proba(only_missing)
    assert str(err.value) == ("Modality 'rna' does not have the training features: missing "
                              "'gene0003'.")
