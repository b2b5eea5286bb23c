"""Empirical Bayes location/scale estimates of ComBat (Johnson, Li & Rabinovic 2007).

Each function works on one batch's standardised data ``s`` (samples x features, NaN allowed)
and reproduces the corresponding routine of R's sva package numerically.
"""

from __future__ import annotations

import numpy as np


def batch_moments(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature count of observed cells, mean and centred sum of squares.

    Parameters
    ----------
    s : ndarray (n_samples, n_features)

    Returns
    -------
    n, mean, ss : ndarray (n_features,) each; a feature with no observed cell gets mean 0.
    """
    if not np.isnan(s).any():
        mean = s.mean(axis=0)
        ss = np.var(s, axis=0) * s.shape[0]
        return np.full(s.shape[1], float(s.shape[0])), mean, ss
    observed = ~np.isnan(s)
    n = observed.sum(axis=0).astype(float)
    total = np.where(observed, s, 0.0).sum(axis=0)
    mean = np.divide(total, n, out=np.zeros_like(total), where=n > 0)
    ss = np.where(observed, (s - mean) ** 2, 0.0).sum(axis=0)
    return n, mean, ss


def inverse_gamma_priors(delta_hat: np.ndarray) -> tuple[float, float]:
    """Method-of-moments shape and scale of the inverse-gamma prior on batch variances."""
    m = float(np.mean(delta_hat))
    s2 = float(np.var(delta_hat, ddof=1))
    return (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2


def postmean(g_hat, g_bar, n, d_star, t2):
    """Posterior mean of the batch location under a normal prior."""
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def parametric_eb(s: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float,
                  t2: float, a: float, b: float, conv: float = 1e-4,
                  max_iter: int = 10_000, moments=None) -> tuple[np.ndarray, np.ndarray]:
    """Iterate the posterior location and scale until the largest relative change < ``conv``.

    Same fixed point iteration and stopping rule as sva's ``it.sol`` (the change is the
    maximum over all features, signed denominators included), using the batch's sufficient
    statistics instead of re-reading the samples (``moments``: precomputed
    :func:`batch_moments` of ``s``).
    """
    n, mean, ss = batch_moments(s) if moments is None else moments
    g_old, d_old = g_hat, d_hat
    for _ in range(max_iter):
        g_new = postmean(g_hat, g_bar, n, d_old, t2)
        sum2 = ss + n * (mean - g_new) ** 2
        d_new = (0.5 * sum2 + b) / (n / 2 + a - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.max(np.abs(g_new - g_old) / g_old),
                         np.max(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if not change > conv:
            break
    return g_old, d_old


def nonparametric_eb(s: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray,
                     chunk_size: int | None = None, n_jobs: int = 1,
                     moments=None) -> tuple[np.ndarray, np.ndarray]:
    """Non-parametric posterior means of location and scale (sva's ``int.eprior``).

    For feature ``i`` the posterior weights every other feature ``k``'s estimates
    ``(g_k, d_k)`` by the normal likelihood of feature ``i``'s samples,
    ``L_ik = (2 pi d_k)^(-n_i/2) exp(-(SS_i + n_i (m_i - g_k)^2) / (2 d_k))``, which depends on
    the samples only through ``(n_i, m_i, SS_i)``. ``log L`` is therefore a rank-four matrix
    product (the fourth term subtracts the likelihood at feature ``i``'s own maximum, an upper
    bound, so no exponential overflows) formed ``chunk_size`` rows at a time: cost O(G^2) per
    batch, independent of the number of samples, and memory O(chunk_size * G).

    Parameters
    ----------
    s : ndarray (n_samples, n_features)
        One batch's standardised data (NaN cells ignored).
    g_hat, d_hat : ndarray (n_features,)
        Per-feature location and scale estimates of this batch.
    chunk_size : int, optional
        Rows of the G x G likelihood matrix held at once. None: about 1 MiB of rows, so
        that the matrix product, the exponential and the weighted sums of a chunk all run
        in the core's cache (large chunks go to main memory three times and are ~2x slower).
    n_jobs : int
        Threads working on different chunks.

    moments : tuple, optional
        Precomputed :func:`batch_moments` of ``s``.

    Returns
    -------
    g_star, d_star : ndarray (n_features,)
    """
    n, mean, ss = batch_moments(s) if moments is None else moments
    shift = float(np.mean(g_hat))  # the likelihood is shift invariant; centring keeps digits
    m = np.where(n > 0, mean - shift, 0.0)
    usable = np.isfinite(g_hat) & np.isfinite(d_hat) & (d_hat > 0)  # R zeroes NaN weights
    d_safe = np.where(usable, d_hat, 1.0)
    g = np.where(usable, g_hat - shift, 0.0)
    a = 1.0 / (2.0 * d_safe)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(n > 0, -0.5 * n * np.log(2 * np.pi * ss / n) - 0.5 * n, 0.0)
    exact = ~np.isfinite(bound)                      # zero spread: no finite bound
    bound = np.where(exact, 0.0, bound)
    u = np.column_stack([n, n * m, -(ss + n * m**2), -bound])        # per target feature i
    v = np.vstack([-0.5 * np.log(2 * np.pi * d_safe) - a * g**2, 2 * a * g, a,
                   np.ones_like(a)])                                  # per prior feature k
    v[:, ~usable] = 0.0
    targets = np.column_stack([np.where(usable, g_hat, 0.0), d_safe, np.ones_like(g_hat)])
    n_feat = g_hat.shape[0]
    if chunk_size is None:
        chunk_size = _cache_rows(n_feat)
    unusable = None if usable.all() else np.flatnonzero(~usable)
    sums = np.empty((n_feat, 3))

    def work(start: int) -> None:
        stop = min(start + chunk_size, n_feat)
        rows = np.arange(start, stop)
        loglik = u[start:stop] @ v
        loglik[rows - start, rows] = -np.inf            # leave the feature itself out
        if unusable is not None:
            loglik[:, unusable] = -np.inf
        redo = exact[start:stop]
        if redo.any():
            loglik[redo] -= np.max(loglik[redo], axis=1, keepdims=True)
        np.exp(loglik, out=loglik)
        part = loglik @ targets
        tiny = ~(part[:, 2] > 1e-290)                     # bound far above the maximum
        if tiny.any():
            fix = u[start:stop][tiny] @ v
            fix[np.arange(fix.shape[0]), rows[tiny]] = -np.inf
            if unusable is not None:
                fix[:, unusable] = -np.inf
            fix -= np.max(fix, axis=1, keepdims=True)
            part[tiny] = np.exp(fix) @ targets
        sums[start:stop] = part

    starts = range(0, n_feat, chunk_size)
    if n_jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(1), ThreadPoolExecutor(n_jobs) as pool:
            list(pool.map(work, starts))
    else:
        for start in starts:
            work(start)
    return sums[:, 0] / sums[:, 2], sums[:, 1] / sums[:, 2]


def _cache_rows(n_features: int, budget_bytes: int = 1 << 20) -> int:
    """Rows of an ``n_features``-wide float64 matrix that fit in ``budget_bytes`` (4 to 256)."""
    return int(min(256, max(4, budget_bytes // (8 * max(n_features, 1)))))
