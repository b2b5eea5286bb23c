"""Recalibration maps against scikit-learn, a known temperature and the Venn-Abers
definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression

from medfuse.evaluate.metrics import expected_calibration_error
from medfuse.fusion.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    TemperatureCalibrator,
    VennAbersCalibrator,
    make_calibrator,
)


class GivenScores(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose decision function is its input (to hand scikit-learn's
    calibration the same scores the medfuse maps see)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        return X[:, 0] if X.shape[1] == 1 else X

    def predict(self, X):
        return self.classes_[np.zeros(len(X), dtype=int)]


def _miscalibrated(n: int, k: int, sharpen: float, seed: int):
    """Labels drawn from softmax(z); the 'model' reports softmax(sharpen * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.2, size=(n, k))
    y = np.array([rng.choice(k, p=p) for p in softmax(z, axis=1)])
    return softmax(sharpen * z, axis=1), y


def _sklearn(method: str, features: np.ndarray, y: np.ndarray, new: np.ndarray):
    clf = GivenScores().fit(features, y)
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method=method).fit(features, y)
    return cal.predict_proba(new)


@pytest.mark.parametrize("k", [2, 3])
def test_platt_is_scikit_learns_sigmoid_calibration_of_the_log_odds(k):
    proba, y = _miscalibrated(600, k, 2.0, seed=k)
    new, _ = _miscalibrated(200, k, 2.0, seed=10 + k)
    ours = PlattCalibrator().fit(proba, y).transform(new)
    odds = lambda p: logit(np.clip(p, 1e-12, 1 - 1e-12))  # noqa: E731
    features = odds(proba[:, [1]]) if k == 2 else odds(proba)
    theirs = _sklearn("sigmoid", features, y, odds(new[:, [1]]) if k == 2 else odds(new))
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


@pytest.mark.parametrize("k", [2, 3])
def test_isotonic_is_scikit_learns_isotonic_calibration(k):
    proba, y = _miscalibrated(500, k, 0.5, seed=k)
    new, _ = _miscalibrated(200, k, 0.5, seed=20 + k)
    ours = IsotonicCalibrator().fit(proba, y).transform(new)
    theirs = _sklearn("isotonic", proba[:, [1]] if k == 2 else proba, y,
                      new[:, [1]] if k == 2 else new)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize(("k", "sharpen"), [(2, 2.5), (4, 0.5)])
def test_temperature_recovers_the_known_temperature(k, sharpen):
    """The model's log-probabilities are the true logits times ``sharpen`` (plus a constant
    per row): the fitted temperature is ``sharpen``, and the map restores the truth."""
    proba, y = _miscalibrated(20000, k, sharpen, seed=3)
    cal = TemperatureCalibrator().fit(proba, y)
    assert cal.temperature_ == pytest.approx(sharpen, rel=0.05)
    rng = np.random.default_rng(4)
    z = rng.normal(scale=1.2, size=(50, k))
    np.testing.assert_allclose(cal.transform(softmax(sharpen * z, axis=1)),
                               softmax(z * sharpen / cal.temperature_, axis=1), atol=1e-12)


def test_venn_abers_follows_its_definition():
    """For each new score: isotonic regression of the calibration scores with the new one
    added as 0 and as 1, read at the new score; merged as p1 / (1 - p0 + p1)."""
    proba, y = _miscalibrated(80, 2, 1.5, seed=5)
    proba = np.round(proba, 2)  # ties among calibration scores, and new scores equal to them
    proba[:, 0] = 1 - proba[:, 1]
    new = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    new[:, 1] = [proba[3, 1], 0.4321, 0.0]
    new = np.vstack([new, proba[:20]])
    new[:, 0] = 1 - new[:, 1]
    cal = VennAbersCalibrator().fit(proba, y)
    p0, p1 = cal.intervals(new)
    for i, s in enumerate(new[:, 1]):
        x = np.append(proba[:, 1], s)
        for label, got in ((0, p0[i, 0]), (1, p1[i, 0])):
            iso = IsotonicRegression(out_of_bounds="clip").fit(x, np.append(y == 1, label))
            assert got == pytest.approx(iso.predict([s])[0], abs=1e-12)
    assert (p0 <= p1 + 1e-12).all()
    merged = cal.transform(new)
    np.testing.assert_allclose(merged[:, 1], (p1 / (1 - p0 + p1))[:, 0])
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature", "venn-abers"])
def test_every_map_removes_a_known_miscalibration(method):
    proba, y = _miscalibrated(4000, 2, 3.0, seed=6)
    new, y_new = _miscalibrated(20000, 2, 3.0, seed=7)
    before = expected_calibration_error(y_new, new)
    after = expected_calibration_error(y_new, make_calibrator(method).fit(proba, y)
                                       .transform(new))
    assert before > 0.08
    assert after < 0.03


def test_unknown_map_and_bad_input_are_refused():
    with pytest.raises(ValueError, match=r"Unknown calibration 'beta'.*platt"):
        make_calibrator("beta")
    with pytest.raises(ValueError, match="n_classes >= 2"):
        PlattCalibrator().fit(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="one class index per row"):
        PlattCalibrator().fit(np.full((3, 2), 0.5), np.zeros(4))
    assert expit(0) == 0.5
