"""Streaming replay: a fitted detector fed one sample at a time, firing alerts as it would
have live.

:class:`Replayer` keeps one :class:`~medfuse.streams.OnlineWindow` per stream and window,
so its features are those of the offline path (tested to 1e-9), and its alerts are those of
``model.alerts`` (tested on simulated nights). A decision due at time ``d`` (a fast
decision every ``step`` seconds from the first sample, or a CGM arrival) is taken when the
first sample later than ``d`` arrives, or at :meth:`Replayer.finish`: only then is every
sample stamped at or before ``d`` known to be in, whatever the order of streams at equal
times. With streams sampled at 10 Hz that adds at most 0.1 s.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from medfuse.streams.data import StreamSet
from medfuse.streams.designs import HybridMachine
from medfuse.streams.detect import FAST, SLOW, Alert, Detector
from medfuse.streams.online import OnlineWindow
from medfuse.streams.windows import feature_names

_PER_CHANNEL = len(feature_names(["c"]))


class _Features:
    """Online features of a list of (stream, window, kept) specs."""

    def __init__(self, specs) -> None:
        self.specs = tuple(specs)
        self.windows: dict[tuple[str, float], OnlineWindow] = {}
        self.channels: dict[str, int] = {}

    def update(self, stream: str, t: float, x: np.ndarray) -> None:
        for name, window, _ in self.specs:
            if name != stream:
                continue
            key = (name, window)
            if key not in self.windows:
                self.windows[key] = OnlineWindow(window, len(x))
                self.channels[name] = len(x)
            if self.windows[key]._last is None or self.windows[key]._last[0] < t:
                self.windows[key].update(t, x)

    def at(self, t: float) -> np.ndarray:
        names = feature_names(["c"])
        out = []
        for name, window, keep in self.specs:
            w = self.windows.get((name, window))
            channels = self.channels.get(name, 1)
            full = (w.features(t) if w is not None
                    else OnlineWindow(window, channels).features(t))
            pos = [c * _PER_CHANNEL + names.index(f"c_{f}") for c in range(channels)
                   for f in keep]
            out.append(full[pos])
        return np.nan_to_num(np.concatenate(out), nan=0.0, posinf=0.0, neginf=0.0)[None, :]


class Replayer:
    """A fitted detector taking one sample at a time, in time order.

    Parameters
    ----------
    model : Detector
        A fitted design of :mod:`medfuse.streams.designs`.
    budget : float, optional
        The latency budget in seconds; the model's thresholds were chosen for
        ``model.budget``, so another value is refused (refit with ``budget=``).
    """

    def __init__(self, model: Detector, budget: float | None = None) -> None:
        if budget is not None and float(budget) != float(model.budget):
            raise ValueError(f"The model's thresholds were chosen for a {model.budget:g} s "
                             f"budget, not {budget:g} s; refit it with budget={budget:g}.")
        self.model = model
        self.hybrid = model.design == "hybrid"
        fast_specs = FAST if "fast" in model.sources else ()
        slow_specs = {"early": FAST + SLOW, "slow-only": SLOW, "hybrid": SLOW}.get(
            model.design, ())
        self.fast = _Features(fast_specs) if fast_specs else None
        self.slow = _Features(slow_specs) if slow_specs else None
        self.machine = (HybridMachine(model.threshold_, model.confirm_threshold_,
                                      model.confirm_after) if self.hybrid else None)
        self.on = False
        self.start: float | None = None
        self.last = -np.inf
        self.k = 0
        self.pending: list[float] = []
        self.fast_score = 0.0

    def _fast(self, t: float) -> Alert | None:
        x = self.fast.at(t)
        model = self.model.fast_ if self.hybrid else self.model
        score = float(model.score_features(x)[0])
        self.fast_score = score
        return self.machine.fast(t, score) if self.hybrid else self._single(t, score)

    def _slow(self, t: float) -> Alert | None:
        x = self.slow.at(t)
        if not self.hybrid:
            return self._single(t, float(self.model.score_features(x)[0]))
        z = self.model.combine_features(np.array([self.fast_score]), x)
        return self.machine.slow(t, float(self.model.combiner_.predict_proba(z)[0, 1]))

    def _single(self, t: float, score: float) -> Alert | None:
        on = score >= self.model.threshold_
        if on == self.on:
            return None
        self.on = on
        return Alert(t, "alarm" if on else "cleared", score)

    def _decide(self, until: float, inclusive: bool) -> list[Alert]:
        """Take every decision due before ``until`` (at or before, when inclusive)."""
        due = (lambda d: d <= until) if inclusive else (lambda d: d < until)
        out = []
        while True:
            g = self.start + self.k * self.model.step if self.fast else np.inf
            c = self.pending[0] if self.pending else np.inf
            if not due(min(g, c)):
                return out
            if g <= c:
                alert = self._fast(g)
                self.k += 1
            else:
                alert = self._slow(self.pending.pop(0))
            if alert is not None:
                out.append(alert)

    def push(self, stream: str, time: float, values) -> list[Alert]:
        """Take one sample.

        Parameters
        ----------
        stream : str
            Its stream (``cgm``, ``hr`` or ``acc``).
        time : float
            Seconds since the epoch, at or after every earlier sample.
        values : array-like of float, shape (C,)
            One value per channel.

        Returns
        -------
        list of Alert
            The alerts fired by the decisions this sample released.
        """
        time = float(time)
        if time < self.last:
            raise ValueError(f"Sample at {time} is before the previous one ({self.last}).")
        if self.start is None:
            self.start = time
        out = self._decide(time, inclusive=False)
        self.last = time
        x = np.asarray(values, dtype=float).ravel()
        for features in (self.fast, self.slow):
            if features is not None:
                features.update(stream, time, x)
        if stream == "cgm" and self.slow is not None:
            self.pending.append(time)
        return out

    def finish(self) -> list[Alert]:
        """Take the decisions still due at the last sample's time (end of the night).

        Returns
        -------
        list of Alert
        """
        return self._decide(self.last, inclusive=True) if self.start is not None else []


def replay(model: Detector, streams: StreamSet, night: str, budget: float | None = None,
           timings: list | None = None) -> list[Alert]:
    """Replay one night: every sample of every stream in time order through a
    :class:`Replayer`.

    Parameters
    ----------
    model : Detector
        A fitted design.
    streams : StreamSet
        Holding the night.
    night : str
        The night.
    budget : float, optional
        As for :class:`Replayer`.
    timings : list, optional
        When given, the seconds each :meth:`Replayer.push` took are appended, in order.

    Returns
    -------
    list of Alert
        In firing order (the same as ``model.alerts(streams, night)``).
    """
    names: Sequence[str] = [n for n in streams.names if night in streams[n]]
    times = np.concatenate([streams[n][night].times for n in names])
    which = np.concatenate([np.full(len(streams[n][night]), k) for k, n in enumerate(names)])
    index = np.concatenate([np.arange(len(streams[n][night])) for n in names])
    values = [streams[n][night].values.T for n in names]
    player, out = Replayer(model, budget), []
    with threadpool_limits(1):
        for i in np.lexsort((which, times)).tolist():
            k = int(which[i])
            t0 = clock.perf_counter()
            out += player.push(names[k], float(times[i]), values[k][index[i]])
            if timings is not None:
                timings.append(clock.perf_counter() - t0)
        return out + player.finish()
