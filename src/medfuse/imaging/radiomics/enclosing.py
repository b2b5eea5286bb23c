"""Shapes that enclose a point set, for the morphological densities: the convex hull, the
oriented minimum bounding box, the minimum volume enclosing ellipsoid and the surface area
of an ellipsoid (all in mm, mm^2, mm^3; see :mod:`.morphology` for the approximations)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

MVEE_TOLERANCE = 1e-4
"""Relative stopping tolerance of the enclosing-ellipsoid iterations (on ``M / (d + 1)``)."""


def convex_hull(points: np.ndarray) -> ConvexHull | None:
    """Convex hull of 3D points, or None when they are coplanar or too few."""
    try:
        return ConvexHull(points)
    except (QhullError, ValueError):
        return None


def ellipsoid_surface_area(a: float, b: float, c: float, n_terms: int = 20) -> float:
    """Surface area of an ellipsoid with semi-axes ``a >= b >= c``, as the standard defines it.

    ``A = 4 pi a b sum_{v=0}^{n_terms} (alpha beta)^v / (1 - 4 v^2) P_v(x)`` with
    ``alpha = sqrt(1 - b^2 / a^2)``, ``beta = sqrt(1 - c^2 / a^2)``,
    ``x = (alpha^2 + beta^2) / (2 alpha beta)`` and ``P_v`` the Legendre polynomials. The
    products ``t_v = (alpha beta)^v P_v(x)`` follow the three-term recurrence
    ``t_{v+1} = ((2v + 1) s t_v - v q t_{v-1}) / (v + 1)``, ``s = (alpha^2 + beta^2) / 2``,
    ``q = alpha^2 beta^2``, which stays finite when ``alpha beta -> 0``.

    Parameters
    ----------
    a, b, c : float
        Semi-axis lengths, mm (sorted internally, largest first).
    n_terms : int
        Highest order ``v`` of the series (20 in the standard).

    Returns
    -------
    float
        mm^2; ``4 pi r^2`` for a sphere, 0 if any semi-axis is 0.

    Notes
    -----
    This series reproduces the reference values of the approximate enclosing ellipsoid;
    it coincides with the exact surface area only for spheres.
    """
    a, b, c = sorted((float(a), float(b), float(c)), reverse=True)
    if c <= 0:
        return 0.0
    alpha2 = 1.0 - (b / a) ** 2
    beta2 = 1.0 - (c / a) ** 2
    s = 0.5 * (alpha2 + beta2)
    q = alpha2 * beta2
    previous, current = 1.0, s
    total = 1.0 + (-s / 3.0 if n_terms >= 1 else 0.0)
    for v in range(1, n_terms):
        previous, current = current, ((2 * v + 1) * s * current - v * q * previous) / (v + 1)
        total += current / (1.0 - 4.0 * (v + 1) ** 2)
    return float(4.0 * np.pi * a * b * total)


def min_volume_enclosing_ellipsoid(points: np.ndarray, tol: float = MVEE_TOLERANCE,
                                   max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Minimum volume enclosing ellipsoid by Khachiyan's algorithm with away steps.

    The points are lifted to ``q_i = (p_i, 1)`` and weighted by ``u`` (uniform at start).
    With ``X = sum u_i q_i q_i^T`` and ``M_i = q_i^T X^-1 q_i`` (``sum u_i M_i = d + 1``,
    ``d = 3``), Khachiyan's step moves weight to the point ``j`` of largest ``M_j`` by
    ``tau = (M_j - d - 1) / ((d + 1)(M_j - 1))``: ``u <- (1 - tau) u + tau e_j``. The away
    step takes weight off the weighted point ``k`` of smallest ``M_k`` with the same
    formula, ``tau`` clipped at ``-u_k / (1 - u_k)``. Iterations stop once
    ``M_j <= (1 + tol)(d + 1)`` and ``M_k >= (1 - tol)(d + 1)``. The ellipsoid
    ``(p - c)^T A (p - c) <= 1`` has ``c = sum u_i p_i`` and
    ``A = (sum u_i p_i p_i^T - c c^T)^-1 / d``, scaled to enclose every point, so its
    volume exceeds the minimum by a factor of at most about ``(1 + tol)^(d / 2)``.

    Parameters
    ----------
    points : ndarray of float, shape (N, 3)
        mm; the convex hull vertices suffice.
    tol : float
        Relative tolerance on ``M`` (see above).
    max_iter : int
        Iteration cap.

    Returns
    -------
    centre : ndarray of float, shape (3,)
        mm.
    semi_axes : ndarray of float, shape (3,)
        Semi-axis lengths, largest first, mm.
    """
    p = np.asarray(points, dtype=float)
    n, d = p.shape
    q = np.vstack([p.T, np.ones(n)])
    u = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        m = np.einsum("ij,ij->j", q, np.linalg.solve((q * u) @ q.T, q))
        j = int(np.argmax(m))
        weighted = np.flatnonzero(u > 0)
        k = int(weighted[np.argmin(m[weighted])])
        grow = m[j] / (d + 1.0) - 1.0
        shrink = 1.0 - m[k] / (d + 1.0)
        if max(grow, shrink) <= tol:
            break
        if grow >= shrink:
            tau = (m[j] - d - 1.0) / ((d + 1.0) * (m[j] - 1.0))
            target = j
        else:
            floor = -u[k] / max(1.0 - u[k], 1e-12)
            tau = floor if m[k] <= 1.0 else max(
                floor, (m[k] - d - 1.0) / ((d + 1.0) * (m[k] - 1.0)))
            target = k
        u = (1.0 - tau) * u
        u[target] += tau
        u[u < 0] = 0.0
    centre = p.T @ u
    shape = np.linalg.inv((p.T * u) @ p - np.outer(centre, centre)) / d
    offsets = p - centre
    reach = float(np.einsum("ij,jk,ik->i", offsets, shape, offsets).max())
    if reach > 1.0:
        shape = shape / reach
    eig = np.clip(np.linalg.eigvalsh(shape), 1e-300, None)
    return centre, np.sort(1.0 / np.sqrt(eig))[::-1]


