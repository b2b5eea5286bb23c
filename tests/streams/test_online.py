"""Offline (all query times at once) and online (one sample at a time) window features
agree."""

from __future__ import annotations

import numpy as np
import pytest

from medfuse.streams import OnlineWindow, feature_names, simulate_nights, window_features


def online(times, values, query, window, hrv=None) -> np.ndarray:
    computer = OnlineWindow(window, values.shape[0], hrv)
    out, i = [], 0
    for t in np.sort(query):
        while i < len(times) and times[i] <= t:
            computer.update(times[i], values[:, i])
            i += 1
        out.append(computer.features(t))
    return np.array(out)


@pytest.mark.parametrize("hrv", [None, "rate"])
def test_offline_equals_online_on_irregular_samples(hrv):
    rng = np.random.default_rng(3)
    times = 1.7e9 + np.cumsum(rng.exponential(2.0, 400))
    values = np.vstack([60 + 5 * rng.normal(size=400), 1 + 0.01 * np.arange(400)])
    query = np.sort(np.concatenate([times[::7], rng.uniform(times[0] - 5, times[-1] + 5, 50)]))
    offline = window_features(times, values, query, 30.0, ["hr", "ramp"], hrv)
    assert list(offline.columns) == feature_names(["hr", "ramp"], hrv)
    np.testing.assert_allclose(online(times, values, query, 30.0, hrv), offline.to_numpy(),
                               rtol=1e-9, atol=1e-9)
    ramp = offline["ramp_slope"].to_numpy()
    ok = offline["ramp_count"].to_numpy() >= 2
    assert ok.any() and np.isfinite(ramp[ok]).all()


def test_offline_equals_online_on_a_simulated_heart_rate():
    hr = simulate_nights(1, duration=1800, random_state=1).streams["hr"]["night0"]
    query = hr.times[::10] + 0.5
    offline = window_features(hr.times, hr.values, query, 120.0, hr.channels, "rate")
    np.testing.assert_allclose(online(hr.times, hr.values, query, 120.0, "rate"),
                               offline.to_numpy(), rtol=1e-9, atol=1e-9)
    # a 120 s window of 1 Hz samples holds 120 of them once full
    assert offline["hr_count"].iloc[-1] == 120


def test_window_formulas_on_a_small_case():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([[60.0, 60.0, 120.0, 60.0]])
    f = window_features(times, values, [3.0], 10.0, ["hr"], "rate").iloc[0]
    assert f["hr_mean"] == 75.0
    assert np.isclose(f["hr_sd"], np.std(values))
    assert np.isclose(f["hr_slope"], np.polyfit(times, values[0], 1)[0])
    rr = 60 / values[0]
    assert np.isclose(f["hr_rmssd"], 1000 * np.sqrt(np.mean(np.diff(rr) ** 2)))
    assert f["hr_age"] == 0.0 and f["hr_last"] == 60.0


def test_online_refuses_a_sample_from_the_future():
    computer = OnlineWindow(10.0)
    computer.update(5.0, [1.0])
    with pytest.raises(ValueError, match="before the latest sample"):
        computer.features(4.0)
    with pytest.raises(ValueError, match="not after"):
        computer.update(5.0, [2.0])
