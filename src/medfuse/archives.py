"""Zip archives and ``.npy`` arrays checked before anything in them is decompressed or
allocated: ``.npz`` files of subjects' arrays and skops model archives.

A zip archive's central directory declares each member's uncompressed size, and an ``.npy``
header declares an array's shape and dtype; numpy allocates the declared shape before it
reads a byte. :func:`check_zip` refuses members (and whole archives) declared larger than
their caps (:mod:`medfuse.limits`) and members whose compressed data overlap (the
overlapping-entry zip bomb, which decompresses one stream many times); :func:`npy_header`
refuses object arrays (loaded through pickle) and arrays declared larger than their cap or
than their member holds. Every message names the file and the member.
"""

from __future__ import annotations

import itertools
import struct
import zipfile

import numpy as np

from medfuse import limits

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")


class ObjectArrayError(ValueError):
    """An ``.npy`` array of Python objects (numpy loads those through pickle)."""


def check_zip(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse an archive whose declared contents exceed the caps, or whose members overlap.

    Parameters
    ----------
    archive : ZipFile
        Opened, nothing read yet.
    name : str
        The file, as messages name it.

    Raises
    ------
    SizeLimitError
        A member declared larger than ``MEDFUSE_MAX_ARRAY_MB``, or all of them together
        larger than ``MEDFUSE_MAX_ARCHIVE_MB``.
    ValueError
        Members whose data overlap, or a member header that does not parse.
    """
    infos = archive.infolist()
    for info in infos:
        limits.ARRAY.check(info.file_size, f"{name}, member {info.filename!r},")
    limits.ARCHIVE.check(sum(i.file_size for i in infos), f"{name} (all members)")
    spans = []
    for info in infos:
        archive.fp.seek(info.header_offset)
        raw = archive.fp.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            raise ValueError(f"{name}: member {info.filename!r} points past the end of the "
                             "file.")
        fields = _LOCAL_HEADER.unpack(raw)
        if fields[0] != b"PK\x03\x04":
            raise ValueError(f"{name}: member {info.filename!r} has no local header where "
                             "the directory says.")
        start = info.header_offset
        end = start + _LOCAL_HEADER.size + fields[9] + fields[10] + info.compress_size
        spans.append((start, end, info.filename))
    spans.sort()
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        if start < end:
            raise ValueError(f"{name}: members {first!r} and {second!r} overlap (an archive "
                             "crafted to decompress the same data many times).")


def npy_header(handle, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The declared shape, dtype and header length of an ``.npy`` stream, checked.

    Parameters
    ----------
    handle : binary file object
        Positioned at the start of the ``.npy`` data (e.g. an archive member).
    name : str
        The file and member, as messages name them.

    Returns
    -------
    shape : tuple of int
    dtype : numpy dtype
    offset : int
        Bytes of the header (the data follow).

    Raises
    ------
    ValueError
        When the header does not parse or declares an object dtype.
    SizeLimitError
        When the declared array is larger than ``MEDFUSE_MAX_ARRAY_MB``.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise ValueError(f"npy format version {version}")
        offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
        raise ValueError(f"{name} is not a valid .npy array ({err}).") from None
    if dtype.hasobject:
        raise ObjectArrayError(f"{name} is an object-dtype array (dtype {dtype}), which numpy "
                               "loads through pickle; medfuse loads numbers and text only.")
    size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    limits.ARRAY.check(size, name)
    return tuple(shape), dtype, offset


def check_npz(archive: zipfile.ZipFile, name: str) -> None:
    """Check every member of an ``.npz`` archive (:func:`check_zip`, then each member's
    ``.npy`` header, whose declared size must equal the data the member holds).

    Parameters
    ----------
    archive : ZipFile
        The opened ``.npz``.
    name : str
        The file, as messages name it.
    """
    check_zip(archive, name)
    for info in archive.infolist():
        member = f"{name}, member {info.filename!r}"
        with archive.open(info) as handle:
            shape, dtype, offset = npy_header(handle, member)
        held = info.file_size - offset
        if held != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError(f"{member} holds {held} data bytes, not what its header declares "
                             f"({dtype}, shape {shape}).")


def load_npz(path, name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, after :func:`check_npz`, from one opening of the
    file (so what was checked is what is loaded).

    Parameters
    ----------
    path : str or Path
        A regular file (see :func:`medfuse.files.open_regular`).
    name : str, optional
        The file as messages name it (default: ``path``).

    Returns
    -------
    dict of str to ndarray
    """
    from medfuse.files import open_regular

    name = str(path) if name is None else name
    with open_regular(path) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(f"{name} is not a readable .npz archive ({err}).") from None
        with archive:
            check_npz(archive, name)
            out = {}
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                with archive.open(info) as member:
                    out[key] = np.lib.format.read_array(member, allow_pickle=False)
            return out
