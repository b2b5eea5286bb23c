"""In-fold feature screening: keep a stated number of features of a very wide block.

:class:`FeatureScreen` is a block transformer (``fit(X, obs=...)``) that keeps the ``keep``
features of largest variance, or of strongest univariate association with the outcome,
chosen on the subjects it is fitted on. Put in front of a modality's default preprocessing
(a study file's ``screening:`` section does so through
:class:`~medfuse.preprocess.chain.ObsChain`), it is refitted with the rest of each strategy
inside every fold, so the held-out subjects never take part in the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

METHODS = ("variance", "univariate")
SCALES = ("raw", "log-cpm")


class FeatureScreen(TransformerMixin, BaseEstimator):
    """Keep ``keep`` features of a block, ranked on the training subjects only.

    Methods:

    - ``"variance"``: the features of largest variance (ddof 0, over the subjects with a
      value), a filter that ignores the outcome.
    - ``"univariate"``: the features most associated with the outcome, one at a time: the
      one-way ANOVA F statistic of a class outcome (scikit-learn's ``f_classif``, here
      tolerant of missing cells), or, for a survival outcome, the squared Cox score test
      statistic ``U^2 / I`` of the feature alone (Breslow ties). The outcome is read from
      the ``obs`` rows the block transformer receives (column ``outcome``), or from ``y``;
      subjects without an outcome are left out of the ranking.

    Ties keep the feature that comes first; the kept features stay in their original
    order. With ``scale="log-cpm"`` (counts) the statistics are computed on
    ``log2(1 + CPM)`` of each subject's counts, so that library size does not rank the
    genes; the raw columns are returned either way (the default log-CPM that follows then
    takes library sizes over the kept genes, as edgeR does after filtering).

    Parameters
    ----------
    method : {"variance", "univariate"}
    keep : int
        Features kept (all of them when the block has no more).
    outcome : str or sequence of two str, optional
        ``"univariate"`` only: the obs column of a class outcome, or the ``(time, event)``
        columns of a survival outcome.
    scale : {"raw", "log-cpm"}
        Values the statistics are computed on.

    Attributes
    ----------
    scores_ : ndarray (``n_features_in_``,)
        Variance or association statistic of every feature (NaN for a feature with no
        spread in the training subjects: never ranked above a feature with one).
    support_ : ndarray of bool (``n_features_in_``,)
        The kept features.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str (``n_features_in_``,)
        Input column names (when fitted on a DataFrame).
    """

    def __init__(self, method: str = "variance", keep: int = 2000,
                 outcome: str | Sequence[str] | None = None, scale: str = "raw") -> None:
        self.method = method
        self.keep = keep
        self.outcome = outcome
        self.scale = scale

    def fit(self, X, y=None, obs: pd.DataFrame | None = None) -> FeatureScreen:
        """Rank the features on these subjects and keep the ``keep`` best.

        Parameters
        ----------
        X : DataFrame or ndarray (n_subjects, n_features)
        y : ndarray (n_subjects,), optional
            Class labels (``"univariate"``; default: ``obs[outcome]``).
        obs : DataFrame (n_subjects, n_obs_columns), optional
            The subjects' obs rows, holding the ``outcome`` column(s).

        Returns
        -------
        self
        """
        if self.method not in METHODS:
            raise ValueError(f"FeatureScreen method must be one of {METHODS}, got "
                             f"{self.method!r}.")
        if self.scale not in SCALES:
            raise ValueError(f"FeatureScreen scale must be one of {SCALES}, got {self.scale!r}.")
        if isinstance(self.keep, bool) or not isinstance(self.keep, int | np.integer) \
                or self.keep < 1:
            raise ValueError(f"FeatureScreen keep must be a positive number of features, got "
                             f"{self.keep!r}.")
        values = self._values(X)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        if self.method == "variance":
            scores = np.nanvar(values, axis=0) if np.isnan(values).any() else values.var(axis=0)
        else:
            scores = self._association(values, y, obs)
        self.scores_ = np.where(np.isfinite(scores) & (scores > 0), scores, np.nan)
        self.support_ = top_k(self.scores_, int(self.keep))
        return self

    def transform(self, X, obs: pd.DataFrame | None = None):
        """The kept columns (DataFrame in, DataFrame out)."""
        check_is_fitted(self, "support_")
        if np.shape(X)[1] != self.n_features_in_:
            raise ValueError(f"FeatureScreen was fitted on {self.n_features_in_} features, "
                             f"got {np.shape(X)[1]}.")
        if isinstance(X, pd.DataFrame):
            names = getattr(self, "feature_names_in_", None)
            if names is not None and not np.array_equal(np.asarray(X.columns, dtype=object),
                                                        names):
                raise ValueError("FeatureScreen: the columns differ from those it was fitted "
                                 "on (names or order).")
            return X.iloc[:, np.flatnonzero(self.support_)]
        return np.asarray(X)[:, self.support_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the kept features."""
        check_is_fitted(self, "support_")
        names = input_features if input_features is not None else getattr(
            self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(self.n_features_in_)]
        return np.asarray(names, dtype=object)[self.support_]

    # ------------------------------------------------------------------ helpers
    def _values(self, X) -> np.ndarray:
        values = np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=float)
        if values.ndim != 2:
            raise ValueError(f"FeatureScreen expects subjects x features, got shape "
                             f"{values.shape}.")
        if self.scale == "log-cpm":
            if (values < 0).any():
                raise ValueError("FeatureScreen scale='log-cpm' expects non-negative counts.")
            library = np.nansum(values, axis=1, keepdims=True)
            values = np.log2(1.0 + 1e6 * values / np.where(library > 0, library, 1.0))
        return values

    def _association(self, values: np.ndarray, y, obs: pd.DataFrame | None) -> np.ndarray:
        """Per-feature association with the outcome of the subjects that have one."""
        outcome = self.outcome
        survival = outcome is not None and not isinstance(outcome, str)
        if y is not None and not survival:
            labels = np.asarray(y, dtype=object)
        else:
            if outcome is None or obs is None:
                raise ValueError("FeatureScreen method='univariate' needs the outcome: set "
                                 "outcome=<obs column> (a study fills it in) and fit with the "
                                 "subjects' obs rows, or pass y.")
            columns = [outcome] if not survival else list(outcome)
            missing = [c for c in columns if c not in obs.columns]
            if missing:
                raise ValueError(f"FeatureScreen: obs has no outcome column(s) {missing} "
                                 f"(obs columns: {', '.join(map(str, obs.columns))}).")
            if len(obs) != len(values):
                raise ValueError(f"FeatureScreen: {len(obs)} obs rows for {len(values)} "
                                 "subjects.")
            if survival:
                time = pd.to_numeric(obs[columns[0]], errors="coerce").to_numpy(dtype=float)
                event = pd.to_numeric(obs[columns[1]], errors="coerce").to_numpy(dtype=float)
                known = np.isfinite(time) & np.isfinite(event)
                return cox_score_statistics(values[known], time[known], event[known] > 0)
            labels = obs[outcome].to_numpy(dtype=object)
        known = ~pd.isna(labels)
        return anova_f(values[known], labels[known])


