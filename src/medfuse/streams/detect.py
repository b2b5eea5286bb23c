"""Detecting events in streams under a latency budget: four fusion designs.

Every design scores a night from causal trailing-window features
(:func:`~medfuse.streams.window_features`) at its own decision times and turns scores
into alarm decisions; an alarm episode is scored at event level with
:mod:`medfuse.streams.events`.

==============  ===========================================================================
``early``       features of every stream, decided only when every stream has a fresh
                sample: at each arrival of the slowest stream (the CGM), which is when
                the set of latest samples is complete; the alarm holds until the next one
``fast-only``   heart-rate and accelerometer features, decided every ``step`` seconds
``slow-only``   CGM features, decided at each CGM arrival
``hybrid``      the fast-only score every ``step`` seconds raises a *provisional* alarm;
                at each CGM arrival a confirmation combiner (logistic regression on the
                latest fast score and the CGM features) *confirms* it (the alarm stays,
                its time is the provisional one) or *withdraws* it, but not within
                ``confirm_after`` seconds (600) of the provisional alarm, while the lagging
                CGM cannot yet show the fall; a confirmation with no provisional alarm
                raises one at the CGM arrival; after a withdrawal the fast score must fall
                below its threshold before it can raise again
==============  ===========================================================================

Training: the label at a decision time ``t`` is "inside an event" (``onset <= t < end``).
Each design's score is a gradient-boosted classifier (``HistGradientBoostingClassifier``, 60
trees of at most 15 leaves, seeded; a linear score cannot tell the tremor of an event from
the larger movements of a restless sleeper) fitted on the training nights' decision times
(the fast score every ``train_step`` seconds); the hybrid's confirmation combiner is a
standardised logistic regression. The alarm threshold is chosen on the training nights by
the **budget rule**: among candidate thresholds (quantiles of the training scores), the one
with the highest sensitivity within ``budget`` seconds among those with at most
``max_false_alarms`` false alarms per night (ties: fewer false alarms, then the higher
threshold; when none qualifies, the threshold with the fewest false alarms), on the
training nights' in-sample scores (``inner_folds=k`` chooses on scores predicted out of
``k`` inner folds split by subject instead; on the simulator that was worse, as the inner
models learn from fewer nights). The hybrid's combiner is fitted on the same fast scores,
and its fast and confirmation thresholds are chosen jointly by the same rule. Withdrawn
provisional alarms did sound, so they count as alarm episodes (false ones unless they match
an event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from medfuse.streams.data import Stream, StreamSet
from medfuse.streams.events import episodes, score_nights
from medfuse.streams.windows import feature_names, window_features

#: (stream, window in seconds, features kept) of the fast and the slow streams.
FAST = (("hr", 60.0, ("mean", "sd", "slope")), ("hr", 1800.0, ("mean", "sd")),
        ("acc", 10.0, ("mean", "sd")), ("acc", 60.0, ("mean", "sd")))
SLOW = (("cgm", 900.0, ("last", "slope")), ("cgm", 1800.0, ("mean", "slope")))
#: Alert kinds that put the alarm on.
ON = ("alarm", "provisional", "confirmed")


@dataclass(frozen=True)
class Alert:
    """A change of alarm state, as it fires.

    Parameters
    ----------
    time : float
        Seconds since the epoch.
    kind : str
        ``alarm`` or ``cleared`` (single-score designs); ``provisional``, ``confirmed``,
        ``withdrawn`` or ``cleared`` (hybrid).
    score : float
        The score (probability) that decided it.
    """

    time: float
    kind: str
    score: float


def _columns(night: dict[str, Stream], specs) -> list[tuple[str, float, list[int]]]:
    """Positions of the kept features in each (stream, window)'s full feature vector."""
    out = []
    for stream, window, keep in specs:
        names = feature_names(["c"], None)
        picks = [names.index(f"c_{f}") for f in keep]
        n = len(names)
        channels = night[stream].values.shape[0]
        out.append((stream, window, [c * n + p for c in range(channels) for p in picks]))
    return out


def offline_features(night: dict[str, Stream], query, specs) -> np.ndarray:
    """Causal features of one night at the query times.

    Parameters
    ----------
    night : dict of str to Stream
        The night's streams by name.
    query : array-like of float, shape (Q,)
        Query times in seconds.
    specs : sequence of tuple
        ``(stream, window in seconds, kept feature names)``.

    Returns
    -------
    ndarray of float, shape (Q, F)
        Undefined features (an empty window, no sample yet) are 0.
    """
    parts = []
    for (stream, window, pos) in _columns(night, specs):
        s = night[stream]
        full = window_features(s.times, s.values, query, window).to_numpy()
        parts.append(full[:, pos])
    return np.nan_to_num(np.hstack(parts), nan=0.0, posinf=0.0, neginf=0.0)


def night_of(streams: StreamSet, night: str) -> dict[str, Stream]:
    """The streams of one night by name (a stream absent that night is left out)."""
    return {n: streams[n][night] for n in streams.names if night in streams[n]}


def span(night: dict[str, Stream]) -> tuple[float, float]:
    """First and last sample time of a night, seconds."""
    return (min(float(s.times[0]) for s in night.values()),
            max(float(s.times[-1]) for s in night.values()))


def _boosting(random_state) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, early_stopping=False,
                                          random_state=random_state)


def _logistic(random_state) -> Pipeline:
    return Pipeline([("scale", StandardScaler()),
                     ("model", LogisticRegression(max_iter=1000, random_state=random_state))])


