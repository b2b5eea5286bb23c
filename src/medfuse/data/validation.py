"""Input checks shared by the data layer; every message names the modality, column or subject.

The one error type is :class:`DataValidationError`. Checks of what a modality's values may be
live with the modality kinds (:mod:`medfuse.data.kinds`), which call the helpers here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


class DataValidationError(ValueError):
    """Raised when input data cannot be used as given; the message says what to fix."""


def preview(items: Iterable[Any], limit: int = 5) -> str:
    """The first ``limit`` items, quoted, and how many there are in all."""
    items = [str(i) for i in items]
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def listing(items: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` items as written (already quoted where needed), and how many
    there are in all."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def as_id_index(ids) -> pd.Index:
    """Subject IDs as strings, so that IDs read from different files (``7`` and ``"7"``)
    match."""
    ids = pd.Index([str(i) for i in ids], dtype=object, name="subject")
    empty = [i for i, v in enumerate(ids) if v in ("", "nan", "None")]
    if empty:
        raise DataValidationError(f"Empty or missing subject ID at row(s) {preview(empty)}.")
    return ids


def check_unique_ids(name: str, ids: pd.Index) -> None:
    """Refuse duplicate subject IDs in one modality."""
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataValidationError(
            f"Modality {name!r} has duplicate subject IDs: {preview(dup.unique())}.")


def check_unique_columns(name: str, columns: pd.Index) -> None:
    """Refuse duplicate feature names in one modality."""
    dup = columns[columns.duplicated()]
    if len(dup):
        raise DataValidationError(
            f"Modality {name!r} has duplicate column names: {preview(dup.unique())}.")


def to_numeric(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as float; a non-numeric cell raises an error naming it."""
    dtypes = frame.dtypes
    numeric = np.array([pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                        for t in dict.fromkeys(dtypes)], dtype=bool)
    if numeric.all():
        # one conversion of the whole table (a 20,000-column block costs seconds column by
        # column)
        return frame.astype(float)
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = s.astype(float)
            continue
        converted = pd.to_numeric(s, errors="coerce")
        bad = converted.isna() & s.notna()
        if bad.any():
            subj = s.index[bad][0]
            raise DataValidationError(
                f"Modality {name!r}, column {col!r}: non-numeric value {s[subj]!r} for subject "
                f"{subj!r} ({int(bad.sum())} such cell(s)). Declare the modality as 'clinical' "
                "if it holds categories, or fix the value.")
        out[col] = converted.astype(float)
    return pd.DataFrame(out, index=frame.index)


def _first_cell(frame: pd.DataFrame, bad: np.ndarray) -> tuple[str, str, int]:
    """(column, subject, count) of the first True cell of ``bad``."""
    r, c = np.argwhere(bad)[0]
    return frame.columns[c], frame.index[r], int(bad.sum())


def check_no_inf(name: str, frame: pd.DataFrame) -> None:
    """Refuse infinite cells of a numeric table."""
    inf = np.isinf(frame.to_numpy(dtype=float))
    if inf.any():
        col, subject, count = _first_cell(frame, inf)
        raise DataValidationError(
            f"Modality {name!r}, column {col!r}: infinite value for subject {subject!r} "
            f"({count} such cell(s)).")


def check_no_nan(name: str, frame: pd.DataFrame) -> None:
    """Refuse missing cells in the rows of subjects who have the modality."""
    nan = frame.isna().to_numpy()
    if nan.any():
        col, subject, count = _first_cell(frame, nan)
        raise DataValidationError(
            f"Modality {name!r}, column {col!r}: missing value for subject {subject!r}, who "
            f"has this modality ({count} missing cell(s) in all). Impute it, or declare "
            "Modality(kind=..., allow_nan=True) for a model that handles missing cells.")


def check_counts(name: str, frame: pd.DataFrame) -> None:
    """Refuse negative or non-integer counts."""
    values = frame.to_numpy(dtype=float)
    for problem, bad in (("negative", values < 0),
                         ("non-integer", np.isfinite(values) & (values != np.round(values)))):
        if bad.any():
            col, subject, count = _first_cell(frame, bad)
            raise DataValidationError(
                f"Modality {name!r} (counts), column {col!r}: {problem} value "
                f"{frame.loc[subject, col]!r} for subject {subject!r} ({count} such "
                "cell(s)). Counts must be non-negative integers; use kind='continuous' for "
                "normalised values.")


def check_finite_array(name: str, ids: pd.Index, values: Iterable[np.ndarray],
                       allow_nan: bool) -> None:
    """Refuse NaN (unless allowed) and inf in per-subject arrays; names the subjects."""
    bad = []
    for subject, arr in zip(ids, values, strict=True):
        flat = np.asarray(arr, dtype=float).ravel()
        wrong = ~np.isfinite(flat)
        if allow_nan:
            wrong &= ~np.isnan(flat)
        if wrong.any():
            bad.append(subject)
    if bad:
        raise DataValidationError(
            f"Modality {name!r} has non-finite values (NaN/inf) for subject(s) {preview(bad)}.")