def top_k(scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the ``keep`` largest scores (NaN last; ties: the first feature)."""
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    support = np.zeros(len(scores), dtype=bool)
    support[order[:keep]] = True
    return support


def anova_f(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One-way ANOVA F statistic of every column of ``X`` against the class ``labels``,
    each column over its non-missing cells (scikit-learn's ``f_classif`` when none is
    missing); NaN where it is undefined (fewer than two classes, no spread)."""
    classes, codes = np.unique(labels.astype(str), return_inverse=True)
    have = ~np.isnan(X)
    Xz = np.where(have, X, 0.0)
    onehot = np.eye(len(classes))[codes]                  # (n, K)
    counts = onehot.T @ have                             # (K, p)
    sums = onehot.T @ Xz
    total_n = counts.sum(axis=0)
    total_sum = sums.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        grand = total_sum / total_n
        between = (np.where(counts > 0, sums ** 2 / np.where(counts > 0, counts, 1), 0.0)
                   .sum(axis=0) - total_n * grand ** 2)
        within = (Xz ** 2).sum(axis=0) - (between + total_n * grand ** 2)
        groups = (counts > 0).sum(axis=0)
        df_between, df_within = groups - 1, total_n - groups
        f = (between / df_between) / (within / df_within)
    f[(df_between < 1) | (df_within < 1)] = np.nan
    return f


def cox_score_statistics(X: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Squared Cox score test statistic ``U^2 / I`` of every column of ``X`` on its own,
    at coefficient 0 (the log-rank statistic for a binary feature), Breslow ties; missing
    cells count as the column's mean. O(n p) after sorting by time."""
    X = np.where(np.isnan(X), np.nanmean(X, axis=0), X) if np.isnan(X).any() else X
    order = np.argsort(-time, kind="stable")            # latest first: risk sets grow
    t, d, Xs = time[order], event[order], X[order]
    at_risk = np.arange(1, len(t) + 1, dtype=float)
    s1 = np.cumsum(Xs, axis=0)
    s2 = np.cumsum(Xs ** 2, axis=0)
    # subjects tied in time share the risk set of the earliest of them: the last row of
    # each run of equal times in this order
    last = np.r_[np.flatnonzero(t[1:] != t[:-1]), len(t) - 1]
    run_end = np.repeat(last, np.diff(np.r_[-1, last]))
    ev = d.astype(bool)
    if not ev.any():
        return np.full(X.shape[1], np.nan)
    rows = run_end[ev]
    m1 = s1[rows] / at_risk[rows, None]                 # risk-set means at each event
    m2 = s2[rows] / at_risk[rows, None]
    score = (Xs[ev] - m1).sum(axis=0)
    information = (m2 - m1 ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(information > 1e-12 * np.maximum(m2.sum(axis=0), 1e-300),
                        score ** 2 / information, np.nan)
