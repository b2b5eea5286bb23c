"""Grey level co-occurrence matrix (GLCM) features of IBSI-1, tags ``cm_*``.

A co-occurrence matrix counts the pairs of ROI voxels one offset apart by their grey levels
``(i, j)``; it is symmetric (each pair is counted in both orders). Only pairs whose two
voxels both lie inside the ROI count. See :mod:`medfuse.imaging.radiomics.directions` for
the six aggregations (``2D_avg`` ... ``3D_comb``).
"""

from __future__ import annotations

import numpy as np

from medfuse.imaging.radiomics.directions import (
    IN_PLANE_OFFSETS,
    THROUGH_PLANE_OFFSETS,
    aggregate,
    crop_to_roi,
    direction_matrices,
    occupied_slices,
)
from medfuse.imaging.radiomics.roi import ROI

__all__ = ["cooccurrence_matrix", "features", "matrix_features",
           "slice_cooccurrence_matrices"]


def _shifted_pairs(levels: np.ndarray, offset: tuple[int, int, int]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey levels of the voxel pairs ``(p, p + offset)`` with both voxels in the ROI, and
    the slice index of ``p``."""
    first, second = [], []
    for size, step in zip(levels.shape, offset, strict=True):
        step = int(step)
        if abs(step) >= size:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        first.append(slice(max(0, -step), size - max(0, step)))
        second.append(slice(max(0, step), size - max(0, -step)))
    a = levels[tuple(first)]
    b = levels[tuple(second)]
    both = (a > 0) & (b > 0)
    z = np.broadcast_to(np.arange(levels.shape[0])[first[0], None, None], a.shape)
    return a[both].astype(np.int64), b[both].astype(np.int64), z[both].astype(np.int64)


def _counts(levels: np.ndarray, n_levels: int, offset: tuple[int, int, int],
            n_groups: int, group: np.ndarray | None, symmetric: bool) -> np.ndarray:
    """Pair counts ``(n_groups, N_g, N_g)``, grouped by ``group[slice index]`` when given."""
    levels = np.asarray(levels)
    if levels.ndim != 3:
        raise ValueError(f"levels must be a 3D (z, y, x) array, not {levels.shape}.")
    a, b, z = _shifted_pairs(levels, offset)
    if a.size and a.max() > n_levels:
        raise ValueError(f"a grey level exceeds n_levels={n_levels}.")
    code = (a - 1) * n_levels + (b - 1)
    if group is not None:
        code = code + group[z] * n_levels * n_levels
    size = n_groups * n_levels * n_levels
    counts = np.bincount(code, minlength=size).reshape(n_groups, n_levels, n_levels)
    counts = counts.astype(float)
    if symmetric:
        counts = counts + counts.transpose(0, 2, 1)
    return counts


def cooccurrence_matrix(levels: np.ndarray, n_levels: int, offset: tuple[int, int, int],
                        symmetric: bool = True) -> np.ndarray:
    """Co-occurrence counts of the whole volume for one offset.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``1 .. n_levels`` inside the ROI, 0 outside.
    n_levels : int
        Number of grey levels ``N_g``.
    offset : tuple of int
        The step ``(dz, dy, dx)`` from a voxel to its neighbour.
    symmetric : bool, default True
        Count each pair in both orders (``M + M^T``).

    Returns
    -------
    ndarray of float, shape (N_g, N_g)
        ``M[i - 1, j - 1]``: the number of voxels ``p`` with level ``i`` whose neighbour
        ``p + offset`` has level ``j``, both in the ROI (plus the reverse pairs when
        symmetric).
    """
    return _counts(levels, n_levels, offset, 1, None, symmetric)[0]


def slice_cooccurrence_matrices(levels: np.ndarray, n_levels: int,
                                offset: tuple[int, int, int],
                                symmetric: bool = True) -> np.ndarray:
    """Co-occurrence counts per slice for one in-plane offset.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``1 .. n_levels`` inside the ROI, 0 outside.
    n_levels : int
        Number of grey levels ``N_g``.
    offset : tuple of int
        An in-plane step ``(0, dy, dx)``.
    symmetric : bool, default True
        Count each pair in both orders.

    Returns
    -------
    ndarray of float, shape (Z, N_g, N_g)
        The matrix of :func:`cooccurrence_matrix` restricted to each slice ``levels[k]``.
    """
    if offset[0] != 0:
        raise ValueError(f"a per-slice matrix needs an in-plane offset, not {offset}.")
    n_slices = np.asarray(levels).shape[0]
    return _counts(levels, n_levels, offset, n_slices, np.arange(n_slices), symmetric)


def _plogp(p: np.ndarray) -> np.ndarray:
    """``p log2 p`` elementwise, 0 where ``p == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)


