"""Reading and writing one table file (CSV, TSV, Parquet): first column = subject ID."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd

from medfuse.data.validation import DataValidationError, preview


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one modality or obs file: first column = subject ID, header row = names.

    CSV, TSV and Parquet are supported. IDs are read as strings. A header row that names
    a column twice is refused (pandas would silently rename the second one ``name.1``).

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.parquet`` file.

    Returns
    -------
    DataFrame
        Indexed by subject ID (index name ``subject``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    check_header(path, header_names(path))
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


def header_names(path: Path) -> list[str]:
    """The column names of a table file as written in it (the ID column first), read
    without pandas, which renames repeated names."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [str(n) for n in pq.read_schema(path).names if not n.startswith("__index")]
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        row = next(csv.reader(handle, delimiter="\t" if path.suffix == ".tsv" else ","), [])
    return [name.strip() for name in row]


def check_header(path: Path, names: list[str]) -> None:
    """Refuse a header that names a column twice, naming the file and the columns."""
    counts = Counter(n for n in names[1:] if n)
    repeated = [n for n, c in counts.items() if c > 1]
    if repeated:
        raise DataValidationError(
            f"{path}: duplicate column name(s) {preview(repeated)} in the header row (pandas "
            f"would rename them '{repeated[0]}.1', ...); give every column its own name.")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table with the subject ID as first column (format from the file ending).

    Parameters
    ----------
    frame : DataFrame
        Indexed by subject ID.
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.parquet`` file.
    """
    path = Path(path)
    frame = frame.copy()
    frame.index.name = "subject"
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
