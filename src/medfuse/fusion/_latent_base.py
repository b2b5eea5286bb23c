"""What the latent classification strategies share (block PLS-DA and CCA): confounder
removal, centring with missing modalities, the inner CV over their settings and numbers of
components, and the predictors on component scores.

Each modality block and the centred one-hot outcome enter :func:`medfuse.fusion._multiblock.
solve`; a subclass says which settings to search (:meth:`LatentBlockClassifier._settings`)
and how a setting configures the blocks (:meth:`LatentBlockClassifier._inputs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion._multiblock import BlockInput, BlockResult, solve
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import class_prior, default_classifier, predict_full
from medfuse.fusion.inner_cv import inner_folds

#: Block-to-block connection weights searched when ``design`` is None.
DESIGN_GRID = (0.0, 0.1, 0.5)
#: Horst sweeps per component of the final fit (dense; thresholded) and their convergence
#: threshold on the change of a unit weight.
FIT_ITER, FIT_SPARSE_ITER, FIT_TOL = 500, 100, 1e-12
#: The same in the inner CV, which only ranks settings by held-out log loss. Past the
#: first components the folds' blocks hold nearly equal singular values (and thresholded
#: weights trade features at the margin), so the sweeps converge slowly and most inner
#: solves ran to the caps: 80 of 126 dense solves to 500 sweeps and 40 of 51 thresholded
#: ones to 100, each thresholded sweep a pass over the block's features. Weights that move
#: less than 1e-6, or a few dozen thresholded sweeps from the dense solution, change
#: held-out scores far less than settings differ.
CV_ITER, CV_SPARSE_ITER, CV_TOL = 100, 25, 1e-6


def centre_scale(X: np.ndarray, scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred (and, with ``scale``, unit-variance, ddof=1) columns, their means and SDs."""
    mean = X.mean(axis=0)
    std = X.std(axis=0, ddof=1) if scale and len(X) > 1 else np.ones(X.shape[1])
    std = np.where(std == 0, 1.0, std)
    return (X - mean) / std, mean, std


class ConfounderRegressor(TransformerMixin, BaseEstimator):
    """Regress confounders out of a feature block: ``X - Z B`` with ``B`` the least-squares
    coefficients fitted on the training rows.

    ``Z`` is a DataFrame of confounders: numeric columns are used as they are, the others
    are one-hot encoded with the training categories (first one dropped); an intercept is
    added, so the output is also centred on the training rows.
    """

    def fit(self, X: np.ndarray, Z: pd.DataFrame):
        Z = self._frame(Z)
        self.numeric_ = [c for c in Z.columns if pd.api.types.is_numeric_dtype(Z[c])
                         and not pd.api.types.is_bool_dtype(Z[c])]
        self.categories_ = {c: sorted(Z[c].dropna().astype(str).unique())
                            for c in Z.columns if c not in self.numeric_}
        D = self._design(Z)
        self.coef_, *_ = np.linalg.lstsq(D, np.asarray(X, dtype=float), rcond=None)
        return self

    def transform(self, X: np.ndarray, Z: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=float) - self._design(self._frame(Z)) @ self.coef_

    def fit_transform(self, X, Z):
        return self.fit(X, Z).transform(X, Z)

    @staticmethod
    def _frame(Z) -> pd.DataFrame:
        Z = pd.DataFrame(Z).copy()
        Z.columns = [str(c) for c in Z.columns]
        if Z.isna().any().any():
            col = Z.columns[Z.isna().any()][0]
            raise DataValidationError(f"Confounder {col!r} has missing values; impute it "
                                      "or drop those subjects.")
        return Z

    def _design(self, Z: pd.DataFrame) -> np.ndarray:
        cols = [np.ones(len(Z))]
        for c in self.numeric_:
            cols.append(Z[c].to_numpy(dtype=float))
        for c, cats in self.categories_.items():
            values = Z[c].astype(str).to_numpy()
            cols += [(values == k).astype(float) for k in cats[1:]]
        return np.column_stack(cols)


