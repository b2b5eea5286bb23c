"""Grey level run length matrix (GLRLM) features of IBSI-1, tags ``rlm_*``.

A run is a maximal line of consecutive ROI voxels with the same grey level along one
direction; it stops at a change of grey level and at the edge of the ROI. The run length
matrix counts runs by grey level ``i`` and length ``j``. See
:mod:`medfuse.imaging.radiomics.directions` for the six aggregations.
"""

from __future__ import annotations

import numpy as np

from medfuse.imaging.radiomics.directions import (
    IN_PLANE_OFFSETS,
    SPATIAL_OFFSETS,
    aggregate,
    crop_to_roi,
    direction_matrices,
    occupied_slices,
)
from medfuse.imaging.radiomics.roi import ROI

__all__ = ["features", "matrix_features", "run_length_matrix", "runs",
           "slice_run_length_matrices"]


def _forward(offset: tuple[int, int, int]) -> tuple[int, int, int]:
    """The offset, or its opposite, whose first non-zero component is positive."""
    nonzero = [s for s in offset if s != 0]
    if not nonzero:
        raise ValueError("The offset (0, 0, 0) has no direction.")
    sign = 1 if nonzero[0] > 0 else -1
    return (sign * int(offset[0]), sign * int(offset[1]), sign * int(offset[2]))


