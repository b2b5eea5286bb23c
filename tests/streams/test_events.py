"""Event-level scoring on hand-made nights with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medfuse.streams import episodes, latency_summary, score_night, score_nights


def test_episodes_from_decisions():
    times = np.arange(10.0)
    alarm = [0, 1, 1, 0, 0, 0, 1, 0, 1, 1]
    np.testing.assert_array_equal(episodes(times, alarm, end=12.0),
                                  [[1, 3], [6, 7], [8, 12]])


def test_refractory_merges_close_episodes():
    times = np.arange(10.0)
    alarm = [0, 1, 1, 0, 0, 0, 1, 0, 1, 1]
    # gaps: 3 s (3 -> 6) and 1 s (7 -> 8); a 2 s refractory merges only the second
    np.testing.assert_array_equal(episodes(times, alarm, 12.0, refractory=2.0),
                                  [[1, 3], [6, 12]])
    np.testing.assert_array_equal(episodes(times, alarm, 12.0, refractory=3.5), [[1, 12]])


def test_no_alarm_no_episode():
    assert episodes([0.0, 1.0], [False, False], 5.0).shape == (0, 2)
    assert episodes([], [], 5.0).shape == (0, 2)


def test_latency_false_alarms_and_time_in_alarm():
    # one event 1000-2000; alarms: a false one at 100, one at 1045 (latency 45),
    # another inside the event (not false, not first), one after the end (false)
    alarms = np.array([[100, 150], [1045, 1200], [1500, 1600], [2100, 2150]], float)
    s = score_night(alarms, [1000.0], [2000.0], start=0.0, end=10000.0)
    np.testing.assert_array_equal(s["latencies"], [45.0])
    assert s["false_alarms"] == 2 and s["episodes"] == 4
    assert s["time_in_alarm"] == pytest.approx((50 + 155 + 100 + 50) / 10000)


def test_alarm_running_before_onset_is_false_unless_early_allows():
    alarms = np.array([[900.0, 1300.0]])
    strict = score_night(alarms, [1000.0], [2000.0], 0.0, 3000.0)
    assert np.isnan(strict["latencies"][0]) and strict["false_alarms"] == 1
    lenient = score_night(alarms, [1000.0], [2000.0], 0.0, 3000.0, early=120.0)
    assert lenient["latencies"][0] == -100.0 and lenient["false_alarms"] == 0


def test_horizon_when_the_end_is_unknown():
    alarms = np.array([[1500.0, 1600.0]])
    assert score_night(alarms, [1000.0], None, 0, 3000, horizon=400)["false_alarms"] == 1
    assert np.isnan(score_night(alarms, [1000.0], None, 0, 3000, horizon=400)["latencies"][0])
    assert score_night(alarms, [1000.0], None, 0, 3000, horizon=900)["latencies"][0] == 500


def test_night_without_event():
    s = score_night(np.array([[10.0, 20.0]]), [np.nan], [np.nan], 0.0, 100.0)
    assert s["latencies"].size == 0 and s["false_alarms"] == 1


def test_latency_summary_counts_missed_as_late():
    s = latency_summary([10.0, 30.0, 50.0, 70.0, np.nan], budget=60.0)
    assert s["events"] == 5 and s["missed"] == 1 and s["within_budget"] == 3
    assert s["sensitivity"] == pytest.approx(0.6)
    assert s["median"] == 50.0 and s["p90"] == np.inf


def test_score_nights_tables():
    events = pd.DataFrame({"onset": [1000.0, np.nan], "end": [2000.0, np.nan]},
                          index=["a", "b"])
    alarms = {"a": np.array([[1030.0, 1100.0]]), "b": np.array([[5.0, 10.0], [50.0, 60.0]])}
    spans = {"a": (0.0, 3000.0), "b": (0.0, 3000.0)}
    per_event, summary = score_nights(alarms, events, spans, budget=60.0)
    assert per_event["latency"].tolist() == [30.0]
    assert summary["sensitivity"] == 1.0 and summary["false_alarms"] == 2
    assert summary["false_alarms_per_night"] == 1.0 and summary["nights"] == 2
