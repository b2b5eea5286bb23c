"""The z-score of the tabular kinds' default preprocessing, for tables of any width."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted


class ZScore(StandardScaler):
    """scikit-learn's ``StandardScaler`` that reads a DataFrame as one float array.

    scikit-learn validates a DataFrame column by column (a Python loop over the dtype of
    every column), which took most of the preprocessing time of blocks with tens of
    thousands of features; this scaler converts the DataFrame once with ``to_numpy`` and
    keeps its column names as ``feature_names_in_``. Parameters, fitted attributes and
    results are ``StandardScaler``'s (the same arithmetic on the same array); an ndarray
    input takes ``StandardScaler``'s own path.

    Parameters
    ----------
    copy : bool
        ndarray input: whether to scale a copy (a DataFrame is always copied once).
    with_mean : bool
        Centre every column on its training mean.
    with_std : bool
        Divide every column by its training standard deviation (ddof 0; a constant column
        by 1).

    Attributes
    ----------
    mean_ : ndarray (``n_features_in_``,)
        Training mean of every column.
    scale_ : ndarray (``n_features_in_``,)
        Training standard deviation of every column (1 where it is 0).
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str (``n_features_in_``,)
        Input column names (when fitted on a DataFrame with string column names).
    """

    def fit(self, X, y=None, sample_weight=None) -> ZScore:
        """Compute the mean and standard deviation of every column.

        Parameters
        ----------
        X : DataFrame or array (n_samples, n_features)
        y : ignored
        sample_weight : array (n_samples,), optional

        Returns
        -------
        self
        """
        if not isinstance(X, pd.DataFrame):
            return super().fit(X, y, sample_weight=sample_weight)
        super().fit(_values(X, copy=False), y, sample_weight=sample_weight)
        names = np.asarray(X.columns, dtype=object)
        if all(isinstance(c, str) for c in names):
            self.feature_names_in_ = names
        return self

    def transform(self, X, copy=None):
        """Centre and scale (DataFrame: its columns must be the fitted ones, in order).

        Parameters
        ----------
        X : DataFrame or array (n_samples, n_features)
        copy : bool, optional

        Returns
        -------
        ndarray (n_samples, n_features) (a DataFrame under ``set_output(transform="pandas")``)
        """
        if not isinstance(X, pd.DataFrame):
            return super().transform(X, copy=copy)
        check_is_fitted(self, "n_features_in_")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and not np.array_equal(np.asarray(X.columns, dtype=object),
                                                     fitted):
            unseen = [c for c in X.columns if c not in set(fitted)][:5]
            raise ValueError("The feature names should match those that were passed during "
                             f"fit (in the same order); unseen: {unseen}.")
        values = _values(X, copy=True)
        if np.isinf(values).any():
            raise ValueError("Input X contains infinity or a value too large for "
                             f"{values.dtype!r}.")
        if self.with_mean:
            values -= self.mean_
        if self.with_std:
            values /= self.scale_
        return values


def _values(X: pd.DataFrame, copy: bool) -> np.ndarray:
    """The frame as one float array (float32 kept, anything else as float64)."""
    values = X.to_numpy(copy=copy)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return values