def runs(levels: np.ndarray, offset: tuple[int, int, int]
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every run of the ROI along one direction.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``>= 1`` inside the ROI, 0 outside.
    offset : tuple of int
        The direction ``(dz, dy, dx)`` with components in ``{-1, 0, 1}``; an offset and its
        opposite give the same runs.

    Returns
    -------
    level : ndarray of int, shape (R,)
        Grey level of each run.
    length : ndarray of int, shape (R,)
        Number of voxels of each run (``>= 1``; the lengths sum to the ROI voxel count).
    slice_index : ndarray of int, shape (R,)
        Index along axis 0 of the run's first voxel (the run's slice for an in-plane
        offset).
    """
    levels = np.asarray(levels)
    if levels.ndim != 3:
        raise ValueError(f"levels must be a 3D (z, y, x) array, not {levels.shape}.")
    step = _forward(offset)
    if any(abs(s) > 1 for s in step):
        raise ValueError(f"offset components must lie in {{-1, 0, 1}}, not {offset}.")
    # A zero border ends every line, so flat index arithmetic never wraps into another line.
    padded = np.pad(levels.astype(np.int64), 1)
    shape = padded.shape
    flat = padded.ravel()
    jump = step[0] * shape[1] * shape[2] + step[1] * shape[2] + step[2]  # > 0 by _forward
    inside = np.flatnonzero(flat > 0)
    value = flat[inside]
    starts = inside[flat[inside - jump] != value]
    ends = inside[flat[inside + jump] != value]

    # Key of the line through a voxel: where it crosses the plane of the first axis the
    # direction moves along. Runs of one line are ordered by flat index (jump > 0), so
    # sorting starts and ends stably by line pairs the k-th start with the k-th end.
    axis = next(a for a in range(3) if step[a] != 0)
    extent = shape[axis]
    dims = tuple(n + 2 * extent for n in shape)

    def line_key(index: np.ndarray) -> np.ndarray:
        coords = np.unravel_index(index, shape)
        t = coords[axis]
        base = tuple(coords[a] - t * step[a] + extent for a in range(3))
        return np.ravel_multi_index(base, dims)

    starts = starts[np.argsort(line_key(starts), kind="stable")]
    ends = ends[np.argsort(line_key(ends), kind="stable")]
    length = (ends - starts) // jump + 1
    slice_index = starts // (shape[1] * shape[2]) - 1
    return flat[starts], length, slice_index


def _counts(level: np.ndarray, length: np.ndarray, group: np.ndarray, n_groups: int,
            n_levels: int, max_length: int) -> np.ndarray:
    """Run counts ``(n_groups, N_g, max_length)`` by group, grey level and length."""
    if level.size and level.max() > n_levels:
        raise ValueError(f"a grey level exceeds n_levels={n_levels}.")
    if length.size and length.max() > max_length:
        raise ValueError(f"a run is longer than max_length={max_length}.")
    code = (group * n_levels + (level - 1)) * max_length + (length - 1)
    counts = np.bincount(code, minlength=n_groups * n_levels * max_length)
    return counts.reshape(n_groups, n_levels, max_length).astype(float)


def run_length_matrix(levels: np.ndarray, n_levels: int, offset: tuple[int, int, int],
                      max_length: int | None = None) -> np.ndarray:
    """Run length counts of the whole volume along one direction.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``1 .. n_levels`` inside the ROI, 0 outside.
    n_levels : int
        Number of grey levels ``N_g``.
    offset : tuple of int
        The direction ``(dz, dy, dx)``, components in ``{-1, 0, 1}``.
    max_length : int, optional
        Number of run length columns ``N_r``; ``max(Z, Y, X)`` by default.

    Returns
    -------
    ndarray of float, shape (N_g, N_r)
        ``R[i - 1, j - 1]``: the number of runs of grey level ``i`` and length ``j``.
    """
    level, length, _ = runs(levels, offset)
    width = max(np.asarray(levels).shape) if max_length is None else int(max_length)
    return _counts(level, length, np.zeros_like(level), 1, n_levels, width)[0]


def slice_run_length_matrices(levels: np.ndarray, n_levels: int,
                              offset: tuple[int, int, int],
                              max_length: int | None = None) -> np.ndarray:
    """Run length counts per slice along one in-plane direction.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``1 .. n_levels`` inside the ROI, 0 outside.
    n_levels : int
        Number of grey levels ``N_g``.
    offset : tuple of int
        An in-plane direction ``(0, dy, dx)``.
    max_length : int, optional
        Number of run length columns ``N_r``; ``max(Y, X)`` by default.

    Returns
    -------
    ndarray of float, shape (Z, N_g, N_r)
        The matrix of :func:`run_length_matrix` restricted to each slice ``levels[k]``.
    """
    if offset[0] != 0:
        raise ValueError(f"a per-slice matrix needs an in-plane offset, not {offset}.")
    levels = np.asarray(levels)
    level, length, slice_index = runs(levels, offset)
    width = max(levels.shape[1:]) if max_length is None else int(max_length)
    return _counts(level, length, slice_index, levels.shape[0], n_levels, width)


def matrix_features(counts: np.ndarray) -> dict[str, np.ndarray]:
    """IBSI-1 GLRLM features of each matrix of a stack.

    With ``r_ij`` the number of runs of grey level ``i`` and length ``j``, ``N_s = sum r_ij``,
    ``r_i = sum_j r_ij``, ``r_j = sum_i r_ij``, ``p_ij = r_ij / N_s`` and ``N_v = sum j r_ij``
    the voxels the runs cover (for a matrix merged over ``n`` directions this is ``n`` times
    the voxel count, as IBSI prescribes for the run percentage); entropies use ``log2``:

    - ``sre = sum_j r_j / j^2 / N_s``; ``lre = sum_j r_j j^2 / N_s``;
    - ``lgre = sum_i r_i / i^2 / N_s``; ``hgre = sum_i r_i i^2 / N_s``;
    - ``srlge = sum r_ij / (i^2 j^2) / N_s``; ``srhge = sum r_ij i^2 / j^2 / N_s``;
      ``lrlge = sum r_ij j^2 / i^2 / N_s``; ``lrhge = sum r_ij i^2 j^2 / N_s``;
    - ``glnu = sum_i r_i^2 / N_s``, ``glnu_norm = sum_i r_i^2 / N_s^2``; ``rlnu`` and
      ``rlnu_norm`` likewise with ``r_j``;
    - ``r_perc = N_s / N_v``;
    - ``gl_var = sum (i - mu_i)^2 p_ij`` with ``mu_i = sum i p_ij``; ``rl_var`` likewise
      with ``j``; ``rl_entr = -sum p_ij log2 p_ij``.

    Parameters
    ----------
    counts : ndarray, shape (M, N_g, N_r)
        Run counts, each matrix with at least one run.

    Returns
    -------
    dict of str to ndarray of shape (M,)
        Feature name (the IBSI tag without ``rlm_`` and aggregation suffix) to its value per
        matrix.
    """
    counts = np.asarray(counts, dtype=float)
    i = np.arange(1, counts.shape[1] + 1, dtype=float)
    j = np.arange(1, counts.shape[2] + 1, dtype=float)
    n_s = counts.sum(axis=(1, 2))
    r_i = counts.sum(axis=2)
    r_j = counts.sum(axis=1)
    p = counts / n_s[:, None, None]
    p_i, p_j = r_i / n_s[:, None], r_j / n_s[:, None]
    mu_i, mu_j = p_i @ i, p_j @ j
    ii, jj = i[:, None] ** 2, j[None, :] ** 2

    def total(weight: np.ndarray) -> np.ndarray:
        return (p * weight).sum(axis=(1, 2))

    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log2(np.where(p > 0, p, 1.0))
    return {
        "sre": p_j @ (1.0 / j**2),
        "lre": p_j @ j**2,
        "lgre": p_i @ (1.0 / i**2),
        "hgre": p_i @ i**2,
        "srlge": total(1.0 / (ii * jj)),
        "srhge": total(ii / jj),
        "lrlge": total(jj / ii),
        "lrhge": total(ii * jj),
        "glnu": (r_i**2).sum(axis=1) / n_s,
        "glnu_norm": (p_i**2).sum(axis=1),
        "rlnu": (r_j**2).sum(axis=1) / n_s,
        "rlnu_norm": (p_j**2).sum(axis=1),
        "r_perc": n_s / (r_j @ j),
        "gl_var": p_i @ i**2 - mu_i**2,
        "rl_var": p_j @ j**2 - mu_j**2,
        "rl_entr": -(p * log_p).sum(axis=(1, 2)),
    }


def features(roi: ROI) -> dict[str, float]:
    """Every IBSI-1 GLRLM feature of an ROI under the six aggregations.

    Parameters
    ----------
    roi : ROI
        The region; its ``levels`` and ``n_levels`` are used.

    Returns
    -------
    dict of str to float
        The 96 tags ``rlm_<feature>_<aggregation>`` (16 features of
        :func:`matrix_features`, 6 aggregations of
        :data:`~medfuse.imaging.radiomics.directions.AGGREGATIONS`).
    """
    levels = crop_to_roi(np.asarray(roi.levels))
    n_levels = int(roi.n_levels)
    found = [runs(levels, o) for o in SPATIAL_OFFSETS]
    width = max(int(length.max()) for _, length, _ in found)
    slices = occupied_slices(levels)
    group = np.full(levels.shape[0], -1, dtype=np.int64)
    group[slices] = np.arange(slices.size)

    n_plane = len(IN_PLANE_OFFSETS)
    per_slice = np.stack([_counts(level, length, group[where], slices.size, n_levels, width)
                          for level, length, where in found[:n_plane]], axis=1)
    per_direction = direction_matrices(
        per_slice, [_counts(level, length, np.zeros_like(level), 1, n_levels, width)[0]
                    for level, length, _ in found[n_plane:]])
    return aggregate(per_slice, per_direction, matrix_features, "rlm")
