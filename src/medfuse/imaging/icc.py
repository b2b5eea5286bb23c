"""The one-way intraclass correlation ICC(1,1) with its F-based confidence interval."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps


class ICCResult(NamedTuple):
    """ICC(1,1) of one ``n x k`` matrix of measurements.

    Parameters
    ----------
    icc : float
        ``(MSB - MSW) / (MSB + (k - 1) MSW)``; NaN when every value is the same.
    low : float
        Lower bound of the confidence interval.
    high : float
        Upper bound of the confidence interval.
    msb : float
        Between-subject mean square, ``k sum_i (m_i - m)^2 / (n - 1)``.
    msw : float
        Within-subject mean square, ``sum_ij (y_ij - m_i)^2 / (n (k - 1))``.
    f : float
        ``MSB / MSW``, the F statistic of the one-way analysis of variance.
    df_between : int
        Degrees of freedom between subjects, ``n - 1``.
    df_within : int
        Degrees of freedom within subjects, ``n (k - 1)``.
    """

    icc: float
    low: float
    high: float
    msb: float
    msw: float
    f: float
    df_between: int
    df_within: int


def icc_one_way(ratings: ArrayLike, confidence: float = 0.95) -> ICCResult:
    """ICC(1,1): one-way random effects, absolute agreement, single measurement.

    With ``y_ij`` the measurement ``j = 1..k`` of subject ``i = 1..n``, subject means
    ``m_i``, grand mean ``m``:

    * ``MSB = k sum_i (m_i - m)^2 / (n - 1)``,
    * ``MSW = sum_i sum_j (y_ij - m_i)^2 / (n (k - 1))``,
    * ``ICC = (MSB - MSW) / (MSB + (k - 1) MSW)``.

    Confidence interval of the one-way model (case 1 of the classic classification of
    intraclass correlations) at level ``confidence = 1 - alpha``: with ``F0 = MSB / MSW``
    and ``F_q(a, b)`` the ``q`` quantile of the F distribution,
    ``F_L = F0 / F_{1-alpha/2}(n - 1, n (k - 1))`` and
    ``F_U = F0 * F_{1-alpha/2}(n (k - 1), n - 1)``; the bounds are
    ``(F_L - 1) / (F_L + k - 1)`` and ``(F_U - 1) / (F_U + k - 1)``.

    Parameters
    ----------
    ratings : array_like, shape (n, k)
        One row per subject, one column per repeated measurement (perturbation); n >= 2,
        k >= 2, all finite.
    confidence : float, default 0.95
        Level of the interval, in (0, 1).

    Returns
    -------
    ICCResult

    Notes
    -----
    The ICC lies in ``[-1 / (k - 1), 1]``; it is negative when copies of a subject differ
    more than subjects do. When ``MSW = 0`` and ``MSB > 0`` (repeats identical, subjects
    not) the ICC and both bounds are 1. When both are 0 (one value throughout) the ICC and
    its bounds are NaN: agreement is undefined without any spread. A matrix with a
    non-finite value gives NaN throughout. Mean squares below the rounding error of the
    data's magnitude count as 0.
    """
    y = np.asarray(ratings, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"ratings must be a (subjects, repeats) matrix with at least 2 of "
                         f"each; got shape {y.shape}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}.")
    n, k = y.shape
    df_b, df_w = n - 1, n * (k - 1)
    nan = float("nan")
    if not np.all(np.isfinite(y)):
        return ICCResult(nan, nan, nan, nan, nan, nan, df_b, df_w)
    # Centre first: the mean squares are shift invariant and this keeps their precision.
    y = y - y.mean()
    row_means = y.mean(axis=1)
    msb = float(k * np.sum((row_means - row_means.mean()) ** 2) / df_b)
    msw = float(np.sum((y - row_means[:, np.newaxis]) ** 2) / df_w)
    # Spreads below rounding of the data's own magnitude count as none.
    scale = float(np.max(np.abs(np.asarray(ratings, dtype=np.float64)))) or 1.0
    negligible = (64 * np.finfo(np.float64).eps * scale) ** 2
    if msw <= negligible and msb <= negligible:
        return ICCResult(nan, nan, nan, msb, msw, nan, df_b, df_w)
    if msw <= negligible:
        return ICCResult(1.0, 1.0, 1.0, msb, msw, math.inf, df_b, df_w)
    icc = (msb - msw) / (msb + (k - 1) * msw)
    f0 = msb / msw
    q = 1.0 - (1.0 - confidence) / 2.0
    f_low = f0 / sps.f.ppf(q, df_b, df_w)
    f_high = f0 * sps.f.ppf(q, df_w, df_b)
    low = (f_low - 1.0) / (f_low + k - 1.0)
    high = (f_high - 1.0) / (f_high + k - 1.0)
    return ICCResult(float(icc), float(low), float(high), msb, msw, float(f0), df_b, df_w)
