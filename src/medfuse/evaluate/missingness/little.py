"""Little's test that cells are missing completely at random (MCAR).

Little (1988, JASA 83:1198) compares each missing-data pattern's observed means with the
ML (EM) estimates of the overall mean under MCAR:

    d2 = sum_j n_j (ybar_j - mu_j)' S_j^-1 (ybar_j - mu_j),

with ``n_j`` rows in pattern ``j``, ``ybar_j`` their means over the pattern's observed
variables, ``mu_j`` and ``S_j`` the EM mean and ML covariance (divided by ``n``) restricted
to those variables. Under MCAR and normality d2 is chi-squared with ``sum_j p_j - p`` degrees
of freedom (``p_j`` observed variables in pattern ``j``). A small p-value says the rows that
miss a variable differ from the others in what they do show: the data are not MCAR (they may
be MAR or MNAR; the test cannot tell which). A large one does not prove MCAR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from medfuse.evaluate.missingness.em import em_mean_covariance, missing_patterns


@dataclass(frozen=True)
class MCARTest:
    """Little's statistic, its degrees of freedom and p-value, the number of missing-data
    patterns and the EM iterations behind it.

    Parameters
    ----------
    statistic : float
        Little's d2.
    df : int
        Degrees of freedom of its chi-squared distribution under MCAR (0: nothing is
        missing in more than one way, so there is nothing to test).
    p_value : float
        Chi-squared tail probability of ``statistic`` (1 when ``df`` is 0).
    n_patterns : int
        Distinct missing-data patterns among the rows.
    iterations : int
        EM iterations behind the estimates of the mean and covariance.
    """

    statistic: float
    df: int
    p_value: float
    n_patterns: int
    iterations: int

    def reading(self, alpha: float = 0.05) -> str:
        """One sentence on what the test says at level ``alpha``."""
        if self.df == 0:
            return "Nothing is missing in more than one way, so MCAR cannot be tested."
        if self.p_value < alpha:
            return (f"Little's test rejects MCAR (chi2 = {self.statistic:.2f}, df = {self.df}, "
                    f"p = {self.p_value:.3g}): subjects with missing values differ in what "
                    "they do show, so dropping them or filling in means would bias results.")
        return (f"Little's test does not reject MCAR (chi2 = {self.statistic:.2f}, df = "
                f"{self.df}, p = {self.p_value:.3g}); this does not prove MCAR, and missingness "
                "that depends on the missing values themselves (MNAR) is not detectable here.")


def little_mcar_test(values: pd.DataFrame | np.ndarray, tol: float = 1e-10,
                     max_iter: int = 10_000) -> MCARTest:
    """Little's MCAR test on a table with missing cells.

    Parameters
    ----------
    values : DataFrame or ndarray of shape (n, p)
        Numeric variables; NaN marks a missing cell. Rows that miss every variable are left
        out. Boolean columns (e.g. modality availability indicators) count as 0/1.
    tol, max_iter : float, int
        EM's stopping rule (see :func:`~medfuse.evaluate.missingness.em.em_mean_covariance`):
        the default runs EM to convergence; ``tol=1e-4`` is R ``norm``'s (and so
        ``naniar::mcar_test``'s) rule.

    Returns
    -------
    MCARTest
        The statistic, its degrees of freedom and p-value.

    Examples
    --------
    R's ``airquality`` (153 days, Ozone and Solar.R partly missing) gives d2 = 35.106, df 14,
    p = 0.0014 with 4 patterns: the days without an ozone reading are not a random subset.
    """
    frame = pd.DataFrame(values)
    non_numeric = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c])
                                                    or pd.api.types.is_bool_dtype(frame[c]))]
    if non_numeric:
        raise ValueError(f"Little's test needs numeric columns; {non_numeric[:5]} are not "
                         "(encode them first).")
    x = frame.astype(float).to_numpy()
    x = x[~np.isnan(x).all(axis=1)]
    estimate = em_mean_covariance(x, tol=tol, max_iter=max_iter)
    observed = ~np.isnan(x)
    patterns, index = missing_patterns(observed)
    statistic = 0.0
    for k, pattern in enumerate(patterns):
        rows = x[index == k][:, pattern]
        if not pattern.any():
            continue
        gap = rows.mean(axis=0) - estimate.mean[pattern]
        cov = estimate.covariance[np.ix_(pattern, pattern)]
        statistic += len(rows) * float(gap @ np.linalg.solve(cov, gap))
    df = int(patterns.sum() - x.shape[1])
    p_value = float(stats.chi2.sf(statistic, df)) if df > 0 else 1.0
    return MCARTest(statistic, df, p_value, len(patterns), estimate.iterations)
