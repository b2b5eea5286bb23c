"""Co-training (medfuse.fusion.crossmodal.cotraining) on two conditionally independent,
individually sufficient views: the setting in which it is known to work."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medfuse.data import MultiModalData
from medfuse.fusion import make


def _two_views(n: int, seed: int, p: int = 10, shift: float = 0.6) -> MultiModalData:
    """Views a and b: 3 of p features shifted by +-shift with the class, independently."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    ids = [f"S{i:04d}" for i in range(n)]
    signal = shift * (2 * y[:, None] - 1) * (np.arange(p) < 3)
    blocks = {v: pd.DataFrame(rng.normal(size=(n, p)) + signal, index=ids,
                              columns=[f"{v}{j}" for j in range(p)]) for v in "ab"}
    return MultiModalData(blocks, obs=pd.DataFrame({"y": y}, index=ids), outcome="y")


def test_pseudo_labels_close_most_of_the_gap_to_the_fully_labelled_model():
    gains, closed = [], []
    for seed in range(3):
        data = _two_views(800, seed)
        train, test = data[np.arange(500)], data[np.arange(500, 800)]
        y = train.y.astype(float).copy()
        y[np.random.default_rng(seed).random(500) < 0.96] = np.nan   # about 20 labels

        def auc(model, test=test):
            return roc_auc_score(test.y, model.predict_proba(test)[:, 1])

        alone = auc(make("co-training", rounds=0).fit(train, y))
        model = make("co-training", rounds=10).fit(train, y)
        oracle = auc(make("co-training", rounds=0).fit(train, train.y))
        gains.append(auc(model) - alone)
        closed.append((auc(model) - alone) / (oracle - alone))
        assert sum(model.pseudo_labelled_) > 0
    assert np.mean(gains) > 0.01
    assert np.mean(closed) > 0.5


def test_one_view_serves_a_subject_and_bad_views_are_refused():
    data = _two_views(200, 0)
    model = make("co-training", rounds=2).fit(data, data.y)
    only_a = model.predict_proba(data.hide("b"))
    view_a = model.estimators_[0].predict_proba(
        np.nan_to_num(model._transform_blocks(data)["a"]))
    np.testing.assert_allclose(only_a, view_a)
    with pytest.raises(ValueError, match=r"do not have: \['c'\]"):
        make("co-training", views=[["a"], ["c"]]).fit(data, data.y)
    with pytest.raises(ValueError, match="two disjoint views"):
        make("co-training", views=[["a", "b"], ["b"]]).fit(data, data.y)
    with pytest.raises(ValueError, match="at least two modalities"):
        make("co-training").fit(data.select(["a"]), data.y)
