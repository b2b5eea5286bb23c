"""MultiModalData works with scikit-learn's splitters and cross_validate unchanged."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_validate

from medfuse.data import make_cohort


class PerBlockMean(ClassifierMixin, BaseEstimator):
    """A dummy per-block estimator: logistic model on one block's mean feature."""

    def __init__(self, modality: str = "imaging") -> None:
        self.modality = modality

    def _x(self, data):
        block = data.block(self.modality, available_only=False).to_numpy(dtype=float)
        avail = data.available[self.modality].to_numpy()
        return np.where(avail[:, None], block, 0.0).mean(axis=1, keepdims=True)

    def fit(self, data, y):
        self.fitted_subjects_ = list(data.subjects)
        self.model_ = LogisticRegression().fit(self._x(data), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, data):
        return self.model_.predict_proba(self._x(data))

    def predict(self, data):
        return self.model_.predict(self._x(data))


def test_cross_validate_over_multimodal_data():
    data = make_cohort(120, missing={"imaging": 0.2}, random_state=0)
    y = data.y.to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = cross_validate(PerBlockMean(), data, y, cv=cv, scoring=["roc_auc", "accuracy"],
                         return_estimator=True, return_indices=True)
    assert len(res["test_roc_auc"]) == 5
    for est, test_idx in zip(res["estimator"], res["indices"]["test"], strict=True):
        test_ids = set(data.subjects[test_idx])
        assert not test_ids & set(est.fitted_subjects_)


def test_grouped_splitter():
    data = make_cohort(60, random_state=1)
    groups = np.arange(60) // 3
    for train, test in GroupKFold(4).split(data, data.y, groups):
        assert not set(groups[train]) & set(groups[test])
        assert len(data[train]) == len(train)
