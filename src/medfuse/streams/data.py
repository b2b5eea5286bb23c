"""Streams as data: one sensor stream of one night, a set of them, and their modality form.

Times are float seconds since the Unix epoch (1970-01-01T00:00:00 UTC), whatever the zone of
the source; the zone the source was written in is recorded beside them (``zone``), so that a
clock time can be shown as the wearer lived it. Values are ``C x T`` (channels first, one
column per sample), with one unit per channel.

A stream becomes a ``timeseries`` modality of :class:`~medfuse.data.MultiModalData`: a
:class:`~medfuse.data.RaggedBlock` whose rows are nights (or subjects), whose values are the
``C x T`` arrays and whose field ``timestamps`` holds the times. The ``timeseries`` kind
already checks what a stream must be (one finite, strictly increasing time per sample) and
already has representations and encoders; a separate ``stream`` kind would repeat it, so
none is registered. What is particular to a stream (channels, units, zone, nominal
interval) travels in the block's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import DataValidationError

#: The one epoch of every stream time: seconds since this instant.
EPOCH = "1970-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Stream:
    """The samples of one stream in one night.

    Parameters
    ----------
    times : ndarray of float, shape (T,)
        Seconds since :data:`EPOCH` (UTC), strictly increasing.
    values : ndarray of float, shape (C, T)
        One row per channel (a 1-D array is taken as one channel).
    channels : tuple of str, length C
        Channel names.
    units : tuple of str, length C
        Unit of each channel (``""`` when not stated).
    zone : str
        The time zone the source was written in (e.g. ``"Europe/Paris"`` or ``"UTC"``);
        times themselves are always UTC.
    interval : float or None
        Nominal sampling interval in seconds (None when not declared).
    """

    times: np.ndarray
    values: np.ndarray
    channels: tuple[str, ...]
    units: tuple[str, ...] = ()
    zone: str = "UTC"
    interval: float | None = None

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float).ravel()
        values = np.atleast_2d(np.asarray(self.values, dtype=float))
        channels = tuple(str(c) for c in self.channels)
        units = tuple(str(u) for u in self.units) or ("",) * len(channels)
        if values.shape != (len(channels), len(times)) or len(units) != len(channels):
            raise DataValidationError(
                f"A stream with channels {list(channels)} needs values of shape "
                f"({len(channels)}, {len(times)}) and {len(channels)} units; got values "
                f"{values.shape} and {len(units)} units.")
        if len(times) > 1 and not (np.diff(times) > 0).all():
            raise DataValidationError(f"Stream {list(channels)}: times must be strictly "
                                      "increasing.")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "units", units)

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class StreamSet:
    """Streams by name, each by night: ``streams[stream][night] -> Stream``.

    Parameters
    ----------
    streams : dict of str to dict of str to Stream
        A night without a sample of a stream is simply absent from that stream's mapping.
    nights : list of str
        Every night of the set, in order (also those missing some stream).
    """

    streams: dict[str, dict[str, Stream]] = field(default_factory=dict)
    nights: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> dict[str, Stream]:
        return self.streams[name]

    @property
    def names(self) -> list[str]:
        """The stream names."""
        return list(self.streams)

    def to_long(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """The streams as one long table (what :func:`medfuse.streams.read_streams` reads).

        Parameters
        ----------
        names : sequence of str, optional
            Streams to include (default all).

        Returns
        -------
        DataFrame
            Indexed by ``night``; columns ``time`` (seconds since :data:`EPOCH`),
            ``channel``, ``value``, ``unit``; one row per sample and channel.
        """
        parts = []
        for name in names or self.names:
            for night, s in self.streams[name].items():
                for c, (channel, unit) in enumerate(zip(s.channels, s.units, strict=True)):
                    parts.append(pd.DataFrame({"night": night, "time": s.times,
                                               "channel": channel, "value": s.values[c],
                                               "unit": unit}))
        return pd.concat(parts, ignore_index=True).set_index("night")

    def to_block(self, name: str) -> RaggedBlock:
        """One stream as a ragged block (one row per night of the set).

        Parameters
        ----------
        name : str
            The stream.

        Returns
        -------
        RaggedBlock
            Values ``C x T`` per night (None where the night has no sample), field
            ``timestamps`` (seconds since :data:`EPOCH`), metadata ``channels``, ``units``
            (tuples), ``zone`` and ``interval`` (seconds, NaN when not declared).
        """
        by_night = self.streams[name]
        got = [by_night.get(n) for n in self.nights]
        meta = pd.DataFrame(index=pd.Index(self.nights, name="subject"))
        meta["channels"] = pd.Series([s.channels if s else np.nan for s in got],
                                     index=meta.index, dtype=object)
        meta["units"] = pd.Series([s.units if s else np.nan for s in got], index=meta.index,
                                  dtype=object)
        meta["zone"] = [s.zone if s else np.nan for s in got]
        meta["interval"] = [np.nan if s is None or s.interval is None else float(s.interval)
                            for s in got]
        return RaggedBlock(self.nights, [s.values if s else None for s in got],
                           {"timestamps": [s.times if s else None for s in got]}, meta)

    def to_data(self, obs: pd.DataFrame | None = None, outcome: str | None = None):
        """All streams as ``timeseries`` modalities of one :class:`MultiModalData`.

        Parameters
        ----------
        obs : DataFrame, optional
            Per-night metadata indexed by night.
        outcome : str, optional
            The obs column to predict.

        Returns
        -------
        MultiModalData
            One modality per stream, rows = nights; a night without a stream is marked
            unavailable for it.
        """
        from medfuse.data.multimodal import MultiModalData

        return MultiModalData({n: self.to_block(n) for n in self.streams}, obs=obs,
                              modalities={n: "timeseries" for n in self.streams},
                              outcome=outcome)

    @classmethod
    def from_block(cls, name: str, block: RaggedBlock) -> StreamSet:
        """The inverse of :meth:`to_block`: one stream read back from a ragged block.

        Parameters
        ----------
        name : str
            The stream's name.
        block : RaggedBlock
            With field ``timestamps``; metadata ``channels``, ``units``, ``zone`` and
            ``interval`` where present (channels default to ``c0``, ``c1`` ...).

        Returns
        -------
        StreamSet
        """
        out: dict[str, Stream] = {}
        stamps = block.field("timestamps")
        for i, night in enumerate(block.ids):
            values = block.values[i]
            if values is None:
                continue
            meta = block.item(i)
            channels = meta.get("channels")
            if not isinstance(channels, tuple):
                channels = tuple(f"c{k}" for k in range(np.atleast_2d(values).shape[0]))
            units, zone = meta.get("units"), meta.get("zone")
            interval = meta.get("interval")
            out[night] = Stream(stamps[i], values, channels,
                                units if isinstance(units, tuple) else (),
                                zone if isinstance(zone, str) else "UTC",
                                None if interval is None or pd.isna(interval)
                                else float(interval))
        return cls({name: out}, list(block.ids))


def merge(sets: Sequence[StreamSet] | Mapping[str, StreamSet]) -> StreamSet:
    """Streams of several sets side by side (nights: the union, in first-seen order).

    Parameters
    ----------
    sets : sequence of StreamSet
        Sets with distinct stream names.

    Returns
    -------
    StreamSet
    """
    sets = list(sets.values()) if isinstance(sets, Mapping) else list(sets)
    streams: dict[str, dict[str, Stream]] = {}
    nights: list[str] = []
    for s in sets:
        for name, by_night in s.streams.items():
            if name in streams:
                raise DataValidationError(f"Stream {name!r} occurs in two sets.")
            streams[name] = dict(by_night)
        nights += [n for n in s.nights if n not in nights]
    return StreamSet(streams, nights)


def seconds_to_iso(seconds: float, zone: str = "UTC") -> str:
    """A stream time as an ISO date and time in ``zone`` (for messages).

    Parameters
    ----------
    seconds : float
        Seconds since :data:`EPOCH`.
    zone : str
        An IANA zone name or ``UTC``.

    Returns
    -------
    str
    """
    if not np.isfinite(seconds):
        return str(seconds)
    stamp = pd.Timestamp(seconds, unit="s", tz="UTC")
    try:
        stamp = stamp.tz_convert(zone)
    except (KeyError, ValueError, TypeError):  # an unknown zone: say it in UTC
        pass
    return stamp.isoformat()
