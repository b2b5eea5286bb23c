"""Detection designs on simulated nights: decision times, thresholds, the hybrid's state
machine, replay equal to offline, saving, and folds split by subject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.persist import load_model, save_model
from medfuse.streams import (
    HybridMachine,
    Replayer,
    cross_validate_detection,
    events_from_glucose,
    hybrid_alerts,
    make_detector,
    replay,
    simulate_nights,
    subject_folds,
)

DESIGNS = ("early", "fast-only", "slow-only", "hybrid")


@pytest.fixture(scope="module")
def sim():
    sim = simulate_nights(8, duration=2400.0, random_state=5)
    return sim, events_from_glucose(sim.onsets, sim.glucose)


@pytest.fixture(scope="module")
def fitted(sim):
    nights, events = sim
    test = [nights.onsets.dropna().index[0], nights.onsets[nights.onsets.isna()].index[0]]
    train = [n for n in nights.streams.nights if n not in test]
    return {d: make_detector(d).fit(nights.streams, events, train) for d in DESIGNS}, test


def test_events_from_glucose(sim):
    nights, events = sim
    for night, row in events.dropna().iterrows():
        times, glucose = nights.glucose[night]
        inside = (times >= row["onset"]) & (times < row["end"])
        assert (glucose[inside] < 70).all()
        assert glucose[times == row["end"]][0] >= 70 or row["end"] == times[-1]


def test_decision_times_of_each_design(sim, fitted):
    nights, _ = sim
    models, (night, _) = fitted
    cgm = nights.streams["cgm"][night].times
    for design, model in models.items():
        times, score = model.predict_score(nights.streams, night)
        assert times.shape == score.shape and np.all((score >= 0) & (score <= 1))
        if design in ("early", "slow-only"):
            np.testing.assert_array_equal(times, cgm)
        else:
            np.testing.assert_allclose(np.diff(times), 1.0)
        assert np.isfinite(model.threshold_)


def test_fast_designs_detect_the_held_out_event_within_the_budget(sim, fitted):
    nights, events = sim
    models, (night, _) = fitted
    onset = events.loc[night, "onset"]
    for design in ("fast-only", "hybrid"):
        starts = models[design].alarms(nights.streams, night)[:, 0]
        assert ((starts >= onset) & (starts <= onset + 60)).any(), design
    # early fusion decides at CGM arrivals only: its first alarm waits for one
    early = models["early"].alerts(nights.streams, night)
    assert all(a.time in set(nights.streams["cgm"][night].times) for a in early)


def _random_decisions(rng):
    ft = np.arange(200.0)
    fs = rng.uniform(size=200) ** 3
    st = np.sort(rng.choice(np.arange(0.0, 200.0, 5.0), 30, replace=False))
    return ft, fs, st, rng.uniform(size=30)


def _in_time_order(ft, fs, st, sp):
    """(time, is CGM, value), fast decisions first at equal times."""
    return sorted([(t, 0, s) for t, s in zip(ft, fs, strict=True)]
                  + [(t, 1, p) for t, p in zip(st, sp, strict=True)])


@pytest.mark.parametrize("confirm_after", [0.0, 12.0, 600.0])
def test_vectorised_hybrid_equals_the_state_machine(confirm_after):
    rng = np.random.default_rng(0)
    for _ in range(50):
        ft, fs, st, sp = _random_decisions(rng)
        machine, expected = HybridMachine(0.5, 0.5, confirm_after), []
        for t, kind, v in _in_time_order(ft, fs, st, sp):
            alert = machine.slow(t, v) if kind else machine.fast(t, v)
            expected += [alert] if alert else []
        assert hybrid_alerts(ft, fs, st, sp, 0.5, 0.5, confirm_after) == expected


def test_confirm_after_zero_is_the_hybrid_without_it():
    # the rules before confirm_after, written out: any CGM "no" ends the alarm
    rng = np.random.default_rng(1)
    for _ in range(50):
        ft, fs, st, sp = _random_decisions(rng)
        on = confirmed = False
        armed, expected = True, []
        for t, kind, v in _in_time_order(ft, fs, st, sp):
            if not kind and v < 0.5:
                armed = True
            elif not kind and not on and armed:
                on, confirmed = True, False
                expected.append((t, "provisional"))
            elif kind and v >= 0.5 and not (on and confirmed):
                on = confirmed = True
                expected.append((t, "confirmed"))
            elif kind and v < 0.5 and on:
                expected.append((t, "cleared" if confirmed else "withdrawn"))
                on = confirmed = armed = False
        got = hybrid_alerts(ft, fs, st, sp, 0.5, 0.5, confirm_after=0.0)
        assert [(a.time, a.kind) for a in got] == expected


def test_a_cgm_no_before_confirm_after_cannot_withdraw():
    # provisional at 100; CGM "no" at 300 (200 s after: kept) and at 900 (800 s: withdrawn)
    ft, fs = np.array([100.0, 200.0]), np.array([0.9, 0.9])
    st = np.array([300.0, 900.0])
    got = hybrid_alerts(ft, fs, st, np.array([0.1, 0.1]), 0.5, 0.5, confirm_after=600.0)
    assert [(a.time, a.kind) for a in got] == [(100.0, "provisional"), (900.0, "withdrawn")]
    # a CGM "yes" at 300 still confirms it there
    got = hybrid_alerts(ft, fs, st, np.array([0.9, 0.1]), 0.5, 0.5, confirm_after=600.0)
    assert [(a.time, a.kind) for a in got] == [(100.0, "provisional"), (300.0, "confirmed"),
                                               (900.0, "cleared")]
    # without the delay the "no" at 300 withdraws it
    got = hybrid_alerts(ft, fs, st, np.array([0.1, 0.1]), 0.5, 0.5, confirm_after=0.0)
    assert [(a.time, a.kind) for a in got] == [(100.0, "provisional"), (300.0, "withdrawn")]
    machine = HybridMachine(0.5, 0.5, 600.0)
    assert machine.fast(100.0, 0.9).kind == "provisional"
    assert machine.slow(300.0, 0.1) is None and machine.on
    assert machine.slow(700.0, 0.1).kind == "withdrawn" and not machine.on  # 600 s: may
    with pytest.raises(ValueError, match="confirm_after"):
        HybridMachine(0.5, 0.5, -1.0)


def test_hybrid_withdraws_and_confirms_by_hand():
    # provisional at 1, withdrawn at CGM 2; not re-raised at 3 (still high), re-armed at 4
    # (low), raised at 5, confirmed at CGM 6 (the alarm keeps its time 5)
    ft, fs = np.array([1.0, 3.0, 4.0, 5.0]), np.array([0.9, 0.9, 0.1, 0.9])
    got = hybrid_alerts(ft, fs, np.array([2.0, 6.0]), np.array([0.1, 0.9]), 0.5, 0.5)
    assert [(a.time, a.kind) for a in got] == [(1.0, "provisional"), (2.0, "withdrawn"),
                                               (5.0, "provisional"), (6.0, "confirmed")]


@pytest.mark.parametrize("design", ["hybrid", "early"])
def test_replay_fires_the_offline_alerts(sim, fitted, design):
    nights, _ = sim
    models, (night, _) = fitted
    offline = models[design].alerts(nights.streams, night)
    online = replay(models[design], nights.streams, night, budget=60.0)
    assert offline and [(a.time, a.kind) for a in online] == [(a.time, a.kind)
                                                              for a in offline]
    np.testing.assert_allclose([a.score for a in online], [a.score for a in offline],
                               atol=1e-9)


def test_replayer_refuses_another_budget_and_disorder(fitted):
    models, _ = fitted
    with pytest.raises(ValueError, match="refit"):
        Replayer(models["hybrid"], budget=120.0)
    player = Replayer(models["fast-only"])
    player.push("hr", 10.0, [60.0])
    with pytest.raises(ValueError, match="before"):
        player.push("hr", 9.0, [60.0])


def test_saved_detector_gives_the_same_scores(sim, fitted, tmp_path):
    nights, _ = sim
    models, (night, _) = fitted
    folder = save_model(models["hybrid"], tmp_path / "hybrid", strategy="hybrid")
    loaded = load_model(folder)
    assert loaded.get_params() == models["hybrid"].get_params()
    assert loaded.confirm_after == 600.0 and "confirm_after" not in loaded.fast_.get_params()
    for a, b in zip(loaded.predict_score(nights.streams, night),
                    models["hybrid"].predict_score(nights.streams, night), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.confirmations(nights.streams, night)[1],
                                  models["hybrid"].confirmations(nights.streams, night)[1])
    assert loaded.alerts(nights.streams, night) == models["hybrid"].alerts(nights.streams,
                                                                             night)


def test_folds_split_by_subject():
    nights = [f"n{k}" for k in range(12)]
    groups = pd.Series({n: f"s{k // 2}" for k, n in enumerate(nights)})
    has = [k % 4 < 2 for k in range(12)]
    folds = subject_folds(nights, has, groups, folds=3, seed=1)
    tested = sorted(n for _, test in folds for n in test)
    assert tested == sorted(nights)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_cross_validation_table(sim):
    nights, events = sim
    groups = {n: f"s{k // 2}" for k, n in enumerate(nights.streams.nights)}
    table, latencies = cross_validate_detection(nights.streams, events, ["slow-only"],
                                                folds=2, seed=0, groups=groups)
    assert list(table["fold"]) == [0, 1] and set(table["design"]) == {"slow-only"}
    assert table["events"].sum() == events["onset"].notna().sum() == len(latencies)
    assert ((table["sensitivity"] >= 0) & (table["sensitivity"] <= 1)).all()
