"""One-dimensional local quadratic regression with locfit's default settings.

DESeq2's ``localDispersionFit`` calls ``locfit(logDisps ~ logMeans, weights = means)`` with
every option at its default: a local quadratic polynomial, tricube weights over the nearest
70% of the points, Gaussian (least squares) local likelihood, evaluated on locfit's adaptive
tree and interpolated between the tree's vertices by cubic Hermite polynomials. This module
reimplements that algorithm (as Loader 1999, *Local Regression and Likelihood*, and the
locfit package describe it), with locfit's order of operations where the rounding shows, so
that the fitted trend agrees with R's to the last bits:

- **global component**: one quadratic in ``x - center`` (``center`` the prior-weighted mean)
  fitted to all points at their prior weights; the vertices store the local fit minus it and
  prediction adds it back (so extrapolation is quadratic, not linear).
- **fit at a point** ``x0``: the bandwidth ``h`` is the distance to the ``floor(0.7 n)``-th
  nearest point; each point gets the weight ``prior * (1 - (|x - x0| / h)^3)^3`` (points at
  distance ``h`` or more get none); the coefficients of ``1, dx, dx^2 / 2`` (``dx = x - x0``)
  come from one Newton step from the weighted mean, the normal equations being solved in the
  eigenbasis (Jacobi rotations) of their correlation-scaled form, eigen-directions at or
  below ``1e-8`` of the largest eigenvalue left uninverted. Sums run point after point in
  locfit's visiting order. The vertex keeps the value, the slope and ``h``.
- **tree**: start with vertices at the smallest and largest ``x``; split a cell at its midpoint
  (and fit there) while its length exceeds ``0.8`` times the smaller bandwidth of its two
  ends. At most 19 vertices (locfit's allocation for these settings; R stops there too).
- **prediction**: cubic Hermite interpolation of value and slope across the cell holding the
  point; beyond the outermost vertices, the line through the end vertex with its slope (all
  of it on the local-minus-global part).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEIGHBOUR_FRACTION = 0.7
CUT = 0.8
MAX_VERTICES = 19
EIGEN_TOL = 1e-8


@dataclass(frozen=True)
class LocalQuadraticFit:
    """A fitted locfit tree.

    locfit first fits one global quadratic (the "parametric component", every point at its
    prior weight, centred on the weighted mean ``center``); the vertices store the local fit
    *minus* that quadratic, which is interpolated and added back at prediction.

    Attributes
    ----------
    vertices : ndarray (n_vertices,)
        Fitting points, increasing (the tree's cell boundaries).
    values, slopes : ndarray (n_vertices,)
        Local polynomial's value and first derivative at each vertex, less the global
        quadratic's.
    bandwidths : ndarray (n_vertices,)
        Nearest-neighbour bandwidth used at each vertex.
    center : float
        Prior-weighted mean of ``x``.
    global_coef : ndarray (3,)
        Coefficients of ``1, dx, dx^2 / 2`` (``dx = x - center``) of the global quadratic.
    """

    vertices: np.ndarray
    values: np.ndarray
    slopes: np.ndarray
    bandwidths: np.ndarray
    center: float
    global_coef: np.ndarray

    def predict(self, x) -> np.ndarray:
        """Fitted trend at ``x``: the Hermite interpolant of the vertices (linear beyond the
        outermost ones) plus the global quadratic."""
        x = np.asarray(x, dtype=float)
        v = self.vertices
        cell = np.clip(np.searchsorted(v, x, side="right") - 1, 0, v.size - 2)
        left, right = v[cell], v[cell + 1]
        width = right - left
        t = (x - left) / width
        f0, f1 = self.values[cell], self.values[cell + 1]
        d0, d1 = self.slopes[cell], self.slopes[cell + 1]
        phi1 = t * t * (3 - 2 * t)
        phi0 = 1 - phi1
        phi2 = t * (1 - t) * (1 - t) * width
        phi3 = t * t * (t - 1) * width
        inside = phi0 * f0 + phi1 * f1 + phi2 * d0 + phi3 * d1
        below = f0 + t * width * d0
        above = f1 + (t - 1) * width * d1
        local = np.where(t < 0, below, np.where(t > 1, above, inside))
        return local + _quadratic(self.global_coef, x - self.center)


def _quadratic(coef: np.ndarray, dx):
    """``coef[0] + coef[1] dx + coef[2] dx^2 / 2``."""
    return coef[0] + coef[1] * dx + coef[2] * (dx * dx / 2)


def _bandwidth(distances: np.ndarray, k: int) -> float:
    """Distance to the k-th nearest point (0 when k < 1)."""
    if k < 1:
        return 0.0
    return float(np.partition(distances, k - 1)[k - 1])


def _jacobi_eigen(a: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, stopping
    when every off-diagonal ``a_ij^2 <= 1e-15 |a_ii a_jj|`` (locfit's criterion: what is left
    below it is treated as zero, which moves the solution by up to ~1e-8 relative, so the
    rotations are reproduced rather than replaced by an exact solver)."""
    p = len(a)
    vec = [[float(i == j) for j in range(p)] for i in range(p)]
    for _ in range(20):
        rotated = False
        for i in range(p):
            for j in range(i + 1, p):
                if a[i][j] * a[i][j] <= 1.0e-15 * abs(a[i][i] * a[j][j]):
                    continue
                c = (a[j][j] - a[i][i]) / 2
                s = -a[i][j]
                r = math.sqrt(c * c + s * s)
                c /= r
                s = math.sqrt((1 - c) / 2) * (1.0 if s > 0 else -1.0)
                c = math.sqrt((1 + c) / 2)
                for k in range(p):
                    u, v = a[i][k], a[j][k]
                    a[i][k], a[j][k] = u * c + v * s, v * c - u * s
                for k in range(p):
                    u, v = a[k][i], a[k][j]
                    a[k][i], a[k][j] = u * c + v * s, v * c - u * s
                a[i][j] = a[j][i] = 0.0
                for k in range(p):
                    u, v = vec[k][i], vec[k][j]
                    vec[k][i], vec[k][j] = u * c + v * s, v * c - u * s
                rotated = True
        if not rotated:
            break
    return [a[i][i] for i in range(p)], vec


def _running_sum(terms: np.ndarray) -> np.ndarray:
    """Sums along the first axis added one term after the other (locfit's order), not by
    numpy's pairwise summation: the solver below amplifies last-bit differences."""
    return np.cumsum(terms, axis=0)[-1]


def _weighted_quadratic(dx: np.ndarray, y: np.ndarray, kernel: np.ndarray,
                        prior: np.ndarray) -> np.ndarray:
    """Coefficients of ``1, dx, dx^2 / 2`` by least squares with weights
    ``kernel * prior``, computed as locfit does: one Newton step from the weighted mean,
    solved in the eigenbasis of the correlation-scaled normal equations (directions at or
    below ``EIGEN_TOL`` times the largest eigenvalue are left uninverted)."""
    start = float(_running_sum(kernel * (prior * y)) / _running_sum(kernel * prior))
    design = np.column_stack([np.ones(dx.size), dx, dx * dx / 2])
    score = prior * (y - start)
    gradient = _running_sum(design * kernel[:, None] * score[:, None])
    c = kernel * prior
    info = _running_sum((c[:, None, None] * design[:, :, None]) * design[:, None, :])
    p = info.shape[0]
    scale = [1 / math.sqrt(info[i, i]) if info[i, i] > 0 else 0.0 for i in range(p)]
    scaled = [[float(info[i, j]) * (scale[i] * scale[j]) for j in range(p)] for i in range(p)]
    eigval, vec = _jacobi_eigen(scaled)
    rhs = [float(gradient[i]) * scale[i] for i in range(p)]
    tol = EIGEN_TOL * max(eigval)
    proj = []
    for i in range(p):
        z = 0.0
        for j in range(p):
            z += vec[j][i] * rhs[j]
        proj.append(z / eigval[i] if eigval[i] > tol else z)
    coef = np.empty(p)
    for i in range(p):
        z = 0.0
        for j in range(p):
            z += vec[i][j] * proj[j]
        coef[i] = z * scale[i]
    coef[0] += start
    return coef


def _neighbour_order(x0: float, x: np.ndarray, weight: np.ndarray,
                     ordered: bool) -> np.ndarray:
    """Indices of the points with positive weight, in the order locfit visits them: by
    index, or, for increasing ``x``, leftwards from ``x0`` and then rightwards."""
    if not ordered:
        return np.flatnonzero(weight > 0)
    z = int(np.searchsorted(x, x0, side="right")) - 1        # last point at or left of x0
    left = np.arange(z, -1, -1)
    right = np.arange(z + 1, x.size)
    stop_l = np.flatnonzero(weight[left] <= 0)
    stop_r = np.flatnonzero(weight[right] <= 0)
    left = left[:stop_l[0]] if stop_l.size else left
    right = right[:stop_r[0]] if stop_r.size else right
    return np.concatenate([left, right])


def _fit_at(x0: float, x: np.ndarray, y: np.ndarray, prior: np.ndarray, k: int,
            ordered: bool) -> tuple[float, float, float]:
    """Local quadratic fit at ``x0``: (value, slope, bandwidth)."""
    dx = x - x0
    dist = np.abs(dx)
    h = _bandwidth(dist, k)
    if h > 0:
        u = np.minimum(dist / h, 1.0)
        u = 1 - u * u * u
        kernel = u * u * u
    else:
        kernel = (dist == 0).astype(float)
    use = _neighbour_order(x0, x, kernel * prior, ordered)
    if use.size == 0:
        raise ValueError(f"Local dispersion fit: no point has weight at log mean {x0:.6g}.")
    coef = _weighted_quadratic(dx[use], y[use], kernel[use], prior[use])
    return float(coef[0]), float(coef[1]), h


def local_quadratic_fit(x, y, prior_weights) -> LocalQuadraticFit:
    """Fit ``y ~ x`` with locfit's defaults (see the module docstring).

    Parameters
    ----------
    x, y : array-like (n,)
        Predictor and response (DESeq2: log means, log dispersions).
    prior_weights : array-like (n,)
        Observation weights (DESeq2: the means).

    Returns
    -------
    LocalQuadraticFit
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    prior = np.asarray(prior_weights, dtype=float)
    if x.size < 1:
        raise ValueError("Local dispersion fit needs at least one point.")
    center = float(_running_sum(x * prior) / _running_sum(prior))
    global_coef = _weighted_quadratic(x - center, y, np.ones(x.size), prior)
    ordered = bool(np.all(np.diff(x) >= 0))
    k = int(x.size * NEIGHBOUR_FRACTION + 1e-12)
    lo, hi = float(x.min()), float(x.max())
    points: list[float] = []
    fits: list[tuple[float, float, float]] = []

    def add(x0: float) -> int:
        if len(points) == MAX_VERTICES:
            raise ValueError("Local dispersion fit: the adaptive tree needs more than "
                             f"{MAX_VERTICES} vertices (locfit stops there too).")
        points.append(x0)
        fits.append(_fit_at(x0, x, y, prior, k, ordered))
        return len(points) - 1

    def grow(a: int, b: int) -> None:
        length = points[b] - points[a]
        h = [fits[a][2], fits[b][2]]
        positive = [v for v in h if v > 0]
        score = length / min(positive) if positive else 2 * length / (hi - lo)
        if CUT < score:
            mid = add((points[a] + points[b]) / 2)
            grow(a, mid)
            grow(mid, b)

    first, last = add(lo), add(hi)
    if hi > lo:
        grow(first, last)
    order = np.argsort(points, kind="stable")
    table = np.asarray(fits)[order]
    vertices = np.asarray(points)[order]
    if vertices.size == 2 and vertices[0] == vertices[1]:
        raise ValueError("Local dispersion fit needs at least two distinct mean values.")
    offset = vertices - center
    values = table[:, 0] - _quadratic(global_coef, offset)
    slopes = table[:, 1] - (global_coef[1] + global_coef[2] * offset)
    return LocalQuadraticFit(vertices, values, slopes, table[:, 2], center, global_coef)
