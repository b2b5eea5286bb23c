"""DESeq2's size factors, gene-wise dispersions and dispersion trend (intercept-only design).

Reimplemented from the published algorithm (Love, Huber & Anders 2014) so that
:class:`medfuse.preprocess.VST` reproduces R's ``varianceStabilizingTransformation(blind=TRUE)``
numerically: the same initial values, the same Armijo line search on log dispersion with the
Cox-Reid adjustment, the same grid refit of non-converged genes and the same iteratively
reweighted gamma GLM for the parametric trend ``alpha(mu) = asymptDisp + extraPois / mu``.
Arrays are genes x samples inside this module.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

MIN_DISP = 1e-8


def log_geo_means(counts: np.ndarray, kind: str = "ratio") -> np.ndarray:
    """Per-gene log geometric means (genes x samples input); ``-inf`` marks unusable genes.

    ``ratio``: mean of log counts (any zero -> -inf). ``poscounts``: DESeq2's geometric mean of
    the positive counts divided by the number of all samples (all-zero genes -> -inf).
    """
    with np.errstate(divide="ignore"):
        logs = np.log(counts)
    if kind == "ratio":
        return logs.mean(axis=1)
    if kind == "poscounts":
        positive = np.where(counts > 0, logs, 0.0).sum(axis=1) / counts.shape[1]
        return np.where((counts > 0).any(axis=1), positive, -np.inf)
    raise ValueError(f"size factor type must be 'ratio' or 'poscounts', got {kind!r}.")


def raw_size_factors(counts: np.ndarray, loggeo: np.ndarray) -> np.ndarray:
    """Median over usable genes of ``log(count) - log geometric mean``, exponentiated."""
    usable = np.isfinite(loggeo)
    if not usable.any():
        raise ValueError("Every gene has a zero count; use size factor type 'poscounts'.")
    sf = np.empty(counts.shape[1])
    with np.errstate(divide="ignore"):
        logs = np.log(counts)
    for j in range(counts.shape[1]):
        keep = usable & (counts[:, j] > 0)
        if not keep.any():
            raise ValueError(f"Sample {j} has no positive count on the genes shared with the "
                             "reference; its size factor is undefined.")
        sf[j] = np.exp(np.median(logs[keep, j] - loggeo[keep]))
    return sf


def _log_posterior(log_alpha, y, mu):
    """NB log-likelihood in log dispersion plus the Cox-Reid term (intercept design)."""
    alpha = np.exp(log_alpha)[:, None]
    inv = 1.0 / alpha
    ll = (gammaln(y + inv) - gammaln(inv) - y * np.log(mu + inv)
          - inv * np.log(1.0 + mu * alpha)).sum(axis=1)
    b = (1.0 / (1.0 / mu + alpha)).sum(axis=1)
    return ll - 0.5 * np.log(b)


def _dlog_posterior(log_alpha, y, mu):
    """Derivative of :func:`_log_posterior` with respect to log dispersion."""
    alpha = np.exp(log_alpha)[:, None]
    inv = 1.0 / alpha
    ma = mu * alpha
    ll = (digamma(inv) + np.log(1.0 + ma) - ma / (1.0 + ma) - digamma(y + inv)
          + y / (mu + inv)).sum(axis=1) / alpha[:, 0] ** 2
    b = (1.0 / (1.0 / mu + alpha)).sum(axis=1)
    db = (-((1.0 / mu + alpha) ** -2)).sum(axis=1)
    return (ll - 0.5 * db / b) * alpha[:, 0]


def _line_search(y, mu, log_alpha, min_log_alpha, kappa_0=1.0, tol=1e-6, maxit=100):
    """Armijo line search along the gradient of the log posterior, all genes in lockstep."""
    a = log_alpha.copy()
    lp = _log_posterior(a, y, mu)
    dlp = _dlog_posterior(a, y, mu)
    initial_lp = lp.copy()
    kappa = np.full_like(a, kappa_0)
    iters = np.zeros(a.shape[0], int)
    accepts = np.zeros(a.shape[0], int)
    active = np.ones(a.shape[0], bool)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        iters[idx] += 1
        ai, di, ki = a[idx], dlp[idx], kappa[idx]
        proposal = ai + ki * di
        with np.errstate(divide="ignore", invalid="ignore"):
            ki = np.where(proposal < -30.0, (-30.0 - ai) / di, ki)
            ki = np.where(proposal > 10.0, (10.0 - ai) / di, ki)
        theta = -_log_posterior(ai + ki * di, y[idx], mu[idx])
        theta_hat = -lp[idx] - ki * 1e-4 * di**2
        ok = theta <= theta_hat
        kappa[idx] = np.where(ok, ki, ki / 2.0)
        acc = idx[ok]
        if acc.size == 0:
            continue
        accepts[acc] += 1
        a[acc] = a[acc] + kappa[acc] * dlp[acc]
        lpnew = _log_posterior(a[acc], y[acc], mu[acc])
        converged = (lpnew - lp[acc]) < tol
        lp[acc[converged]] = lpnew[converged]
        stop = converged | (a[acc] < min_log_alpha)
        active[acc[stop]] = False
        go = acc[~stop]
        lp[go] = lpnew[~stop]
        dlp[go] = _dlog_posterior(a[go], y[go], mu[go])
        kappa[go] = np.minimum(kappa[go] * 1.1, kappa_0)
        halve = go[accepts[go] % 5 == 0]
        kappa[halve] = kappa[halve] / 2.0
    return a, iters, initial_lp, lp


def _grid_search(y, mu, max_disp):
    """Coarse-then-fine grid maximisation of the log posterior in log dispersion."""
    n_grid = 20
    lo, hi = np.log(MIN_DISP), np.log(max_disp)
    grid = np.r_[lo + np.arange(n_grid - 1) * ((hi - lo) / (n_grid - 1)), hi]
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        yi = np.repeat(y[i:i + 1], n_grid, axis=0)
        mi = np.repeat(mu[i:i + 1], n_grid, axis=0)
        best = grid[np.argmax(_log_posterior(grid, yi, mi))]
        delta = grid[1] - grid[0]
        fine = np.r_[best - delta + np.arange(n_grid - 1) * (2 * delta / (n_grid - 1)),
                     best + delta]
        out[i] = fine[np.argmax(_log_posterior(fine, yi, mi))]
    return np.exp(out)


def genewise_dispersions(counts: np.ndarray, size_factors: np.ndarray) -> np.ndarray:
    """Gene-wise dispersion MLEs with the Cox-Reid adjustment (``estimateDispersionsGeneEst``).

    Parameters
    ----------
    counts : ndarray (n_genes, n_samples)
        Genes with any count (all-zero genes are the caller's to drop).
    size_factors : ndarray (n_samples,)
    """
    n_samples = counts.shape[1]
    if n_samples < 2:
        raise ValueError("Dispersions need at least two samples.")
    norm = counts / size_factors
    base_mean = norm.mean(axis=1)
    base_var = norm.var(axis=1, ddof=1)
    mu_rough = np.maximum(1.0, base_mean)[:, None]
    rough = np.maximum(
        (((norm - mu_rough) ** 2 - mu_rough) / mu_rough**2).sum(axis=1) / (n_samples - 1), 0.0)
    moments = (base_var - np.mean(1.0 / size_factors) * base_mean) / base_mean**2
    max_disp = max(10.0, n_samples)
    alpha_init = np.minimum(np.maximum(MIN_DISP, np.minimum(rough, moments)), max_disp)
    mu = np.maximum(base_mean[:, None] * size_factors[None, :], 0.5)
    log_alpha, iters, initial_lp, last_lp = _line_search(
        counts, mu, np.log(alpha_init), np.log(MIN_DISP / 10))
    disp = np.minimum(np.exp(log_alpha), max_disp)
    no_increase = last_lp < initial_lp + np.abs(initial_lp) / 1e6
    disp[no_increase] = alpha_init[no_increase]
    refit = ~((iters < 100) & (iters != 1)) & (disp > MIN_DISP * 10)
    if refit.any():
        disp[refit] = _grid_search(counts[refit], mu[refit], max_disp)
    return np.minimum(np.maximum(disp, MIN_DISP), max_disp)


class TrendFitError(ValueError):
    """The parametric dispersion trend could not be fitted (R's ``parametricDispersionFit``
    stops at the same points; DESeq2 then substitutes a local regression)."""


def _gamma_identity_glm(y, X, start, epsilon=1e-8, maxit=25):
    """IRLS for a gamma GLM with identity link, as R's ``glm.fit`` (start given)."""
    def deviance(mu):
        return float(np.sum(-2.0 * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)))

    coef = coefold = np.asarray(start, dtype=float)
    mu = X @ coef
    devold = deviance(mu)
    converged = False
    for _ in range(maxit):
        w = 1.0 / mu
        coef = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)[0]
        mu = X @ coef
        halvings = 0
        while not (np.all(np.isfinite(mu)) and np.all(mu > 0)):
            if halvings == maxit:
                raise TrendFitError("the gamma GLM step could not be brought back to "
                                    "positive fitted dispersions")
            coef = (coef + coefold) / 2
            mu = X @ coef
            halvings += 1
        dev = deviance(mu)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold, coefold = dev, coef
    return coef, converged


