"""Supervised multi-block latent models: block PLS-DA (in the spirit of DIABLO / sGCCA with
covariance criteria) and two-block PLS (PLSCanonical) with optional confounder removal.

All solutions come from power iterations on cross-covariances initialised by an SVD;
no within-block covariance is inverted, so many more features than subjects is stable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import class_prior, default_classifier, predict_full
from medfuse.fusion.registry import register

#: Block-to-block connection weights searched when ``design`` is None.
DESIGN_GRID = (0.0, 0.1, 0.5)


# ---------------------------------------------------------------------- core algorithm
def multiblock_pls(blocks: list[np.ndarray], design: np.ndarray, n_components: int,
                   max_iter: int = 500, tol: float = 1e-12) -> dict[str, list[np.ndarray]]:
    """Multi-block PLS by the Horst scheme of generalised canonical covariance analysis.

    For each component, unit weight vectors ``a_b`` maximise
    ``sum_{b != c} design[b, c] * cov(X_b a_b, X_c a_c)``: ``a_b`` is initialised with the
    first left singular vector of ``X_b' [sqrt(design[b, c]) X_c]_c`` and updated as
    ``a_b <- X_b' sum_c design[b, c] X_c a_c`` (normalised) until it moves less than
    ``tol``. For two blocks the initial value is already the optimum (the leading singular
    pair of ``X_1' X_2``, as in ``sklearn.cross_decomposition.PLSCanonical``). Each block is
    then deflated on its own scores: ``X_b <- X_b - t_b p_b'`` with
    ``p_b = X_b' t_b / t_b' t_b``.

    Parameters
    ----------
    blocks : list of (n, p_b) centred arrays.
    design : (B, B) non-negative symmetric connection weights (diagonal ignored).
    n_components : int

    Returns
    -------
    dict with lists (one per block) of ``weights`` (p_b, H), ``loadings`` (p_b, H),
    ``scores`` (n, H) and ``rotations`` (p_b, H), such that ``scores = X_b @ rotations``.
    """
    design = np.asarray(design, dtype=float).copy()
    np.fill_diagonal(design, 0.0)
    X = [np.array(b, dtype=float, copy=True) for b in blocks]
    n_b = len(X)
    W = [np.zeros((x.shape[1], n_components)) for x in X]
    P = [np.zeros((x.shape[1], n_components)) for x in X]
    T = [np.zeros((x.shape[0], n_components)) for x in X]
    for h in range(n_components):
        a = []
        for b in range(n_b):
            partners = [np.sqrt(design[b, c]) * X[c] for c in range(n_b) if design[b, c] > 0]
            cross = X[b].T @ np.column_stack(partners)
            u, _, _ = np.linalg.svd(cross, full_matrices=False)
            a.append(u[:, 0])
        if n_b > 2:
            for _ in range(max_iter):
                moved = 0.0
                for b in range(n_b):
                    z = sum(design[b, c] * (X[c] @ a[c]) for c in range(n_b))
                    new = X[b].T @ z
                    norm = np.linalg.norm(new)
                    if norm == 0:
                        continue
                    new /= norm
                    if new @ a[b] < 0:  # keep the sign while iterating
                        new = -new
                    moved = max(moved, float(np.abs(new - a[b]).max()))
                    a[b] = new
                if moved < tol:
                    break
        else:
            # the leading singular pair: the second block's weight is X2' X1 a1, normalised
            v = X[1].T @ (X[0] @ a[0])
            a[1] = v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else a[1]
        for b in range(n_b):
            t = X[b] @ a[b]
            tt = float(t @ t)
            p = X[b].T @ t / tt if tt > 0 else np.zeros(X[b].shape[1])
            X[b] -= np.outer(t, p)
            W[b][:, h], P[b][:, h], T[b][:, h] = a[b], p, t
    R = []
    for b in range(n_b):
        R.append(W[b] @ np.linalg.pinv(P[b].T @ W[b]))
    return {"weights": W, "loadings": P, "scores": T, "rotations": R}


def _centre_scale(X: np.ndarray, scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


# ---------------------------------------------------------------------- two-block transformer
class PLSCanonicalBlocks(TransformerMixin, BaseEstimator):
    """Two-block PLS in canonical mode (symmetric deflation), optionally partial: the
    confounders ``Z`` are regressed out of both blocks first (fitted on training rows).

    Without confounders it reproduces ``sklearn.cross_decomposition.PLSCanonical(
    algorithm="svd")`` (weights, loadings, rotations and scores up to sign).

    Parameters
    ----------
    n_components : int
    scale : bool
        Divide each centred column by its standard deviation (ddof=1).

    Attributes
    ----------
    x_weights_, y_weights_ : (p, H), (q, H)
    x_loadings_, y_loadings_ : (p, H), (q, H)
    x_rotations_, y_rotations_ : (p, H), (q, H); ``scores = X_centred_scaled @ rotations``.
    x_scores_, y_scores_ : (n, H) training scores.
    x_mean_, x_std_, y_mean_, y_std_ : column centring and scaling.
    confounders_ : list of two ConfounderRegressor, or None.
    """

    def __init__(self, n_components: int = 2, scale: bool = True) -> None:
        self.n_components = n_components
        self.scale = scale

    def fit(self, X, Y, Z=None):
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        if len(X) != len(Y):
            raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}.")
        self.confounders_ = None
        if Z is not None:
            self.confounders_ = [ConfounderRegressor().fit(X, Z), ConfounderRegressor().fit(Y, Z)]
            X, Y = self.confounders_[0].transform(X, Z), self.confounders_[1].transform(Y, Z)
        Xs, self.x_mean_, self.x_std_ = _centre_scale(X, self.scale)
        Ys, self.y_mean_, self.y_std_ = _centre_scale(Y, self.scale)
        out = multiblock_pls([Xs, Ys], np.array([[0, 1], [1, 0]]), self.n_components)
        self.x_weights_, self.y_weights_ = out["weights"]
        self.x_loadings_, self.y_loadings_ = out["loadings"]
        self.x_rotations_, self.y_rotations_ = out["rotations"]
        self.x_scores_, self.y_scores_ = out["scores"]
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X, Y=None, Z=None):
        """Scores of new rows: ``x_scores`` (n, H), and ``(x_scores, y_scores)`` when Y is
        given. ``Z`` is required when the model was fitted with confounders."""
        check_is_fitted(self, "x_rotations_")
        X = np.asarray(X, dtype=float)
        if self.confounders_ is not None:
            if Z is None:
                raise ValueError("This model removed confounders in fit; pass Z.")
            X = self.confounders_[0].transform(X, Z)
        xs = (X - self.x_mean_) / self.x_std_ @ self.x_rotations_
        if Y is None:
            return xs
        Y = np.asarray(Y, dtype=float)
        if self.confounders_ is not None:
            Y = self.confounders_[1].transform(Y, Z)
        return xs, (Y - self.y_mean_) / self.y_std_ @ self.y_rotations_

    def fit_transform(self, X, Y=None, Z=None):
        return self.fit(X, Y, Z).transform(X, Y, Z)


# ---------------------------------------------------------------------- the strategy
@register("block-pls", family="latent", interpretable=True)
class BlockPLSClassifier(BlockFusion):
    """Block PLS discriminant analysis (multi-block PLS-DA in the spirit of DIABLO).

    Every modality (preprocessed, centred on the subjects that have it) and the centred
    one-hot outcome form blocks; per component, unit weight vectors maximise
    ``sum_b cov(X_b a_b, Y c) + design * sum_{b != b'} cov(X_b a_b, X_b' a_b')``
    (:func:`multiblock_pls`), then each block is deflated on its own scores. Optionally
    (``confounders``, obs columns) a least-squares fit of the confounders, on training
    subjects, is first removed from every block (partial block PLS).

    Prediction (``predictor``): ``"lda"`` (default), one linear discriminant analysis per
    modality on its component scores, probabilities averaged over the modalities the
    subject has (DIABLO's "average" rule); or ``"logistic"``, one L2 logistic regression on
    the component scores of all modalities side by side (a missing modality's scores set
    to 0, its training mean, plus one availability indicator per modality), strength
    chosen by inner CV on log loss. The inner CV that picks ``n_components`` and
    ``design`` uses the same predictor. On ROSMAP (repeated CV on all subjects) the
    logistic predictor had a worse log loss and no better accuracy, hence the default.
    Training subjects missing a modality enter that block as zero rows (after centring),
    so they add nothing to its cross-covariances.

    Parameters
    ----------
    n_components : int, optional
        None chooses it from ``1 .. max_components`` by ``cv``-fold inner CV (log loss)
        on the training subjects.
    max_components : int
    design : float, optional
        Connection weight between modality blocks (each is connected to the outcome with
        1). None chooses it from (0, 0.1, 0.5), jointly with ``n_components``, by the
        inner CV.
    confounders : list of str, optional
        obs columns to regress out of every block.
    predictor : {"logistic", "lda"}
    preprocessors : None, transformer or dict modality -> transformer
    cv : int
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights of the predictor: the class priors of the LDA are proportional to
        ``w_k * n_k`` (uniform for ``"balanced"``), the logistic predictor weighs its loss.
        ``"balanced"`` (as the neural strategies do) keeps a rare outcome predictable at the
        0.5 threshold, at the cost of probabilities calibrated to balanced classes; None
        keeps them calibrated to the training prevalence.
    random_state : int, optional

    Attributes
    ----------
    n_components_ : int
    design_ : float
    weights_, loadings_, rotations_ : dict modality -> (p_m, H)
    block_variance_ : DataFrame (modality x component), share of each block's variance
        explained by each component's scores.
    predictor_ : the fitted predictor: a ``LogisticRegressionCV`` on the stacked scores
        (logistic) or dict modality -> ``LinearDiscriminantAnalysis`` (lda).
    """

    def __init__(self, n_components: int | None = None, max_components: int = 5,
                 design: float | None = None, confounders=None, predictor: str = "lda",
                 preprocessors=None, cv: int = 5, class_weight="balanced",
                 random_state=None) -> None:
        self.n_components = n_components
        self.max_components = max_components
        self.design = design
        self.confounders = confounders
        self.predictor = predictor
        self.preprocessors = preprocessors
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

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
        designs = list(DESIGN_GRID) if self.design is None else [float(self.design)]
        comps = ([int(self.n_components)] if self.n_components is not None
                 else list(range(1, int(self.max_components) + 1)))
        if len(designs) * len(comps) > 1:
            losses = [self._cv_loss(Xs, have, y, n_classes, d, max(comps)) for d in designs]
            losses = np.array([[row[h - 1] for h in comps] for row in losses])
            i, j = np.unravel_index(np.argmin(losses), losses.shape)
            self.design_, self.n_components_ = designs[i], comps[j]
        else:
            self.design_, self.n_components_ = designs[0], comps[0]
        out = self._solve(Xs, y, n_classes, self.n_components_, self.design_)
        names = list(self.modalities_)
        self.weights_ = dict(zip(names, out["weights"][:-1], strict=True))
        self.loadings_ = dict(zip(names, out["loadings"][:-1], strict=True))
        self.rotations_ = dict(zip(names, out["rotations"][:-1], strict=True))
        var = []
        for j, _m in enumerate(names):
            total = float((Xs[j] ** 2).sum())
            T, P = out["scores"][j], out["loadings"][j]
            var.append([(T[:, h] @ T[:, h]) * (P[:, h] @ P[:, h]) / total if total > 0 else 0.0
                        for h in range(self.n_components_)])
        self.block_variance_values_ = np.asarray(var, dtype=float)
        self.predictor_ = self._fit_predictor(out["scores"][:len(names)], have, y,
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
        return pd.DataFrame(self.block_variance_values_,
                            index=pd.Index(self.modalities_, name="modality"),
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
    def _solve(Xs: list[np.ndarray], y: np.ndarray, n_classes: int, n_comp: int,
               design: float):
        Y = np.eye(n_classes)[y]
        Y = Y - Y.mean(axis=0)
        n_b = len(Xs)
        C = np.full((n_b + 1, n_b + 1), float(design))
        C[:, -1] = C[-1, :] = 1.0
        np.fill_diagonal(C, 0.0)
        return multiblock_pls([*Xs, Y], C, n_comp)

    def _fit_predictor(self, scores, have, y, n_comp: int):
        """Fit the predictor on the first ``n_comp`` components of every block's scores."""
        weights = self._class_weights(y)
        if self.predictor == "lda":
            return {j: _weighted_lda(T[have[j]][:, :n_comp], y[have[j]], weights)
                    for j, T in enumerate(scores)}
        T = [np.where(h[:, None], t, np.nan) for t, h in zip(scores, have, strict=True)]
        counts = np.bincount(y)
        model = default_classifier(self.random_state, cv=int(min(5, counts[counts > 0].min())),
                                   weights=weights, y=y)
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

    def _cv_loss(self, Xs, have, y, n_classes, design: float, h_max: int) -> np.ndarray:
        """Inner-CV log loss (summed over held-out subjects) of 1 .. h_max components."""
        counts = np.bincount(y)
        n_splits = int(min(self.cv, counts[counts > 0].min()))
        loss = np.zeros(h_max)
        if n_splits < 2:
            return loss
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(y.reshape(-1, 1), y):
            means = [X[tr].mean(axis=0) for X in Xs]
            out = self._solve([X[tr] - mu for X, mu in zip(Xs, means, strict=True)], y[tr],
                              n_classes, h_max, design)
            test_scores = [(X[te] - mu) @ R for X, mu, R in
                           zip(Xs, means, out["rotations"][:-1], strict=True)]
            test_scores = [np.where(hv[te][:, None], T, np.nan)
                           for hv, T in zip(have, test_scores, strict=True)]
            for h in range(1, h_max + 1):
                fitted = self._fit_predictor(out["scores"][:-1], [hv[tr] for hv in have],
                                             y[tr], h)
                p = self._predict_from(fitted, test_scores, h)
                loss[h - 1] -= np.log(np.clip(p[np.arange(len(te)), y[te]], 1e-6, 1)).sum()
        return loss


def _weighted_lda(T: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """LDA on scores ``T`` whose class priors are proportional to ``weights[k] * n_k``
    (the training frequencies when all weights are 1)."""
    present = np.unique(y)
    mass = weights[present] * np.bincount(y)[present]
    return LinearDiscriminantAnalysis(priors=mass / mass.sum()).fit(T, y)