def _min_rectangle(points2d: np.ndarray) -> tuple[float, float, float]:
    """Minimum-area enclosing rectangle of 2D points by rotating calipers.

    Returns ``(area, side_1, side_2)``; every edge direction of the 2D convex hull is a
    candidate orientation.
    """
    try:
        ring = points2d[ConvexHull(points2d).vertices]
    except (QhullError, ValueError):
        span = np.ptp(points2d, axis=0)
        return float(span[0] * span[1]), float(span[0]), float(span[1])
    edges = np.roll(ring, -1, axis=0) - ring
    lengths = np.linalg.norm(edges, axis=1)
    keep = lengths > 0
    ex = edges[keep] / lengths[keep, None]
    along = ring @ ex.T
    across = ring @ np.stack([-ex[:, 1], ex[:, 0]], axis=1).T
    w = along.max(axis=0) - along.min(axis=0)
    h = across.max(axis=0) - across.min(axis=0)
    k = int(np.argmin(w * h))
    return float(w[k] * h[k]), float(w[k]), float(h[k])


def _box_in_frame(points: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Side lengths of the box around points along orthonormal ``axes`` (rows)."""
    proj = points @ axes.T
    return proj.max(axis=0) - proj.min(axis=0)


def oriented_min_bounding_box(points: np.ndarray) -> np.ndarray:
    """Side lengths of an (approximate) oriented minimum-volume bounding box.

    Each distinct facet normal ``n`` of the convex hull is tried as one box axis: the hull
    vertices are projected on the plane orthogonal to ``n`` and enclosed in their
    minimum-area rectangle (rotating calipers); the box volume is that area times the
    extent along ``n``. The axis-aligned and principal-axes boxes are candidates too, and
    the smallest volume wins (an upper bound on the exact optimum).

    Parameters
    ----------
    points : ndarray of float, shape (N, 3)
        mm.

    Returns
    -------
    ndarray of float, shape (3,)
        Side lengths, mm.
    """
    points = np.asarray(points, dtype=float)
    candidates = [np.ptp(points, axis=0)]
    centred = points - points.mean(axis=0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    candidates.append(_box_in_frame(points, vecs.T))
    hull = convex_hull(points)
    if hull is not None:
        verts = points[hull.vertices]
        normals = np.unique(np.round(hull.equations[:, :3], 9), axis=0)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        for n in normals:
            helper = np.eye(3)[int(np.argmin(np.abs(n)))]
            e1 = np.cross(n, helper)
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(n, e1)
            height = np.ptp(verts @ n)
            _, w, h = _min_rectangle(np.stack([verts @ e1, verts @ e2], axis=1))
            candidates.append(np.array([height, w, h]))
    volumes = [float(np.prod(c)) for c in candidates]
    return np.asarray(candidates[int(np.argmin(volumes))], dtype=float)


def box_area(sides: np.ndarray) -> float:
    """Surface area of a box, ``2 (ab + bc + ca)``, mm^2."""
    a, b, c = sides
    return float(2.0 * (a * b + b * c + c * a))
