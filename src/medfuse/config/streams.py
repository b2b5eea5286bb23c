"""A stream modality of a study file: a long table of sensor samples (``stream:``), read by
:func:`medfuse.streams.read_streams` into a ``timeseries`` modality."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medfuse.config.errors import StudyError
from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import DataValidationError


class StreamRef(BaseModel):
    """Which channels of a long table form one stream, and how it is sampled (other
    channels of the table are left to the modalities that declare them).

    Parameters
    ----------
    channels : list of str
        The channels of the stream (sampled at the same times).
    interval : float, optional
        Nominal sampling interval in seconds (300 for a CGM).
    max_gap : float, optional
        Warn of gaps longer than this many seconds.
    zone : str, optional
        IANA zone of times written without an offset.
    time_unit : {"s", "ms"}, optional
        Unit of numeric times (since 1970-01-01T00:00:00 UTC).
    repair : bool
        Sort samples out of order and drop duplicated times (with a warning) instead of
        refusing them.
    missing : {"warn", "raise"}
        A subject (night) without any sample of the stream: a warning, or an error.
    """

    model_config = ConfigDict(extra="forbid")

    channels: list[str] = Field(min_length=1)
    interval: float | None = Field(default=None, gt=0)
    max_gap: float | None = Field(default=None, gt=0)
    zone: str | None = None
    time_unit: Literal["s", "ms"] | None = None
    repair: bool = False
    missing: Literal["warn", "raise"] = "warn"


def read_stream_block(ref: StreamRef, path: Path, name: str, field: str) -> RaggedBlock:
    """One stream of a long table as a ragged ``timeseries`` block.

    Parameters
    ----------
    ref : StreamRef
        The stream's declaration.
    path : Path
        The long table (CSV, TSV or Parquet; first column the subject or night).
    name : str
        The modality's name.
    field : str
        Names the modality in messages (``modalities.cgm``).

    Returns
    -------
    RaggedBlock
        One row per subject of the table, field ``timestamps`` (seconds since the epoch).

    Raises
    ------
    StudyError
        When the table cannot be read as declared, naming the field and the problem
        (which names the subject, channel and time).
    """
    from medfuse.streams.read import StreamSpec, read_streams

    if not path.exists():
        raise StudyError(f"{field}.file: no such file {path}")
    spec = StreamSpec(tuple(ref.channels), ref.interval, ref.max_gap)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            streams = read_streams(path, {name: spec}, time_unit=ref.time_unit,
                                   zone=ref.zone, max_gap=ref.max_gap, repair=ref.repair,
                                   missing=ref.missing, others="ignore")
    except (DataValidationError, ValueError) as err:
        raise StudyError(f"{field}: {err}") from None
    for w in caught:
        warnings.warn(f"{field}: {w.message}", w.category, stacklevel=3)
    return streams.to_block(name)
