"""Recalibration maps: class probabilities in, recalibrated class probabilities out.

Each map is fitted on the probabilities a model gave subjects it was not trained on (the
calibration subjects of :class:`~medfuse.fusion.conformal.ConformalClassifier`) and their
classes, and then applied to new predictions. Fitted state is numpy arrays only, so a model
holding maps is saved without pickle.

- ``platt``: a logistic regression on the log-odds of each class (one against the rest,
  rows renormalised), with Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and
  ``1 / (N- + 2)``, as scikit-learn's ``CalibratedClassifierCV(method="sigmoid")`` fits it
  on a decision function.
- ``isotonic``: a non-decreasing step function of each class probability (one against the
  rest, rows renormalised), scikit-learn's ``IsotonicRegression`` clipped at the ends, as
  ``CalibratedClassifierCV(method="isotonic")``.
- ``temperature``: one temperature ``T`` for all classes, ``softmax(log p / T)`` fitted by
  maximum likelihood. For the neural strategies ``log p`` equals the network's logits up to a
  constant per subject, which the softmax ignores, so this is temperature scaling of their
  logits; for other strategies it rescales their log-probabilities.
- ``venn-abers``: the inductive Venn-Abers predictor of the positive-class probability
  (binary; one against the rest and renormalised for more classes): two isotonic fits of the
  calibration scores with the new subject added as each class give ``p0 <= p1``, merged as
  ``p1 / (1 - p0 + p1)``. Both fits are precomputed at every place a new score can fall among
  the calibration scores, so prediction is a lookup.

Binary problems treat the second class as the positive one; the first class's probability is
``1 - p``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression, minimize, minimize_scalar
from scipy.special import expit, log_expit, logit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression

#: probabilities are clipped to [EPS, 1 - EPS] before logs and log-odds
EPS = 1e-12
CALIBRATIONS = ("platt", "isotonic", "temperature", "venn-abers")


def _check(proba, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"probabilities must be (n_subjects, n_classes >= 2), got shape "
                         f"{proba.shape}")
    if y is not None:
        y = np.asarray(y, dtype=int)
        if y.shape != (len(proba),):
            raise ValueError(f"y must hold one class index per row ({len(proba)}), got shape "
                             f"{y.shape}")
        if len(y) == 0:
            raise ValueError("A recalibration map needs at least one calibration subject.")
    return proba, y


def _one_vs_rest_columns(proba: np.ndarray) -> list[int]:
    """The columns fitted one against the rest: the positive class when binary."""
    return [1] if proba.shape[1] == 2 else list(range(proba.shape[1]))


def _normalise(columns: dict[int, np.ndarray], n_classes: int, n: int) -> np.ndarray:
    """Rows from per-class calibrated values: binary ``[1 - p, p]``; more classes divided
    by their sum (uniform where every class got 0)."""
    if n_classes == 2:
        p = np.clip(columns[1], 0.0, 1.0)
        return np.column_stack([1.0 - p, p])
    out = np.column_stack([columns[k] for k in range(n_classes)])
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full((n, n_classes), 1.0 / n_classes)
    return np.divide(out, total, out=uniform, where=total > 0)


class Recalibrator(BaseEstimator):
    """Base of the maps: ``fit(proba, y)``, ``transform(proba)``."""

    method = ""

    def fit(self, proba, y) -> Recalibrator:
        """Fit on calibration probabilities ``(n, K)`` and class indices ``y`` (n,)."""
        raise NotImplementedError  # pragma: no cover

    def transform(self, proba) -> np.ndarray:
        """Recalibrated probabilities ``(n, K)``; rows sum to 1."""
        raise NotImplementedError  # pragma: no cover


class PlattCalibrator(Recalibrator):
    """Platt scaling of each class's log-odds (see the module docstring).

    Attributes
    ----------
    slope_, intercept_ : ndarray (n_fitted,), ``p' = sigmoid(slope * logit(p) + intercept)``
        for each fitted column (the positive class when binary, every class otherwise).
    n_classes_ : int
    """

    method = "platt"

    def fit(self, proba, y) -> PlattCalibrator:
        proba, y = _check(proba, y)
        self.n_classes_ = proba.shape[1]
        slopes, intercepts = [], []
        for k in _one_vs_rest_columns(proba):
            a, b = _platt(logit(np.clip(proba[:, k], EPS, 1 - EPS)), y == k)
            slopes.append(a)
            intercepts.append(b)
        self.slope_, self.intercept_ = np.array(slopes), np.array(intercepts)
        return self

    def transform(self, proba) -> np.ndarray:
        proba, _ = _check(proba)
        cols = _one_vs_rest_columns(proba)
        z = logit(np.clip(proba[:, cols], EPS, 1 - EPS))
        values = expit(z * self.slope_ + self.intercept_)
        return _normalise(dict(zip(cols, values.T, strict=True)), self.n_classes_, len(proba))


def _platt(f: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of ``sigmoid(a f + b)`` minimising the log loss against Platt's
    smoothed targets."""
    n_pos = float(positive.sum())
    n_neg = float(len(positive) - n_pos)
    t = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    scale = max(1.0, float(np.abs(f).max()) / 30.0)  # log-odds of clipped p reach 27.6
    g = f / scale

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * g + ab[1]
        value = -np.sum(t * log_expit(z) + (1 - t) * log_expit(-z))
        r = expit(z) - t
        return float(value), np.array([np.sum(r * g), np.sum(r)])

    prior = np.log((n_neg + 1.0) / (n_pos + 1.0))
    res = minimize(loss, np.array([0.0, -prior]), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 1000})
    return float(res.x[0] / scale), float(res.x[1])


