"""Low-rank (Nystroem) kernels for the MKL strategy: every quantity of the exact path
computed from n x r feature maps, so that memory and time stay linear in the number of
subjects n (no n x n matrix is ever formed).

With a kernel's feature map ``Phi`` (n, r), ``K ~= Phi Phi'``, and its centred map
``Phi^c`` (columns centred over the subjects that have the modality, zero rows for the
others), ``K^c ~= Phi^c Phi^c'``. The off-diagonal Frobenius products ALIGNF needs are then

- ``<K_m^c, K_l^c>_off = ||Phi_m^c' Phi_l^c||_F^2 - sum_i ||phi^c_mi||^2 ||phi^c_li||^2``,
- ``<K_m^c, Y Y'>_off = ||Phi_m^c' Y||_F^2 - sum_i ||phi^c_mi||^2 ||y_i||^2``,

and the permutation statistic of the alignment screen is the second with permuted rows of
``Y``: O(n r) each instead of O(n^2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from medfuse.fusion.kernel_functions import alignf_solve, kernel_feature_map

#: Rows per block when a feature map is computed (bounds the temporary kernel blocks).
CHUNK_ROWS = 4096
#: Training subjects per modality whose pairs give the median-heuristic bandwidth.
MEDIAN_SAMPLE = 1000
#: Training subjects per modality on which the Nystroem kernel is compared with the exact one.
ERROR_SAMPLE = 500


def sample_rows(rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A sorted random subset of ``size`` of the indices ``rows`` (all of them when there
    are no more than ``size``)."""
    rows = np.asarray(rows)
    if len(rows) <= size:
        return rows.copy()
    return np.sort(rng.choice(rows, size=size, replace=False))


def nystroem_normaliser(landmark_kernel: np.ndarray) -> np.ndarray:
    """Nystroem normalisation ``N`` (r, d) from the kernel between the landmarks: with
    ``N N' = K_LL^+`` (pseudo-inverse over the eigenvalues above ``1e-10`` times the
    largest, :func:`kernel_feature_map`), the map ``phi(x) = k(x, L) N`` gives
    ``phi(x) . phi(z) = k(x, L) K_LL^+ k(L, z)``, exact whenever ``x`` or ``z`` is a
    landmark or the kernel's feature space is spanned by the landmarks'."""
    return kernel_feature_map(landmark_kernel)


