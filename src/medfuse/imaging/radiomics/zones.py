"""Zone texture families of IBSI-1: the grey level size zone matrix (GLSZM) and the grey
level distance zone matrix (GLDZM).

A zone is a connected group of voxels that share one grey level: 8-connected within a slice
for the ``"2D"`` and ``"2.5D"`` aggregations, 26-connected in the volume for ``"3D"``. The
GLSZM counts zones by grey level and size, the GLDZM by grey level and distance to the ROI
edge. Zones are labelled one grey level at a time, so the cost grows with the number of grey
levels, not with the number of zones.

Aggregations (tag suffixes): ``_2D`` averages the features of every slice holding ROI
voxels, ``_2_5D`` computes one feature set from the sum of the per-slice matrices, ``_3D``
computes it from the matrix of the volume.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from medfuse.imaging.radiomics.roi import ROI

MODES = ("2D", "2.5D", "3D")
SUFFIX = {"2D": "_2D", "2.5D": "_2_5D", "3D": "_3D"}

# Order of the statistics that ``count_matrix_features`` returns.
STATISTICS = ("small_emph", "large_emph", "low_grey_emph", "high_grey_emph",
              "small_low_grey_emph", "small_high_grey_emph", "large_low_grey_emph",
              "large_high_grey_emph", "grey_nonuniformity", "grey_nonuniformity_norm",
              "column_nonuniformity", "column_nonuniformity_norm", "percentage",
              "grey_variance", "column_variance", "entropy", "energy")

GLSZM_NAMES = ("sze", "lze", "lgze", "hgze", "szlge", "szhge", "lzlge", "lzhge", "glnu",
               "glnu_norm", "zsnu", "zsnu_norm", "z_perc", "gl_var", "zs_var", "zs_entr")
GLDZM_NAMES = ("sde", "lde", "lgze", "hgze", "sdlge", "sdhge", "ldlge", "ldhge", "glnu",
               "glnu_norm", "zdnu", "zdnu_norm", "z_perc", "gl_var", "zd_var", "zd_entr")


def check_mode(mode: str) -> None:
    """Raise unless ``mode`` is one of :data:`MODES`.

    Parameters
    ----------
    mode : str
        The aggregation asked for.

    Raises
    ------
    ValueError
        When ``mode`` is not ``"2D"``, ``"2.5D"`` or ``"3D"``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}.")