class IsotonicCalibrator(Recalibrator):
    """Isotonic regression of each class probability (see the module docstring).

    Attributes
    ----------
    thresholds_ : list of (x, y) ndarray pairs, one per fitted column: the knots of the
        non-decreasing map (linear between knots, constant beyond the ends).
    n_classes_ : int
    """

    method = "isotonic"

    def fit(self, proba, y) -> IsotonicCalibrator:
        proba, y = _check(proba, y)
        self.n_classes_ = proba.shape[1]
        self.thresholds_ = []
        for k in _one_vs_rest_columns(proba):
            iso = IsotonicRegression(out_of_bounds="clip").fit(proba[:, k], (y == k).astype(float))
            self.thresholds_.append((np.asarray(iso.X_thresholds_, dtype=float),
                                     np.asarray(iso.y_thresholds_, dtype=float)))
        return self

    def transform(self, proba) -> np.ndarray:
        proba, _ = _check(proba)
        cols = _one_vs_rest_columns(proba)
        values = {k: np.interp(proba[:, k], x, v)
                  for k, (x, v) in zip(cols, self.thresholds_, strict=True)}
        return _normalise(values, self.n_classes_, len(proba))


class TemperatureCalibrator(Recalibrator):
    """Temperature scaling, ``softmax(log p / T)`` (see the module docstring).

    Attributes
    ----------
    temperature_ : float, ``T`` (above 1: the model was over-confident).
    """

    method = "temperature"
    #: the temperature is searched in [1 / BOUND, BOUND]
    BOUND = 100.0

    def fit(self, proba, y) -> TemperatureCalibrator:
        proba, y = _check(proba, y)
        logp = np.log(np.clip(proba, EPS, 1.0))
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-np.mean(z[rows, y] - np.log(np.exp(z).sum(axis=1))))

        bound = np.log(self.BOUND)
        res = minimize_scalar(nll, bounds=(-bound, bound), method="bounded",
                              options={"xatol": 1e-8})
        self.temperature_ = float(np.exp(res.x))
        return self

    def transform(self, proba) -> np.ndarray:
        proba, _ = _check(proba)
        z = np.log(np.clip(proba, EPS, 1.0)) / self.temperature_
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)


