"""The night simulator: known onsets, exact rates, a lagging CGM, heart rate up in events."""

from __future__ import annotations

import numpy as np
import pytest

from medfuse.streams import NightParams, simulate_nights


@pytest.fixture(scope="module")
def sim():
    return simulate_nights(6, hypo_fraction=0.5, random_state=7)


def test_onsets_are_known_and_true(sim):
    onsets = sim.onsets
    assert onsets.notna().sum() == 3 and onsets.isna().sum() == 3
    for night, onset in onsets.items():
        times, glucose = sim.glucose[night]
        if np.isnan(onset):
            assert glucose.min() >= sim.params.glucose_floor > sim.params.threshold
            continue
        k = int(np.flatnonzero(times == onset)[0])
        assert glucose[k] < 70.0 and (glucose[:k] >= 70.0).all()


def test_rates_are_exact(sim):
    for night in sim.streams.nights:
        for name, step in (("cgm", 300.0), ("hr", 1.0), ("acc", 0.1)):
            s = sim.streams[name][night]
            np.testing.assert_allclose(np.diff(s.times), step, atol=1e-5)
            assert s.interval == pytest.approx(step)
        assert sim.streams["cgm"][night].units == ("mg/dL",)


def test_same_seed_same_nights():
    a = simulate_nights(2, duration=1200, random_state=3)
    b = simulate_nights(2, duration=1200, random_state=3)
    for name in a.streams.names:
        np.testing.assert_array_equal(a.streams[name]["night1"].values,
                                      b.streams[name]["night1"].values)


def test_cgm_lags_true_glucose_by_the_documented_lag():
    sim = simulate_nights(6, hypo_fraction=1.0, cgm_noise_sd=0.0, random_state=11)
    lags = np.arange(0, 1801, 30.0)
    score = np.zeros(len(lags))
    for night in sim.streams.nights:
        cgm = sim.streams["cgm"][night]
        times, glucose = sim.glucose[night]
        reading = np.diff(cgm.values[0])
        for j, lag in enumerate(lags):
            past = np.diff(np.interp(cgm.times - lag, times, glucose))
            score[j] += np.corrcoef(reading, past)[0, 1]
    best = lags[np.argmax(score)]
    # a first-order lag of time constant tau delays a step's midpoint by ln(2) tau and its
    # mean by tau: the peak lies between the two (one 30 s lag step of slack)
    tau = NightParams().cgm_lag
    assert np.log(2) * tau - 30 <= best <= tau, best


def test_heart_rate_rises_during_events(sim):
    for night, onset in sim.onsets.dropna().items():
        hr = sim.streams["hr"][night]
        times, glucose = sim.glucose[night]
        low = np.interp(hr.times, times, (glucose < 70).astype(float)) > 0
        before = hr.times < onset
        assert hr.values[0, low].mean() > hr.values[0, before].mean() + 10


def test_tremor_only_during_events(sim):
    night = sim.onsets.dropna().index[0]
    acc = sim.streams["acc"][night]
    times, glucose = sim.glucose[night]
    low = np.interp(acc.times, times, (glucose < 70).astype(float)) > 0
    assert np.median(acc.values[0, low]) > 2 * np.median(acc.values[0, ~low])


def test_streams_become_timeseries_modalities(sim):
    data = sim.streams.to_data()
    assert data.kinds == {"cgm": "timeseries", "hr": "timeseries", "acc": "timeseries"}
    assert len(data) == 6
    block = sim.streams.to_block("cgm")
    assert block.field_names == ["timestamps"]
    assert block.meta.loc["night0", "units"] == ("mg/dL",)


def test_tremor_above_nyquist_is_refused():
    with pytest.raises(ValueError, match="tremor_hz"):
        simulate_nights(1, tremor_hz=6.0, acc_rate=10.0)
