"""DESeq2's variance stabilizing transformation for a dispersion trend without closed form.

With a local (locfit) trend ``alpha(mu)``, DESeq2's ``getVarianceStabilizedData`` integrates
``1 / sqrt(alpha(x) x^2 + x * mean(1 / size factors))`` numerically: trapezoids on 999 points
evenly spaced in ``asinh`` between 0 and the largest normalised count, a cubic spline (R's
``splinefun``, Forsythe-Malcolm-Moler ends) of the running integral against ``asinh`` of the
trapezoids' midpoints, then the affine map that sends the 95% and 99.9% quantiles of the
genes' mean normalised counts to their log2. :class:`LocalVST` reproduces those steps (R's
arithmetic order where it matters) so that the training output equals R's; counts of new
subjects above the training maximum continue the same integral beyond the spline's range
(trapezoids at the same ``asinh`` spacing), so each subject's output depends on it alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_POINTS = 1000


def _fmm_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cubic interpolating spline with Forsythe-Malcolm-Moler end conditions (the third
    derivative at each end matches the cubic through the four nearest points), as R's
    ``spline(method = "fmm")``.

    Returns ``b, c, d`` with the piece from knot ``i`` equal to
    ``y[i] + t (b[i] + t (c[i] + t d[i]))``, ``t = u - x[i]``; the last knot's coefficients
    continue the last piece.
    """
    n = x.size
    if n < 3:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return np.full(n, slope), np.zeros(n), np.zeros(n)
    h = np.diff(x)
    slopes = np.diff(y) / h
    diag = np.empty(n)
    rhs = np.empty(n)
    diag[1:-1] = 2.0 * (h[:-1] + h[1:])
    rhs[1:-1] = slopes[1:] - slopes[:-1]
    diag[0], diag[-1] = -h[0], -h[-1]
    rhs[0] = rhs[-1] = 0.0
    if n > 3:
        first = rhs[2] / (x[3] - x[1]) - rhs[1] / (x[2] - x[0])
        last = rhs[-2] / (x[-1] - x[-3]) - rhs[-3] / (x[-2] - x[-4])
        rhs[0] = first * h[0] * h[0] / (x[3] - x[0])
        rhs[-1] = -last * h[-1] * h[-1] / (x[-1] - x[-4])
    # tridiagonal solve, one element after the other (the order fixes the rounding)
    b = diag.tolist()
    c = rhs.tolist()
    off = h.tolist()
    for i in range(1, n):
        t = off[i - 1] / b[i - 1]
        b[i] = b[i] - t * off[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[n - 1] = c[n - 1] / b[n - 1]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - off[i] * c[i + 1]) / b[i]
    sigma = np.asarray(c)
    coef_b = np.empty(n)
    coef_d = np.empty(n)
    coef_b[-1] = slopes[-1] + h[-1] * (sigma[-2] + 2.0 * sigma[-1])
    coef_b[:-1] = slopes - h * (sigma[1:] + 2.0 * sigma[:-1])
    coef_d[:-1] = (sigma[1:] - sigma[:-1]) / h
    coef_d[-1] = coef_d[-2]
    return coef_b, 3.0 * sigma, coef_d


def _quantile7(values: np.ndarray, prob: float) -> float:
    """R's default (type 7) sample quantile, with R's interpolation arithmetic."""
    x = np.sort(values)
    index = 1 + (x.size - 1) * prob
    lo = int(np.floor(index))
    hi = int(np.ceil(index))
    q = x[lo - 1]
    if index > lo and x[hi - 1] != q:
        h = index - lo
        q = (1 - h) * q + h * x[hi - 1]
    return float(q)


