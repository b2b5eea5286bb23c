"""The four detection designs of :mod:`medfuse.streams.detect` as estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from medfuse.streams.data import Stream, StreamSet
from medfuse.streams.detect import (
    FAST,
    PARAMETERS,
    SLOW,
    Alert,
    Detector,
    _boosting,
    _candidates,
    _episodes,
    _label,
    _logistic,
    night_of,
    offline_features,
    span,
    threshold_alerts,
)


def _stack(parts: list[np.ndarray], labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.vstack(parts), np.concatenate(labels)
    if len(np.unique(y)) < 2:
        raise ValueError("The training nights need time both inside and outside an event.")
    return X, y


class _SingleScore(Detector):
    """One logistic score, alarm at ``score >= threshold_``."""

    source = "fast"

    def times(self, night: dict[str, Stream]) -> np.ndarray:
        """Decision times of a night (seconds)."""
        return self.fast_times(night) if self.source == "fast" else self.slow_times(night)

    def _train_times(self, night: dict[str, Stream]) -> np.ndarray:
        if self.source == "slow":
            return self.slow_times(night)
        t0, t1 = span(night)
        return np.arange(t0, t1 + 1e-9, self.train_step)

    def fit(self, streams: StreamSet, events: pd.DataFrame, nights=None,
            groups=None) -> _SingleScore:
        """Fit the score on the training nights and choose the threshold (budget rule).

        Parameters
        ----------
        streams : StreamSet
            The nights' streams (``cgm``, ``hr``, ``acc``).
        events : DataFrame
            Indexed by night, columns ``onset`` and ``end`` in seconds (NaN: no event).
        nights : sequence of str, optional
            The training nights (default all of ``streams``).
        groups : Series or mapping, optional
            Night -> subject, for the inner folds (default: each night its own subject).

        Returns
        -------
        self
        """
        nights = list(streams.nights if nights is None else nights)
        self._fit_model(streams, events, nights)
        scores = self._threshold_scores(streams, events, nights, groups)
        ends = {n: span(night_of(streams, n))[1] for n in nights}

        def run(n, threshold):
            return _episodes(threshold_alerts(*scores[n], threshold), ends[n],
                             self.refractory)

        pooled = np.concatenate([s for _, s in scores.values()])
        self.threshold_ = float(self._choose(run, _candidates(pooled), nights, streams,
                                             events))
        self._record(streams)
        return self

    def _fit_model(self, streams: StreamSet, events: pd.DataFrame, nights) -> None:
        parts, labels = [], []
        for n in nights:
            night = night_of(streams, n)
            t = self._train_times(night)
            parts.append(offline_features(night, t, self._specs()))
            labels.append(_label(t, events, n))
        self.model_ = _boosting(self.random_state).fit(*_stack(parts, labels))

    def _threshold_scores(self, streams, events, nights, groups) -> dict:
        """Scores of the training nights to choose thresholds on: out of inner folds split
        by subject (``inner_folds >= 2``), else, or where an inner fold's training nights
        hold no event, in-sample."""
        out = {n: self.predict_score(streams, n) for n in nights}
        subjects = np.array([groups[n] if groups is not None else n for n in nights])
        has = np.array([bool(events.loc[events.index == n, "onset"].notna().any())
                        for n in nights])
        k = min(self.inner_folds, len(set(subjects[has])), len(set(subjects[~has])))
        if k < 2:
            return out
        split = StratifiedGroupKFold(k, shuffle=True, random_state=self.random_state)
        for train, test in split.split(np.zeros(len(nights)), has, subjects):
            inner = clone(self)
            try:
                inner._fit_model(streams, events, [nights[i] for i in train])
            except ValueError:  # no event among these training nights: keep in-sample
                continue
            out.update({nights[i]: inner.predict_score(streams, nights[i]) for i in test})
        return out

    def score_features(self, x: np.ndarray) -> np.ndarray:
        """Scores of feature rows.

        Parameters
        ----------
        x : ndarray of float, shape (Q, F)
            From :func:`~medfuse.streams.detect.offline_features` with this design's specs.

        Returns
        -------
        ndarray of float, shape (Q,)
            Probability of being inside an event.
        """
        return self.model_.predict_proba(x)[:, 1]

    def predict_score(self, streams: StreamSet, night: str) -> tuple[np.ndarray, np.ndarray]:
        """The score of one night at its decision times.

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.

        Returns
        -------
        times : ndarray of float, shape (K,)
            Decision times in seconds.
        score : ndarray of float, shape (K,)
            Probability of being inside an event.
        """
        n = night_of(streams, night)
        t = self.times(n)
        return t, self.score_features(offline_features(n, t, self._specs()))

    def alerts(self, streams: StreamSet, night: str) -> list[Alert]:
        """The alerts of one night as they would have fired.

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.

        Returns
        -------
        list of Alert
        """
        return threshold_alerts(*self.predict_score(streams, night), self.threshold_)


class EarlyDetector(_SingleScore):
    __doc__ = """Early fusion: every stream's features, decided at each CGM arrival (waits for all
    streams).
