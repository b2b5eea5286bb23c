"""Event-level scoring of alerts: detection latency, sensitivity within a latency budget,
false alarms per night and time in alarm.

The rules (all times in seconds since the epoch):

- **Alarm episodes.** A detector's output is a sequence of decisions ``(d_k, a_k)``: from
  ``d_k`` until ``d_{k+1}`` the alarm is ``a_k`` (on or off); the last decision holds until
  the night's end. An episode is a maximal run of "on", ``[start, stop)``. Two episodes
  whose gap (``start`` of the next minus ``stop`` of the previous) is shorter than
  ``refractory`` seconds are merged into one (a wearer woken twice within that time counts
  one alarm).
- **Matching.** An episode matches an event with onset ``o`` and end ``e`` when its start
  lies in ``[o - early, e)`` (``e = o + horizon`` when the end is not known). An alarm
  raised up to ``early`` seconds before onset is an early warning, not a false alarm;
  an episode that began before ``o - early`` and is still on at onset does not match (it
  is a false alarm and the event needs an alarm of its own).
- **Latency** of an event: start of its first matching episode minus onset (negative for
  an early warning); NaN (missed) when no episode matches. **Detected within budget**:
  latency ``<= budget``.
- **False alarms**: episodes matching no event; reported per night.
- **Time in alarm**: total episode length (after merging) over the night's length.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def episodes(times, alarm, end: float, refractory: float = 0.0) -> np.ndarray:
    """Alarm episodes from a sequence of decisions, with refractory merging.

    Parameters
    ----------
    times : array-like of float, shape (K,)
        Decision times in seconds, increasing.
    alarm : array-like of bool, shape (K,)
        The alarm state decided at each time, holding until the next decision.
    end : float
        End of the night in seconds (the last decision holds until then).
    refractory : float
        Episodes separated by a gap shorter than this (seconds) are merged.

    Returns
    -------
    ndarray of float, shape (E, 2)
        ``[start, stop)`` of each episode in seconds, in time order.
    """
    times = np.asarray(times, dtype=float).ravel()
    on = np.asarray(alarm, dtype=bool).ravel()
    if len(times) != len(on):
        raise ValueError(f"{len(times)} decision times for {len(on)} alarm states.")
    if not len(on):
        return np.empty((0, 2))
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    first, after = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    bounds = np.append(times, max(float(end), times[-1]))
    out: list[list[float]] = []
    for i, j in zip(first, after, strict=True):
        start, stop = bounds[i], bounds[j]
        if out and start - out[-1][1] < refractory:
            out[-1][1] = stop
        else:
            out.append([start, stop])
    return np.array(out, dtype=float).reshape(-1, 2)


def score_night(alarms: np.ndarray, onsets, ends=None, start: float = 0.0,
                end: float = 1.0, *, horizon: float = 1800.0,
                early: float = 0.0) -> dict:
    """Match one night's alarm episodes to its events.

    Parameters
    ----------
    alarms : ndarray of float, shape (E, 2)
        Episodes ``[start, stop)`` in seconds (from :func:`episodes`).
    onsets : array-like of float, shape (V,)
        Event onsets in seconds (NaN entries are ignored: a night without an event).
    ends : array-like of float, shape (V,), optional
        Event ends in seconds; where missing, ``onset + horizon``.
    start, end : float
        The night's first and last time in seconds (for the time in alarm).
    horizon : float
        Matching window after onset in seconds when the end is not known.
    early : float
        Seconds before onset from which an episode still counts as a warning of the event.

    Returns
    -------
    dict
        ``latencies`` (ndarray of float, shape (V,), seconds; NaN: missed),
        ``false_alarms`` (int), ``episodes`` (int) and ``time_in_alarm`` (fraction).
    """
    alarms = np.asarray(alarms, dtype=float).reshape(-1, 2)
    onsets = np.asarray(onsets, dtype=float).ravel()
    keep = ~np.isnan(onsets)
    ends = (np.full(len(onsets), np.nan) if ends is None
            else np.asarray(ends, dtype=float).ravel())
    onsets, ends = onsets[keep], ends[keep]
    ends = np.where(np.isnan(ends), onsets + horizon, ends)
    starts = alarms[:, 0]
    matched = np.zeros(len(starts), dtype=bool)
    latencies = np.full(len(onsets), np.nan)
    for v, (o, e) in enumerate(zip(onsets, ends, strict=True)):
        inside = (starts >= o - early) & (starts < e)
        matched |= inside
        if inside.any():
            latencies[v] = starts[inside].min() - o
    length = max(end - start, 1e-12)
    on = np.clip(alarms[:, 1], start, end) - np.clip(alarms[:, 0], start, end)
    return {"latencies": latencies, "false_alarms": int((~matched).sum()),
            "episodes": len(starts), "time_in_alarm": float(on.sum() / length)}


def latency_summary(latencies, budget: float) -> dict:
    """Summary of a latency distribution, missed events included.

    Parameters
    ----------
    latencies : array-like of float, shape (V,)
        Seconds; NaN for a missed event.
    budget : float
        The latency budget in seconds.

    Returns
    -------
    dict
        ``events``, ``missed``, ``within_budget`` (counts), ``sensitivity`` (fraction of
        events detected within the budget), ``median`` and ``p90`` (seconds, a missed
        event counted as infinitely late; NaN without events).
    """
    lat = np.asarray(latencies, dtype=float).ravel()
    late = np.where(np.isnan(lat), np.inf, lat)
    within = int((late <= budget).sum())
    q = (np.quantile(late, [0.5, 0.9], method="inverted_cdf") if len(late)
         else [np.nan, np.nan])
    return {"events": len(lat), "missed": int(np.isnan(lat).sum()), "within_budget": within,
            "sensitivity": within / len(lat) if len(lat) else np.nan,
            "median": float(q[0]), "p90": float(q[1])}


def score_nights(alarms: Mapping[str, np.ndarray], events: pd.DataFrame,
                 spans: Mapping[str, tuple[float, float]], budget: float = 60.0, *,
                 horizon: float = 1800.0, early: float = 0.0) -> tuple[pd.DataFrame, dict]:
    """Score the alarm episodes of several nights against their events.

    Parameters
    ----------
    alarms : mapping of str to ndarray of float, shape (E, 2)
        Night -> episodes (seconds).
    events : DataFrame
        Indexed by night, columns ``onset`` and optionally ``end`` (seconds; NaN onset: no
        event); a night may appear on several rows (several events).
    spans : mapping of str to tuple of float
        Night -> (first, last) time in seconds.
    budget : float
        Latency budget in seconds.
    horizon, early : float
        As for :func:`score_night`.

    Returns
    -------
    per_event : DataFrame
        One row per event: ``night``, ``onset``, ``latency`` (seconds, NaN: missed).
    summary : dict
        :func:`latency_summary` plus ``nights``, ``false_alarms`` (total),
        ``false_alarms_per_night`` and ``time_in_alarm`` (mean fraction over nights).
    """
    rows, false_alarms, in_alarm = [], 0, []
    for night, eps in alarms.items():
        ev = events.loc[events.index == night]
        ends = ev["end"].to_numpy(float) if "end" in ev else None
        s = score_night(eps, ev["onset"].to_numpy(float), ends, *spans[night],
                        horizon=horizon, early=early)
        onsets = ev["onset"].dropna().to_numpy(float)
        rows += [{"night": night, "onset": o, "latency": lat}
                 for o, lat in zip(onsets, s["latencies"], strict=True)]
        false_alarms += s["false_alarms"]
        in_alarm.append(s["time_in_alarm"])
    per_event = pd.DataFrame(rows, columns=["night", "onset", "latency"])
    n = len(in_alarm)
    summary = {**latency_summary(per_event["latency"].to_numpy(float), budget), "nights": n,
               "false_alarms": false_alarms,
               "false_alarms_per_night": false_alarms / n if n else np.nan,
               "time_in_alarm": float(np.mean(in_alarm)) if n else np.nan}
    return per_event, summary


def events_from_glucose(onsets: pd.Series, glucose: Mapping, threshold: float = 70.0
                        ) -> pd.DataFrame:
    """Event onsets and ends of simulated nights: the end is the first second at or after
    onset when true glucose is back at or above the threshold.

    Parameters
    ----------
    onsets : Series
        Night -> onset in seconds (NaN: no event), as :class:`SimulatedNights` holds.
    glucose : mapping of str to tuple of ndarray
        Night -> (times in seconds, true glucose in mg/dL).
    threshold : float
        Hypoglycaemia threshold, mg/dL.

    Returns
    -------
    DataFrame
        Indexed by night, columns ``onset`` and ``end`` (seconds; NaN without an event).
    """
    ends = {}
    for night, onset in onsets.items():
        ends[night] = np.nan
        if np.isnan(onset):
            continue
        times, g = glucose[night]
        back = np.flatnonzero((times >= onset) & (g >= threshold))
        ends[night] = float(times[back[0]]) if len(back) else float(times[-1])
    return pd.DataFrame({"onset": onsets.astype(float), "end": pd.Series(ends)})