def dense_counts(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, *,
                 slices: np.ndarray | None = None, n_slices: int = 0,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Count ``(row, column)`` cells into a dense matrix, one matrix per slice when asked.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (K,)
        Zero-based row and column of each item, below ``n_rows`` and ``n_cols``.
    n_rows, n_cols : int
        Size of each matrix.
    slices : ndarray of int, shape (K,), optional
        Slice of each item, below ``n_slices``: one matrix per slice.
    n_slices : int
        Number of per-slice matrices (with ``slices``).
    weights : ndarray of float, shape (K,), optional
        What each item adds to its cell; 1 by default.

    Returns
    -------
    ndarray of float
        Shape ``(n_rows, n_cols)``, or ``(n_slices, n_rows, n_cols)`` with ``slices``.
    """
    key = rows * n_cols + cols
    shape: tuple[int, ...] = (n_rows, n_cols)
    if slices is not None:
        key = key + slices * (n_rows * n_cols)
        shape = (n_slices, n_rows, n_cols)
    counts = np.bincount(key, weights=weights, minlength=int(np.prod(shape)))
    return counts.reshape(shape).astype(float)


def mode_tags(prefix: str, names: Sequence[str], sets: Sequence[Mapping[str, float]],
              mode: str, keys: Sequence[str] | None = None) -> dict[str, float]:
    """One family's tags for one aggregation, each feature averaged over its feature sets.

    Parameters
    ----------
    prefix : str
        Family prefix of the tags, e.g. ``"szm"``.
    names : sequence of str
        Feature names as they appear in the tags, in output order.
    sets : sequence of mapping of str to float
        One feature set per matrix: one per slice for ``"2D"``, a single one otherwise.
    mode : {"2D", "2.5D", "3D"}
        The aggregation; its :data:`SUFFIX` ends every tag.
    keys : sequence of str, optional
        The key of each name in the feature sets; the names themselves by default.

    Returns
    -------
    dict of str to float
        ``{f"{prefix}_{name}{SUFFIX[mode]}": mean over sets}``; NaN when ``sets`` is empty.
    """
    out: dict[str, float] = {}
    for name, key in zip(names, names if keys is None else keys, strict=True):
        values = [one[key] for one in sets]
        out[f"{prefix}_{name}{SUFFIX[mode]}"] = (float(np.mean(values)) if values
                                                  else float("nan"))
    return out


def count_matrix_features(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray,
                          n_voxels: int) -> dict[str, float]:
    """Compute the statistics of a grey level x count matrix from its non-zero cells.

    The GLSZM (column = zone size), the GLDZM (column = zone distance) and the NGLDM
    (column = dependence count) share these sums.

    Parameters
    ----------
    rows : ndarray of int, shape (K,)
        Grey level ``i >= 1`` of each cell.
    cols : ndarray of int, shape (K,)
        Column value ``j >= 1`` of each cell. The pairs ``(i, j)`` must be distinct.
    counts : ndarray, shape (K,)
        Cell counts ``s_ij > 0``.
    n_voxels : int
        Number of voxels ``N_v`` the matrix was built from.

    Returns
    -------
    dict
        Keys of :data:`STATISTICS`. With ``N_s = sum s_ij`` and ``p_ij = s_ij / N_s``:
        emphases ``sum p_ij w(i, j)`` with weights ``1/j^2``, ``j^2``, ``1/i^2``, ``i^2`` and
        their products; grey and column non-uniformities ``sum_i s_i.^2 / N_s`` and
        ``sum_j s_.j^2 / N_s`` (normalised: divided by ``N_s`` once more); percentage
        ``N_s / N_v``; variances ``sum p_ij (i - mu_i)^2`` and ``sum p_ij (j - mu_j)^2``;
        entropy ``-sum p_ij log2 p_ij``; energy ``sum p_ij^2``.
    """
    counts = np.asarray(counts, dtype=float)
    i = np.asarray(rows, dtype=float)
    j = np.asarray(cols, dtype=float)
    n_s = counts.sum()
    i2, j2 = i * i, j * j
    grey_margin = np.bincount(np.asarray(rows, dtype=np.int64), weights=counts)
    col_margin = np.bincount(np.asarray(cols, dtype=np.int64), weights=counts)
    # Means from integer-valued sums stay exact, so a constant column has variance 0.
    mu_i = np.sum(counts * i) / n_s
    mu_j = np.sum(counts * j) / n_s
    p = counts / n_s
    values = (
        np.sum(counts / j2) / n_s,
        np.sum(counts * j2) / n_s,
        np.sum(counts / i2) / n_s,
        np.sum(counts * i2) / n_s,
        np.sum(counts / (i2 * j2)) / n_s,
        np.sum(counts * i2 / j2) / n_s,
        np.sum(counts * j2 / i2) / n_s,
        np.sum(counts * i2 * j2) / n_s,
        np.sum(grey_margin**2) / n_s,
        np.sum(grey_margin**2) / n_s**2,
        np.sum(col_margin**2) / n_s,
        np.sum(col_margin**2) / n_s**2,
        n_s / n_voxels,
        np.sum(counts * (i - mu_i) ** 2) / n_s,
        np.sum(counts * (j - mu_j) ** 2) / n_s,
        -np.sum(p * np.log2(p)),
        np.sum(p * p),
    )
    return {name: float(v) for name, v in zip(STATISTICS, values, strict=True)}


def _cropped(roi: ROI) -> tuple[np.ndarray, np.ndarray, int]:
    """Grey levels and morphological mask cut to the bounding box of both masks, with one
    layer of background around (the image border counts as outside), and the index of the
    box's first slice."""
    either = roi.intensity_mask | roi.morph_mask
    box = ndimage.find_objects(either.astype(np.int8))[0]
    levels = np.pad(roi.levels[box], 1)
    morph = np.pad(roi.morph_mask[box], 1)
    return levels, morph, box[0].start - 1


def _connectivity(mode: str) -> np.ndarray:
    """Zone connectivity: 26 neighbours in 3D, 8 in-plane neighbours otherwise."""
    if mode == "3D":
        return np.ones((3, 3, 3), dtype=bool)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    return structure


def _distance_map(morph: np.ndarray, mode: str) -> np.ndarray:
    """City-block distance of each mask voxel to the nearest voxel outside (edge voxels 1),
    in-plane for 2D and 2.5D, with the 6-neighbourhood in 3D."""
    if mode == "3D":
        metric = ndimage.generate_binary_structure(3, 1)
    else:
        metric = np.zeros((3, 3, 3), dtype=bool)
        metric[1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.distance_transform_cdt(morph, metric=metric)


def zone_table(roi: ROI, mode: str = "3D") -> dict[str, np.ndarray]:
    """Every zone of the ROI with its grey level, size, distance and slice.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.
    mode : {"2D", "2.5D", "3D"}
        ``"2D"`` and ``"2.5D"`` label 8-connected zones per slice, ``"3D"`` 26-connected
        zones in the volume.

    Returns
    -------
    dict of ndarray, each of shape (N_s,)
        ``"level"`` (grey level), ``"size"`` (voxels), ``"distance"`` (minimum over the
        zone's voxels of the city-block distance to the edge of the morphological mask, the
        edge voxel being 1) and ``"slice"`` (index along axis 0 of a voxel of the zone).
    """
    check_mode(mode)
    levels, morph, first_slice = _cropped(roi)
    structure = _connectivity(mode)
    labels = np.zeros(levels.shape, dtype=np.int64)
    zone_levels = []
    n_zones = 0
    for grey in np.unique(levels[levels > 0]):
        lab, n = ndimage.label(levels == grey, structure=structure)
        inside = lab > 0
        labels[inside] = lab[inside] + n_zones
        zone_levels.append(np.full(n, grey, dtype=np.int64))
        n_zones += n
    flat = labels.ravel()
    voxels = np.flatnonzero(flat)
    zone = flat[voxels] - 1
    size = np.bincount(zone, minlength=n_zones)
    voxel_distance = _distance_map(morph | (levels > 0), mode).ravel()[voxels]
    distance = np.full(n_zones, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(distance, zone, voxel_distance.astype(np.int64))
    slices = np.empty(n_zones, dtype=np.int64)
    slices[zone] = voxels // (levels.shape[1] * levels.shape[2]) + first_slice
    level = np.concatenate(zone_levels) if zone_levels else np.zeros(0, dtype=np.int64)
    return {"level": level, "size": size, "distance": distance, "slice": slices}


def _dense(table: dict[str, np.ndarray], column: str, roi: ROI, mode: str) -> np.ndarray:
    """Count zones into a dense matrix, one per slice for 2D."""
    n_cols = int(table[column].max()) if table[column].size else 0
    rows = table["level"] - 1
    cols = table[column] - 1
    if mode == "2D":
        return dense_counts(rows, cols, roi.n_levels, n_cols, slices=table["slice"],
                            n_slices=roi.levels.shape[0])
    return dense_counts(rows, cols, roi.n_levels, n_cols)


def glszm(roi: ROI, mode: str = "3D") -> np.ndarray:
    """Grey level size zone matrix.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.
    mode : {"2D", "2.5D", "3D"}

    Returns
    -------
    ndarray of float
        ``s[i - 1, j - 1]`` = number of zones of grey level ``i`` and size ``j`` voxels,
        shape ``(N_g, N_z)`` with ``N_z`` the largest zone size; for ``"2D"`` one matrix per
        slice, shape ``(Z, N_g, N_z)`` (all-zero for slices without ROI voxels). The
        ``"2.5D"`` matrix is the sum of the per-slice matrices.
    """
    check_mode(mode)
    return _dense(zone_table(roi, mode), "size", roi, mode)


def gldzm(roi: ROI, mode: str = "3D") -> np.ndarray:
    """Grey level distance zone matrix.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.
    mode : {"2D", "2.5D", "3D"}

    Returns
    -------
    ndarray of float
        ``s[i - 1, d - 1]`` = number of zones of grey level ``i`` whose smallest city-block
        distance to the ROI edge is ``d`` (edge voxels have ``d = 1``; in-plane for 2D and
        2.5D, 6-neighbourhood in 3D; measured on the morphological mask), shape
        ``(N_g, N_d)``; for ``"2D"`` shape ``(Z, N_g, N_d)``, one matrix per slice.
    """
    check_mode(mode)
    return _dense(zone_table(roi, mode), "distance", roi, mode)


def _zone_statistics(level: np.ndarray, column: np.ndarray, group: np.ndarray,
                     n_voxels: np.ndarray) -> list[dict[str, float]]:
    """Statistics of the matrices counting zones by (level, column value), one matrix per
    value of ``group`` (``0 .. len(n_voxels) - 1``; groups without zones are skipped)."""
    n_levels = int(level.max()) + 1
    n_cols = int(column.max()) + 1
    key = (group * n_levels + level) * n_cols + column
    cells, counts = np.unique(key, return_counts=True)
    cell_group, rest = np.divmod(cells, n_levels * n_cols)
    cell_level, cell_col = np.divmod(rest, n_cols)
    bounds = np.searchsorted(cell_group, np.arange(len(n_voxels) + 1))
    return [count_matrix_features(cell_level[a:b], cell_col[a:b], counts[a:b], int(n_voxels[g]))
            for g, (a, b) in enumerate(itertools.pairwise(bounds)) if b > a]


def _family(tables: dict[str, dict[str, np.ndarray]], column: str, roi: ROI, prefix: str,
            names: tuple[str, ...]) -> dict[str, float]:
    """One zone family's tags for the three aggregations."""
    out: dict[str, float] = {}
    for mode in MODES:
        table = tables["3D" if mode == "3D" else "2D"]
        if mode == "2D":
            sets = _zone_statistics(table["level"], table[column], table["slice"],
                                    roi.intensity_mask.sum(axis=(1, 2)))
        else:
            sets = _zone_statistics(table["level"], table[column],
                                    np.zeros_like(table["level"]),
                                    np.array([roi.intensity_mask.sum()]))
        out.update(mode_tags(prefix, names, sets, mode, STATISTICS[:len(names)]))
    return out


def features(roi: ROI) -> dict[str, float]:
    """GLSZM (``szm_*``) and GLDZM (``dzm_*``) features, 2D, 2.5D and 3D.

    Parameters
    ----------
    roi : ROI
        Grey levels and masks to read.

    Returns
    -------
    dict
        Tag -> value for 16 GLSZM and 16 GLDZM features in each aggregation: small/large
        zone (distance) emphasis, low/high grey level zone emphasis and their four products,
        grey level and zone size (distance) non-uniformity and their normalised forms, zone
        percentage, grey level and zone size (distance) variance, zone size (distance)
        entropy (log2). See :func:`count_matrix_features` for the formulas.
    """
    tables = {"2D": zone_table(roi, "2D"), "3D": zone_table(roi, "3D")}
    return {**_family(tables, "size", roi, "szm", GLSZM_NAMES),
            **_family(tables, "distance", roi, "dzm", GLDZM_NAMES)}
