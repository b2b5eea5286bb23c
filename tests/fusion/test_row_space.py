"""The default logistic regression solved in the span of its rows is the fit on the features.

Known answers: for a fixed number of L-BFGS iterations the two coordinate systems take the
same steps, so every fitted attribute agrees to rounding; run to convergence, both reach the
optimum a very tight tolerance finds; at the default tolerance the row-space fit is the
closer of the two to it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV

from medfuse.fusion.classifiers import RowSpaceLogisticRegressionCV, default_classifier


def _wide(n: int = 60, p: int = 600, classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    X = rng.normal(size=(n, p))
    X[:, :10] += u[:, None]
    cuts = np.quantile(u, np.linspace(0, 1, classes + 1)[1:-1])
    y = np.digitize(u + 0.5 * rng.normal(size=n), cuts)
    return X, y


def _pair(**params):
    base = default_classifier(0).get_params()
    base.update(params)
    return LogisticRegressionCV(**base), RowSpaceLogisticRegressionCV(**base)


@pytest.mark.parametrize("classes", [2, 3])
def test_same_steps_as_the_fit_on_the_features(classes):
    X, y = _wide(classes=classes)
    plain, rows = _pair(max_iter=7, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(X, y)
        rows.fit(X, y)
    assert rows.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(rows.coef_, plain.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rows.intercept_, plain.intercept_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rows.coefs_paths_, plain.coefs_paths_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rows.scores_, plain.scores_, rtol=0, atol=1e-10)
    assert rows.C_ == plain.C_
    np.testing.assert_allclose(rows.predict_proba(X), plain.predict_proba(X), atol=1e-10)


def test_converged_fits_agree_and_the_default_row_space_fit_is_the_closer():
    X, y = _wide()
    exact, exact_rows = _pair(tol=1e-12, max_iter=10_000, Cs=[0.01])
    exact.fit(X, y)
    exact_rows.fit(X, y)
    np.testing.assert_allclose(exact_rows.coef_, exact.coef_, rtol=0, atol=1e-7)
    loose, loose_rows = _pair(Cs=[0.01])
    loose.fit(X, y)
    loose_rows.fit(X, y)
    err_plain = np.abs(loose.coef_ - exact.coef_).max()
    err_rows = np.abs(loose_rows.coef_ - exact.coef_).max()
    assert err_rows <= err_plain + 1e-12


def test_narrow_data_take_the_plain_path():
    X, y = _wide(n=80, p=100)
    plain, rows = _pair()
    plain.fit(X, y)
    rows.fit(X, y)
    np.testing.assert_array_equal(rows.coef_, plain.coef_)
    assert default_classifier(0).__class__ is RowSpaceLogisticRegressionCV
