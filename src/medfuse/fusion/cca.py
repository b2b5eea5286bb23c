"""Canonical correlation analysis: classical, regularised, partial and generalised CCA, and
the ``cca`` classification strategy built on them.

CCA is block PLS with correlation in place of covariance: per component, weights maximise
``corr(X a, Y b)``, i.e. ``cov(X a, Y b)`` under ``a' S_x a = b' S_y b = 1``. Classical
CCA inverts the within-view covariances ``S``, which is impossible when a view has as many
features as subjects (every canonical correlation would be 1); regularised CCA shrinks them,
``(1 - tau) S + tau I`` (``tau = 1`` is PLS again). All variants run on the solver of
:mod:`medfuse.fusion._multiblock`, which works with ``n x n`` (dual, kernel) matrices for
views wider than they are long, so no ``p x p`` matrix is ever formed.

- Two views: :class:`CCABlocks` (``shrinkage=0`` classical, > 0 regularised; confounders
  ``Z`` regressed out of both views first: partial CCA). Components after the first are
  found on the views deflated on their own scores, as scikit-learn's ``CCA`` does; for
  classical CCA these are exactly the successive canonical pairs.
- Three or more views: :func:`multiblock_cca`, generalised CCA by SUMCOR, the sum of the
  pairwise correlations weighted by a design matrix, maximised by the Horst scheme. SUMCOR
  rather than MAXVAR because it is the criterion block PLS already maximises with
  correlations in place of covariances, so it keeps the design matrix (which views must
  agree: in the strategy every modality with the outcome, and modalities with each other by
  ``design``), the per-view deflation and the predictors of ``block-pls``; MAXVAR's
  consensus variate has a closed form but weighs every view alike, outcome included.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from medfuse.fusion._latent_base import DESIGN_GRID, LatentBlockClassifier, _corr
from medfuse.fusion._multiblock import BlockInput, solve
from medfuse.fusion.latent import PLSCanonicalBlocks
from medfuse.fusion.registry import register

__all__ = ["RIDGE_GRID", "CCABlocks", "CCAClassifier", "classical_cca_check",
           "multiblock_cca", "shrinkage_for_ridge"]

#: Ridges relative to a view's mean covariance eigenvalue searched by ``shrinkage="cv"``.
RIDGE_GRID = (0.1, 1.0, 10.0)


def classical_cca_check(name: str, n_features: int, n_subjects: int,
                        n_adjusted: int = 0) -> None:
    """Refuse classical CCA on a view with too few subjects for its features.

    With ``n_subjects - 1 - n_adjusted`` degrees of freedom left after centring (and
    regressing out ``n_adjusted`` confounder columns), a view with at least that many
    features spans every direction: its covariance is singular and every canonical
    correlation is 1, whatever the data.
    """
    dof = n_subjects - 1 - n_adjusted
    if n_features >= dof:
        raise ValueError(
            f"Classical CCA (shrinkage=0) needs fewer features than degrees of freedom in "
            f"every view: {name} has {n_features} features for {n_subjects} subjects "
            f"({dof} degrees of freedom), so its within-view covariance cannot be inverted "
            "and every canonical correlation would be 1. Use regularised CCA: a shrinkage "
            "in (0, 1] (the within-view covariance becomes (1 - shrinkage) S + shrinkage I), "
            "or shrinkage='cv' in the cca strategy.")


def shrinkage_for_ridge(X: np.ndarray, ridge: float, n_obs: int | None = None) -> float:
    """The shrinkage ``tau`` of ``(1 - tau) S + tau I`` whose ridge ``tau / (1 - tau)`` is
    ``ridge`` times the mean non-zero eigenvalue of the view's covariance ``S = X'X / n``
    (``X`` centred). A relative ridge means the same for a view of 20 and of 20,000
    features: at 0.1 the view is close to classical CCA, at 10 close to PLS."""
    n = int(n_obs or len(X))
    rank = max(min(X.shape[1], n - 1), 1)
    mean_eig = float((X ** 2).sum()) / n / rank
    c = ridge * mean_eig
    return c / (1.0 + c) if np.isfinite(c) else 1.0


def multiblock_cca(blocks: list[np.ndarray], design: np.ndarray, n_components: int,
                   shrinkage: float | list[float] = 0.0, max_iter: int = 500,
                   tol: float = 1e-12) -> dict[str, list[np.ndarray]]:
    """Generalised CCA of two or more views (SUMCOR, Horst scheme).

    Per component, weights maximise ``sum_{b != c} design[b, c] * corr(X_b a_b, X_c a_c)``
    (with ``(1 - tau_b) S_b + tau_b I`` in place of ``S_b`` where ``shrinkage`` is
    positive), then each view is deflated on its own scores.

    Parameters
    ----------
    blocks : list of ndarray
        The views, each ``(n, p_b)`` and centred.
    design : ndarray of shape (B, B)
        Non-negative symmetric connection weights (diagonal ignored).
    n_components : int
        Components per view.
    shrinkage : float or list of float (one per view), in [0, 1]
        0: classical CCA (refused for a view with ``p_b >= n - 1``).
    max_iter, tol : int, float
        Horst iterations per component and their convergence threshold.

    Returns
    -------
    dict with lists (one per view) of ``weights`` (unit norm), ``loadings``,
    ``rotations`` (p_b, H) and ``scores`` (n, H).
    """
    taus = [float(shrinkage)] * len(blocks) if np.ndim(shrinkage) == 0 else list(shrinkage)
    for b, (X, tau) in enumerate(zip(blocks, taus, strict=True)):
        if tau == 0.0:
            classical_cca_check(f"view {b}", X.shape[1], len(X))
    out = solve([BlockInput(X=X, shrinkage=t) for X, t in zip(blocks, taus, strict=True)],
                design, n_components, max_iter=max_iter, tol=tol)
    return {"weights": [r.weights for r in out], "loadings": [r.loadings for r in out],
            "scores": [r.scores for r in out], "rotations": [r.rotations for r in out]}


class CCABlocks(PLSCanonicalBlocks):
    """Two-view CCA (classical or regularised), optionally partial: the confounders ``Z``
    are regressed out of both views first (fitted on training rows).

    With ``shrinkage=0`` and no confounders it reproduces
    ``sklearn.cross_decomposition.CCA`` (weights, loadings, rotations and scores up to
    sign), computed directly instead of by NIPALS iterations.

    Parameters
    ----------
    n_components : int
        Canonical pairs.
    shrinkage : float in [0, 1] or pair of floats (X, Y)
        Within-view covariances ``(1 - shrinkage) S + shrinkage I``: 0 is classical CCA
        (refused when a view has at least as many features as degrees of freedom), 1 is
        PLS (:class:`~medfuse.fusion.latent.PLSCanonicalBlocks`).
    scale : bool
        Divide each centred column by its standard deviation (ddof=1).

    Attributes
    ----------
    canonical_correlations_ : ndarray of shape (H,)
        Correlation of the training scores of each pair.

    Notes
    -----
    The other fitted attributes are those of
    :class:`~medfuse.fusion.latent.PLSCanonicalBlocks`.
    """

    def __init__(self, n_components: int = 2, shrinkage: float = 0.0,
                 scale: bool = True) -> None:
        super().__init__(n_components=n_components, scale=scale)
        self.shrinkage = shrinkage

    def fit(self, X, Y, Z=None):
        super().fit(X, Y, Z)
        self.canonical_correlations_ = np.array(
            [_corr(self.x_scores_[:, h], self.y_scores_[:, h])
             for h in range(self.x_scores_.shape[1])])
        return self

    def _inputs(self, Xs: np.ndarray, Ys: np.ndarray) -> list[BlockInput]:
        taus = ([float(self.shrinkage)] * 2 if np.ndim(self.shrinkage) == 0
                else [float(t) for t in self.shrinkage])
        adjusted = 0 if self.confounders_ is None else len(self.confounders_[0].coef_) - 1
        for name, V, tau in (("X", Xs, taus[0]), ("Y", Ys, taus[1])):
            if tau == 0.0:
                classical_cca_check(name, V.shape[1], len(V), adjusted)
        return [BlockInput(X=Xs, shrinkage=taus[0]), BlockInput(X=Ys, shrinkage=taus[1])]


# ---------------------------------------------------------------------- the strategy
@register("cca", family="latent", interpretable=True)
class CCAClassifier(LatentBlockClassifier):
    """Generalised (regularised) CCA discriminant analysis: block PLS-DA with correlations.

    Every modality (preprocessed, centred on the subjects that have it) and the centred
    one-hot outcome form views; per component, weights maximise
    ``sum_m corr(X_m a_m, Y c) + design * sum_{m != m'} corr(X_m a_m, X_m' a_m')``
    (:func:`multiblock_cca`, SUMCOR) with each modality's covariance shrunk,
    ``(1 - tau_m) S_m + tau_m I``, and the outcome's not (its canonical variate with one
    modality is then Fisher's discriminant of that modality, regularised). Each view is
    deflated on its own scores. ``confounders`` (obs columns) are first regressed out of
    every modality (partial CCA).

    Prediction, missing modalities and class weights as ``block-pls``
    (:class:`~medfuse.fusion.latent.BlockPLSClassifier`): ``"lda"`` (default), one linear
    discriminant analysis per modality on its canonical scores, probabilities averaged over
    the modalities the subject has; or ``"logistic"`` on the scores of all modalities side
    by side (0 and an availability indicator where missing). Any subset of the training
    modalities thus gets a prediction.

    Parameters
    ----------
    n_components : int, optional
        None chooses it from ``1 .. max_components`` by inner CV (log loss).
    max_components : int
        The largest number of components the inner CV tries.
    design : float, optional
        Connection weight between modality views (each is connected to the outcome with
        1); None chooses it from (0, 0.1, 0.5) by the inner CV.
    shrinkage : "cv", float in [0, 1] or dict modality -> float
        ``tau_m``. ``"cv"`` (default) chooses, by the inner CV and jointly with the rest,
        one ridge relative to each modality's mean covariance eigenvalue from
        :data:`RIDGE_GRID` (:func:`shrinkage_for_ridge`), so that wide and narrow
        modalities are shrunk alike. 0 is classical CCA, refused for a modality with at
        least as many features as subjects; 1 is block PLS.
    confounders : list of str, optional
        obs columns regressed out of every modality first (partial CCA).
    predictor : {"lda", "logistic"}
        How component scores become probabilities (as ``block-pls``).
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (see :func:`medfuse.preprocess.resolve_preprocessor`).
    cv : int
        Folds of the inner CV.
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights of the predictor, as ``block-pls``.
    random_state : int, optional
        Seed of the inner CV folds.

    Attributes
    ----------
    n_components_ : int
    design_ : float
    shrinkage_ : dict modality -> float, the ``tau_m`` used.
    relative_ridge_ : float or None, the ridge chosen by ``shrinkage="cv"``.
    weights_, loadings_, rotations_ : dict modality -> (p_m, H)
    block_variance_ : DataFrame (modality x component)
    outcome_correlations_ : DataFrame (modality x component), canonical correlations of
        each modality's training scores with the outcome's.
    predictor_ : as ``block-pls``.
    """

    outcome_shrinkage = 0.0

    def __init__(self, n_components: int | None = None, max_components: int = 5,
                 design: float | None = None, shrinkage="cv", confounders=None,
                 predictor: str = "lda", preprocessors=None, cv: int = 5,
                 class_weight="balanced", random_state=None) -> None:
        self.n_components = n_components
        self.max_components = max_components
        self.design = design
        self.shrinkage = shrinkage
        self.confounders = confounders
        self.predictor = predictor
        self.preprocessors = preprocessors
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    def _settings(self, Xs, have) -> list[dict]:
        designs = list(DESIGN_GRID) if self.design is None else [float(self.design)]
        n_obs = [int(h.sum()) for h in have]
        if isinstance(self.shrinkage, str):
            if self.shrinkage != "cv":
                raise ValueError(f"shrinkage must be 'cv', a float in [0, 1] or a dict "
                                 f"modality -> float, got {self.shrinkage!r}.")
            options = [(r, [shrinkage_for_ridge(X, r, n) for X, n in
                            zip(Xs, n_obs, strict=True)]) for r in RIDGE_GRID]
        else:
            options = [(None, self._fixed_shrinkage(Xs, n_obs))]
        return [{"design": d, "ridge": r, "shrinkage": taus}
                for d in designs for r, taus in options]

    def _fixed_shrinkage(self, Xs, n_obs) -> list[float]:
        if isinstance(self.shrinkage, Mapping):
            unknown = [m for m in self.shrinkage if m not in self.modalities_]
            if unknown:
                raise ValueError(f"shrinkage names modalities {unknown} that are not among "
                                 f"the training modalities {self.modalities_}.")
            missing = [m for m in self.modalities_ if m not in self.shrinkage]
            if missing:
                raise ValueError(f"shrinkage gives no value for modalities {missing}.")
            taus = [float(self.shrinkage[m]) for m in self.modalities_]
        else:
            taus = [float(self.shrinkage)] * len(Xs)
        adjusted = 0
        if self.confounders:
            adjusted = len(next(iter(self.confounder_models_.values())).coef_) - 1
        for m, X, n, tau in zip(self.modalities_, Xs, n_obs, taus, strict=True):
            if not 0.0 <= tau <= 1.0:
                raise ValueError(f"shrinkage for modality {m!r} must lie in [0, 1], got {tau}.")
            if tau == 0.0:
                classical_cca_check(f"modality {m!r}", X.shape[1], n, adjusted)
        return taus

    def _inputs(self, setting, j, X, K, X_test, K_test, n_obs) -> BlockInput:
        return BlockInput(X=X, K=K, X_test=X_test, K_test=K_test,
                          shrinkage=setting["shrinkage"][j], n_obs=n_obs)

    def _keep_setting(self, setting: dict) -> None:
        self.design_ = float(setting["design"])
        self.relative_ridge_ = setting["ridge"]
        self.shrinkage_ = dict(zip(self.modalities_, setting["shrinkage"], strict=True))