@dataclass(frozen=True)
class LocalVST:
    """The fitted map of normalised counts to the variance-stabilised log2 scale.

    Attributes
    ----------
    knots, integral : ndarray (999,)
        ``asinh`` of the trapezoid midpoints and the running integral there.
    spline_b, spline_c, spline_d : ndarray (999,)
        Spline coefficients (see :func:`_fmm_coefficients`).
    eta, xi : float
        Slope and intercept of the log2 calibration.
    top : float
        Largest training normalised count (the end of the integration grid).
    step : float
        Grid spacing in ``asinh``.
    inv_size_factor : float
        Mean of ``1 / size factor`` over the training subjects (the Poisson part).
    trend : object
        The log-scale dispersion trend (``predict(log mean) -> log dispersion``).
    """

    knots: np.ndarray
    integral: np.ndarray
    spline_b: np.ndarray
    spline_c: np.ndarray
    spline_d: np.ndarray
    eta: float
    xi: float
    top: float
    step: float
    inv_size_factor: float
    trend: object

    def _integrand(self, x: np.ndarray) -> np.ndarray:
        disp = np.exp(self.trend.predict(np.log(x)))
        return 1 / np.sqrt(disp * x**2 + self.inv_size_factor * x)

    def _spline(self, u: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(self.knots, u, side="right") - 1, 0, self.knots.size - 1)
        t = u - self.knots[i]
        return self.integral[i] + t * (self.spline_b[i] + t * (self.spline_c[i]
                                                               + t * self.spline_d[i]))

    def _beyond(self, q: np.ndarray) -> np.ndarray:
        """Running integral past ``top``: trapezoids on the continued ``asinh`` lattice."""
        base = float(self._spline(np.asarray([np.arcsinh(self.top)]))[0])
        start = np.arcsinh(self.top)
        n_steps = int(np.floor((np.arcsinh(q.max()) - start) / self.step)) + 1
        lattice = np.sinh(start + self.step * np.arange(n_steps + 1))
        f = self._integrand(lattice)
        cumulative = np.r_[0.0, np.cumsum(np.diff(lattice) * (f[1:] + f[:-1]) / 2)]
        j = np.clip(np.searchsorted(lattice, q, side="right") - 1, 0, n_steps)
        partial = (q - lattice[j]) * (self._integrand(q) + f[j]) / 2
        return base + cumulative[j] + partial

    def __call__(self, q: np.ndarray) -> np.ndarray:
        """Variance-stabilised values of normalised counts ``q`` (any shape)."""
        q = np.asarray(q, dtype=float)
        out = self._spline(np.arcsinh(q))
        far = q > self.top
        if far.any():
            out = out.copy()
            out[far] = self._beyond(q[far])
        return self.eta * out + self.xi


def fit_local_vst(normalised: np.ndarray, size_factors: np.ndarray, trend) -> LocalVST:
    """R's ``getVarianceStabilizedData`` for a local trend, on the training data.

    Parameters
    ----------
    normalised : ndarray (n_genes, n_samples)
        Training counts divided by their size factors (all genes, all-zero ones included).
    size_factors : ndarray (n_samples,)
    trend : object with ``predict(log mean) -> log dispersion``
    """
    top = float(normalised.max())
    if not top > 0:
        raise ValueError("VST needs at least one positive count.")
    n = GRID_POINTS
    stop = float(np.arcsinh(top))
    step = stop / (n - 1)
    grid = np.sinh(np.r_[0.0, step * np.arange(1, n - 1), stop])[1:]
    inv_sf = float(np.mean(1 / size_factors))
    disp = np.exp(trend.predict(np.log(grid)))
    integrand = 1 / np.sqrt(disp * grid**2 + inv_sf * grid)
    integral = np.cumsum((grid[1:] - grid[:-1]) * (integrand[1:] + integrand[:-1]) / 2)
    knots = np.arcsinh((grid[1:] + grid[:-1]) / 2)
    b, c, d = _fmm_coefficients(knots, integral)
    partial = LocalVST(knots, integral, b, c, d, 1.0, 0.0, top, step, inv_sf, trend)
    gene_means = normalised.mean(axis=1)
    h1 = _quantile7(gene_means, 0.95)
    h2 = _quantile7(gene_means, 0.999)
    s1, s2 = partial._spline(np.arcsinh(np.array([h1, h2])))
    eta = (np.log2(h2) - np.log2(h1)) / (s2 - s1)
    xi = np.log2(h1) - eta * s1
    return LocalVST(knots, integral, b, c, d, float(eta), float(xi), top, step, inv_sf, trend)