""" + PARAMETERS

    design, source, sources = "early", "slow", ("slow",)

    def _specs(self):
        return FAST + SLOW


class FastDetector(_SingleScore):
    __doc__ = """Fast-only: heart-rate and accelerometer features every ``step`` seconds.
""" + PARAMETERS

    design, source, sources = "fast-only", "fast", ("fast",)

    def _specs(self):
        return FAST


class SlowDetector(_SingleScore):
    __doc__ = """Slow-only: CGM features at each CGM arrival.
""" + PARAMETERS

    design, source, sources = "slow-only", "slow", ("slow",)

    def _specs(self):
        return SLOW


class HybridMachine:
    """The hybrid's alarm state, one decision at a time.

    Parameters
    ----------
    fast_threshold : float
        A fast score at or above it raises a provisional alarm.
    confirm_threshold : float
        A confirmation probability at or above it confirms (or raises) the alarm; below it
        withdraws a provisional alarm or clears a confirmed one.
    confirm_after : float
        Seconds after a provisional alarm was raised during which a CGM decision may confirm
        it but not withdraw it (see :class:`HybridDetector`); 0: any may withdraw it.
    """

    def __init__(self, fast_threshold: float, confirm_threshold: float,
                 confirm_after: float = 0.0) -> None:
        if not confirm_after >= 0:
            raise ValueError(f"confirm_after must be at least 0 seconds, not {confirm_after}.")
        self.fast_threshold, self.confirm_threshold = fast_threshold, confirm_threshold
        self.confirm_after = float(confirm_after)
        self.on = self.confirmed = False
        self.armed = True
        self.raised = -np.inf

    def fast(self, time: float, score: float) -> Alert | None:
        """A fast decision; returns the alert it fires, if any."""
        if score < self.fast_threshold:
            self.armed = True
        elif not self.on and self.armed:
            self.on, self.confirmed, self.raised = True, False, time
            return Alert(time, "provisional", score)
        return None

    def slow(self, time: float, prob: float) -> Alert | None:
        """A confirmation decision at a CGM arrival; returns the alert it fires, if any."""
        if prob >= self.confirm_threshold:
            if self.on and self.confirmed:
                return None
            self.on = self.confirmed = True
            return Alert(time, "confirmed", prob)
        if not self.on or (not self.confirmed and time - self.raised < self.confirm_after):
            return None
        kind = "cleared" if self.confirmed else "withdrawn"
        self.on = self.confirmed = self.armed = False
        return Alert(time, kind, prob)


def _next(mask: np.ndarray) -> np.ndarray:
    """For each position, the first position at or after it where ``mask`` holds (or N)."""
    n = len(mask)
    at = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(at[::-1])[::-1] if n else at


def hybrid_alerts(fast_times, fast_scores, slow_times, slow_probs, fast_threshold: float,
                  confirm_threshold: float, confirm_after: float = 0.0) -> list[Alert]:
    """What :class:`HybridMachine` fires over a night's decisions in time order (at equal
    times the fast decision first), computed a segment between CGM arrivals at a time.

    Parameters
    ----------
    fast_times, fast_scores : ndarray of float, shape (K,)
        Fast decision times (seconds) and scores.
    slow_times, slow_probs : ndarray of float, shape (M,)
        CGM arrivals (seconds) and confirmation probabilities.
    fast_threshold, confirm_threshold, confirm_after : float
        As for :class:`HybridMachine`.

    Returns
    -------
    list of Alert
    """
    ft, fs = np.asarray(fast_times, float), np.asarray(fast_scores, float)
    high = fs >= fast_threshold
    n = len(ft)
    next_high, next_low = np.append(_next(high), n), np.append(_next(~high), n)
    cuts = [*np.searchsorted(ft, np.asarray(slow_times, float), side="right").tolist(), n]
    machine = HybridMachine(fast_threshold, confirm_threshold, confirm_after)
    out, a = [], 0
    for j, b in enumerate(cuts):
        if not machine.on and a < b:
            k = a
            if not machine.armed:
                k = next_low[a]
                machine.armed = k < b
                k = next_high[k] if k < b else b
            k = next_high[k] if k < b else b
            if k < b:
                out.append(machine.fast(float(ft[k]), float(fs[k])))
            elif next_low[a] < b:
                machine.armed = True
        a = max(a, b)
        if j < len(slow_times):
            alert = machine.slow(float(slow_times[j]), float(slow_probs[j]))
            if alert is not None:
                out.append(alert)
    return out


def latest(times: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The value at the latest time at or before each query (0 before the first)."""
    i = np.searchsorted(times, query, side="right") - 1
    return np.where(i >= 0, values[np.maximum(i, 0)], 0.0)


