"""Causal alignment of streams sampled at their own times.

Every function here answers for query times ``t`` using only samples at or before ``t``: the
position of the first sample after ``t`` is ``np.searchsorted(times, t, side="right")``, and
nothing at or beyond that position is read. A sample stamped exactly ``t`` counts as known at
``t``. Trailing windows are half-open, ``(t - w, t]``.

The property is tested (``tests/streams/test_causal.py``): for random samples and query
times, every result at ``t`` is the same after deleting all samples later than ``t``.
"""

from __future__ import annotations

import numpy as np

from medfuse.data.validation import DataValidationError


def _check(times, values=None) -> tuple[np.ndarray, np.ndarray | None]:
    times = np.asarray(times, dtype=float).ravel()
    if len(times) > 1 and not (np.diff(times) > 0).all():
        raise DataValidationError("Stream times must be strictly increasing (read them with "
                                  "medfuse.streams.read_streams, which checks and repairs).")
    if values is None:
        return times, None
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.shape[1] != len(times):
        raise DataValidationError(f"Values of shape {values.shape} for {len(times)} times; "
                                  "give them as C x T.")
    if not np.isfinite(values).all() or not np.isfinite(times).all():
        raise DataValidationError("Stream times and values must be finite (a NaN would spread "
                                  "through every later window).")
    return times, values


def latest_index(times, query) -> np.ndarray:
    """Position of the latest sample at or before each query time.

    Parameters
    ----------
    times : array-like of float, shape (T,)
        Sample times (seconds), strictly increasing.
    query : array-like of float, shape (Q,)
        Query times (seconds), in any order.

    Returns
    -------
    ndarray of int, shape (Q,)
        Index into ``times``; -1 where no sample is at or before the query.
    """
    times, _ = _check(times)
    return np.searchsorted(times, np.asarray(query, dtype=float), side="right") - 1


def asof(times, values, query) -> tuple[np.ndarray, np.ndarray]:
    """As-of join: each channel's latest value at or before each query time, and its age.

    Parameters
    ----------
    times : array-like of float, shape (T,)
        Sample times (seconds), strictly increasing.
    values : array-like of float, shape (C, T)
        Samples, channels first.
    query : array-like of float, shape (Q,)
        Query times (seconds).

    Returns
    -------
    latest : ndarray of float, shape (C, Q)
        The value of the latest sample at or before each query (NaN where there is none).
    staleness : ndarray of float, shape (Q,)
        ``t - t_sample`` in seconds, the age of that sample (``inf`` where there is none).
    """
    times, values = _check(times, values)
    query = np.asarray(query, dtype=float).ravel()
    idx = np.searchsorted(times, query, side="right") - 1
    found = idx >= 0
    latest = np.full((values.shape[0], len(query)), np.nan)
    latest[:, found] = values[:, idx[found]]
    staleness = np.full(len(query), np.inf)
    staleness[found] = query[found] - times[idx[found]]
    return latest, staleness


def window_bounds(times, query, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Index range of the trailing window ``(t - window, t]`` of each query time.

    Parameters
    ----------
    times : array-like of float, shape (T,)
        Sample times (seconds), strictly increasing.
    query : array-like of float, shape (Q,)
        Query times (seconds).
    window : float
        Window length in seconds (> 0).

    Returns
    -------
    start, stop : ndarray of int, shape (Q,)
        The samples ``times[start:stop]`` are those in the window (empty where
        ``start == stop``).
    """
    if not window > 0:
        raise DataValidationError(f"A trailing window must be longer than 0 s, got {window}.")
    times, _ = _check(times)
    query = np.asarray(query, dtype=float).ravel()
    stop = np.searchsorted(times, query, side="right")
    start = np.minimum(np.searchsorted(times, query - window, side="right"), stop)
    return start, stop


def resample(times, values, grid, how: str = "last", max_age: float | None = None
             ) -> np.ndarray:
    """A stream on a regular (or any) grid of times, from past samples only.

    Parameters
    ----------
    times : array-like of float, shape (T,)
        Sample times (seconds), strictly increasing.
    values : array-like of float, shape (C, T)
        Samples, channels first.
    grid : array-like of float, shape (G,)
        Output times (seconds), increasing.
    how : {"last", "mean"}
        ``last``: the latest sample at or before each grid time (carried forward);
        ``mean``: the mean of the samples since the previous grid time, ``(g_{k-1}, g_k]``
        (the first grid time takes the samples at or before it within one grid step).
    max_age : float, optional
        With ``how="last"``: a sample older than this many seconds gives NaN.

    Returns
    -------
    ndarray of float, shape (C, G)
        NaN where no sample qualifies.
    """
    times, values = _check(times, values)
    grid = np.asarray(grid, dtype=float).ravel()
    if how == "last":
        latest, age = asof(times, values, grid)
        if max_age is not None:
            latest[:, age > max_age] = np.nan
        return latest
    if how != "mean":
        raise ValueError(f"how must be 'last' or 'mean', got {how!r}.")
    if len(grid) > 1 and not (np.diff(grid) > 0).all():
        raise DataValidationError("A resampling grid must be strictly increasing.")
    step = np.diff(grid, prepend=grid[0] - (grid[1] - grid[0] if len(grid) > 1 else 1.0))
    stop = np.searchsorted(times, grid, side="right")
    start = np.searchsorted(times, grid - step, side="right")
    sums = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    count = stop - start
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[:, stop] - sums[:, start]) / count
    out[:, count == 0] = np.nan
    return out