def parametric_trend(means: np.ndarray, disps: np.ndarray) -> tuple[float, float]:
    """Fit ``disp ~ asymptDisp + extraPois / mean`` (``parametricDispersionFit``).

    Refits a gamma GLM (identity link) on the genes whose ratio to the current trend lies in
    ``(1e-4, 15)`` until the coefficients settle, at most 11 times as R does.

    Returns
    -------
    asympt_disp, extra_pois : float

    Raises
    ------
    TrendFitError
        Where R's fit stops: a coefficient not positive, no convergence within 11 refits,
        fewer than two usable genes, or a GLM step that cannot be made valid.
    """
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        resid = disps / (coefs[0] + coefs[1] / means)
        good = (resid > 1e-4) & (resid < 15)
        X = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        if good.sum() < 2 or np.linalg.matrix_rank(X) < 2:
            raise TrendFitError(f"only {int(good.sum())} gene(s) with distinct means near "
                                "the trend")
        old = coefs
        coefs, converged = _gamma_identity_glm(disps[good], X, old)
        if not np.all(coefs > 0):
            raise TrendFitError(f"a coefficient is not positive (asymptDisp {coefs[0]:.3g}, "
                                f"extraPois {coefs[1]:.3g})")
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return float(coefs[0]), float(coefs[1])
    raise TrendFitError("the coefficients did not settle within 11 refits")


def local_trend(means: np.ndarray, disps: np.ndarray):
    """DESeq2's ``localDispersionFit``: locfit of log dispersion on log mean, weighted by the
    mean, over the genes with ``disp >= 10 * MIN_DISP`` (gene order kept: it sets locfit's
    summation order). Returns a :class:`~medfuse.preprocess._locfit.LocalQuadraticFit`
    (log scale)."""
    from medfuse.preprocess._locfit import local_quadratic_fit

    use = disps >= 10 * MIN_DISP
    return local_quadratic_fit(np.log(means[use]), np.log(disps[use]), means[use])


def mean_trend(disps: np.ndarray) -> float:
    """R's ``mean(disp[disp > 10 * minDisp], trim = 0.001)``."""
    x = np.sort(disps[disps > 10 * MIN_DISP])
    lo = int(np.floor(x.size * 0.001))
    return float(x[lo:x.size - lo].mean())
