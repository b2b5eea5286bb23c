"""Maximum-likelihood mean and covariance of a multivariate normal sample with missing
cells, by the EM algorithm (Dempster, Laird and Rubin 1977; Little and Rubin 2019, ch. 11).

Each iteration fills every row's missing cells with their conditional expectation given the
observed cells under the current estimates,

    E[x_m | x_o] = mu_m + S_mo S_oo^-1 (x_o - mu_o),
    Cov[x_m | x_o] = S_mm - S_mo S_oo^-1 S_om,

and sets ``mu`` to the mean of the filled rows and ``S`` to their mean cross-product (the
conditional covariance added on the missing block) minus ``mu mu'``: the ML estimate,
divided by ``n``, not ``n - 1``.

Stopping rule: the iterations run on the columns standardised by their observed mean and
standard deviation, start from mean 0 and the identity covariance, and stop when no mean,
variance or covariance changes by more than ``tol`` times its previous absolute value (the
rule and scale of R's ``norm::em.norm``, whose default ``tol`` is 1e-4; values below 1e-8 on
the standardised scale count as 1e-8, so a parameter that is zero up to rounding cannot hold
the iterations up). The estimates are returned on the original scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class EMConvergenceError(RuntimeError):
    """EM did not reach the stopping rule within the allowed iterations."""


@dataclass(frozen=True)
class EMEstimate:
    """ML mean ``(p,)`` and covariance ``(p, p)`` with the iterations EM took.

    Parameters
    ----------
    mean : ndarray of shape (p,)
        ML estimate of the mean, on the original scale.
    covariance : ndarray of shape (p, p)
        ML estimate of the covariance (divided by ``n``), on the original scale.
    iterations : int
        EM iterations until the stopping rule was met.
    """

    mean: np.ndarray
    covariance: np.ndarray
    iterations: int


def missing_patterns(observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean ``(n, p)`` observed mask ``(k, p)`` and each row's
    pattern index ``(n,)``, patterns in order of first appearance."""
    patterns, first, index = np.unique(observed, axis=0, return_index=True,
                                       return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return patterns[order], rank[np.asarray(index).ravel()]


def em_mean_covariance(values: np.ndarray, tol: float = 1e-10,
                       max_iter: int = 10_000) -> EMEstimate:
    """EM estimates of a normal sample's mean and covariance with NaN for missing cells.

    Parameters
    ----------
    values : ndarray of shape (n, p)
        Rows are subjects; NaN marks a missing cell. Rows without any observed cell carry
        no information and are ignored; every column needs two observed values.
    tol : float
        Relative change of every parameter below which EM stops (see the module
        docstring); 1e-4 reproduces R's ``norm::em.norm``.
    max_iter : int
        Iterations after which :class:`EMConvergenceError` is raised.

    Returns
    -------
    EMEstimate
        The mean and covariance over the ``p`` columns and the iterations taken.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"Expected a 2-D array of subjects x variables, got shape {x.shape}.")
    observed = ~np.isnan(x)
    x = x[observed.any(axis=1)]
    observed = observed[observed.any(axis=1)]
    counts = observed.sum(axis=0)
    if np.any(counts < 2):
        raise ValueError(f"Column(s) {np.flatnonzero(counts < 2).tolist()} have fewer than two "
                         "observed values; EM cannot estimate their variance.")
    centre = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0, ddof=1)
    if np.any(scale == 0):
        raise ValueError(f"Column(s) {np.flatnonzero(scale == 0).tolist()} are constant where "
                         "observed; drop them before testing.")
    z = (x - centre) / scale
    n, p = z.shape
    patterns, index = missing_patterns(observed)
    groups = [(pattern, np.where(pattern)[0], np.where(~pattern)[0], z[index == k][:, pattern])
              for k, pattern in enumerate(patterns)]
    mean, cov = np.zeros(p), np.eye(p)
    for iteration in range(1, max_iter + 1):
        total = np.zeros(p)
        cross = np.zeros((p, p))
        for _pattern, obs, mis, rows in groups:
            filled = np.empty((len(rows), p))
            filled[:, obs] = rows
            if len(mis):
                regression = np.linalg.solve(cov[np.ix_(obs, obs)], cov[np.ix_(obs, mis)]).T
                filled[:, mis] = mean[mis] + (rows - mean[obs]) @ regression.T
                cross[np.ix_(mis, mis)] += len(rows) * (
                    cov[np.ix_(mis, mis)] - regression @ cov[np.ix_(obs, mis)])
            total += filled.sum(axis=0)
            cross += filled.T @ filled
        new_mean = total / n
        new_cov = cross / n - np.outer(new_mean, new_mean)
        old = np.concatenate([mean, cov[np.triu_indices(p)]])
        new = np.concatenate([new_mean, new_cov[np.triu_indices(p)]])
        mean, cov = new_mean, new_cov
        if np.all(np.abs(new - old) <= tol * np.maximum(np.abs(old), 1e-8)):
            return EMEstimate(centre + scale * mean, cov * np.outer(scale, scale), iteration)
    raise EMConvergenceError(f"EM did not converge to a relative change of {tol:g} in "
                             f"{max_iter} iterations.")