class HybridDetector(Detector):
    __doc__ = """Hybrid: a fast provisional score every ``step`` seconds, confirmed or withdrawn at
    each CGM arrival by a combiner of the latest fast score and the CGM features.
""" + PARAMETERS + """    confirm_after : float
        Seconds after a provisional alarm is raised during which a CGM decision may confirm
        it but not withdraw it; after that the combiner confirms or withdraws it. The CGM
        measures interstitial glucose, which lags blood glucose by about 5 to 10 minutes,
        so the first readings after an onset still look normal and are no evidence against
        the alarm. The default, 600 s, is that typical lag's upper end, fixed in advance
        (not taken from, nor tuned on, the simulator's own lag); 0: any CGM decision may
        withdraw it.
"""

    design, sources = "hybrid", ("fast", "slow")
    CONFIRM = (0.2, 0.35, 0.5, 0.65)
    #: What a model saved before ``confirm_after`` existed loads with (the behaviour its
    #: thresholds were chosen for); an instance's own value shadows it.
    confirm_after = 0.0

    def __init__(self, budget: float = 60.0, max_false_alarms: float = 1.0, step: float = 1.0,
                 train_step: float = 5.0, refractory: float = 60.0, early: float = 0.0,
                 inner_folds: int = 0, random_state: int = 0,
                 confirm_after: float = 600.0) -> None:
        super().__init__(budget, max_false_alarms, step, train_step, refractory, early,
                         inner_folds, random_state)
        self.confirm_after = confirm_after

    def _specs(self):
        return FAST + SLOW

    def fit(self, streams: StreamSet, events: pd.DataFrame, nights=None,
            groups=None) -> HybridDetector:
        """Fit the fast score, the combiner and both thresholds (budget rule).

        Parameters
        ----------
        streams : StreamSet
            The nights' streams (``cgm``, ``hr``, ``acc``).
        events : DataFrame
            Indexed by night, columns ``onset`` and ``end`` in seconds (NaN: no event).
        nights : sequence of str, optional
            The training nights (default all of ``streams``).
        groups : Series or mapping, optional
            Night -> subject, for the inner folds (default: each night its own subject).

        Returns
        -------
        self
        """
        nights = list(streams.nights if nights is None else nights)
        if not self.confirm_after >= 0:
            raise ValueError(f"confirm_after must be at least 0 s, not {self.confirm_after}.")
        self.fast_ = FastDetector(**{k: v for k, v in self.get_params().items()
                                     if k != "confirm_after"})
        self.fast_._fit_model(streams, events, nights)
        fast = self.fast_._threshold_scores(streams, events, nights, groups)
        parts, labels = [], []
        for n in nights:
            night = night_of(streams, n)
            t = self.slow_times(night)
            parts.append(self.combine_features(latest(*fast[n], t),
                                               offline_features(night, t, SLOW)))
            labels.append(_label(t, events, n))
        self.combiner_ = _logistic(self.random_state).fit(*_stack(parts, labels))
        slow = {n: self.confirmations(streams, n, fast[n]) for n in nights}
        ends = {n: span(night_of(streams, n))[1] for n in nights}

        def run(n, pair):
            return _episodes(hybrid_alerts(*fast[n], *slow[n], *pair, self.confirm_after),
                             ends[n], self.refractory)

        pooled = np.concatenate([s for _, s in fast.values()])
        # every fast threshold fast-only may choose (a coarser grid can skip the one level
        # that catches the training events in time: in-sample scores jump from ~0 to ~1)
        pairs = [(f, c) for f in _candidates(pooled) for c in self.CONFIRM]
        chosen = self._choose(run, pairs, nights, streams, events)
        self.threshold_, self.confirm_threshold_ = float(chosen[0]), float(chosen[1])
        self.fast_.threshold_ = self.threshold_
        self.fast_._record(streams)
        self._record(streams)
        return self

    @staticmethod
    def combine_features(fast_score: np.ndarray, slow_features: np.ndarray) -> np.ndarray:
        """Combiner input: the latest fast score beside the CGM features.

        Parameters
        ----------
        fast_score : ndarray of float, shape (M,)
            Latest fast score at each CGM arrival.
        slow_features : ndarray of float, shape (M, F)
            CGM features there.

        Returns
        -------
        ndarray of float, shape (M, F + 1)
        """
        return np.column_stack([fast_score, slow_features])

    def predict_score(self, streams: StreamSet, night: str) -> tuple[np.ndarray, np.ndarray]:
        """The provisional (fast) score of one night.

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.

        Returns
        -------
        times : ndarray of float, shape (K,)
            Fast decision times in seconds.
        score : ndarray of float, shape (K,)
        """
        return self.fast_.predict_score(streams, night)

    def confirmations(self, streams: StreamSet, night: str, fast=None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The confirmation probability at each CGM arrival of one night.

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.
        fast : tuple of ndarray, optional
            The night's :meth:`predict_score` (computed when not given).

        Returns
        -------
        times : ndarray of float, shape (M,)
            CGM arrivals in seconds.
        prob : ndarray of float, shape (M,)
        """
        fast = self.predict_score(streams, night) if fast is None else fast
        n = night_of(streams, night)
        t = self.slow_times(n)
        x = self.combine_features(latest(*fast, t), offline_features(n, t, SLOW))
        return t, self.combiner_.predict_proba(x)[:, 1]

    def alerts(self, streams: StreamSet, night: str) -> list[Alert]:
        """The alerts of one night as they would have fired.

        Parameters
        ----------
        streams : StreamSet
            Holding the night.
        night : str
            The night.

        Returns
        -------
        list of Alert
        """
        fast = self.predict_score(streams, night)
        return hybrid_alerts(*fast, *self.confirmations(streams, night, fast),
                             self.threshold_, self.confirm_threshold_, self.confirm_after)


#: Design name -> estimator class.
DESIGNS = {"early": EarlyDetector, "fast-only": FastDetector, "slow-only": SlowDetector,
           "hybrid": HybridDetector}


def make_detector(design: str, **params) -> Detector:
    """An unfitted detector of a design.

    Parameters
    ----------
    design : {"early", "fast-only", "slow-only", "hybrid"}
        The design.
    **params
        Parameters of :class:`~medfuse.streams.detect.Detector` (e.g. ``budget=60``).

    Returns
    -------
    Detector
    """
    if design not in DESIGNS:
        raise ValueError(f"Unknown design {design!r}; choose from {sorted(DESIGNS)}.")
    return DESIGNS[design](**params)