def feature_map(kernel: Callable[[np.ndarray, np.ndarray], np.ndarray], X: np.ndarray,
                landmarks: np.ndarray, normaliser: np.ndarray) -> np.ndarray:
    """Rows ``kernel(x, landmarks) @ normaliser`` (n, d), computed in blocks of
    :data:`CHUNK_ROWS` rows so that no temporary exceeds ``CHUNK_ROWS x r``."""
    out = np.empty((len(X), normaliser.shape[1]))
    for start in range(0, len(X), CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        out[start:stop] = kernel(X[start:stop], landmarks) @ normaliser
    return out


def centre_map(phi: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Centred feature map: columns centred over the subjects ``rows`` (boolean, n), zero
    rows elsewhere; its Gram matrix is the centred kernel of those subjects (the feature-map
    form of ``H K H``)."""
    out = np.zeros_like(phi)
    if rows.any():
        out[rows] = phi[rows] - phi[rows].mean(axis=0)
    return out


def offdiagonal_products(maps: list[np.ndarray], target: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Off-diagonal Frobenius products of the kernels ``Phi_m Phi_m'`` with each other and
    with the target ``target target'``, without forming any n x n matrix.

    Parameters
    ----------
    maps : list of (n, d_m) (centred) feature maps.
    target : (n, k) target factor, e.g. centred one-hot labels.

    Returns
    -------
    M : (n_kernels, n_kernels), ``sum_{i != j} K_m[i, j] K_l[i, j]``.
    a : (n_kernels,), ``sum_{i != j} K_m[i, j] (target target')[i, j]``.
    """
    diags = [np.einsum("ij,ij->i", p, p) for p in maps]
    n_k = len(maps)
    M = np.empty((n_k, n_k))
    for m in range(n_k):
        for j in range(m, n_k):
            full = float(np.sum((maps[m].T @ maps[j]) ** 2))
            M[m, j] = M[j, m] = full - float(diags[m] @ diags[j])
    t_diag = np.einsum("ij,ij->i", target, target)
    a = np.array([float(np.sum((p.T @ target) ** 2)) - float(d @ t_diag)
                  for p, d in zip(maps, diags, strict=True)])
    return M, a


def alignf_map_weights(maps: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """ALIGNF weights of the kernels ``Phi_m Phi_m'`` (centred maps) with the target
    ``target target'``: the same problem as
    :func:`~medfuse.fusion.kernel_functions.alignf_weights` with its defaults (off-diagonal
    products, each kernel scaled to unit off-diagonal Frobenius norm), from the products of
    :func:`offdiagonal_products`.

    Returns
    -------
    (n_kernels,) non-negative weights summing to 1.
    """
    M, a = offdiagonal_products(maps, target)
    norms = np.sqrt(np.maximum(np.diag(M), 0.0))
    norms = np.where(norms > 0, norms, 1.0)
    return alignf_solve(M / np.outer(norms, norms), a / norms)


def map_alignment_pvalues(maps: list[np.ndarray], onehot: np.ndarray, n_permutations: int,
                          random_state=None, batch: int = 32) -> np.ndarray:
    """One-sided permutation p-values of each kernel's off-diagonal alignment
    ``sum_{i != j} K[i, j] (Y Y')[i, j]`` with the labels, from (centred) feature maps.

    The same test, and the same permutations for the same ``random_state``, as
    :func:`~medfuse.fusion.kernel_functions.alignment_pvalues` on the kernels
    ``Phi Phi'``; the permutations are drawn ``batch`` at a time so that memory stays
    O(n (r + batch k)).

    Returns
    -------
    (n_kernels,) values in (0, 1]: ``(1 + #{perm >= observed}) / (1 + n_perm)``.
    """
    rng = np.random.default_rng(random_state)
    n, k = onehot.shape
    row_norms = np.einsum("ij,ij->i", onehot, onehot)
    diags = [np.einsum("ij,ij->i", p, p) for p in maps]

    def statistics(perms: list[np.ndarray]) -> np.ndarray:
        Y = np.concatenate([onehot[p] for p in perms], axis=1)  # (n, len(perms) * k)
        out = np.empty((len(maps), len(perms)))
        for m, (phi, d) in enumerate(zip(maps, diags, strict=True)):
            full = ((phi.T @ Y) ** 2).sum(axis=0).reshape(len(perms), k).sum(axis=1)
            out[m] = full - np.array([d @ row_norms[p] for p in perms])
        return out

    observed = statistics([np.arange(n)])[:, 0]
    exceed = np.zeros(len(maps))
    done = 0
    while done < n_permutations:
        size = min(batch, n_permutations - done)
        perms = [rng.permutation(n) for _ in range(size)]
        exceed += (statistics(perms) >= observed[:, None]).sum(axis=1)
        done += size
    return (1 + exceed) / (1 + n_permutations)


def combine_maps(maps: list[np.ndarray], available: np.ndarray, weights: np.ndarray
                 ) -> np.ndarray:
    """Feature map of the combined kernel ``sum_{m in A(x) & A(z)} w_m K_m(x, z) /
    sqrt(W(x) W(z))``: the columns ``sqrt(w_m) Phi_m(x) / sqrt(W(x))`` side by side, zero
    for the modalities a subject lacks (``available``: (n, n_kernels) boolean;
    ``W(x) = sum_{m in A(x)} w_m``; a subject with no modality gets a zero row).

    Returns
    -------
    (n, sum_m d_m) array.
    """
    W = available @ weights
    scale = 1.0 / np.sqrt(np.where(W > 0, W, np.inf))
    out = np.empty((len(available), sum(p.shape[1] for p in maps)))
    start = 0
    for j, phi in enumerate(maps):
        stop = start + phi.shape[1]
        col = np.sqrt(weights[j]) * scale * available[:, j]
        out[:, start:stop] = phi * col[:, None]
        start = stop
    return out


def relative_error(exact: np.ndarray, phi: np.ndarray) -> float:
    """Relative Frobenius error ``||K - Phi Phi'||_F / ||K||_F`` of a feature map against
    the exact kernel on the same (few) subjects (0 when ``K`` is 0)."""
    norm = float(np.linalg.norm(exact))
    if norm == 0:
        return 0.0
    return float(np.linalg.norm(exact - phi @ phi.T)) / norm


class NystroemKernels:
    """The Nystroem path of :class:`~medfuse.fusion.kernel.MKLFusion` (a mixin): landmarks
    and feature maps per modality, the kernel weights from the maps, the combined map and
    the error estimate. It uses the strategy's ``_fit_kernel`` / ``_kernel`` (one kernel per
    modality between row sets) and ``_fit_weights`` (the screen and ALIGNF), and its
    ``n_components`` and ``random_state`` parameters."""

    def _build_maps(self, blocks, kinds, have, y, family, samples) -> np.ndarray:
        """Nystroem counterpart of :meth:`_build_kernel`: fit each modality's kernel and
        landmark map, the kernel weights from the feature maps, and return the combined
        feature map of the training subjects (n, sum of ranks)."""
        self.kernel_types_, self.gammas_ = {}, {}
        self.categorical_groups_, self.linear_scale_ = {}, {}
        self.landmarks_, self.landmark_maps_ = {}, {}
        maps = []
        for j, m in enumerate(self.modalities_):
            X = blocks[m]
            rows = have[:, j]
            self._fit_kernel(m, kinds[m], X[rows], family,
                             median_sample=X[samples["median"][m]])
            self._fit_landmarks(m, X, samples["landmarks"][m])
            maps.append(self._modality_map(m, X))
        self._fit_weights(lambda: (centre_map(p, have[:, j]) for j, p in enumerate(maps)), y,
                          map_alignment_pvalues, alignf_map_weights)
        return combine_maps(maps, have, np.maximum(self.kernel_weight_values_, 1e-3))

    def _draw_samples(self, have: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """Random training rows per modality (among the subjects that have it): the
        ``n_components`` landmarks, :data:`MEDIAN_SAMPLE` rows for the median heuristic and
        :data:`ERROR_SAMPLE` rows, not landmarks where possible, for the error estimate."""
        rng = np.random.default_rng(self.random_state)
        out: dict[str, dict[str, np.ndarray]] = {"landmarks": {}, "median": {}, "error": {}}
        for j, m in enumerate(self.modalities_):
            rows = np.flatnonzero(have[:, j])
            out["landmarks"][m] = sample_rows(rows, int(self.n_components), rng)
            out["median"][m] = sample_rows(rows, MEDIAN_SAMPLE, rng)
            rest = np.setdiff1d(rows, out["landmarks"][m])
            out["error"][m] = sample_rows(rest if len(rest) else rows, ERROR_SAMPLE, rng)
        return out

    def _fit_landmarks(self, m: str, X: np.ndarray, rows: np.ndarray) -> None:
        """Landmarks of modality ``m`` and their Nystroem normalisation: the unit vectors
        of the feature space for a linear or spectrum kernel on at most ``n_components``
        columns (which makes the map exact), else the training rows ``rows``."""
        if self.kernel_types_[m] in ("linear", "spectrum") and X.shape[1] <= self.n_components:
            landmarks = np.eye(X.shape[1])
        else:
            landmarks = X[rows]
        self.landmarks_[m] = landmarks
        self.landmark_maps_[m] = nystroem_normaliser(self._kernel(m, landmarks, landmarks))

    def _modality_map(self, m: str, X: np.ndarray) -> np.ndarray:
        """Nystroem feature map (n, r_m) of modality ``m`` (zero rows where X is NaN)."""
        return feature_map(lambda A, B: self._kernel(m, A, B), X, self.landmarks_[m],
                           self.landmark_maps_[m])

    def _combined_map(self, blocks: dict[str, np.ndarray], have: np.ndarray) -> np.ndarray:
        """Feature map of the combined kernel (see :func:`combine_maps`)."""
        return combine_maps([self._modality_map(m, blocks[m]) for m in self.modalities_],
                            have, np.maximum(self.kernel_weight_values_, 1e-3))

    def _approximation_errors(self, blocks: dict[str, np.ndarray],
                              rows: dict[str, np.ndarray]) -> np.ndarray:
        """Relative Frobenius error of each modality's map on the subjects ``rows[m]``:
        O(s^2) for s subjects."""
        out = []
        for m in self.modalities_:
            X = blocks[m][rows[m]]
            out.append(relative_error(self._kernel(m, X, X), self._modality_map(m, X)))
        return np.array(out)