class LatentBlockClassifier(BlockFusion):
    """Base of the latent strategies (see the module docstring).

    Subclasses set the parameters ``n_components``, ``max_components``, ``design``,
    ``confounders``, ``predictor``, ``preprocessors``, ``cv``, ``class_weight``,
    ``random_state`` and implement :meth:`_settings`, :meth:`_inputs`,
    :meth:`_keep_setting` and the class attribute ``outcome_shrinkage``.
    """

    #: Shrinkage of the outcome block: 1 (covariance, PLS) or 0 (correlation, CCA).
    outcome_shrinkage = 1.0

    # -------------------------------------------------------------- for subclasses
    def _settings(self, Xs: list[np.ndarray], have: list[np.ndarray]) -> list[dict]:
        """Candidate settings, each a dict with at least ``design``."""
        raise NotImplementedError  # pragma: no cover

    def _inputs(self, setting: dict, j: int, X, K, X_test, K_test, n_obs: int) -> BlockInput:
        """The solver input of modality ``j`` under ``setting``."""
        raise NotImplementedError  # pragma: no cover

    def _keep_setting(self, setting: dict) -> None:
        """Store the chosen setting as fitted attributes."""
        raise NotImplementedError  # pragma: no cover

    def _choose(self, settings: list[dict], comps: list[int], losses) -> tuple[dict, int]:
        """The setting and number of components of least inner-CV log loss; ``losses(
        candidates)`` gives the (len(candidates), len(comps)) losses of some settings."""
        table = losses(settings)
        i, j = np.unravel_index(np.argmin(table), table.shape)
        return settings[i], comps[j]

    def _needs_features(self, setting: dict, j: int) -> bool:
        """Whether modality ``j`` needs its features (not only its Gram matrix) in the
        inner CV (sparse weights do)."""
        return False

    # -------------------------------------------------------------- fit / predict
    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        if self.predictor not in ("logistic", "lda"):
            raise ValueError(f"predictor must be 'logistic' or 'lda', got {self.predictor!r}.")
        blocks = self._fit_blocks(data)
        obs = data.obs
        self.confounder_models_ = {}
        if self.confounders:
            missing = [c for c in self.confounders if c not in obs.columns]
            if missing:
                raise DataValidationError(f"Confounder column(s) {missing} not in obs.")
            for m, X in blocks.items():
                rows = ~np.isnan(X).any(axis=1)
                reg = ConfounderRegressor().fit(X[rows], obs.loc[rows, list(self.confounders)])
                X[rows] = reg.transform(X[rows], obs.loc[rows, list(self.confounders)])
                self.confounder_models_[m] = reg
        self.block_means_ = {m: np.nanmean(X, axis=0) for m, X in blocks.items()}
        Xs = [self._centred(m, blocks[m]) for m in self.modalities_]
        have = [~np.isnan(blocks[m]).any(axis=1) for m in self.modalities_]
        n_classes = len(self.classes_)
        settings = self._settings(Xs, have)
        comps = ([int(self.n_components)] if self.n_components is not None
                 else list(range(1, int(self.max_components) + 1)))
        kernels = [X @ X.T if X.shape[1] >= len(X) else None for X in Xs]
        if len(settings) * len(comps) > 1:
            setting, self.n_components_ = self._choose(
                settings, comps, lambda cands: self._cv_losses(
                    Xs, kernels, have, y, n_classes, cands, max(comps))[
                        :, [h - 1 for h in comps]])
        else:
            setting, self.n_components_ = settings[0], comps[0]
        self._keep_setting(setting)
        inputs = [self._inputs(setting, j, X, K, None, None, int(h.sum()))
                  for j, (X, K, h) in enumerate(zip(Xs, kernels, have, strict=True))]
        out = self._solve(inputs, self._outcome(y, n_classes), setting, self.n_components_)
        names = list(self.modalities_)
        self.weights_ = {m: r.weights for m, r in zip(names, out, strict=False)}
        self.loadings_ = {m: r.loadings for m, r in zip(names, out, strict=False)}
        self.rotations_ = {m: r.rotations for m, r in zip(names, out, strict=False)}
        var = []
        for j in range(len(names)):
            total = float((Xs[j] ** 2).sum())
            T, P = out[j].scores, out[j].loadings
            var.append([(T[:, h] @ T[:, h]) * (P[:, h] @ P[:, h]) / total if total > 0 else 0.0
                        for h in range(self.n_components_)])
        self.block_variance_values_ = np.asarray(var, dtype=float)
        self.outcome_correlation_values_ = np.asarray(
            [[_corr(out[j].scores[have[j], h], out[-1].scores[have[j], h])
              for h in range(self.n_components_)] for j in range(len(names))])
        self.predictor_ = self._fit_predictor([r.scores for r in out[:-1]], have, y,
                                              self.n_components_)
        self.prior_ = class_prior(y, n_classes)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        scores = self._scores(data)
        return self._predict_from(self.predictor_, [scores[m] for m in self.modalities_],
                                  self.n_components_)

    @property
    def block_variance_(self) -> pd.DataFrame:
        """Share of each block's variance explained by each component (modality x
        component)."""
        return self._frame(self.block_variance_values_)

    @property
    def outcome_correlations_(self) -> pd.DataFrame:
        """Correlation of each modality's training scores with the outcome block's scores,
        per component (modality x component), on the subjects that have the modality."""
        return self._frame(self.outcome_correlation_values_)

    def _frame(self, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=pd.Index(self.modalities_, name="modality"),
                            columns=[f"comp{h + 1}" for h in range(self.n_components_)])

    def transform(self, data: MultiModalData) -> pd.DataFrame:
        """Component scores of (new) subjects: columns ``<modality>_comp<h>``; NaN where a
        subject lacks the modality."""
        check_is_fitted(self, "rotations_")
        data = self.align(data)
        scores = self._scores(data)
        frames = [pd.DataFrame(scores[m], index=data.subjects,
                               columns=[f"{m}_comp{h + 1}" for h in range(self.n_components_)])
                  for m in self.modalities_]
        return pd.concat(frames, axis=1)

    # -------------------------------------------------------------- helpers
    def _scores(self, data: MultiModalData) -> dict[str, np.ndarray]:
        blocks = self._transform_blocks(data)
        out = {}
        for m in self.modalities_:
            X = blocks[m]
            rows = ~np.isnan(X).any(axis=1)
            if m in self.confounder_models_ and rows.any():
                X = X.copy()
                X[rows] = self.confounder_models_[m].transform(
                    X[rows], data.obs.loc[rows, list(self.confounders)])
            out[m] = (X - self.block_means_[m]) @ self.rotations_[m]
        return out

    def _centred(self, m: str, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(X - self.block_means_[m], nan=0.0)

    @staticmethod
    def _outcome(y: np.ndarray, n_classes: int) -> np.ndarray:
        Y = np.eye(n_classes)[y]
        return Y - Y.mean(axis=0)

    def _solve(self, inputs: list[BlockInput], Y: np.ndarray, setting: dict,
               n_comp: int, Y_test: np.ndarray | None = None,
               cv: bool = False) -> list[BlockResult]:
        """Modality blocks plus the outcome block (last), connected to every modality with
        weight 1 and modalities with each other with ``setting["design"]``."""
        n_b = len(inputs)
        C = np.full((n_b + 1, n_b + 1), float(setting["design"]))
        C[:, -1] = C[-1, :] = 1.0
        outcome = BlockInput(X=Y, X_test=Y_test, shrinkage=self.outcome_shrinkage)
        if cv:
            return solve([*inputs, outcome], C, n_comp, max_iter=CV_ITER, tol=CV_TOL,
                         max_sparse_iter=CV_SPARSE_ITER)
        return solve([*inputs, outcome], C, n_comp, max_iter=FIT_ITER, tol=FIT_TOL,
                     max_sparse_iter=FIT_SPARSE_ITER)

    def _fit_predictor(self, scores, have, y, n_comp: int):
        """Fit the predictor on the first ``n_comp`` components of every block's scores."""
        weights = self._class_weights(y)
        if self.predictor == "lda":
            return {j: _weighted_lda(T[have[j]][:, :n_comp], y[have[j]], weights)
                    for j, T in enumerate(scores)}
        T = [np.where(h[:, None], t, np.nan) for t, h in zip(scores, have, strict=True)]
        model = default_classifier(self.random_state, cv=5, weights=weights, y=y)
        return model.fit(self._stacked(T, n_comp), y)

    def _predict_from(self, predictor, scores, n_comp: int) -> np.ndarray:
        """Probabilities from every block's scores (NaN rows where a block is missing)."""
        if self.predictor == "lda":
            stack = np.stack([self._lda_proba(predictor[j], T[:, :n_comp])
                              for j, T in enumerate(scores)], axis=1)
            have = ~np.isnan(stack[:, :, 0])
            return np.nansum(stack, axis=1) / have.sum(axis=1, keepdims=True)
        return predict_full(predictor, self._stacked(scores, n_comp), len(self.classes_))

    @staticmethod
    def _stacked(scores, n_comp: int) -> np.ndarray:
        """Scores side by side (0 where missing) and the availability indicators."""
        have = [~np.isnan(T).any(axis=1) for T in scores]
        return np.column_stack([np.nan_to_num(T[:, :n_comp]) for T in scores]
                               + [h.astype(float) for h in have])

    def _lda_proba(self, lda, T: np.ndarray) -> np.ndarray:
        rows = ~np.isnan(T).any(axis=1)
        out = np.full((len(T), len(self.classes_)), np.nan)
        if rows.any():
            p = lda.predict_proba(T[rows])
            out[np.ix_(rows, lda.classes_.astype(int))] = p
            out[rows] = np.nan_to_num(out[rows])
        return out

    def _cv_losses(self, Xs, kernels, have, y, n_classes, settings: list[dict],
                   h_max: int) -> np.ndarray:
        """Inner-CV log loss (summed over held-out subjects) of every setting (rows) with
        1 .. h_max components (columns).

        Each fold centres every block on its training subjects that have it (the others
        stay zero rows, as in the final fit). Wide blocks enter as fold Gram matrices cut
        from the Gram matrix of all subjects, so no fold touches their features unless a
        setting needs them (sparse weights); all settings of a fold share that work, and
        each is solved once with ``h_max`` components (the first ``h`` components do not
        depend on later ones).
        """
        loss = np.zeros((len(settings), h_max))
        folds = inner_folds(y, self.cv, self.random_state,
                            fixed="the first setting with one component")
        if folds is None:
            return loss
        Y = self._outcome(y, n_classes)
        for tr, te in folds.split(y.reshape(-1, 1), y):
            parts = [_fold_parts(X, K, hv, tr, te) for X, K, hv in
                     zip(Xs, kernels, have, strict=True)]
            Y_tr = Y[tr] - Y[tr].mean(axis=0)
            Y_te = Y[te] - Y[tr].mean(axis=0)
            features = {}     # a wide block's fold features, centred once per fold
            for s, setting in enumerate(settings):
                inputs = []
                for j, part in enumerate(parts):
                    X_tr, X_te = part["X"], part["X_test"]
                    if X_tr is None and self._needs_features(setting, j):
                        if j not in features:
                            features[j] = _fold_features(Xs[j], have[j], tr, te)
                        X_tr, X_te = features[j]
                    inputs.append(self._inputs(setting, j, X_tr, part["K"], X_te,
                                               part["K_test"], part["n_obs"]))
                out = self._solve(inputs, Y_tr, setting, h_max, Y_test=Y_te, cv=True)
                test_scores = [np.where(hv[te][:, None], r.test_scores, np.nan)
                               for hv, r in zip(have, out, strict=False)]
                for h in range(1, h_max + 1):
                    fitted = self._fit_predictor([r.scores for r in out[:-1]],
                                                 [hv[tr] for hv in have], y[tr], h)
                    p = self._predict_from(fitted, test_scores, h)
                    loss[s, h - 1] -= np.log(np.clip(p[np.arange(len(te)), y[te]], 1e-6,
                                                     1)).sum()
        return loss


def _fold_features(X: np.ndarray, have: np.ndarray, tr: np.ndarray, te: np.ndarray):
    """A fold's training rows centred on those that have the block (the others zero) and
    its held-out rows centred alike."""
    rows = tr[have[tr]]
    mu = X[rows].mean(axis=0) if len(rows) else np.zeros(X.shape[1])
    X_tr = np.where(have[tr][:, None], X[tr] - mu, 0.0)
    return X_tr, X[te] - mu


def _fold_parts(X: np.ndarray, K: np.ndarray | None, have: np.ndarray, tr: np.ndarray,
                te: np.ndarray) -> dict:
    """One block's fold: explicit features for a narrow block, else the fold's Gram
    matrices cut from the Gram matrix ``K`` of all subjects, centred as
    :func:`_fold_features` centres the features."""
    n_obs = int(have[tr].sum())
    if K is None:
        X_tr, X_te = _fold_features(X, have, tr, te)
        return {"X": X_tr, "X_test": X_te, "K": None, "K_test": None, "n_obs": n_obs}
    w = np.zeros(len(K))
    rows = tr[have[tr]]
    if len(rows):
        w[rows] = 1.0 / len(rows)
    Kw = K @ w
    wKw = float(w @ Kw)

    def centred(a, b):
        return K[np.ix_(a, b)] - Kw[a][:, None] - Kw[b][None, :] + wKw

    mask = have[tr].astype(float)
    K_tr = centred(tr, tr) * mask[:, None] * mask[None, :]
    K_te = centred(te, tr) * mask[None, :]
    return {"X": None, "X_test": None, "K": K_tr, "K_test": K_te, "n_obs": n_obs}


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _weighted_lda(T: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """LDA on scores ``T`` whose class priors are proportional to ``weights[k] * n_k``
    (the training frequencies when all weights are 1)."""
    present = np.unique(y)
    mass = weights[present] * np.bincount(y)[present]
    return LinearDiscriminantAnalysis(priors=mass / mass.sum()).fit(T, y)