class VennAbersCalibrator(Recalibrator):
    """Inductive Venn-Abers predictor (see the module docstring).

    Attributes
    ----------
    grids_ : list of (points, p0, p1) ndarray triples, one per fitted column: for each
        distinct calibration score and each open interval around them (represented by a
        point inside it), the isotonic fits with the new score labelled 0 and 1.
    n_classes_ : int
    """

    method = "venn-abers"

    def fit(self, proba, y) -> VennAbersCalibrator:
        proba, y = _check(proba, y)
        self.n_classes_ = proba.shape[1]
        self.grids_ = [_venn_abers_grid(proba[:, k], (y == k).astype(float))
                       for k in _one_vs_rest_columns(proba)]
        return self

    def intervals(self, proba) -> tuple[np.ndarray, np.ndarray]:
        """``(p0, p1)``, each ``(n, n_fitted)``: the Venn-Abers interval of each fitted
        column (the positive class when binary)."""
        proba, _ = _check(proba)
        cols = _one_vs_rest_columns(proba)
        low, high = [], []
        for k, (points, p0, p1) in zip(cols, self.grids_, strict=True):
            where = _grid_index(points, proba[:, k])
            low.append(p0[where])
            high.append(p1[where])
        return np.column_stack(low), np.column_stack(high)

    def transform(self, proba) -> np.ndarray:
        proba, _ = _check(proba)
        p0, p1 = self.intervals(proba)
        merged = p1 / (1.0 - p0 + p1)
        return _normalise(dict(zip(_one_vs_rest_columns(proba), merged.T, strict=True)),
                          self.n_classes_, len(proba))


def _venn_abers_grid(score: np.ndarray, hit: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at every distinct score and between neighbours (and beyond both ends), with
    the isotonic fits at the point when it is added with label 0 (``p0``) and 1 (``p1``).

    Tied scores are pooled into their weighted mean (as scikit-learn's
    ``IsotonicRegression`` does), so each fit is one pool-adjacent-violators pass over the
    distinct scores."""
    distinct, inverse = np.unique(score, return_inverse=True)
    weight = np.bincount(inverse).astype(float)
    total = np.bincount(inverse, weights=hit)
    u = len(distinct)
    points = np.empty(2 * u + 1)
    points[1::2] = distinct
    points[2:-1:2] = (distinct[:-1] + distinct[1:]) / 2
    points[0], points[-1] = distinct[0] - 1.0, distinct[-1] + 1.0
    p0, p1 = np.empty(len(points)), np.empty(len(points))
    for i in range(len(points)):
        j = i // 2
        for label, out in ((0.0, p0), (1.0, p1)):
            if i % 2:  # the new score equals distinct[j]: it joins that group
                w, t = weight.copy(), total.copy()
                w[j] += 1.0
                t[j] += label
            else:  # a group of its own before distinct[j]
                w, t = np.insert(weight, j, 1.0), np.insert(total, j, label)
            out[i] = isotonic_regression(t / w, weights=w).x[j]
    return points, p0, p1


def _grid_index(points: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in the grid: the point equal to it, or the point standing for
    the open interval it falls in."""
    distinct = points[1:-1:2]  # the grid alternates interval, score, interval, ...
    j = np.searchsorted(distinct, values, side="left")
    exact = (j < len(distinct)) & (distinct[np.minimum(j, len(distinct) - 1)] == values)
    return np.where(exact, 2 * j + 1, 2 * j)


_MAPS = {c.method: c for c in (PlattCalibrator, IsotonicCalibrator, TemperatureCalibrator,
                               VennAbersCalibrator)}


def make_calibrator(method: str) -> Recalibrator:
    """An unfitted recalibration map by name.

    Parameters
    ----------
    method : {"platt", "isotonic", "temperature", "venn-abers"}
        The map (one of ``CALIBRATIONS``).

    Returns
    -------
    Recalibrator
        The unfitted map.
    """
    if method not in _MAPS:
        raise ValueError(f"Unknown calibration {method!r}; choose one of "
                         f"{', '.join(CALIBRATIONS)} (or None for no recalibration).")
    return _MAPS[method]()
