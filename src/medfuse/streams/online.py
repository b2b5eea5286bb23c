"""Window features online: one sample at a time, the same numbers as
:func:`medfuse.streams.windows.window_features` (tested to 1e-9)."""

from __future__ import annotations

from collections import deque

import numpy as np

from medfuse.data.validation import DataValidationError
from medfuse.streams.windows import _LD, _from_moments, _intervals


class OnlineWindow:
    """The features of :func:`window_features`, one sample at a time.

    Keeps the samples of the current window only; :meth:`features` at time ``t`` answers
    from the samples received so far, which must all be at or before ``t``.

    Parameters
    ----------
    window : float
        Window length in seconds.
    n_channels : int
        Channels per sample.
    hrv : {None, "rate", "interval"}
        As for :func:`window_features`.
    """

    def __init__(self, window: float, n_channels: int = 1, hrv: str | None = None) -> None:
        if not window > 0:
            raise DataValidationError(f"A trailing window must be longer than 0 s, got "
                                      f"{window}.")
        self.window, self.n_channels, self.hrv = float(window), int(n_channels), hrv
        self._buf: deque[tuple[float, np.ndarray]] = deque()
        self._first: tuple[float, np.ndarray] | None = None
        self._last: tuple[float, np.ndarray] | None = None

    def update(self, time: float, value) -> None:
        """Take one sample.

        Parameters
        ----------
        time : float
            Its time in seconds, after every earlier sample.
        value : array-like of float, shape (C,)
            One value per channel.
        """
        x = np.asarray(value, dtype=float).ravel()
        if len(x) != self.n_channels:
            raise DataValidationError(f"A sample of {len(x)} values for {self.n_channels} "
                                      "channels.")
        if self._last is not None and not time > self._last[0]:
            raise DataValidationError(f"Sample at {time} is not after the previous one "
                                      f"({self._last[0]}).")
        if self._first is None:
            self._first = (float(time), x)
        self._last = (float(time), x)
        self._buf.append((float(time), x))

    def features(self, time: float) -> np.ndarray:
        """The features at ``time`` (no sample received may be later).

        Parameters
        ----------
        time : float
            The query time in seconds.

        Returns
        -------
        ndarray of float, shape (C x features,)
            In the order of :func:`feature_names`.
        """
        if self._last is not None and self._last[0] > time:
            raise DataValidationError(f"Features asked at {time}, before the latest sample "
                                      f"({self._last[0]}).")
        while self._buf and self._buf[0][0] <= time - self.window:
            self._buf.popleft()
        n = np.asarray(len(self._buf))
        age = time - self._last[0] if self._last else np.inf
        t0 = self._first[0] if self._first else 0.0
        tc = np.array([t - t0 for t, _ in self._buf], dtype=_LD)
        out: list[float] = []
        for c in range(self.n_channels):
            x = np.array([v[c] for _, v in self._buf])
            xc = (x - self._first[1][c]).astype(_LD) if self._first else x.astype(_LD)
            sd2 = m = None
            if self.hrv:
                r = _intervals(x, self.hrv)
                sd2, m = np.sum((np.diff(r) ** 2).astype(_LD)), np.maximum(n - 1, 0)
            mean, sd, slope, *rest = _from_moments(
                n, tc.sum(), xc.sum(), (tc * tc).sum(), (xc * xc).sum(), (tc * xc).sum(),
                _LD(self._first[1][c]) if self._first else _LD(0), sd2, m)
            last = self._last[1][c] if self._last else np.nan
            out += [float(n), last, age, float(mean), float(sd), float(slope),
                    *(float(v) for v in rest)]
        return np.array(out)
