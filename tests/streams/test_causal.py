"""No feature at time t uses a sample later than t: every result at t is unchanged when all
samples later than t are deleted (property-based, random samples and query times)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medfuse.streams import asof, resample, window_features


@st.composite
def stream_and_queries(draw):
    n = draw(st.integers(0, 30))
    steps = draw(st.lists(st.floats(0.01, 60.0), min_size=n, max_size=n))
    start = draw(st.floats(-1e4, 2e9))
    times = start + np.cumsum(steps)
    values = np.array(draw(st.lists(st.floats(20.0, 200.0), min_size=2 * n,
                                    max_size=2 * n))).reshape(2, n)
    span = (times[0] - 30, times[-1] + 30) if n else (start - 30, start + 30)
    query = np.array(draw(st.lists(st.floats(*span), min_size=1, max_size=8)))
    window = draw(st.floats(0.5, 300.0))
    return times, values, query, window


def same(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


@settings(max_examples=60, deadline=None)
@given(stream_and_queries())
def test_no_feature_uses_a_later_sample(case):
    times, values, query, window = case
    full = window_features(times, values, query, window, hrv="rate")
    latest, age = asof(times, values, query)
    grid = np.sort(np.unique(query))
    last = resample(times, values, grid, how="last", max_age=window)
    mean = resample(times, values, grid, how="mean")
    for k, t in enumerate(query):
        past = times <= t
        cut = window_features(times[past], values[:, past], [t], window, hrv="rate")
        same(full.iloc[[k]].to_numpy(), cut.to_numpy())
        cut_latest, cut_age = asof(times[past], values[:, past], [t])
        same(latest[:, [k]], cut_latest)
        same(age[[k]], cut_age)
    for k, g in enumerate(grid):
        past = times <= g
        same(last[:, k], resample(times[past], values[:, past], grid, "last", window)[:, k])
        same(mean[:, k], resample(times[past], values[:, past], grid, "mean")[:, k])


def test_a_sample_at_t_counts_and_one_after_does_not():
    times = np.array([0.0, 10.0, 20.0])
    values = np.array([[1.0, 2.0, 3.0]])
    latest, age = asof(times, values, [10.0, 19.999])
    assert latest.tolist() == [[2.0, 2.0]] and age[0] == 0 and np.isclose(age[1], 9.999)
    feats = window_features(times, values, [20.0], window=10.0)
    assert feats["c0_count"].item() == 1  # (10, 20]: the sample at 10 is out
    assert feats["c0_last"].item() == 3.0
