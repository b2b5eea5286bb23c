"""Reading and writing one table file (CSV, TSV, Parquet): first column = subject ID."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pandas as pd

from medfuse import limits
from medfuse.data.validation import DataValidationError, preview


def read_table(path: str | Path, max_columns: int | None = None) -> pd.DataFrame:
    """Read one modality or obs file: first column = subject ID, header row = names.

    CSV, TSV and Parquet are supported. IDs are read as strings. Only a regular file is
    read (not a device or FIFO). The header row is read first: one that names a column twice
    is refused (pandas would silently rename the second one ``name.1``), and so is one with
    more columns than the cap (``max_columns``, else ``MEDFUSE_MAX_COLUMNS``), before the
    table is read into memory.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.parquet`` file.
    max_columns : int, optional
        The most columns a modality of this kind may have (a kind that is wide by nature
        gives its own); default: :data:`medfuse.limits.COLUMNS`.

    Returns
    -------
    DataFrame
        Indexed by subject ID (index name ``subject``).
    """
    from medfuse.files import open_regular

    path = Path(path)
    with open_regular(path) as handle:
        names = header_names(path, handle)
        check_header(path, names)
        if max_columns is not None:
            if len(names) - 1 > max_columns:
                raise DataValidationError(f"{path} has {len(names) - 1:,} columns, more than "
                                          f"the {max_columns:,} its modality kind reads.")
        else:
            limits.COLUMNS.check(len(names) - 1, f"{path} (header row)")
        handle.seek(0)
        if path.suffix == ".parquet":
            frame = read_parquet(handle)
        else:
            sep = "\t" if path.suffix == ".tsv" else ","
            frame = pd.read_csv(handle, sep=sep, index_col=0, dtype={0: str})
            frame.index = frame.index.astype(str)
    frame.index.name = "subject"
    if frame.shape[1] == 0:
        raise DataValidationError(f"{path} has an ID column but no feature columns.")
    return frame


def read_parquet(handle) -> pd.DataFrame:
    """A Parquet table indexed by its first column (or by the index pandas stored).

    A file written in several row groups whose feature columns share one numeric type (a
    wide omics or imaging table written in chunks) is read one row group at a time into
    one preallocated array: reading it takes little more memory than the table itself
    (about 1.3 times a 50,000 x 1,000 float64 table, against 3.3 times when the Arrow
    table and the pandas frame are held at once). Other files are read whole. The result
    is the same either way (``pandas.read_parquet`` then ``set_index``).

    Parameters
    ----------
    handle : binary file object
        The open ``.parquet`` file.

    Returns
    -------
    DataFrame
        Rows = subjects (index: the first column), columns = the other columns.
    """
    import numpy as np
    import pyarrow.parquet as pq

    source = pq.ParquetFile(handle, pre_buffer=False)
    kind = _one_numeric_type(source) if source.metadata.num_row_groups > 1 else None
    if kind is None:
        handle.seek(0)
        frame = pd.read_parquet(handle)
        if frame.index.name is None or isinstance(frame.index, pd.RangeIndex):
            frame = frame.set_index(frame.columns[0])
        return frame
    names = source.schema_arrow.names
    values = np.empty((source.metadata.num_rows, len(names) - 1), dtype=kind.to_pandas_dtype())
    ids: list = []
    start = 0
    for g in range(source.metadata.num_row_groups):
        group = source.read_row_group(g)
        stop = start + group.num_rows
        ids.extend(group.column(0).to_pylist())
        for j in range(1, group.num_columns):  # a null float is read as NaN
            values[start:stop, j - 1] = group.column(j).to_numpy()
        start = stop
        del group
    return pd.DataFrame(values, index=pd.Index(ids, name=names[0]),
                        columns=pd.Index(names[1:], dtype=object), copy=False)


def _one_numeric_type(source):
    """The Arrow type every feature column of a Parquet file has, when it is one numeric
    type that reads the same in batches as whole: floating, or integer without nulls (the
    file's statistics say so; pandas would read an integer column with nulls as float).
    None otherwise (and when pandas stored its own index)."""
    import pyarrow as pa

    schema = source.schema_arrow
    names = schema.names
    types = {schema.field(n).type for n in names[1:]}
    if len(names) < 2 or len(types) != 1 or any(n.startswith("__index") for n in names):
        return None
    kind = types.pop()
    if pa.types.is_floating(kind):
        return kind
    if not pa.types.is_integer(kind):
        return None
    meta = source.metadata
    for g in range(meta.num_row_groups):
        for j in range(1, len(names)):
            stats = meta.row_group(g).column(j).statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                return None
    return kind


def header_names(path: Path, handle=None) -> list[str]:
    """The column names of a table file as written in it (the ID column first), read
    without pandas, which renames repeated names, and without reading past the header.

    Parameters
    ----------
    path : Path
        The file (its ending says the format).
    handle : binary file object, optional
        The file, already opened (read from its start).

    Returns
    -------
    list of str
    """
    from medfuse.files import open_regular

    if handle is None:
        with open_regular(path) as own:
            return header_names(path, own)
    handle.seek(0)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [str(n) for n in pq.read_schema(handle).names if not n.startswith("__index")]
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
    try:
        row = next(csv.reader(text, delimiter="\t" if path.suffix == ".tsv" else ","), [])
    except csv.Error as err:
        raise DataValidationError(f"{path}: the header row cannot be read ({err}).") from None
    finally:
        text.detach()
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
    from medfuse.files import to_bytes, write_file

    path = Path(path)
    frame = frame.copy()
    frame.index.name = "subject"
    if path.suffix == ".parquet":
        write_file(path, to_bytes(frame.to_parquet))
    else:
        write_file(path, frame.to_csv(sep="\t" if path.suffix == ".tsv" else ","))
