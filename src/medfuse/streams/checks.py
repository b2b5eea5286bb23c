"""The checks of a long table that warn or refuse: order, duplicates and gaps, each named by
night (or subject), channel and time."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from medfuse.data.validation import DataValidationError
from medfuse.streams.data import Stream, seconds_to_iso


class StreamWarning(UserWarning):
    """A stream can be used but is not as declared (a gap, a missing night, a repair)."""


def check_order(long: pd.DataFrame, id_name: str, zone: str, repair: bool) -> pd.DataFrame:
    """Samples sorted by time within each night and channel; disorder and duplicates
    refused (or repaired with a warning)."""
    grouped = long.groupby(["night", "channel"], sort=False)["time"]
    step = grouped.diff()
    back = long[(step < 0).to_numpy()]
    ordered = long.sort_values(["night", "channel", "time"], kind="stable")
    same = ordered.duplicated(["night", "channel", "time"], keep="first")
    dups = ordered[same.to_numpy()]
    for found, what, fix in ((back, "out of order (earlier than the sample before it)",
                              "sorted"), (dups, "duplicated (a second sample at the same "
                                          "time)", "dropped, the first kept")):
        if not len(found):
            continue
        first = found.iloc[0]
        message = (f"{len(found)} sample(s) {what}; first at {id_name} {first['night']!r}, "
                   f"channel {first['channel']!r}, time {seconds_to_iso(first['time'], zone)}")
        if not repair:
            raise DataValidationError(message + "; fix the table or read with repair=True.")
        warnings.warn(f"{message}: {fix}.", StreamWarning, stacklevel=3)
    return ordered[~same.to_numpy()]


def warn_gaps(name: str, by_night: dict[str, Stream], limit: float | None, id_name: str,
               zone: str) -> None:
    if limit is None:
        return
    found = []
    for night, s in by_night.items():
        steps = np.diff(s.times)
        for k in np.flatnonzero(steps > limit):
            found.append(f"{id_name} {night!r}, channel {s.channels[0]!r}, from "
                         f"{seconds_to_iso(s.times[k], zone)} for {steps[k]:g} s")
    if found:
        shown = "; ".join(found[:5]) + (f" ... ({len(found)} in all)" if len(found) > 5 else "")
        warnings.warn(f"Stream {name!r}: {len(found)} gap(s) longer than {limit:g} s: {shown}.",
                      StreamWarning, stacklevel=3)
