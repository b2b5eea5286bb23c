"""Multiple kernel learning: one kernel per modality, combined with weights learned by
centred kernel alignment (ALIGNF), then a Platt-scaled kernel SVM."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, solve_triangular
from scipy.optimize import nnls
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import sklearn_class_weight
from medfuse.fusion.base import modality_series
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import best_cv_score, default_classifier, predict_full
from medfuse.fusion.registry import register

KERNELS = ("linear", "rbf", "clinical", "spectrum")


# ---------------------------------------------------------------------- kernel functions
def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances (n_a, n_b)."""
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def median_gamma(X: np.ndarray) -> float:
    """RBF bandwidth by the median heuristic: ``gamma = 1 / median ||x_i - x_j||^2`` over
    distinct pairs of rows (1.0 when all rows coincide)."""
    d = squared_distances(X, X)[np.triu_indices(len(X), k=1)]
    med = float(np.median(d)) if d.size else 0.0
    return 1.0 / med if med > 0 else 1.0


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)``."""
    return np.exp(-gamma * squared_distances(A, B))


def matching_kernel(A: np.ndarray, B: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Average over categorical columns of ``1[a_c == b_c]``, from one-hot groups of
    columns (a missing category, all zeros, matches nothing). Ones when there are no
    categorical columns."""
    if not groups:
        return np.ones((len(A), len(B)))
    return sum(A[:, g] @ B[:, g].T for g in groups) / len(groups)


def centre_kernel(K: np.ndarray) -> np.ndarray:
    """``H K H`` with ``H = I - 11'/n``."""
    return K - K.mean(0, keepdims=True) - K.mean(1, keepdims=True) + K.mean()


def alignf_weights(kernels: list[np.ndarray], target: np.ndarray,
                   off_diagonal: bool = True, normalise: bool = True) -> np.ndarray:
    """ALIGNF (Cortes, Mohri & Rostamizadeh, 2012): non-negative kernel weights maximising
    the centred alignment of ``sum_m w_m K_m`` with the target kernel.

    Solves ``min_v v' M v - 2 v' a`` s.t. ``v >= 0`` with ``M_ml = <K_m^c, K_l^c>_F`` and
    ``a_m = <K_m^c, T>_F`` (as a non-negative least-squares problem through the Cholesky
    factor of ``M``), then normalises ``v`` to sum to 1.

    With ``off_diagonal`` (default) the Frobenius products leave out the diagonal
    ``i == j``: ``y' K^c y >= 0`` for any PSD kernel, so the diagonal gives every kernel,
    pure noise included, a positive alignment that grows with its trace; the off-diagonal
    products have no such bias (as in unbiased HSIC estimators). With ``normalise``
    (default) each centred kernel is first scaled to unit Frobenius norm, so the weights do
    not depend on the kernels' scales: otherwise a kernel with much structure unrelated to
    the target (batch effects, library size) has a large norm and a small weight, while a
    structureless noise kernel gets a large one.

    Parameters
    ----------
    kernels : list of (n, n) centred kernels.
    target : (n, n) target kernel, e.g. ``Y Y'`` for one-hot (centred) labels.
    off_diagonal, normalise : bool
    """
    n_k = len(kernels)
    keep = ~np.eye(len(target), dtype=bool) if off_diagonal else np.ones(target.shape, bool)
    flat = np.stack([k[keep] for k in kernels])
    if normalise:
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        flat = flat / np.where(norms > 0, norms, 1.0)
    M = flat @ flat.T
    a = flat @ target[keep]
    M = M + 1e-10 * np.trace(M) / n_k * np.eye(n_k)
    R = cho_factor(M, lower=False)[0]
    R = np.triu(R)
    b = solve_triangular(R, a, trans="T", lower=False)
    v, _ = nnls(R, b)
    if v.sum() <= 0:
        return np.full(n_k, 1.0 / n_k)
    return v / v.sum()


