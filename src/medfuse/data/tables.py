"""Reading and writing one table file (CSV, TSV, Parquet): first column = subject ID."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medfuse.data.validation import DataValidationError


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one modality or obs file: first column = subject ID, header row = names.

    CSV, TSV and Parquet are supported. IDs are read as strings.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if frame.index.name is None or isinstance(frame.index, pd.RangeIndex):
            frame = frame.set_index(frame.columns[0])
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        frame = pd.read_csv(path, sep=sep, index_col=0, dtype={0: str})
        frame.index = frame.index.astype(str)
    frame.index.name = "subject"
    if frame.shape[1] == 0:
        raise DataValidationError(f"{path} has an ID column but no feature columns.")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table with the subject ID as first column (format from the file ending)."""
    path = Path(path)
    frame = frame.copy()
    frame.index.name = "subject"
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
