"""Neighbourhood texture families of IBSI-1: the neighbourhood grey tone difference matrix
(NGTDM) and the neighbouring grey level dependence matrix (NGLDM).

The neighbourhood of a voxel is every voxel at Chebyshev distance 1: the 8 in-plane
neighbours for the ``"2D"`` and ``"2.5D"`` aggregations, the 26 neighbours in ``"3D"``. Only
neighbours inside the ROI count. Sums over the neighbourhood are taken with shifted copies of
the grey level array, so the cost is a fixed number of array passes.

Aggregations (tag suffixes): ``_2D`` averages the features of every slice holding ROI
voxels, ``_2_5D`` computes one feature set from the sum of the per-slice matrices, ``_3D``
computes it from the matrix of the volume.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from medfuse.imaging.radiomics.roi import ROI
from medfuse.imaging.radiomics.zones import (
    STATISTICS,
    check_mode,
    count_matrix_features,
    dense_counts,
    mode_tags,
)

NGTDM_NAMES = ("coarseness", "contrast", "busyness", "complexity", "strength")
NGLDM_NAMES = ("lde", "hde", "lgce", "hgce", "ldlge", "ldhge", "hdlge", "hdhge", "glnu",
               "glnu_norm", "dcnu", "dcnu_norm", "dc_perc", "gl_var", "dc_var", "dc_entr",
               "dc_energy")

# Coarseness of a ROI without any grey tone difference (the sum it inverts is 0).
MAX_COARSENESS = 1.0e6


def _offsets(mode: str) -> list[tuple[int, int, int]]:
    """Offsets at Chebyshev distance 1: 26 in 3D, the 8 in-plane ones otherwise."""
    z_steps = (-1, 0, 1) if mode == "3D" else (0,)
    return [(dz, dy, dx) for dz, dy, dx in itertools.product(z_steps, (-1, 0, 1), (-1, 0, 1))
            if (dz, dy, dx) != (0, 0, 0)]


def _cropped_levels(roi: ROI) -> tuple[np.ndarray, int]:
    """Grey levels cut to the bounding box of the ROI, and the index of its first slice."""
    box = ndimage.find_objects(roi.intensity_mask.astype(np.int8))[0]
    return roi.levels[box], box[0].start


def _neighbour_sums(levels: np.ndarray, mode: str) -> tuple[np.ndarray, ...]:
    """Per voxel: sum of the grey levels of its neighbours inside the ROI, their number, and
    the number of them with the voxel's own grey level."""
    padded = np.pad(levels, 1)
    nz, ny, nx = levels.shape
    total = np.zeros(levels.shape, dtype=np.int64)
    valid = np.zeros(levels.shape, dtype=np.int64)
    same = np.zeros(levels.shape, dtype=np.int64)
    for dz, dy, dx in _offsets(mode):
        shifted = padded[1 + dz:1 + dz + nz, 1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx]
        total += shifted
        valid += shifted > 0
        same += shifted == levels
    return total, valid, same


