"""Neighbour directions and the six IBSI-1 ways to aggregate directional texture matrices.

An offset is a ``(dz, dy, dx)`` step in voxels (axis 0 is the slice axis). Each direction is
listed once, with its first non-zero component positive: the opposite step describes the
same direction. The four in-plane offsets come first in :data:`SPATIAL_OFFSETS`, so the
3D matrix of an in-plane direction is the sum of its per-slice matrices.

The six aggregations and the suffixes of their feature tags:

``2D_avg``
    one matrix per slice and in-plane direction, features averaged over all of them;
``2D_comb``
    per slice, the four in-plane matrices merged, features averaged over slices;
``2_5D_avg``
    per in-plane direction, the matrices merged over slices, features averaged over
    directions;
``2_5D_comb``
    every per-slice, per-direction matrix merged into one;
``3D_avg``
    one matrix per 3D direction (13 at Chebyshev distance 1), features averaged;
``3D_comb``
    the 13 direction matrices merged into one.

Empty matrices (a direction in which no pair or run exists, e.g. a slice one voxel wide)
have no features and are left out of the averages.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["AGGREGATIONS", "IN_PLANE_OFFSETS", "SPATIAL_OFFSETS", "THROUGH_PLANE_OFFSETS",
           "aggregate", "crop_to_roi", "direction_matrices", "occupied_slices"]

Offset = tuple[int, int, int]

#: The four in-plane directions at Chebyshev distance 1, ``(dz, dy, dx)``.
IN_PLANE_OFFSETS: tuple[Offset, ...] = ((0, 0, 1), (0, 1, -1), (0, 1, 0), (0, 1, 1))

#: The thirteen 3D directions at Chebyshev distance 1, the in-plane ones first.
SPATIAL_OFFSETS: tuple[Offset, ...] = IN_PLANE_OFFSETS + tuple(
    (1, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))

#: The nine 3D directions that leave the slice, in their :data:`SPATIAL_OFFSETS` order.
THROUGH_PLANE_OFFSETS: tuple[Offset, ...] = SPATIAL_OFFSETS[len(IN_PLANE_OFFSETS):]

#: Tag suffixes of the six aggregations, in the order :func:`aggregate` returns them.
AGGREGATIONS: tuple[str, ...] = ("2D_avg", "2D_comb", "2_5D_avg", "2_5D_comb", "3D_avg",
                                 "3D_comb")

MatrixFeatures = Callable[[np.ndarray], dict[str, np.ndarray]]


def crop_to_roi(levels: np.ndarray) -> np.ndarray:
    """The smallest box of ``levels`` that holds every voxel of the ROI.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``>= 1`` inside the ROI, 0 outside.

    Returns
    -------
    ndarray of int, shape (Z', Y', X')
        The bounding box of the voxels with ``levels > 0`` (a view, not a copy).
    """
    inside = levels > 0
    if not inside.any():
        raise ValueError("The ROI has no voxel with a grey level >= 1.")
    box = []
    for axis in range(levels.ndim):
        other = tuple(a for a in range(levels.ndim) if a != axis)
        hit = np.flatnonzero(inside.any(axis=other))
        box.append(slice(hit[0], hit[-1] + 1))
    return levels[tuple(box)]


def occupied_slices(levels: np.ndarray) -> np.ndarray:
    """Indices of the slices (along axis 0) that hold at least one ROI voxel.

    Parameters
    ----------
    levels : ndarray of int, shape (Z, Y, X)
        Grey levels ``>= 1`` inside the ROI, 0 outside.

    Returns
    -------
    ndarray of int, shape (S,)
        Sorted slice indices ``k`` with ``(levels[k] > 0).any()``.
    """
    return np.flatnonzero((levels > 0).any(axis=(1, 2)))


def direction_matrices(slice_matrices: np.ndarray,
                       through_plane: Sequence[np.ndarray]) -> np.ndarray:
    """The count matrices of the volume for the 13 directions of :data:`SPATIAL_OFFSETS`.

    An in-plane direction's matrix of the volume is the sum of its per-slice matrices, so
    only the directions that leave the slice need counting on the volume.

    Parameters
    ----------
    slice_matrices : ndarray, shape (S, 4, A, B)
        Count matrices per occupied slice and in-plane direction (:data:`IN_PLANE_OFFSETS`).
    through_plane : sequence of ndarray, each of shape (A, B)
        Count matrices of the volume for the nine :data:`THROUGH_PLANE_OFFSETS`, in order.

    Returns
    -------
    ndarray, shape (13, A, B)
        The in-plane matrices summed over slices, then ``through_plane``.
    """
    if len(through_plane) != len(THROUGH_PLANE_OFFSETS):
        raise ValueError(f"expected {len(THROUGH_PLANE_OFFSETS)} through-plane matrices, not "
                         f"{len(through_plane)}.")
    return np.concatenate([slice_matrices.sum(axis=0), np.stack(list(through_plane))])


def _averaged(matrices: np.ndarray, matrix_features: MatrixFeatures) -> dict[str, float]:
    """Features of each non-empty matrix of a stack ``(M, A, B)``, averaged over the stack."""
    kept = matrices[matrices.sum(axis=(1, 2)) > 0]
    values = matrix_features(kept)
    with warnings.catch_warnings():
        # no matrix left, or a feature undefined for every matrix: the mean is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return {name: float(np.nanmean(v)) if v.size else float("nan")
                for name, v in values.items()}


def aggregate(slice_matrices: np.ndarray, direction_matrices: np.ndarray,
              matrix_features: MatrixFeatures, prefix: str) -> dict[str, float]:
    """The features of a texture family under the six IBSI-1 aggregations.

    Parameters
    ----------
    slice_matrices : ndarray, shape (S, 4, A, B)
        Count matrices per occupied slice and in-plane direction (:data:`IN_PLANE_OFFSETS`).
    direction_matrices : ndarray, shape (13, A, B)
        Count matrices of the whole volume per 3D direction (:data:`SPATIAL_OFFSETS`).
    matrix_features : callable
        Maps a stack of count matrices ``(M, A, B)`` to ``{name: values of shape (M,)}``.
    prefix : str
        Family prefix of the tags, e.g. ``"cm"``.

    Returns
    -------
    dict of str to float
        ``{f"{prefix}_{name}_{suffix}": value}`` for every feature name and every suffix
        of :data:`AGGREGATIONS`.
    """
    a, b = slice_matrices.shape[-2:]
    stacks = {
        "2D_avg": slice_matrices.reshape(-1, a, b),
        "2D_comb": slice_matrices.sum(axis=1),
        "2_5D_avg": slice_matrices.sum(axis=0),
        "2_5D_comb": slice_matrices.sum(axis=(0, 1))[None],
        "3D_avg": direction_matrices,
        "3D_comb": direction_matrices.sum(axis=0)[None],
    }
    out: dict[str, float] = {}
    for suffix in AGGREGATIONS:
        for name, value in _averaged(stacks[suffix], matrix_features).items():
            out[f"{prefix}_{name}_{suffix}"] = value
    return out