def kernel_feature_map(K: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Projection ``P`` (n, r) with ``K = (K P)(K P)'`` on the training subjects: from the
    eigendecomposition ``K = U S U'``, ``P = U_r S_r^{-1/2}`` over the eigenvalues above
    ``rtol * max``. Rows ``k(x, train) @ P`` are an exact finite feature map of the
    kernel on the span of the training subjects, so an L2-penalised linear model on them is
    the kernel model with an RKHS-norm penalty (representer theorem)."""
    s, U = np.linalg.eigh((K + K.T) / 2.0)
    keep = s > rtol * max(float(s.max()), 0.0)
    if not keep.any():
        keep = s >= s.max()
    return U[:, keep] / np.sqrt(np.abs(s[keep]))


def alignment_pvalues(kernels: list[np.ndarray], onehot: np.ndarray, n_permutations: int,
                      random_state=None) -> np.ndarray:
    """One-sided permutation p-values of each kernel's off-diagonal alignment with the target
    ``Y Y'`` (``onehot``: centred one-hot labels, n x K), permuting the subjects' labels.

    Returns (n_kernels,) values in (0, 1]: ``(1 + #{perm >= observed}) / (1 + n_perm)``.
    """
    rng = np.random.default_rng(random_state)
    perms = [np.arange(len(onehot))] + [rng.permutation(len(onehot))
                                        for _ in range(n_permutations)]
    out = []
    for K in kernels:
        K0 = K - np.diag(np.diag(K))
        stats = np.array([float(np.sum(onehot[p] * (K0 @ onehot[p]))) for p in perms])
        out.append((1 + np.sum(stats[1:] >= stats[0])) / (1 + n_permutations))
    return np.array(out)


# ---------------------------------------------------------------------- the strategy
@register("mkl", family="kernel", interpretable=True,
          needs=("features",))
class MKLFusion(BlockFusion):
    """Multiple kernel learning: a kernel per modality, combined with learned non-negative
    weights, then a support vector machine on the combined kernel.

    Kernels (``kernels="auto"``): for continuous, counts and array modalities, either all
    linear or all RBF with the median-heuristic bandwidth, the family chosen together with
    the SVM cost by inner CV on the training subjects; for clinical blocks encoded by
    ``ClinicalEncoder``, the product of an RBF kernel on the numeric columns (median
    heuristic) and the average matching kernel on the nominal ones; for sequence blocks the
    k-mer spectrum kernel (k=3, cosine-normalised). ``"linear"`` kernels are divided by
    their mean training diagonal. Every kernel has unit (or unit mean) diagonal, so the
    weights are comparable.

    Weights (``weighting="alignf"``): ALIGNF, centred kernel alignment with the target
    kernel ``Y Y'`` (one-hot, centred labels) on the training subjects
    (:func:`alignf_weights`); a subject missing a modality contributes zero rows to that
    centred kernel. Kernels whose alignment is not above chance (one-sided permutation
    test, ``n_permutations`` label permutations, level ``alpha``) get weight 0 first
    (all are kept when none passes; ``alpha=1`` turns the screen off): ALIGNF alone gives
    a pure-noise kernel, orthogonal to the others, a sizeable weight.

    Missing-modality rule: the combined kernel between subjects ``x`` and ``z`` is
    ``sum_{m in A(x) & A(z)} w_m K_m(x, z) / sqrt(W(x) W(z))`` with ``A(x)`` the subject's
    available modalities and ``W(x) = sum_{m in A(x)} w_m``, i.e. the weights are
    renormalised over the kernels each subject has (a valid kernel: it is the inner
    product of the per-subject renormalised feature maps). Training and prediction use the
    same rule; for this rule only, weights are floored at ``1e-3`` so that a subject whose
    only modalities have weight 0 still gets a prediction.

    Parameters
    ----------
    kernels : "auto" or dict modality -> {"linear", "rbf", "clinical", "spectrum"}
    weighting : {"alignf", "uniform"}
    alpha : float
        Level of the permutation screen of the kernels (1 keeps every kernel).
    n_permutations : int
    classifier : {"logistic", "svm"}
        ``"logistic"`` (default): kernel logistic regression, an L2 logistic regression on
        the exact feature map of the combined kernel (:func:`kernel_feature_map`), its
        strength and the kernel family chosen by inner CV on log loss; its probabilities
        need no separate calibration. ``"svm"``: ``SVC(kernel="precomputed")`` with Platt
        scaling, cost and family chosen by inner CV (ROC AUC for binary, balanced accuracy
        for multiclass outcomes).
    bandwidths : sequence of float
        Multipliers of the median-heuristic RBF gamma tried (logistic classifier only; one
        multiplier shared by the RBF kernels), chosen with the family by the inner CV.
    C : float, optional
        SVM cost (``classifier="svm"``); None chooses it from ``C_grid`` by ``cv``-fold
        inner CV on the training subjects.
    C_grid : sequence of float
    preprocessors : None, transformer or dict modality -> transformer
    cv : int
    class_weight : "balanced" (default), None or dict class label -> weight
        Class weights in the loss of the kernel classifier (logistic or SVM).
        ``"balanced"`` weighs class k by ``n / (K * n_k)`` (as the neural strategies do),
        so a rare outcome is still predicted at the 0.5 threshold, at the cost of
        probabilities calibrated to balanced classes; None keeps them calibrated to the
        training prevalence.
    random_state : int, optional
        Seeds the inner CV and the Platt scaling of the SVM.

    Attributes
    ----------
    kernel_weights_ : pandas Series indexed by modality, non-negative, summing to 1.
    alignment_pvalues_ : pandas Series by modality, permutation p-values (alignf only).
    kernel_types_ : dict modality -> kernel name.
    kernel_family_ : "linear" or "rbf" (chosen for numeric modalities), None if fixed.
    gammas_ : dict modality -> RBF gamma (NaN where not used).
    estimator_ : the fitted classifier on the combined kernel: a
        ``LogisticRegressionCV`` on the kernel feature map (``classifier="logistic"``) or
        ``SVC(kernel="precomputed")`` with Platt scaling
        (``CalibratedClassifierCV(method="sigmoid", ensemble=False)``, decision values
        out-of-fold).
    feature_map_ : (n_train, r) projection of the kernel feature map (logistic only).
    bandwidth_ : float, the chosen RBF gamma multiplier (1 for linear kernels).
    C_ : the SVM cost or the logistic regression's inverse L2 strength used.
    """

    def __init__(self, kernels="auto", weighting: str = "alignf", alpha: float = 0.05,
                 n_permutations: int = 200, classifier: str = "logistic",
                 bandwidths=(1.0,), C: float | None = None,
                 C_grid=(0.01, 0.1, 1.0, 10.0, 100.0), preprocessors=None, cv: int = 5,
                 class_weight="balanced", random_state=None) -> None:
        self.kernels = kernels
        self.weighting = weighting
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.classifier = classifier
        self.bandwidths = bandwidths
        self.C = C
        self.C_grid = C_grid
        self.preprocessors = preprocessors
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    # -------------------------------------------------------------- fit / predict
    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        if self.weighting not in ("alignf", "uniform"):
            raise ValueError(f"weighting must be 'alignf' or 'uniform', got {self.weighting!r}")
        if self.classifier not in ("logistic", "svm"):
            raise ValueError(f"classifier must be 'logistic' or 'svm', got {self.classifier!r}")
        blocks = self._fit_blocks(data)
        self.train_blocks_ = blocks
        have = np.column_stack([~np.isnan(blocks[m]).any(axis=1) for m in self.modalities_])
        self.train_available_ = have
        kinds = {m: data.modalities[m].kind_object for m in self.modalities_}
        families = ["linear", "rbf"] if self.kernels == "auto" else [None]
        counts = np.bincount(y)
        if int(min(self.cv, counts[counts > 0].min())) < 2:
            raise ValueError("MKL needs at least 2 training subjects of every class.")
        self.bandwidth_ = 1.0
        if self.classifier == "logistic":
            self._fit_logistic(blocks, kinds, have, y, families)
            return
        best = None
        for family in families:
            K = self._build_kernel(blocks, kinds, have, y, family)
            C, score = ((self.C, 0.0) if self.C is not None and len(families) == 1
                        else self._choose_C(K, y))
            if best is None or score > best[2]:
                best = (family, C, score)
        self.kernel_family_, self.C_, _ = best
        K = self._build_kernel(blocks, kinds, have, y, self.kernel_family_)
        if self.C is not None:
            self.C_ = float(self.C)
        n_splits = int(min(self.cv, counts[counts > 0].min()))
        svm = SVC(kernel="precomputed", C=self.C_,
                  class_weight=sklearn_class_weight(self._class_weights(y)))
        self.feature_map_ = None
        self.estimator_ = CalibratedClassifierCV(
            svm, method="sigmoid", ensemble=False,
            cv=StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state),
        ).fit(K, y)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        blocks = self._transform_blocks(data)
        have = np.column_stack([~np.isnan(blocks[m]).any(axis=1) for m in self.modalities_])
        kernels = [self._kernel(m, blocks[m], self.train_blocks_[m]) for m in self.modalities_]
        K = self._combine(kernels, have, self.train_available_)
        if self.feature_map_ is not None:
            K = K @ self.feature_map_
        return predict_full(self.estimator_, K, len(self.classes_))

    def _fit_logistic(self, blocks, kinds, have, y, families) -> None:
        """Kernel logistic regression; the kernel family (and RBF bandwidth multiplier)
        with the best inner-CV log loss."""
        best = None
        candidates = [(f, b) for f in families
                      for b in ((1.0,) if f == "linear" else tuple(self.bandwidths))]
        for family, bandwidth in candidates:
            self.bandwidth_ = float(bandwidth)
            K = self._build_kernel(blocks, kinds, have, y, family)
            P = kernel_feature_map(K)
            counts = np.bincount(y)
            model = default_classifier(self.random_state,
                                       cv=int(min(self.cv, counts[counts > 0].min())),
                                       weights=self._class_weights(y))
            model.fit(K @ P, y)
            score = best_cv_score(model)
            if best is None or score > best[0]:
                best = (score, family, bandwidth, P, model)
        _, self.kernel_family_, self.bandwidth_, self.feature_map_, self.estimator_ = best
        if len(candidates) > 1:  # rebuild the per-kernel state of the chosen candidate
            self._build_kernel(blocks, kinds, have, y, self.kernel_family_)
        self.C_ = float(np.ravel(self.estimator_.C_)[0])

    @property
    def kernel_weights_(self) -> pd.Series:
        """Kernel weights (Series indexed by modality, non-negative, summing to 1)."""
        return modality_series(self.kernel_weight_values_, self.modalities_)

    @property
    def alignment_pvalues_(self) -> pd.Series:
        """Permutation p-values of the kernels' alignment with the target (alignf)."""
        return modality_series(self.alignment_pvalue_values_, self.modalities_)

    def combined_kernel(self, data: MultiModalData) -> pd.DataFrame:
        """The combined kernel between ``data``'s subjects (rows) and the training
        subjects (columns)."""
        data = self.align(data)
        blocks = self._transform_blocks(data)
        have = np.column_stack([~np.isnan(blocks[m]).any(axis=1) for m in self.modalities_])
        kernels = [self._kernel(m, blocks[m], self.train_blocks_[m]) for m in self.modalities_]
        return pd.DataFrame(self._combine(kernels, have, self.train_available_),
                            index=data.subjects)

    # -------------------------------------------------------------- helpers
    def _build_kernel(self, blocks, kinds, have, y, family) -> np.ndarray:
        """Fit each modality's kernel (numeric modalities with ``family`` when given), the
        kernel weights, and return the combined training kernel."""
        self.kernel_types_, self.gammas_ = {}, {}
        self.categorical_groups_, self.linear_scale_ = {}, {}
        kernels = []
        for m in self.modalities_:
            X = blocks[m]
            self._fit_kernel(m, kinds[m], X[~np.isnan(X).any(axis=1)], family)
            kernels.append(self._kernel(m, X, X))
        n_classes = len(self.classes_)
        if self.weighting == "uniform":
            w = np.full(len(kernels), 1.0 / len(kernels))
            self.alignment_pvalue_values_ = np.full(len(kernels), np.nan)
        else:
            onehot = np.eye(n_classes)[y]
            onehot = onehot - onehot.mean(0)
            target = onehot @ onehot.T
            centred = []
            for j, K in enumerate(kernels):
                rows = have[:, j]
                Kc = np.zeros_like(K)
                Kc[np.ix_(rows, rows)] = centre_kernel(K[np.ix_(rows, rows)])
                centred.append(Kc)
            self.alignment_pvalue_values_ = alignment_pvalues(
                centred, onehot, self.n_permutations, self.random_state)
            passed = self.alignment_pvalue_values_ <= self.alpha
            if self.alpha >= 1 or not passed.any():
                passed[:] = True
            w = np.zeros(len(centred))
            w[passed] = alignf_weights([c for c, ok in zip(centred, passed, strict=True) if ok],
                                       target)
        self.kernel_weight_values_ = np.asarray(w, dtype=float)
        return self._combine(kernels, have, have)

    def _choose_C(self, K: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(best C, its mean inner-CV score)."""
        counts = np.bincount(y)
        n_splits = int(min(self.cv, counts[counts > 0].min()))
        grid = [self.C] if self.C is not None else list(self.C_grid)
        if n_splits < 2:
            return float(grid[0]), 0.0
        scoring = "roc_auc" if len(self.classes_) == 2 else "balanced_accuracy"
        weights = sklearn_class_weight(self._class_weights(y))
        search = GridSearchCV(SVC(kernel="precomputed", class_weight=weights), {"C": grid},
                              scoring=scoring, cv=StratifiedKFold(
                                  n_splits, shuffle=True, random_state=self.random_state))
        search.fit(K, y)
        return float(search.best_params_["C"]), float(search.best_score_)

    def _kernel_type(self, m: str, kind, family: str | None) -> str:
        """The kernel of modality ``m``: the user's choice, else the kind's default for its
        fitted preprocessor (``"auto"``: the numeric ``family``)."""
        chosen = self.kernels.get(m, "auto") if isinstance(self.kernels, dict) else self.kernels
        if chosen != "auto":
            if chosen not in KERNELS:
                raise ValueError(f"Unknown kernel {chosen!r} for modality {m!r}; "
                                 f"choose from {KERNELS}.")
            return chosen
        declared = kind.default_kernel(self.preprocessors_[m])
        return declared if declared != "auto" else (family or "rbf")

    def _fit_kernel(self, m: str, kind, X: np.ndarray, family: str | None) -> None:
        ktype = self._kernel_type(m, kind, family)
        self.kernel_types_[m] = ktype
        self.gammas_[m] = np.nan
        self.categorical_groups_[m] = []
        self.linear_scale_[m] = 1.0
        if ktype == "clinical":
            enc = self.preprocessors_[m]
            names = list(enc.feature_names_out_)
            groups = [np.array([names.index(f"{c}={v}") for v in cats], dtype=int)
                      for c, cats in enc.categories_.items() if cats]
            self.categorical_groups_[m] = groups
            numeric = self._numeric_columns(m, X.shape[1])
            self.gammas_[m] = median_gamma(X[:, numeric]) if numeric.size else 1.0
        elif ktype == "rbf":
            self.gammas_[m] = median_gamma(X) * getattr(self, "bandwidth_", 1.0)
        elif ktype == "linear":
            diag = float(np.mean((X * X).sum(1)))
            self.linear_scale_[m] = diag if diag > 0 else 1.0

    def _numeric_columns(self, m: str, width: int) -> np.ndarray:
        used = set()
        for g in self.categorical_groups_[m]:
            used.update(g.tolist())
        return np.array([j for j in range(width) if j not in used], dtype=int)

    def _kernel(self, m: str, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Kernel of modality ``m`` between all rows of A and B (0 where either is NaN)."""
        ra, rb = ~np.isnan(A).any(axis=1), ~np.isnan(B).any(axis=1)
        a, b = A[ra], B[rb]
        ktype = self.kernel_types_[m]
        if ktype == "rbf":
            k = rbf_kernel(a, b, self.gammas_[m])
        elif ktype == "clinical":
            num = self._numeric_columns(m, A.shape[1])
            k = rbf_kernel(a[:, num], b[:, num], self.gammas_[m]) * matching_kernel(
                a, b, self.categorical_groups_[m])
        elif ktype == "spectrum":
            na = np.linalg.norm(a, axis=1, keepdims=True)
            nb = np.linalg.norm(b, axis=1, keepdims=True)
            k = (a / np.where(na > 0, na, 1)) @ (b / np.where(nb > 0, nb, 1)).T
        else:
            k = a @ b.T / self.linear_scale_[m]
        out = np.zeros((len(A), len(B)))
        out[np.ix_(ra, rb)] = k
        return out

    def _combine(self, kernels: list[np.ndarray], have_a: np.ndarray, have_b: np.ndarray
                 ) -> np.ndarray:
        w = np.maximum(self.kernel_weight_values_, 1e-3)
        Wa = have_a @ w
        Wb = have_b @ w
        K = sum(wm * k for wm, k in zip(w, kernels, strict=True))
        return K / np.sqrt(np.outer(Wa, Wb))
