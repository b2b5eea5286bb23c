import numpy as np
import pytest
from sklearn import metrics as skm

from medfuse.evaluate.metrics import (
    c_index,
    classification_metrics,
    expected_calibration_error,
    specificity,
)


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, 80), 0, 1)
    proba = np.c_[1 - p1, p1]
    m = classification_metrics(y, proba)
    pred = (p1 > 0.5).astype(int)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p1))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))


@pytest.mark.parametrize("seed", range(5))
def test_all_metrics_match_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    k = 2 + seed % 3
    n = 25 + 7 * seed
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba = np.round(proba, 1) + 1e-9 * rng.uniform(size=(n, k))  # some near-ties
    proba /= proba.sum(1, keepdims=True)
    if len(np.unique(y)) < k:
        y[:k] = np.arange(k)
    m = classification_metrics(y, proba)
    pred = proba.argmax(1)
    avg = "binary" if k == 2 else "macro"
    labels = np.arange(k)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        assert m[name] == pytest.approx(fn(y, pred, labels=labels, average=avg,
                                           zero_division=0))
    for a in ("macro", "weighted"):
        assert m[f"f1_{a}"] == pytest.approx(skm.f1_score(y, pred, labels=labels, average=a,
                                                         zero_division=0))
    auc = (skm.roc_auc_score(y, proba[:, 1]) if k == 2
           else skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    assert m["roc_auc"] == pytest.approx(auc)


def test_multiclass_auc_is_ovr_macro_and_f1_left_out():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 20)
    proba = rng.dirichlet([1, 1, 1], 60)
    proba[np.arange(60), y] += 0.5
    proba /= proba.sum(1, keepdims=True)
    m = classification_metrics(y, proba)
    assert "f1" not in m
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    onehot = np.eye(3)[y]
    assert m["brier"] == pytest.approx(np.mean(((proba - onehot) ** 2).sum(1)))


def test_ece_by_hand():
    # bins of width 0.1, right-closed: 0.05 -> bin 0, 0.25/0.3 -> bin 2, 0.95 -> bin 9
    y = np.array([0, 1, 0, 1, 1])
    p1 = np.array([0.05, 0.25, 0.3, 0.95, 0.95])
    ece = expected_calibration_error(y, np.c_[1 - p1, p1])
    expected = (1 / 5) * 0.05 + (2 / 5) * abs(0.5 - 0.275) + (2 / 5) * abs(1 - 0.95)
    assert ece == pytest.approx(expected)
    # perfectly calibrated constant predictions
    y = np.array([0, 0, 0, 1] * 5)
    assert expected_calibration_error(y, np.tile([0.75, 0.25], (20, 1))) == pytest.approx(0)


def test_ece_keeps_the_top_two_bins_apart():
    # bins of width 0.1: 0.85 falls in (0.8, 0.9], 0.95 in (0.9, 1.0].
    #   bin (0.8, 0.9]: 1 subject, confidence 0.85, observed 0 -> 1/4 * |0 - 0.85| = 0.2125
    #   bin (0.9, 1.0]: 3 subjects, confidence 0.95, observed 1 -> 3/4 * |1 - 0.95| = 0.0375
    #   ECE = 0.2125 + 0.0375 = 0.25
    # one merged top bin would give |3/4 - 0.925| = 0.175 instead.
    y = np.array([0, 1, 1, 1])
    p1 = np.array([0.85, 0.95, 0.95, 0.95])
    assert expected_calibration_error(y, np.c_[1 - p1, p1]) == pytest.approx(0.25)


def test_specificity_multiclass_macro():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tn=3 fp=1; class 1: tn=3 fp=1; class 2: tn=4 fp=0
    assert specificity(y, pred, 3) == pytest.approx(np.mean([3 / 4, 3 / 4, 1.0]))


def test_undefined_auc_is_nan():
    m = classification_metrics(np.zeros(4, int), np.tile([0.6, 0.4], (4, 1)))
    assert np.isnan(m["roc_auc"])


def test_c_index_by_hand():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, False, True])
    risk = np.array([4.0, 2.0, 3.0, 1.0])
    # comparable pairs (i had the event, t_i < t_j): (0,1),(0,2),(0,3),(1,2),(1,3)
    # concordant when risk_i > risk_j: (0,1),(0,2),(0,3),(1,3) -> 4 of 5
    assert c_index(event, time, risk) == pytest.approx(4 / 5)
