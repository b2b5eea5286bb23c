"""Kernel functions of the MKL strategy and the ALIGNF weights: pure numpy on dense
matrices (the exact path of :class:`medfuse.fusion.kernel.MKLFusion`; the low-rank path in
:mod:`medfuse.fusion._lowrank` reuses :func:`alignf_solve` and :func:`kernel_feature_map`)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, solve_triangular
from scipy.optimize import nnls


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
    keep = ~np.eye(len(target), dtype=bool) if off_diagonal else np.ones(target.shape, bool)
    flat = np.stack([k[keep] for k in kernels])
    if normalise:
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        flat = flat / np.where(norms > 0, norms, 1.0)
    return alignf_solve(flat @ flat.T, flat @ target[keep])


def alignf_solve(M: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The ALIGNF weights from the kernels' Frobenius products: ``v >= 0`` minimising
    ``v' M v - 2 v' a`` (a non-negative least-squares problem through the Cholesky factor
    of ``M``, with a ridge of ``1e-10`` times its mean diagonal), normalised to sum to 1
    (uniform when every kernel gets 0).

    Parameters
    ----------
    M : (n_kernels, n_kernels) products ``<K_m^c, K_l^c>_F``.
    a : (n_kernels,) products ``<K_m^c, T>_F`` with the target kernel.

    Returns
    -------
    (n_kernels,) non-negative weights summing to 1.
    """
    n_k = len(a)
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
