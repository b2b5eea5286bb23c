"""The built-in imputers: training mean, nearest neighbours, chained equations and
cross-modal regression (PLS). The neural translator is in
:mod:`medfuse.preprocess.impute.translator`."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

from medfuse.preprocess.impute.base import ModalityImputer


class MeanImputer(ModalityImputer):
    """Each feature's training mean (what medfuse's strategies did before imputers): it
    ignores the other modalities, so it shrinks every filled subject to the average one.

    Parameters
    ----------
    modality : str
        The modality to fill in.
    n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.
    """

    needs_pairs = False

    def _fit_core(self, p, t, missing_cells):
        t = np.where(missing_cells, np.nan, t)
        self.fill_ = np.nan_to_num(np.nanmean(t, axis=0))

    def _predict_core(self, p):
        return np.tile(self.fill_, (len(p), 1))


class KNNModalityImputer(ModalityImputer):
    """The mean of the ``n_neighbors`` training subjects nearest in the other modalities'
    scores (scikit-learn's ``KNNImputer``: Euclidean distance over the scores both subjects
    have, scaled up for the ones they do not).

    Parameters
    ----------
    modality : str
        The modality to fill in.
    n_neighbors : int
        Neighbours averaged (capped at the training subjects).
    n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.
    """

    def __init__(self, modality: str = "", n_neighbors: int = 10, n_components: int = 10,
                 bootstrap: bool = False, random_state=None, shift: float = 0.0) -> None:
        super().__init__(modality, n_components, bootstrap, random_state, shift)
        self.n_neighbors = n_neighbors

    def _fit_core(self, p, t, missing_cells):
        self.width_ = p.shape[1]
        k = max(1, min(self.n_neighbors, len(p) - 1))
        self.knn_ = KNNImputer(n_neighbors=k, keep_empty_features=True).fit(
            np.hstack([p, np.where(missing_cells, np.nan, t)]))

    def _predict_core(self, p):
        blank = np.full((len(p), self.knn_.n_features_in_ - self.width_), np.nan)
        return self.knn_.transform(np.hstack([p, blank]))[:, self.width_:]


class IterativeModalityImputer(ModalityImputer):
    """Chained equations (scikit-learn's ``IterativeImputer``, Bayesian ridge per feature)
    over the other modalities' scores and the target's features.

    Parameters
    ----------
    modality : str
        The modality to fill in.
    max_iter : int
        Rounds of chained equations.
    n_nearest_features : int
        Predictors per feature (the most correlated), which keeps wide blocks tractable.
    n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.
    """

    def __init__(self, modality: str = "", max_iter: int = 10, n_nearest_features: int = 30,
                 n_components: int = 10, bootstrap: bool = False, random_state=None,
                 shift: float = 0.0) -> None:
        super().__init__(modality, n_components, bootstrap, random_state, shift)
        self.max_iter = max_iter
        self.n_nearest_features = n_nearest_features

    def _fit_core(self, p, t, missing_cells):
        self.width_ = p.shape[1]
        x = np.hstack([p, np.where(missing_cells, np.nan, t)])
        chain = IterativeImputer(
            max_iter=self.max_iter, n_nearest_features=min(self.n_nearest_features,
                                                           x.shape[1] - 1) or None,
            keep_empty_features=True, random_state=self.random_state).fit(x)
        # what the fitted chain applies to new rows, kept without the imputer object
        self.start_ = chain.initial_imputer_.statistics_.copy()
        self.sequence_ = [(np.asarray(step.feat_idx), np.asarray(step.neighbor_feat_idx),
                           step.estimator) for step in chain.imputation_sequence_]

    def _chain(self, x: np.ndarray) -> np.ndarray:
        """Scikit-learn's ``IterativeImputer.transform`` on rows ``x`` (NaN = missing):
        fill with the starting means, then run the fitted regressions in their order."""
        missing = np.isnan(x)
        x = np.where(missing, self.start_, x)
        for feature, neighbours, model in self.sequence_:
            rows = missing[:, feature]
            if rows.any():
                x[rows, feature] = model.predict(x[rows][:, neighbours])
        return x

    def _predict_core(self, p):
        blank = np.full((len(p), len(self.start_) - self.width_), np.nan)
        return self._chain(np.hstack([p, blank]))[:, self.width_:]


class CrossModalImputer(ModalityImputer):
    """Partial least squares regression of the target on the other modalities' scores, one
    model per combination of other modalities (so a subject is filled from exactly what it
    has); a subject with none of them gets the training mean.

    Parameters
    ----------
    modality : str
        The modality to fill in.
    pls_components : int
        PLS components (capped at the predictors and the subjects).
    n_components, bootstrap, random_state, shift
        See :class:`~medfuse.preprocess.impute.base.ModalityImputer`.

    Attributes
    ----------
    models_ : dict
        ``"0+2"`` (the indices of the predictor modalities in ``predictors_``) -> fitted
        ``PLSRegression``.
    """

    def __init__(self, modality: str = "", pls_components: int = 3, n_components: int = 10,
                 bootstrap: bool = False, random_state=None, shift: float = 0.0) -> None:
        super().__init__(modality, n_components, bootstrap, random_state, shift)
        self.pls_components = pls_components

    def _fit_core(self, p, t, missing_cells):
        groups = self.predictors_.groups()
        t = np.where(missing_cells, np.nan, t)
        self.fill_ = np.nan_to_num(np.nanmean(t, axis=0))
        t = np.where(np.isnan(t), self.fill_, t)
        self.models_ = {}
        for size in range(1, len(groups) + 1):
            for subset in combinations(range(len(groups)), size):
                cols = np.concatenate([groups[g] for g in subset])
                rows = ~np.isnan(p[:, cols]).any(axis=1)
                k = min(self.pls_components, len(cols), int(rows.sum()) - 1)
                if k < 1:
                    continue
                self.models_[_key(subset)] = PLSRegression(k, scale=False).fit(p[rows][:, cols],
                                                                          t[rows])

    def _predict_core(self, p):
        groups = self.predictors_.groups()
        out = np.tile(self.fill_, (len(p), 1))
        present = np.column_stack([~np.isnan(p[:, g]).any(axis=1) for g in groups]) \
            if groups else np.zeros((len(p), 0), bool)
        for pattern in {tuple(np.flatnonzero(row)) for row in present}:
            model = self.models_.get(_key(pattern))
            if model is None:
                continue
            rows = (present == np.isin(np.arange(len(groups)), pattern)).all(axis=1)
            cols = np.concatenate([groups[g] for g in pattern])
            out[rows] = model.predict(p[rows][:, cols]).reshape(int(rows.sum()), -1)
        return out


def _key(subset) -> str:
    return "+".join(str(int(g)) for g in subset)