def _label(times: np.ndarray, events: pd.DataFrame, night: str) -> np.ndarray:
    ev = events.loc[events.index == night].dropna(subset=["onset"])
    y = np.zeros(len(times), dtype=int)
    for o, e in zip(ev["onset"], ev["end"], strict=True):
        y |= (times >= o) & (times < e)
    return y


def _candidates(scores: np.ndarray) -> np.ndarray:
    levels = 1 - np.geomspace(0.5, 2e-4, 40)
    return np.unique(np.quantile(scores, levels))


def _best(results: list[tuple[object, dict]], max_fa: float):
    """The budget rule over (threshold, summary) pairs."""
    ok = [r for r in results if r[1]["false_alarms_per_night"] <= max_fa]
    if not ok:
        return min(results, key=lambda r: (r[1]["false_alarms_per_night"], -_first(r[0])))[0]
    return max(ok, key=lambda r: (r[1]["sensitivity"], -r[1]["false_alarms_per_night"],
                                  _first(r[0])))[0]


def _first(t) -> float:
    return float(t[0]) if isinstance(t, tuple) else float(t)


#: The parameters every design takes, in numpydoc form.
PARAMETERS = """
    Parameters
    ----------
    budget : float
        Latency budget in seconds (of the threshold rule).
    max_false_alarms : float
        False alarms per training night the threshold may allow.
    step : float
        Seconds between fast decisions.
    train_step : float
        Seconds between the fast training times.
    refractory : float
        Episodes closer than this (seconds) count as one.
    early : float
        Seconds before onset an alarm still counts for the event.
    inner_folds : int
        With 2 or more, thresholds are chosen on scores of the training nights predicted
        out of this many inner folds split by subject; with 0 or 1 (the default), or fewer
        subjects with and without an event, on in-sample scores (measured better on the
        simulator: see the streams guide).
    random_state : int
        Seed of the fits.
"""


class Detector(BaseEstimator):
    __doc__ = """The common part of the four designs (see the module doc).
""" + PARAMETERS

    design = ""
    sources: tuple[str, ...] = ()

    def __init__(self, budget: float = 60.0, max_false_alarms: float = 1.0,
                 step: float = 1.0, train_step: float = 5.0, refractory: float = 60.0,
                 early: float = 0.0, inner_folds: int = 0, random_state: int = 0) -> None:
        self.budget = budget
        self.max_false_alarms = max_false_alarms
        self.step = step
        self.train_step = train_step
        self.refractory = refractory
        self.early = early
        self.inner_folds = inner_folds
        self.random_state = random_state

    # -- decision times -------------------------------------------------------------
    def fast_times(self, night: dict[str, Stream]) -> np.ndarray:
        """The fast decision grid of a night: every ``step`` s from its first sample."""
        t0, t1 = span(night)
        return t0 + self.step * np.arange(int(np.floor((t1 - t0) / self.step)) + 1)

    @staticmethod
    def slow_times(night: dict[str, Stream]) -> np.ndarray:
        """The CGM arrivals of a night."""
        return night["cgm"].times

    # -- fitting --------------------------------------------------------------------
    def _record(self, streams: StreamSet) -> None:
        used = sorted({s for s, _, _ in self._specs()})
        self.modalities_ = used
        self.modality_kinds_ = {s: "timeseries" for s in used}
        self.feature_names_ = {s: [f"{w:g}s_{f}" for n, w, keep in self._specs() if n == s
                                   for f in keep] for s in used}

    def _specs(self):
        return FAST + SLOW

    def _choose(self, run, candidates, nights, streams, events) -> object:
        spans = {n: span(night_of(streams, n)) for n in nights}
        results = []
        for cand in candidates:
            alarms = {n: run(n, cand) for n in nights}
            _, summary = score_nights(alarms, events.loc[events.index.isin(nights)], spans,
                                      self.budget, early=self.early)
            results.append((cand, summary))
        return _best(results, self.max_false_alarms)

    def alarms(self, streams: StreamSet, night: str) -> np.ndarray:
        """Alarm episodes of one night (refractory merged).

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.

        Returns
        -------
        ndarray of float, shape (E, 2)
            ``[start, stop)`` in seconds.
        """
        found = self.alerts(streams, night)
        return _episodes(found, span(night_of(streams, night))[1], self.refractory)

    def alerts(self, streams: StreamSet, night: str) -> list[Alert]:  # pragma: no cover
        """The alerts of one night as they would have fired (overridden)."""
        raise NotImplementedError


def _episodes(found: Sequence[Alert], end: float, refractory: float) -> np.ndarray:
    return episodes([a.time for a in found], [a.kind in ON for a in found], end, refractory)


def threshold_alerts(times, scores, threshold: float) -> list[Alert]:
    """Alerts of a single score: ``alarm`` when it reaches the threshold, ``cleared`` when it
    falls below.

    Parameters
    ----------
    times : array-like of float, shape (K,)
        Decision times in seconds.
    scores : array-like of float, shape (K,)
        Scores at those times.
    threshold : float
        Alarm at ``score >= threshold``.

    Returns
    -------
    list of Alert
    """
    on = np.asarray(scores) >= threshold
    change = np.flatnonzero(np.diff(np.concatenate([[False], on])).astype(bool))
    return [Alert(float(times[k]), "alarm" if on[k] else "cleared", float(scores[k]))
            for k in change]
