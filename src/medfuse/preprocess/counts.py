"""RNA-seq count normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin


class LogCPM(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """log2 counts per million: ``log2(1e6 * (x + prior) / (library_size + 2 * prior))``.

    Each subject is normalised by its own library size (the row sum), so the transform is
    stateless and safe to apply to new subjects; the prior follows edgeR's ``cpm(log=TRUE)``
    convention of adding twice the prior to the library size.

    Parameters
    ----------
    prior_count : float
        Pseudo-count added to every cell before the log.
    """

    def __init__(self, prior_count: float = 1.0) -> None:
        self.prior_count = prior_count

    def fit(self, X, y=None):
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        values = self._validate(X, reset=False)
        lib = values.sum(axis=1, keepdims=True)
        out = np.log2(1e6 * (values + self.prior_count) / (lib + 2 * self.prior_count))
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=X.columns)
        return out

    def _validate(self, X, reset: bool) -> np.ndarray:
        values = np.asarray(X, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"LogCPM expects subjects x genes, got shape {values.shape}")
        if (values < 0).any():
            raise ValueError("LogCPM expects non-negative counts.")
        if reset:
            self.n_features_in_ = values.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif values.shape[1] != self.n_features_in_:
            raise ValueError(f"LogCPM was fitted on {self.n_features_in_} genes, got "
                             f"{values.shape[1]}.")
        return values
