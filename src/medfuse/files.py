"""Files confined to their folders: the one way medfuse writes, deletes and reads a file.

Writing (the benchmark's outputs and cache, model folders, data folders, predictions):

- a folder inside an output folder is created, or used, only when it is a real directory: a
  symbolic link where a folder is expected is refused (:func:`confined_folder`);
- a file is written to a fresh temporary file in its own folder, created without following
  links, and renamed over the target (:func:`write_file`); a link (or anything but a regular
  file) where the file is expected is refused, never followed;
- a file is deleted only when it is a regular file, never through a link
  (:func:`remove_file`).

Reading (:func:`open_regular`, :func:`read_bytes`): only regular files (a FIFO would block
for ever, ``/dev/zero`` never ends), opened without blocking; where no link may be followed
(model folders, the cache) a link is refused. A JSON document is size-capped before it is
parsed (:func:`read_json`), and its decode errors name the file.

Every refusal is an :class:`UnsafePathError` that names the path.
"""

from __future__ import annotations

import io
import json
import os
import stat
import uuid
from pathlib import Path

from medfuse import limits


class UnsafePathError(ValueError):
    """A link where a file or folder is expected, a file that is not a regular file, or a
    path that leaves its folder; the message names it."""


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def confined_folder(root: str | Path, *parts: str) -> Path:
    """The folder ``root/parts...``, created as needed, each of ``parts`` a real directory.

    Parameters
    ----------
    root : str or Path
        A folder the user named (created with its parents if missing; links in the user's
        own path are theirs to make).
    *parts : str
        Folder names inside ``root``, one level each.

    Returns
    -------
    Path

    Raises
    ------
    UnsafePathError
        When one of ``parts`` is a link, or exists and is not a directory.
    """
    folder = Path(root)
    if not folder.is_dir():
        if _lstat(folder) is not None:
            raise UnsafePathError(f"{folder} is not a folder; give a folder (or a new name) "
                                  "for the outputs.")
        folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part:
            raise UnsafePathError(f"{part!r} is not a folder name inside {folder}.")
        folder = folder / part
        info = _lstat(folder)
        if info is None:
            try:
                os.mkdir(folder)
            except FileExistsError:
                pass
            info = _lstat(folder)
        if info is None or stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(f"{folder} is a link; medfuse writes only into real folders "
                                  "inside the output folder. Remove the link.")
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(f"{folder} is not a folder; remove it or choose another "
                                  "output folder.")
    return folder


def _check_target(path: Path) -> None:
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"{path} is a link; medfuse does not write through links. "
                              "Remove the link.")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"{path} exists and is not a regular file; remove it or choose "
                              "another output.")


def write_file(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically, without following links.

    The bytes go to a new temporary file in the same folder (created exclusively, never
    through a link) and are renamed over ``path``.

    Parameters
    ----------
    path : str or Path
        The file; its folder must exist (see :func:`confined_folder`).
    data : bytes or str
        The contents (text is written as UTF-8).

    Returns
    -------
    Path

    Raises
    ------
    UnsafePathError
        When ``path`` is a link or not a regular file.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    _check_target(path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    tmp = f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666,
                     dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            _check_target(path)
            os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=folder)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(folder)
    return path


def remove_file(path: str | Path) -> bool:
    """Delete ``path`` when it is a regular file (nothing when it is missing).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    bool
        Whether a file was deleted.

    Raises
    ------
    UnsafePathError
        When ``path`` is a link or not a regular file: nothing is deleted through a link.
    """
    path = Path(path)
    info = _lstat(path)
    if info is None:
        return False
    _check_target(path)
    path.unlink(missing_ok=True)
    return True


def open_regular(path: str | Path, follow_links: bool = True):
    """Open a file for reading only if it is a regular file.

    Parameters
    ----------
    path : str or Path
        The file.
    follow_links : bool
        False refuses a link (model folders, the cache).

    Returns
    -------
    file object (binary)
        Opened without blocking, so a FIFO is refused instead of waited on.

    Raises
    ------
    FileNotFoundError
        When it does not exist.
    UnsafePathError
        When it is a link (``follow_links=False``) or not a regular file.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {path}") from None
    except OSError as err:
        if not follow_links and _lstat(path) is not None and stat.S_ISLNK(
                os.lstat(path).st_mode):
            raise UnsafePathError(f"{path} is a link; medfuse reads no link here. Copy the "
                                  "file in instead.") from None
        raise UnsafePathError(f"{path} cannot be opened as a file ({err.strerror}).") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file (a device, FIFO, socket or "
                              "folder); medfuse reads only regular files.")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: str | Path, cap: limits.Cap | None = None,
               follow_links: bool = True) -> bytes:
    """The bytes of a regular file, refused before reading when larger than ``cap``.

    Parameters
    ----------
    path : str or Path
        The file.
    cap : Cap, optional
        The size cap (default: none).
    follow_links : bool
        False refuses a link.

    Returns
    -------
    bytes
    """
    with open_regular(path, follow_links) as handle:
        if cap is not None:
            cap.check(os.fstat(handle.fileno()).st_size, str(path))
        return handle.read()


def read_json(path: str | Path, follow_links: bool = True):
    """A JSON document, size-capped (``MEDFUSE_MAX_JSON_MB``) before it is parsed.

    Parameters
    ----------
    path : str or Path
        The file.
    follow_links : bool
        False refuses a link.

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    ValueError
        Naming the file when it is not UTF-8 JSON, or nests too deep.
    """
    raw = read_bytes(path, limits.JSON, follow_links)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.start}).") from None
    except RecursionError:
        raise ValueError(f"{path} nests its JSON too deeply to read.") from None
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from None


def to_bytes(write) -> bytes:
    """The bytes a writer function produces into a binary buffer (``write(buffer)``)."""
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


#: first characters that make a spreadsheet read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value):
    """A text cell as a spreadsheet shows it and never runs.

    Parameters
    ----------
    value : object
        A cell.

    Returns
    -------
    object
        Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a
        leading ``'``; anything else (and numbers) as it is.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(frame, raw: bool = False, **options) -> str:
    """A table as CSV text whose text cells, index and column names cannot run as formulas
    in a spreadsheet (see :func:`spreadsheet_text`), unless ``raw``.

    Parameters
    ----------
    frame : DataFrame
        The table.
    raw : bool
        Write text exactly as it is (for programs that read the file).
    **options
        Passed to ``DataFrame.to_csv``.

    Returns
    -------
    str
    """
    import pandas as pd

    if not raw:
        frame = frame.copy()
        for column in frame.columns:
            values = frame[column]
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                frame[column] = values.map(spreadsheet_text)
            elif isinstance(values.dtype, pd.CategoricalDtype):
                frame[column] = values.astype(object).map(spreadsheet_text)
        frame.columns = [spreadsheet_text(str(c)) for c in frame.columns]
        frame.index = pd.Index([spreadsheet_text(str(i)) for i in frame.index],
                               name=frame.index.name)
    return frame.to_csv(**options)
