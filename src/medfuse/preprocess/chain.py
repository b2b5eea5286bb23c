"""A chain of block transformers that passes the subjects' ``obs`` rows to the steps that
need them.

scikit-learn's ``Pipeline`` routes no ``obs`` to its steps, so a harmonizer (whose ``fit``
reads batch and covariates from ``obs``) cannot sit in one in front of a modality's default
preprocessing. :class:`ObsChain` can: it is what a study file's ``harmonize:`` section puts
in every strategy's ``preprocessors`` (ComBat then z-score, ComBat-seq then log-CPM and
z-score), so that the harmonizer is refitted with the rest inside every fold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from medfuse.preprocess.blocks import fit_transform_block, transform_block


class ObsChain(TransformerMixin, BaseEstimator):
    """Block transformers applied one after the other, with ``obs`` for those that take it.

    Parameters
    ----------
    steps : sequence of transformers
        Unfitted transformers (None or ``"passthrough"`` skip). A step whose ``fit`` has an
        ``obs`` keyword receives the subjects' obs rows in ``fit`` and ``transform`` (see
        :func:`~medfuse.preprocess.blocks.fit_transform_block`); the others get the block
        only.

    Attributes
    ----------
    steps_ : list
        The fitted clones of ``steps`` (None for skipped steps).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str, shape (``n_features_in_``,)
        Input column names (when fitted on a DataFrame).
    """

    def __init__(self, steps: Sequence = ()) -> None:
        self.steps = steps

    def fit(self, X, y=None, obs: pd.DataFrame | None = None) -> ObsChain:
        """Fit every step on the output of the previous one.

        Parameters
        ----------
        X : DataFrame or ndarray (n_subjects, n_features)
        y : ignored
        obs : DataFrame (n_subjects, n_obs_columns), optional
            The subjects' obs rows (batch, covariates), aligned with ``X``.

        Returns
        -------
        self
        """
        self._fit_steps(X, obs)
        return self

    def fit_transform(self, X, y=None, obs: pd.DataFrame | None = None):
        """Fit the steps and return ``X`` transformed by all of them."""
        return self._fit_steps(X, obs)

    def transform(self, X, obs: pd.DataFrame | None = None):
        """Apply the fitted steps in order (``obs``: the subjects' obs rows, for the steps
        that take them)."""
        check_is_fitted(self, "steps_")
        for step in self.steps_:
            X = transform_block(step, X, obs)
        return X

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names, passed through every step that names its outputs."""
        check_is_fitted(self, "steps_")
        names = input_features if input_features is not None else getattr(
            self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(self.n_features_in_)]
        for step in self.steps_:
            if step is not None and hasattr(step, "get_feature_names_out"):
                names = step.get_feature_names_out(np.asarray(names, dtype=object))
        return np.asarray(names, dtype=object)

    def _fit_steps(self, X, obs):
        self.n_features_in_ = int(np.shape(X)[1])
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        fitted = []
        for step in self.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                fitted.append(None)
                continue
            step = clone(step)
            X = fit_transform_block(step, X, obs)
            fitted.append(step)
        self.steps_ = fitted
        return X