def _ngtdm_per_slice(roi: ROI, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-slice NGTDM sums and counts, shape (Z, N_g) each (one row for 3D)."""
    levels, first = _cropped_levels(roi)
    total, valid, _ = _neighbour_sums(levels, "3D" if mode == "3D" else "2D")
    used = (levels > 0) & (valid > 0)
    grey = levels[used]
    difference = np.abs(grey - total[used] / valid[used])
    n_rows = levels.shape[0] if mode == "2D" else 1
    rows = np.nonzero(used)[0] if mode == "2D" else np.zeros(grey.size, dtype=np.int64)
    s = dense_counts(rows, grey - 1, n_rows, roi.n_levels, weights=difference)
    n = dense_counts(rows, grey - 1, n_rows, roi.n_levels)
    if mode == "2D":
        s_full = np.zeros((roi.levels.shape[0], roi.n_levels))
        n_full = np.zeros_like(s_full)
        s_full[first:first + n_rows] = s
        n_full[first:first + n_rows] = n
        return s_full, n_full
    return s, n


def ngtdm(roi: ROI, mode: str = "3D") -> tuple[np.ndarray, np.ndarray]:
    """Neighbourhood grey tone difference matrix.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.
    mode : {"2D", "2.5D", "3D"}

    Returns
    -------
    s : ndarray of float, shape (N_g,) or (Z, N_g) for ``"2D"``
        ``s[i - 1] = sum |i - A|`` over the voxels of grey level ``i`` that have at least one
        neighbour in the ROI, ``A`` being the mean grey level of those neighbours.
    n : ndarray of float, same shape
        Number of such voxels per grey level. ``"2.5D"`` sums the per-slice rows.
    """
    check_mode(mode)
    s, n = _ngtdm_per_slice(roi, mode)
    if mode == "2D":
        return s, n
    return s.sum(axis=0), n.sum(axis=0)


def ngtdm_features(s: np.ndarray, n: np.ndarray) -> dict[str, float]:
    """NGTDM features of one matrix.

    Parameters
    ----------
    s, n : ndarray of float, shape (N_g,)
        Sums of grey tone differences and voxel counts per grey level (:func:`ngtdm`).

    Returns
    -------
    dict
        With ``N_v = sum n``, ``p = n / N_v`` and sums over grey levels ``i, j`` present
        (``p > 0``, ``N_gp`` of them): coarseness ``1 / sum p_i s_i`` (``1e6`` when that sum
        is 0); contrast ``sum p_i p_j (i - j)^2 / (N_gp (N_gp - 1)) * sum s_i / N_v``;
        busyness ``sum p_i s_i / sum |i p_i - j p_j|``; complexity
        ``sum |i - j| (p_i s_i + p_j s_j) / (p_i + p_j) / N_v``; strength
        ``sum (p_i + p_j) (i - j)^2 / sum s_i``. Undefined ratios are 0.
    """
    s = np.asarray(s, dtype=float)
    n = np.asarray(n, dtype=float)
    n_v = n.sum()
    if n_v == 0:
        return dict.fromkeys(NGTDM_NAMES, float("nan"))
    present = n > 0
    grey = np.flatnonzero(present).astype(float) + 1.0
    p = n[present] / n_v
    s = s[present]
    n_gp = grey.size
    ps = p * s
    sum_ps = ps.sum()
    sum_s = s.sum()
    diff = grey[:, None] - grey[None, :]
    coarseness = 1.0 / sum_ps if sum_ps > 0 else MAX_COARSENESS
    if n_gp > 1:
        contrast = (np.sum(p[:, None] * p[None, :] * diff**2) / (n_gp * (n_gp - 1))
                    * sum_s / n_v)
    else:
        contrast = 0.0
    busy_denominator = np.sum(np.abs((grey * p)[:, None] - (grey * p)[None, :]))
    busyness = sum_ps / busy_denominator if busy_denominator > 0 else 0.0
    complexity = np.sum(np.abs(diff) * (ps[:, None] + ps[None, :])
                        / (p[:, None] + p[None, :])) / n_v
    strength = np.sum((p[:, None] + p[None, :]) * diff**2) / sum_s if sum_s > 0 else 0.0
    values = (coarseness, contrast, busyness, complexity, strength)
    return {name: float(v) for name, v in zip(NGTDM_NAMES, values, strict=True)}


def ngldm(roi: ROI, mode: str = "3D") -> np.ndarray:
    """Neighbouring grey level dependence matrix (coarseness 0, Chebyshev distance 1).

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.
    mode : {"2D", "2.5D", "3D"}

    Returns
    -------
    ndarray of float
        ``s[i - 1, j - 1]`` = number of voxels of grey level ``i`` with ``j - 1`` neighbours
        of the same grey level inside the ROI (dependence ``j``, from 1 to 9 in-plane or 27
        in 3D), shape ``(N_g, 9)`` for ``"2.5D"``, ``(N_g, 27)`` for ``"3D"`` and
        ``(Z, N_g, 9)`` for ``"2D"`` (one matrix per slice; ``"2.5D"`` is their sum).
    """
    check_mode(mode)
    levels, first = _cropped_levels(roi)
    n_cols = 27 if mode == "3D" else 9
    _, _, same = _neighbour_sums(levels, "3D" if mode == "3D" else "2D")
    inside = levels > 0
    grey = levels[inside] - 1
    column = same[inside]
    if mode != "2D":
        return dense_counts(grey, column, roi.n_levels, n_cols)
    return dense_counts(grey, column, roi.n_levels, n_cols,
                        slices=np.nonzero(inside)[0] + first, n_slices=roi.levels.shape[0])


def ngldm_features(matrix: np.ndarray, n_voxels: int | None = None) -> dict[str, float]:
    """NGLDM features of one matrix.

    Parameters
    ----------
    matrix : ndarray, shape (N_g, N_d)
        Counts by grey level (row ``i - 1``) and dependence (column ``j - 1``).
    n_voxels : int, optional
        Voxels in the ROI; the matrix total by default (every voxel has a dependence).

    Returns
    -------
    dict
        Keys of :data:`NGLDM_NAMES`: low/high dependence emphasis, low/high grey level count
        emphasis and their four products, grey level and dependence count non-uniformity
        (and normalised), dependence count percentage, grey level and dependence count
        variance, dependence count entropy (log2) and energy; formulas as in
        :func:`~medfuse.imaging.radiomics.zones.count_matrix_features`.
    """
    matrix = np.asarray(matrix, dtype=float)
    rows, cols = np.nonzero(matrix)
    total = matrix.sum() if n_voxels is None else n_voxels
    stats = count_matrix_features(rows + 1, cols + 1, matrix[rows, cols], int(total))
    return {name: stats[key] for name, key in zip(NGLDM_NAMES, STATISTICS, strict=True)}


def features(roi: ROI) -> dict[str, float]:
    """NGTDM (``ngt_*``) and NGLDM (``ngl_*``) features, 2D, 2.5D and 3D.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.

    Returns
    -------
    dict
        Tag -> value: 5 NGTDM features (coarseness, contrast, busyness, complexity,
        strength; see :func:`ngtdm_features`) and 17 NGLDM features (see
        :func:`ngldm_features`) in each aggregation.
    """
    out: dict[str, float] = {}
    populated = np.flatnonzero(roi.intensity_mask.sum(axis=(1, 2)))
    s2, n2 = ngtdm(roi, "2D")
    s3, n3 = ngtdm(roi, "3D")
    d2 = ngldm(roi, "2D")
    d3 = ngldm(roi, "3D")
    # A slice whose voxels all lack in-ROI neighbours has an empty NGTDM: it is left out.
    toned = [k for k in populated if n2[k].sum() > 0]
    per_mode = {
        "2D": ([ngtdm_features(s2[k], n2[k]) for k in toned],
               [ngldm_features(d2[k]) for k in populated]),
        "2.5D": ([ngtdm_features(s2.sum(axis=0), n2.sum(axis=0))],
                 [ngldm_features(d2.sum(axis=0))]),
        "3D": ([ngtdm_features(s3, n3)], [ngldm_features(d3)]),
    }
    for mode, (tone, dependence) in per_mode.items():
        out.update(mode_tags("ngt", NGTDM_NAMES, tone, mode))
        out.update(mode_tags("ngl", NGLDM_NAMES, dependence, mode))
    return out
