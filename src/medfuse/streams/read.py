"""Reading long tables of sensor samples into streams, with every check named.

A long table has one row per sample and channel: the night (or subject) first, then
``time``, ``channel``, ``value`` and optionally ``unit`` (CSV, TSV or Parquet, read through
:func:`medfuse.data.read_table`; or a DataFrame). Times are ISO 8601 texts (with an offset,
or without one and a stated ``zone``) or numbers with a stated ``time_unit`` (seconds or
milliseconds since 1970-01-01T00:00:00 UTC).

Errors (:class:`~medfuse.data.DataValidationError`) and warnings name the night, the channel
and the time: an unreadable or missing time or value, two units for one channel, samples out
of order or duplicated (``repair=True`` sorts them and keeps the first of each duplicate,
with a warning), a declared channel that never reports, channels of one stream at different
times, a gap longer than ``max_gap`` (warning) and a night without any sample of a declared
stream (warning, or error with ``missing="raise"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.validation import DataValidationError, preview
from medfuse.streams.checks import StreamWarning, check_order, warn_gaps
from medfuse.streams.data import Stream, StreamSet, seconds_to_iso
from medfuse.streams.timeparse import to_seconds

REQUIRED = ("time", "channel", "value")


@dataclass(frozen=True)
class StreamSpec:
    """A declared stream: which channels form it and how often it should report.

    Parameters
    ----------
    channels : tuple of str
        Its channels (sampled together: the same times).
    interval : float, optional
        Nominal sampling interval in seconds (300 for a CGM, 1 for heart rate).
    max_gap : float, optional
        Warn of a gap between samples longer than this many seconds (default: the reader's
        ``max_gap``).
    """

    channels: tuple[str, ...]
    interval: float | None = None
    max_gap: float | None = None


def read_long_table(source: str | Path | pd.DataFrame, *, time_unit: str | None = None,
                    zone: str | None = None) -> pd.DataFrame:
    """A long table, checked, with times in seconds since the epoch (UTC).

    Parameters
    ----------
    source : str, Path or DataFrame
        A ``.csv``, ``.tsv`` or ``.parquet`` file whose first column is the night (or
        subject), or a DataFrame with that column first (or as its index).
    time_unit : {"s", "ms"}, optional
        Unit of numeric times.
    zone : str, optional
        IANA zone of times written without an offset.

    Returns
    -------
    DataFrame, shape (n, 5)
        Columns ``night`` (str), ``time`` (float seconds), ``channel`` (str), ``value``
        (float), ``unit`` (str, ``""`` when not given), in file order; ``attrs["id_name"]``
        is the first column's name.
    """
    if isinstance(source, pd.DataFrame):
        first = str(source.columns[0]) if source.shape[1] else ""
        frame = source if first in (*REQUIRED, "unit") else source.set_index(source.columns[0])
        id_name = str(frame.index.name or "night")
    else:
        from medfuse.data.tables import header_names, read_table

        id_name = header_names(Path(source))[0] or "night"
        frame = read_table(source)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(f"A long stream table needs columns {list(REQUIRED)} after "
                                  f"the {id_name} column; {preview(missing)} missing (has "
                                  f"{preview(map(str, frame.columns))}).")
    ids = pd.Series(frame.index.astype(str), dtype=object)
    channels = frame["channel"].reset_index(drop=True).astype(str)
    raw = frame["time"].reset_index(drop=True)
    seconds = to_seconds(raw, ids, channels, time_unit=time_unit, zone=zone, id_name=id_name)
    given = frame["value"].reset_index(drop=True)
    values = pd.to_numeric(given, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"{int(bad.sum())} value(s) missing or not numbers; first {id_name} "
            f"{ids.iloc[k]!r}, channel {channels.iloc[k]!r}, time {raw.iloc[k]!r}: "
            f"{given.iloc[k]!r}.")
    units = (frame["unit"].reset_index(drop=True).fillna("").astype(str).str.strip()
             if "unit" in frame.columns else pd.Series([""] * len(frame), dtype=object))
    out = pd.DataFrame({"night": ids, "time": seconds, "channel": channels, "value": values,
                        "unit": units})
    _check_units(out, id_name, zone)
    out.attrs["id_name"] = id_name
    return out


def _check_units(long: pd.DataFrame, id_name: str, zone: str | None) -> None:
    for channel, rows in long.groupby("channel", sort=False):
        stated = rows.loc[rows["unit"] != "", "unit"]
        kinds = stated.unique()
        if len(kinds) > 1:
            first = rows.loc[stated.index[stated != kinds[0]][0]]
            raise DataValidationError(
                f"Channel {channel!r} has mixed units {preview(kinds)}: {kinds[0]!r} first, "
                f"then {first['unit']!r} at {id_name} {first['night']!r}, time "
                f"{seconds_to_iso(first['time'], zone or 'UTC')}; convert to one unit.")


def read_streams(source: str | Path | pd.DataFrame,
                 streams: Mapping[str, StreamSpec | tuple | list | str] | None = None, *,
                 time_unit: str | None = None, zone: str | None = None,
                 max_gap: float | None = None, repair: bool = False,
                 missing: str = "warn", others: str = "warn") -> StreamSet:
    """Read a long table into one stream per declared group of channels.

    Parameters
    ----------
    source : str, Path or DataFrame
        See :func:`read_long_table`.
    streams : mapping of str to StreamSpec, optional
        Stream name -> its channels (a :class:`StreamSpec`, a channel name or a list of
        them). Default: every channel of the table is its own stream.
    time_unit : {"s", "ms"}, optional
        Unit of numeric times.
    zone : str, optional
        IANA zone of times without an offset; recorded on every stream (``"UTC"`` when
        not given).
    max_gap : float, optional
        Warn of gaps longer than this many seconds (a stream's own ``max_gap`` wins).
    repair : bool
        Sort samples out of order and keep the first of duplicated times (each with a
        warning) instead of refusing them.
    missing : {"warn", "raise"}
        What a night without any sample of a declared stream gives.
    others : {"warn", "ignore"}
        Whether channels of the table that no stream declares are named in a warning
        (they are left out either way).

    Returns
    -------
    StreamSet
        Nights in order of first appearance.
    """
    if missing not in ("warn", "raise"):
        raise ValueError(f"missing must be 'warn' or 'raise', got {missing!r}.")
    long = read_long_table(source, time_unit=time_unit, zone=zone)
    id_name, where_zone = long.attrs["id_name"], zone or "UTC"
    specs = _specs(streams, long)
    declared = [c for s in specs.values() for c in s.channels]
    silent = [c for c in declared if c not in set(long["channel"])]
    if silent:
        raise DataValidationError(f"Declared channel(s) {preview(silent)} never report: no row "
                                  f"in the table (its channels: "
                                  f"{preview(long['channel'].unique())}).")
    extra = sorted(set(long["channel"]) - set(declared))
    if extra and others == "warn":
        warnings.warn(f"Channels {preview(extra)} belong to no declared stream; ignored.",
                      StreamWarning, stacklevel=2)
    long = check_order(long[long["channel"].isin(declared)], id_name, where_zone, repair)
    nights = list(dict.fromkeys(long["night"]))
    units = long.groupby("channel")["unit"].agg(lambda u: next((x for x in u if x), ""))
    out: dict[str, dict[str, Stream]] = {}
    for name, spec in specs.items():
        rows = long[long["channel"].isin(spec.channels)]
        out[name] = {}
        for night, part in rows.groupby("night", sort=False):
            times, values = _wide(part, spec.channels, id_name, night, where_zone)
            out[name][night] = Stream(times, values, spec.channels,
                                      tuple(units[c] for c in spec.channels), where_zone,
                                      spec.interval)
        absent = [n for n in nights if n not in out[name]]
        if absent:
            message = (f"Stream {name!r} (channels {list(spec.channels)}) has no sample in "
                       f"{id_name}(s) {preview(absent)}.")
            if missing == "raise":
                raise DataValidationError(message)
            warnings.warn(message, StreamWarning, stacklevel=2)
        warn_gaps(name, out[name], spec.max_gap or max_gap, id_name, where_zone)
    return StreamSet(out, nights)


def _specs(streams, long: pd.DataFrame) -> dict[str, StreamSpec]:
    if streams is None:
        return {c: StreamSpec((c,)) for c in dict.fromkeys(long["channel"])}
    out = {}
    for name, spec in streams.items():
        if isinstance(spec, str):
            spec = StreamSpec((spec,))
        elif not isinstance(spec, StreamSpec):
            spec = StreamSpec(tuple(str(c) for c in spec))
        out[str(name)] = spec
    seen: dict[str, str] = {}
    for name, spec in out.items():
        for c in spec.channels:
            if c in seen:
                raise DataValidationError(f"Channel {c!r} is declared in streams {seen[c]!r} "
                                          f"and {name!r}.")
            seen[c] = name
    return out


def _wide(part: pd.DataFrame, channels: tuple[str, ...], id_name: str, night: str,
          zone: str) -> tuple[np.ndarray, np.ndarray]:
    """One night's samples of a stream as (times, C x T), channels at the same times."""
    if len(channels) == 1:
        return part["time"].to_numpy(), part["value"].to_numpy()[None, :]
    wide = part.pivot(index="time", columns="channel", values="value")
    for c in channels:
        if c not in wide.columns:
            raise DataValidationError(f"Channel {c!r} has no sample in {id_name} {night!r} "
                                      f"while the others of its stream do.")
        lacking = wide.index[wide[c].isna().to_numpy()]
        if len(lacking):
            raise DataValidationError(
                f"Channels of one stream must report together: {id_name} {night!r}, channel "
                f"{c!r} has no sample at time {seconds_to_iso(lacking[0], zone)} "
                f"({len(lacking)} such time(s)).")
    return wide.index.to_numpy(dtype=float), wide[list(channels)].to_numpy().T
