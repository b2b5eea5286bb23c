"""Time series as features: per-channel summaries that work for any length or sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.data.ragged import RaggedBlock
from medfuse.represent.base import Representation, subject_ids

STATISTICS = ("mean", "sd", "min", "max", "slope")


class SeriesSummary(Representation):
    """Per-channel summary of each subject's series ``C x T`` (dense or ragged): mean,
    standard deviation (ddof 0), minimum, maximum and least-squares slope against time.

    Time is the block's ``timestamps`` field when it has one (a ragged block with irregular
    sampling; the slope is then per unit of those timestamps), else the sample index times
    ``sampling_interval``. Series of different lengths give the same columns, so a ragged
    stream becomes a fixed feature table.

    Parameters
    ----------
    sampling_interval : float
        Time between samples when there are no timestamps (default 1: slope per sample).
    statistics : sequence of str
        Which of ``mean, sd, min, max, slope`` to compute.

    Attributes
    ----------
    n_channels_ : int
    feature_names_out_ : list of str, ``c<k>_<statistic>``.
    """

    def __init__(self, sampling_interval: float = 1.0, statistics=STATISTICS) -> None:
        self.sampling_interval = sampling_interval
        self.statistics = statistics

    def fit(self, X, y=None):
        """Record the number of channels and the output columns."""
        unknown = set(self.statistics) - set(STATISTICS)
        if unknown:
            raise ValueError(f"Unknown statistics {sorted(unknown)}; choose from {STATISTICS}.")
        series, _ = _series(X, self.sampling_interval)
        channels = {s.shape[0] for s in series}
        if len(channels) != 1:
            raise ValueError(f"Series must all have the same channels, got {sorted(channels)}.")
        self.n_channels_ = channels.pop()
        self.feature_names_out_ = [f"c{c}_{s}" for c in range(self.n_channels_)
                                   for s in self.statistics]
        return self

    def transform(self, X) -> pd.DataFrame:
        """(N, channels x statistics) summaries, indexed by subject when ``X`` has IDs."""
        series, times = _series(X, self.sampling_interval)
        rows = []
        for s, t in zip(series, times, strict=True):
            if s.shape[0] != self.n_channels_:
                raise ValueError(f"A series has {s.shape[0]} channels; the representation was "
                                 f"fitted on {self.n_channels_}.")
            rows.append(np.concatenate([_summary(ch, t, self.statistics) for ch in s]))
        return pd.DataFrame(np.array(rows).reshape(len(rows), -1), index=subject_ids(X),
                            columns=self.feature_names_out_)


def _series(X, interval: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if isinstance(X, RaggedBlock):
        series = [np.asarray(v, dtype=float) for v in X.values]
        if "timestamps" in X.field_names:
            times = [np.asarray(t, dtype=float).ravel() for t in X.field("timestamps")]
        else:
            times = [np.arange(s.shape[-1]) * interval for s in series]
    else:
        arr = np.asarray(X, dtype=float)
        series = list(arr)
        times = [np.arange(arr.shape[-1]) * interval] * len(arr)
    for s, t in zip(series, times, strict=True):
        if s.ndim != 2 or len(t) != s.shape[1]:
            raise ValueError(f"Each series must be C x T with one timestamp per sample; got "
                             f"shape {s.shape} with {len(t)} timestamps.")
    return series, times


def _summary(x: np.ndarray, t: np.ndarray, statistics) -> np.ndarray:
    out = []
    for stat in statistics:
        if stat == "mean":
            out.append(x.mean())
        elif stat == "sd":
            out.append(x.std())
        elif stat == "min":
            out.append(x.min())
        elif stat == "max":
            out.append(x.max())
        else:
            tc = t - t.mean()
            denom = float(tc @ tc)
            out.append(float(tc @ (x - x.mean())) / denom if denom > 0 else 0.0)
    return np.array(out, dtype=float)
