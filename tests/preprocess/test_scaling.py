"""ZScore is scikit-learn's StandardScaler, reading a DataFrame as one array."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from medfuse.preprocess import ZScore


def _frame(n: int = 20, p: int = 7, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, size=(n, p))
    X[:, 2] = 5.0                      # constant column: scale 1
    X[4, 3] = np.nan                   # NaN ignored in fit, kept in transform
    return pd.DataFrame(X, index=[f"s{i}" for i in range(n)],
                        columns=[f"g{j}" for j in range(p)])


@pytest.mark.parametrize("options", [{}, {"with_mean": False}, {"with_std": False}])
def test_same_as_standard_scaler_on_frames(options):
    X, new = _frame(), _frame(seed=1)
    ours = ZScore(**options).set_output(transform="pandas")
    theirs = StandardScaler(**options).set_output(transform="pandas")
    out, ref = ours.fit_transform(X), theirs.fit_transform(X)
    pd.testing.assert_frame_equal(out, ref, check_exact=True)
    pd.testing.assert_frame_equal(ours.transform(new), theirs.transform(new), check_exact=True)
    for attr in ("mean_", "var_", "scale_", "n_samples_seen_"):
        np.testing.assert_array_equal(getattr(ours, attr), getattr(theirs, attr))
    np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())


def test_arrays_and_input_left_unchanged():
    X = _frame()
    before = X.copy()
    out = ZScore().fit(X).transform(X)
    pd.testing.assert_frame_equal(X, before)
    assert isinstance(out, np.ndarray)
    A = X.to_numpy()
    np.testing.assert_array_equal(ZScore().fit_transform(A), StandardScaler().fit_transform(A))


def test_columns_must_match_the_fitted_ones():
    X = _frame()
    model = ZScore().fit(X)
    with pytest.raises(ValueError, match="feature names"):
        model.transform(X[X.columns[::-1]])
    with pytest.raises(ValueError, match="expecting 7 features"):
        model.transform(X.iloc[:, :3])
    bad = X.copy()
    bad.iloc[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.transform(bad)
