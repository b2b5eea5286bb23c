"""Times of a long table as seconds since the epoch (UTC), with the zone made explicit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.data.validation import DataValidationError

_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
TIME_UNITS = {"s": 1.0, "ms": 1e-3}


def _where(ids: pd.Series, channels: pd.Series, raw: pd.Series, rows, id_name: str) -> str:
    k = int(np.flatnonzero(rows)[0]) if not isinstance(rows, int) else rows
    return (f"{id_name} {ids.iloc[k]!r}, channel {channels.iloc[k]!r}, time "
            f"{raw.iloc[k]!r} (row {k + 1})")


def to_seconds(raw: pd.Series, ids: pd.Series, channels: pd.Series, *,
               time_unit: str | None, zone: str | None, id_name: str = "night") -> np.ndarray:
    """Seconds since 1970-01-01T00:00:00 UTC of each time of a long table.

    Parameters
    ----------
    raw : Series, length n
        The time column as read: numbers (with ``time_unit``), ISO 8601 texts or datetimes.
    ids : Series, length n
        The night (or subject) of each row, for messages.
    channels : Series, length n
        The channel of each row, for messages.
    time_unit : {"s", "ms"} or None
        Unit of numeric times (seconds or milliseconds since the epoch); required for them.
    zone : str or None
        IANA zone of times written without an offset (required for those); times with an
        offset (``Z``, ``+01:00``) are converted from their own offset.
    id_name : str
        What the rows' IDs are called in messages.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        if time_unit not in TIME_UNITS:
            raise DataValidationError(
                "Numeric times need their unit: time_unit='s' or 'ms' (since "
                "1970-01-01T00:00:00 UTC); got time_unit="
                f"{time_unit!r} at {_where(ids, channels, raw, 0, id_name)}.")
        out = raw.to_numpy(dtype=float) * TIME_UNITS[time_unit]
        bad = ~np.isfinite(out)
        if bad.any():
            raise DataValidationError(f"Missing or infinite time at "
                                      f"{_where(ids, channels, raw, bad, id_name)}.")
        return out
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        stamps = raw.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_any_dtype(raw):
        stamps = _localize(raw, raw, zone, ids, channels, id_name)
    else:
        text = raw.astype("string").str.strip()
        missing = text.isna() | (text == "")
        if missing.any():
            raise DataValidationError(f"Missing time at "
                                      f"{_where(ids, channels, raw, missing.to_numpy(), id_name)}.")
        aware = text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)
        if aware.any() and not aware.all():
            raise DataValidationError(
                "Times mix texts with a zone offset and texts without one; write all with an "
                "offset (or all without, and give zone=): first without at "
                f"{_where(ids, channels, raw, ~aware, id_name)}.")
        parsed = pd.to_datetime(text, format="ISO8601", utc=bool(aware.all()),
                                errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise DataValidationError(f"Unreadable time (not ISO 8601) at "
                                      f"{_where(ids, channels, raw, bad, id_name)}.")
        stamps = parsed if aware.all() else _localize(parsed, raw, zone, ids, channels,
                                                      id_name)
    since = stamps - pd.Timestamp(0, tz="UTC")
    return since.dt.total_seconds().to_numpy(dtype=float)


def _localize(stamps: pd.Series, raw: pd.Series, zone: str | None, ids, channels,
              id_name: str) -> pd.Series:
    if not zone:
        raise DataValidationError(
            "Times are written without a zone offset: say which zone they are in (zone="
            f"'UTC', 'Europe/Paris', ...); first at {_where(ids, channels, raw, 0, id_name)}.")
    try:
        local = stamps.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    except (KeyError, ValueError, TypeError) as err:  # an unknown zone name
        raise DataValidationError(f"Unknown time zone {zone!r} ({err}).") from None
    bad = local.isna().to_numpy()
    if bad.any():
        raise DataValidationError(
            f"Local time that occurs twice or never in {zone} (a daylight-saving change): "
            f"{_where(ids, channels, raw, bad, id_name)}; write times with their offset.")
    return local.dt.tz_convert("UTC")
