"""How a stream was really sampled: nominal interval, gaps, duplicates, disorder, jitter."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SamplingReport:
    """The sampling of one stream as recorded (times in file order).

    Parameters
    ----------
    n_samples : int
        Samples in all.
    nominal : float
        Nominal interval in seconds (given, or the median of the positive steps).
    n_out_of_order : int
        Samples earlier than the sample before them, in file order.
    n_duplicates : int
        Samples at a time already seen (after sorting).
    n_gaps : int
        Steps between distinct sorted times longer than ``gap_factor`` x ``nominal``.
    gap_seconds : float
        Their total length in seconds.
    longest_gap : float
        The longest step in seconds (0 with fewer than two distinct times).
    jitter_median, jitter_p95 : float
        Median and 95th percentile of ``|step - nominal|`` over the steps that are
        neither gaps nor duplicates, in seconds.
    off_nominal : int
        How many of those steps differ from ``nominal`` at all.
    """

    n_samples: int
    nominal: float
    n_out_of_order: int
    n_duplicates: int
    n_gaps: int
    gap_seconds: float
    longest_gap: float
    jitter_median: float
    jitter_p95: float
    off_nominal: int

    def to_dict(self) -> dict:
        """The report as a plain dict (one row of :func:`sampling_table`).

        Returns
        -------
        dict
        """
        return asdict(self)


def sampling_report(times, nominal: float | None = None, gap_factor: float = 2.0
                    ) -> SamplingReport:
    """The sampling irregularities of one stream.

    Parameters
    ----------
    times : array-like of float, shape (T,)
        Sample times in seconds, in the order recorded (not sorted).
    nominal : float, optional
        The nominal interval in seconds (default: the median positive step).
    gap_factor : float
        A step longer than ``gap_factor * nominal`` is a gap.

    Returns
    -------
    SamplingReport
    """
    t = np.asarray(times, dtype=float).ravel()
    back = int((np.diff(t) < 0).sum())
    s = np.sort(t)
    steps = np.diff(s)
    dups = int((steps == 0).sum())
    positive = steps[steps > 0]
    if nominal is None:
        nominal = float(np.median(positive)) if len(positive) else float("nan")
    gaps = positive[positive > gap_factor * nominal]
    regular = positive[positive <= gap_factor * nominal]
    dev = np.abs(regular - nominal)
    return SamplingReport(
        n_samples=len(t), nominal=float(nominal), n_out_of_order=back, n_duplicates=dups,
        n_gaps=len(gaps), gap_seconds=float(gaps.sum()),
        longest_gap=float(positive.max()) if len(positive) else 0.0,
        jitter_median=float(np.median(dev)) if len(dev) else float("nan"),
        jitter_p95=float(np.percentile(dev, 95)) if len(dev) else float("nan"),
        off_nominal=int((dev > 0).sum()))


def sampling_table(long: pd.DataFrame, nominal: dict | float | None = None,
                   gap_factor: float = 2.0) -> pd.DataFrame:
    """:func:`sampling_report` of every night and channel of a long table.

    Parameters
    ----------
    long : DataFrame
        As :func:`medfuse.streams.read.read_long_table` returns it (columns ``night``,
        ``time`` in seconds, ``channel``), in file order.
    nominal : float or dict of str to float, optional
        Nominal interval in seconds, for all channels or per channel.
    gap_factor : float
        A step longer than ``gap_factor`` times the nominal interval is a gap.

    Returns
    -------
    DataFrame
        One row per (night, channel), the fields of :class:`SamplingReport` as columns.
    """
    rows = {}
    for (night, channel), part in long.groupby(["night", "channel"], sort=False):
        nom = nominal.get(channel) if isinstance(nominal, dict) else nominal
        rows[(night, channel)] = sampling_report(part["time"], nom, gap_factor).to_dict()
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["night", "channel"])
    return out
