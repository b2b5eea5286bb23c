"""Supervised multi-block latent models: block PLS-DA (in the spirit of DIABLO / sGCCA with
covariance criteria), optionally with sparse weights, and two-block PLS (PLSCanonical) with
optional confounder removal.

The solutions come from :mod:`medfuse.fusion._multiblock`: power iterations on products
``X_b' z`` and the eigendecomposition of ``n x n`` Gram matrices, so time and memory grow
linearly with the number of features; no within-block covariance is inverted, so many more
features than subjects is stable.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError
from medfuse.fusion._latent_base import (
    DESIGN_GRID,
    ConfounderRegressor,
    LatentBlockClassifier,
    centre_scale,
)
from medfuse.fusion._multiblock import BlockInput, solve
from medfuse.fusion.registry import register

__all__ = ["DESIGN_GRID", "KEEP_FRACTIONS", "BlockPLSClassifier", "ConfounderRegressor",
           "PLSCanonicalBlocks", "multiblock_pls"]

#: Shares of a block's features kept per component when ``keep="cv"`` (dense is also tried).
KEEP_FRACTIONS = (0.01, 0.1)
#: Fewest features a block keeps under ``keep="cv"`` (all of them when it has fewer).
KEEP_MIN = 5


def multiblock_pls(blocks: list[np.ndarray], design: np.ndarray, n_components: int,
                   max_iter: int = 500, tol: float = 1e-12,
                   keep: list | None = None) -> dict[str, list[np.ndarray]]:
    """Multi-block PLS by the Horst scheme of generalised canonical covariance analysis.

    For each component, unit weight vectors ``a_b`` maximise
    ``sum_{b != c} design[b, c] * cov(X_b a_b, X_c a_c)``: ``a_b`` is initialised with the
    first left singular vector of ``X_b' [sqrt(design[b, c]) X_c]_c`` and updated as
    ``a_b <- X_b' sum_c design[b, c] X_c a_c`` (normalised) until it moves less than
    ``tol``. For two blocks the initial value is already the optimum (the leading singular
    pair of ``X_1' X_2``, as in ``sklearn.cross_decomposition.PLSCanonical``). Each block is
    then deflated on its own scores: ``X_b <- X_b - t_b p_b'`` with
    ``p_b = X_b' t_b / t_b' t_b``. See :mod:`medfuse.fusion._multiblock` for how this is
    computed in time linear in the number of features.

    Parameters
    ----------
    blocks : list of (n, p_b) centred arrays.
    design : (B, B) non-negative symmetric connection weights (diagonal ignored).
    n_components : int
    max_iter, tol : Horst iterations per component and their convergence threshold.
    keep : list (one entry per block) of None (dense weights), an int or a list of ints
        per component: the number of features with a non-zero weight (the update is
        soft-thresholded at the ``keep + 1``-th largest magnitude, as sparse PLS does).

    Returns
    -------
    dict with lists (one per block) of ``weights`` (p_b, H), ``loadings`` (p_b, H),
    ``scores`` (n, H) and ``rotations`` (p_b, H), such that ``scores = X_b @ rotations``.
    """
    keep = [None] * len(blocks) if keep is None else list(keep)
    out = solve([BlockInput(X=b, keep=k) for b, k in zip(blocks, keep, strict=True)],
                design, n_components, max_iter=max_iter, tol=tol)
    return {"weights": [r.weights for r in out], "loadings": [r.loadings for r in out],
            "scores": [r.scores for r in out], "rotations": [r.rotations for r in out]}


# ---------------------------------------------------------------------- two-block transformer
class PLSCanonicalBlocks(TransformerMixin, BaseEstimator):
    """Two-block PLS in canonical mode (symmetric deflation), optionally partial: the
    confounders ``Z`` are regressed out of both blocks first (fitted on training rows).

    Without confounders it reproduces
    ``sklearn.cross_decomposition.PLSCanonical(algorithm="svd")`` (weights, loadings,
    rotations and scores up to sign).

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
        Xs, self.x_mean_, self.x_std_ = centre_scale(X, self.scale)
        Ys, self.y_mean_, self.y_std_ = centre_scale(Y, self.scale)
        x, y = solve(self._inputs(Xs, Ys), np.array([[0, 1], [1, 0]]), self.n_components)
        self.x_weights_, self.y_weights_ = x.weights, y.weights
        self.x_loadings_, self.y_loadings_ = x.loadings, y.loadings
        self.x_rotations_, self.y_rotations_ = x.rotations, y.rotations
        self.x_scores_, self.y_scores_ = x.scores, y.scores
        self.n_features_in_ = X.shape[1]
        return self

    def _inputs(self, Xs: np.ndarray, Ys: np.ndarray) -> list[BlockInput]:
        """The two centred (scaled) blocks as solver inputs."""
        return [BlockInput(X=Xs), BlockInput(X=Ys)]

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
class BlockPLSClassifier(LatentBlockClassifier):
    """Block PLS discriminant analysis (multi-block PLS-DA in the spirit of DIABLO).

    Every modality (preprocessed, centred on the subjects that have it) and the centred
    one-hot outcome form blocks; per component, unit weight vectors maximise
    ``sum_b cov(X_b a_b, Y c) + design * sum_{b != b'} cov(X_b a_b, X_b' a_b')``
    (:func:`multiblock_pls`), then each block is deflated on its own scores. Optionally
    (``confounders``, obs columns) a least-squares fit of the confounders, on training
    subjects, is first removed from every block (partial block PLS). With ``keep``, each
    modality's weights are sparse (sparse PLS-DA, as DIABLO's ``keepX``).

    Prediction (``predictor``): ``"lda"`` (default), one linear discriminant analysis per
    modality on its component scores, probabilities averaged over the modalities the
    subject has (DIABLO's "average" rule); or ``"logistic"``, one L2 logistic regression on
    the component scores of all modalities side by side (a missing modality's scores set
    to 0, its training mean, plus one availability indicator per modality), strength
    chosen by inner CV on log loss. Any subset of the training modalities thus gets a
    prediction. The inner CV that picks ``n_components``, ``design`` and ``keep`` uses the
    same predictor. On ROSMAP (repeated CV on all subjects) the logistic predictor had a
    worse log loss and no better accuracy, hence the default. Training subjects missing a
    modality enter that block as zero rows (after centring), so they add nothing to its
    cross-covariances.

    Cost: linear in the number of features (``n x n`` Gram matrices of wide blocks, formed
    once per fit and reused by every inner-CV fold; see :mod:`medfuse.fusion._multiblock`).

    Parameters
    ----------
    n_components : int, optional
        None chooses it from ``1 .. max_components`` by ``cv``-fold inner CV (log loss)
        on the training subjects.
    max_components : int
        The largest number of components the inner CV tries.
    design : float, optional
        Connection weight between modality blocks (each is connected to the outcome with
        1). None chooses it from (0, 0.1, 0.5), jointly with ``n_components``, by the
        inner CV.
    keep : None, int, list of int, dict modality -> int or list of int, or "cv"
        Number of features with a non-zero weight per component: one int for every
        modality and component, a list per component (the last entry repeats), or a dict
        per modality (modalities left out stay dense). ``"cv"`` chooses by the inner CV
        between dense weights and keeping ``max(5, ceil(f * p_m))`` of each modality's
        ``p_m`` features for f in :data:`KEEP_FRACTIONS` (1 % and 10 %; the same share for
        every modality), at the design the dense weights chose when ``design`` is None.
        None (default): dense weights.
    confounders : list of str, optional
        obs columns to regress out of every block.
    predictor : {"logistic", "lda"}
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (see :func:`medfuse.preprocess.resolve_preprocessor`).
    cv : int
        Folds of the inner CV.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights of the predictor: the class priors of the LDA are proportional to
        ``w_k * n_k`` (uniform for ``"balanced"``), the logistic predictor weighs its loss.
        ``"balanced"`` (as the neural strategies do) keeps a rare outcome predictable at the
        0.5 threshold, at the cost of probabilities calibrated to balanced classes; None
        keeps them calibrated to the training prevalence.
    random_state : int, optional
        Seed of the inner CV folds.

    Attributes
    ----------
    n_components_ : int
    design_ : float
    keep_ : dict modality -> list of int (per component; the block width where dense)
    weights_, loadings_, rotations_ : dict modality -> (p_m, H)
    block_variance_ : DataFrame (modality x component), share of each block's variance
        explained by each component's scores.
    outcome_correlations_ : DataFrame (modality x component), correlation of each
        modality's training scores with the outcome block's.
    predictor_ : the fitted predictor: a ``LogisticRegressionCV`` on the stacked scores
        (logistic) or dict modality -> ``LinearDiscriminantAnalysis`` (lda).
    """

    def __init__(self, n_components: int | None = None, max_components: int = 5,
                 design: float | None = None, keep=None, confounders=None,
                 predictor: str = "lda", preprocessors=None, cv: int = 5,
                 class_weight="balanced", random_state=None) -> None:
        self.n_components = n_components
        self.max_components = max_components
        self.design = design
        self.keep = keep
        self.confounders = confounders
        self.predictor = predictor
        self.preprocessors = preprocessors
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    def _settings(self, Xs, have) -> list[dict]:
        designs = list(DESIGN_GRID) if self.design is None else [float(self.design)]
        widths = [X.shape[1] for X in Xs]
        if isinstance(self.keep, str):
            if self.keep != "cv":
                raise ValueError(f"keep must be None, an int, a list, a dict or 'cv', got "
                                 f"{self.keep!r}.")
            keeps = [[None] * len(Xs)]
            for f in KEEP_FRACTIONS:
                option = [max(min(p, KEEP_MIN), int(np.ceil(f * p))) for p in widths]
                option = [[k] if k < p else None for k, p in zip(option, widths, strict=True)]
                if option not in keeps:
                    keeps.append(option)
        else:
            keeps = [self._fixed_keep(widths)]
        return [{"design": d, "keep": k} for d in designs for k in keeps]

    def _choose(self, settings, comps, losses):
        """With ``keep="cv"`` and ``design`` None, two stages as sparse PLS tuning does:
        the design (and components) with dense weights, then ``keep`` at that design, so
        the costly sparse solves are not repeated for every design."""
        dense = [s for s in settings if all(k is None for k in s["keep"])]
        if self.keep != "cv" or len(dense) in (1, len(settings)):
            return super()._choose(settings, comps, losses)
        first = losses(dense)
        best = dense[int(np.unravel_index(np.argmin(first), first.shape)[0])]
        sparse = [s for s in settings if s["design"] == best["design"] and s not in dense]
        table = np.vstack([first[dense.index(best)][None, :], losses(sparse)])
        i, j = np.unravel_index(np.argmin(table), table.shape)
        return ([best, *sparse])[i], comps[j]

    def _fixed_keep(self, widths: list[int]) -> list:
        """``keep`` as one entry per modality (None, or ints per component)."""
        if self.keep is None:
            return [None] * len(widths)
        if isinstance(self.keep, Mapping):
            unknown = [m for m in self.keep if m not in self.modalities_]
            if unknown:
                raise DataValidationError(f"keep names modalities {unknown} that are not "
                                          f"among the training modalities {self.modalities_}.")
            entries = [self.keep.get(m) for m in self.modalities_]
        else:
            entries = [self.keep] * len(widths)
        out = []
        for m, k in zip(self.modalities_, entries, strict=True):
            if k is None:
                out.append(None)
                continue
            ks = [int(k)] if np.ndim(k) == 0 else [int(v) for v in k]
            if not ks or min(ks) < 1:
                raise ValueError(f"keep for modality {m!r} must be positive feature "
                                 f"counts, got {k!r}.")
            out.append(ks)
        return out

    def _inputs(self, setting, j, X, K, X_test, K_test, n_obs) -> BlockInput:
        return BlockInput(X=X, K=K, X_test=X_test, K_test=K_test, keep=setting["keep"][j],
                          n_obs=n_obs)

    def _needs_features(self, setting, j) -> bool:
        return setting["keep"][j] is not None

    def _keep_setting(self, setting: dict) -> None:
        self.design_ = float(setting["design"])
        H = self.n_components_
        self.keep_ = {}
        for m, k in zip(self.modalities_, setting["keep"], strict=True):
            width = self.n_block_features_[m]
            ks = [width] * H if k is None else (list(k) + list(k[-1:]) * H)[:H]
            self.keep_[m] = [min(int(v), width) for v in ks]