def _grouped(p: np.ndarray, key: np.ndarray, n_keys: int) -> np.ndarray:
    """Sums of each matrix of ``p`` (M, N, N) over the cells sharing a ``key`` (N, N)."""
    m = p.shape[0]
    code = (np.arange(m)[:, None] * n_keys + key.ravel()[None, :]).ravel()
    summed = np.bincount(code, weights=p.reshape(-1), minlength=m * n_keys)
    return summed.reshape(m, n_keys)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den == 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def matrix_features(counts: np.ndarray, n_levels: int | None = None) -> dict[str, np.ndarray]:
    """IBSI-1 GLCM features of each matrix of a stack.

    With ``p_ij`` the normalised matrix, ``p_i`` and ``p_j`` its row and column marginals,
    ``mu_i = sum_i i p_i``, ``sigma_i^2 = sum_i (i - mu_i)^2 p_i`` (same for ``j``),
    ``p_{i-j}(k)`` the probability of ``|i - j| = k`` and ``p_{i+j}(k)`` of ``i + j = k``;
    entropies use ``log2``:

    - ``joint_max = max p_ij``; ``joint_avg = mu = sum i p_ij``;
      ``joint_var = sum (i - mu)^2 p_ij``; ``joint_entr = HXY = -sum p_ij log2 p_ij``;
    - ``diff_avg = mu_d = sum k p_{i-j}(k)``, ``diff_var = sum (k - mu_d)^2 p_{i-j}(k)``,
      ``diff_entr = -sum p_{i-j} log2 p_{i-j}``; ``sum_avg``, ``sum_var``, ``sum_entr``
      likewise with ``p_{i+j}``;
    - ``energy = sum p_ij^2``; ``contrast = sum (i - j)^2 p_ij``;
      ``dissimilarity = sum |i - j| p_ij``;
    - ``inv_diff = sum p_ij / (1 + |i - j|)``, ``inv_diff_norm`` divides ``|i - j|`` by
      ``N_g``; ``inv_diff_mom = sum p_ij / (1 + (i - j)^2)``, ``inv_diff_mom_norm`` divides
      ``(i - j)^2`` by ``N_g^2``; ``inv_var = sum_{k >= 1} p_{i-j}(k) / k^2``;
    - ``corr = (sum i j p_ij - mu_i mu_j) / (sigma_i sigma_j)``;
      ``auto_corr = sum i j p_ij``;
    - ``clust_tend``, ``clust_shade``, ``clust_prom`` ``= sum (i + j - mu_i - mu_j)^n p_ij``
      for ``n = 2, 3, 4``;
    - ``info_corr1 = (HXY - HXY1) / HX``, ``info_corr2 = sqrt(1 - exp(-2 (HXY2 - HXY)))``
      with ``HX = -sum p_i log2 p_i``, ``HXY1 = -sum p_ij log2(p_i p_j)``,
      ``HXY2 = -sum p_i p_j log2(p_i p_j)``.

    Parameters
    ----------
    counts : ndarray, shape (M, N_g, N_g)
        Co-occurrence counts, each matrix with a positive total.
    n_levels : int, optional
        ``N_g`` of the normalised inverse differences; the matrix size by default.

    Returns
    -------
    dict of str to ndarray of shape (M,)
        Feature name (the IBSI tag without ``cm_`` and aggregation suffix) to its value per
        matrix; ``corr`` is NaN where a marginal has zero variance and ``info_corr1`` where
        ``HX = 0``.
    """
    counts = np.asarray(counts, dtype=float)
    m, n = counts.shape[0], counts.shape[-1]
    n_g = n if n_levels is None else n_levels
    p = counts / counts.sum(axis=(1, 2))[:, None, None]
    grey = np.arange(1, n + 1, dtype=float)
    i, j = grey[:, None], grey[None, :]
    diff = np.abs(i - j)

    def total(weight: np.ndarray) -> np.ndarray:
        return (p * weight).sum(axis=(1, 2))

    p_i, p_j = p.sum(axis=2), p.sum(axis=1)
    mu_i, mu_j = p_i @ grey, p_j @ grey
    var_i = p_i @ grey**2 - mu_i**2
    var_j = p_j @ grey**2 - mu_j**2
    mu = total(np.broadcast_to(i, p.shape[1:]))

    p_diff = _grouped(p, diff.astype(np.int64), n)
    k_diff = np.arange(n, dtype=float)
    mu_diff = p_diff @ k_diff
    p_sum = _grouped(p, (i + j - 2).astype(np.int64), 2 * n - 1)
    k_sum = np.arange(2, 2 * n + 1, dtype=float)
    mu_sum = p_sum @ k_sum

    hxy = -_plogp(p).sum(axis=(1, 2))
    hx = -_plogp(p_i).sum(axis=1)
    outer = p_i[:, :, None] * p_j[:, None, :]
    with np.errstate(divide="ignore"):
        log_outer = np.log2(np.where(outer > 0, outer, 1.0))
    hxy1 = -(p * log_outer).sum(axis=(1, 2))
    hxy2 = -(outer * log_outer).sum(axis=(1, 2))
    centred = (i + j)[None] - (mu_i + mu_j)[:, None, None]
    inv_k2 = np.zeros(n)
    inv_k2[1:] = 1.0 / k_diff[1:] ** 2

    return {
        "joint_max": p.reshape(m, -1).max(axis=1, initial=0.0),
        "joint_avg": mu,
        "joint_var": (p * (i[None] - mu[:, None, None]) ** 2).sum(axis=(1, 2)),
        "joint_entr": hxy,
        "diff_avg": mu_diff,
        "diff_var": (p_diff * (k_diff[None] - mu_diff[:, None]) ** 2).sum(axis=1),
        "diff_entr": -_plogp(p_diff).sum(axis=1),
        "sum_avg": mu_sum,
        "sum_var": (p_sum * (k_sum[None] - mu_sum[:, None]) ** 2).sum(axis=1),
        "sum_entr": -_plogp(p_sum).sum(axis=1),
        "energy": (p**2).sum(axis=(1, 2)),
        "contrast": total(diff**2),
        "dissimilarity": total(diff),
        "inv_diff": total(1.0 / (1.0 + diff)),
        "inv_diff_norm": total(1.0 / (1.0 + diff / n_g)),
        "inv_diff_mom": total(1.0 / (1.0 + diff**2)),
        "inv_diff_mom_norm": total(1.0 / (1.0 + diff**2 / n_g**2)),
        "inv_var": p_diff @ inv_k2,
        "corr": _safe_ratio(total(i * j) - mu_i * mu_j,
                            np.sqrt(np.clip(var_i, 0, None) * np.clip(var_j, 0, None))),
        "auto_corr": total(i * j),
        "clust_tend": (p * centred**2).sum(axis=(1, 2)),
        "clust_shade": (p * centred**3).sum(axis=(1, 2)),
        "clust_prom": (p * centred**4).sum(axis=(1, 2)),
        "info_corr1": _safe_ratio(hxy - hxy1, hx),
        "info_corr2": np.sqrt(np.clip(1.0 - np.exp(-2.0 * (hxy2 - hxy)), 0.0, None)),
    }


def features(roi: ROI) -> dict[str, float]:
    """Every IBSI-1 GLCM feature of an ROI under the six aggregations, Chebyshev distance 1.

    Parameters
    ----------
    roi : ROI
        The region; its ``levels`` and ``n_levels`` are used.

    Returns
    -------
    dict of str to float
        The 150 tags ``cm_<feature>_<aggregation>`` (25 features of
        :func:`matrix_features`, 6 aggregations of
        :data:`~medfuse.imaging.radiomics.directions.AGGREGATIONS`).
    """
    levels = crop_to_roi(np.asarray(roi.levels))
    n_levels = int(roi.n_levels)
    slices = occupied_slices(levels)
    per_slice = np.stack([slice_cooccurrence_matrices(levels, n_levels, o)[slices]
                          for o in IN_PLANE_OFFSETS], axis=1)
    per_direction = direction_matrices(
        per_slice, [cooccurrence_matrix(levels, n_levels, o) for o in THROUGH_PLANE_OFFSETS])

    def stack_features(counts: np.ndarray) -> dict[str, np.ndarray]:
        return matrix_features(counts, n_levels)

    return aggregate(per_slice, per_direction, stack_features, "cm")
