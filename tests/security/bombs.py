"""Crafting the inputs that declare more than they hold (the security corpus's size attacks),
and running a command on them under a memory limit.

Each ``craft_*`` function writes its artifact under a folder and returns what to run
``medfuse`` on. They are shared by ``tests/security/test_bombs.py`` (every bomb is refused,
with one error line, under a 2 GB address-space limit) and ``benchmarks/security_bombs.py``
(time and peak memory of each refusal).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tests.security.crafting import attribute, rewrite_archive

#: the memory limit the bombs are refused under
MEMORY_LIMIT = 2 * 2**30


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A version 1.0 ``.npy`` header declaring ``shape`` (no data)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zeros_deflated(n_bytes: int) -> tuple[bytes, int]:
    """``n_bytes`` zero bytes compressed with raw deflate, and their CRC-32."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(2**24)
    parts, crc, left = [], 0, n_bytes
    while left:
        piece = chunk[:min(left, len(chunk))]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts), crc


def _zip_member(name: str, header: bytes, n_zero_bytes: int) -> tuple[bytes, bytes]:
    """One deflated zip member holding ``header`` followed by ``n_zero_bytes`` zeros: its
    local record and its central directory entry (to be placed at offset 0)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = [compressor.compress(header)]
    crc = zlib.crc32(header)
    chunk, left = bytes(2**24), n_zero_bytes
    while left:
        piece = chunk[:min(left, len(chunk))]
        body.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    body.append(compressor.flush())
    data = b"".join(body)
    size = len(header) + n_zero_bytes
    encoded = name.encode()
    zip64 = size >= 2**32
    extra = struct.pack("<HHQQ", 1, 16, size, len(data)) if zip64 else b""
    small = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (len(data), size)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 45 if zip64 else 20, 0, 8, 0, 0, crc,
                        *small, len(encoded), len(extra)) + encoded + extra + data
    return local, (encoded, crc, len(data), size, extra)


def _central(entries: list[tuple[bytes, int, int, int, bytes, int]]) -> bytes:
    """A central directory (with zip64 end records) for ``(name, crc, csize, size, extra,
    offset)`` entries, for an archive whose members end where it starts (a member whose
    compressed and uncompressed sizes are equal is stored, the others deflated)."""
    records = []
    for name, crc, csize, size, _extra, offset in entries:
        zip64 = size >= 2**32
        ext = struct.pack("<HHQQQ", 1, 24, size, csize, offset) if zip64 else b""
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (csize, size)
        method = 0 if csize == size else 8
        records.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 45, 45 if zip64 else 20, 0,
                                   method, 0, 0, crc, *sizes, len(name), len(ext), 0, 0, 0,
                                   0, 0xFFFFFFFF if zip64 else offset) + name + ext)
    return b"".join(records)


def _archive(locals_: list[bytes], entries: list[tuple], offsets: list[int]) -> bytes:
    body = b"".join(locals_)
    directory = _central([(*e, o) for e, o in zip(entries, offsets, strict=True)])
    start = len(body)
    z64_end = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, len(entries),
                          len(entries), len(directory), start)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, start + len(directory), 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    return body + directory + z64_end + locator + end


def craft_npz_header_bomb(path: Path, ids=("a", "b")) -> Path:
    """An ``.npz`` of subjects' images whose ``values`` header declares 16 GiB of float64
    (the member holds a few bytes): numpy allocates the declared shape before reading."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ids.npy", _npy(np.asarray(ids, dtype=str)))
        z.writestr("values.npy", _npy_header((len(ids), 1, 2**15, 2**15)) + bytes(64))
    path.write_bytes(buffer.getvalue())
    return path


def craft_npz_zip_bomb(path: Path, ids=("a", "b"), gib: float = 1.0) -> Path:
    """An ``.npz`` whose ``values`` member inflates to ``gib`` GiB of zeros from about a
    thousandth of that on disk (a genuine decompression bomb)."""
    n = int(gib * 2**30) // 8 // len(ids)
    header = _npy_header((len(ids), 1, n, 1))
    ids_bytes = _npy(np.asarray(ids, dtype=str))
    local_ids, entry_ids = _member_stored("ids.npy", ids_bytes)
    local_values, entry_values = _zip_member("values.npy", header, n * len(ids) * 8)
    path.write_bytes(_archive([local_ids, local_values], [entry_ids, entry_values],
                              [0, len(local_ids)]))
    return path


def _member_stored(name: str, data: bytes) -> tuple[bytes, tuple]:
    encoded = name.encode()
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data),
                        len(encoded), 0) + encoded + data
    return local, (encoded, crc, len(data), len(data), b"")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def craft_overlapping_zip(path: Path, n_entries: int = 3, mib: int = 64) -> Path:
    """A zip whose directory lists ``n_entries`` members that all point at the same
    compressed data (the overlapping-entry bomb: every member inflates the same stream)."""
    header = _npy_header((mib * 2**20 // 8,))
    local, entry = _zip_member("values.npy", header, mib * 2**20)
    entries = [(f"m{i}.npy".encode(), *entry[1:]) for i in range(n_entries)]
    path.write_bytes(_archive([local], entries, [0] * n_entries))
    return path


def craft_skops_member_bomb(folder: Path, gib: float = 1.0) -> Path:
    """A saved model whose first ``.npy`` member declares ``gib`` GiB and inflates to it
    (its other members kept, stored)."""
    file = folder / "estimator.skops"
    with zipfile.ZipFile(file) as archive:
        content = {n: archive.read(n) for n in archive.namelist()}
    member = next(n for n in content if n.endswith(".npy"))
    n = int(gib * 2**30) // 8
    records, entries = [], []
    for name, data in content.items():
        if name == member:
            record, entry = _zip_member(name, _npy_header((n,)), n * 8)
        else:
            record, entry = _member_stored(name, data)
        records.append(record)
        entries.append(entry)
    offsets = list(np.cumsum([0] + [len(r) for r in records[:-1]]))
    file.write_bytes(_archive(records, entries, [int(o) for o in offsets]))
    from tests.security.crafting import refresh_digests

    refresh_digests(folder)
    return folder


def craft_big_schema(folder: Path, mib: int = 100) -> Path:
    """A saved model whose ``schema.json`` is ``mib`` MiB (padded with spaces)."""
    with zipfile.ZipFile(folder / "estimator.skops") as archive:
        schema = archive.read("schema.json")
    padded = schema.rstrip()[:-1] + b" " * (mib * 2**20) + b"}"
    from tests.security.crafting import rewrite_archive as rewrite

    rewrite(folder, members={"schema.json": padded})
    return folder


def craft_network_settings(folder: Path, **values) -> Path:
    """A saved neural model whose fitted settings are replaced (``n_ensemble=10**9``,
    ``input_shapes_={"rna": (10**6,)}``), as an attacker editing the archive would."""

    def edit(schema: dict) -> None:
        for name, value in values.items():
            entry = attribute(schema, name)
            if name == "input_shapes_":
                for modality, shape in value.items():
                    shape_entry = attribute(schema, name, modality)
                    shape_entry["content"] = [{"__class__": "str", "__module__": "builtins",
                                               "__loader__": "JsonNode",
                                               "content": json.dumps(int(v)),
                                               "is_json": True} for v in shape]
            else:
                entry["content"] = json.dumps(value)

    rewrite_archive(folder, edit)
    return folder


def craft_wide_csv(path: Path, n_columns: int = 10**6, n_rows: int = 2) -> Path:
    """A table of ``n_columns`` columns (its header alone is megabytes)."""
    header = "id," + ",".join(f"c{k}" for k in range(n_columns))
    row = ",".join(["0"] * n_columns)
    path.write_text(header + "\n" + "\n".join(f"s{i},{row}" for i in range(n_rows)) + "\n")
    return path


def craft_laughs(path: Path, levels: int = 9) -> Path:
    """A valid-looking study file whose ``params`` use YAML aliases to build 9**levels
    leaves (each level's anchor defined inline, at its first use)."""
    node = '&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
    for k in range(1, levels):
        node = f"&l{k} [" + ",".join([node] + [f"*l{k - 1}"] * 8) + "]"
    lines = ["name: laughs", "outcome: {file: labels.csv, column: label}",
             "modalities: {rna: {file: rna.csv}, more: {file: more.csv}}",
             "strategies: [late-mean]", "cv: {folds: 2, repeats: 1}",
             f"params: {{late-mean: {{cv: {node}}}}}"]
    path.write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(20)]
    import pandas as pd

    pd.DataFrame({"label": np.arange(20) % 2}, index=pd.Index(ids, name="id")).to_csv(
        path.parent / "labels.csv")
    for name in ("rna", "more"):
        pd.DataFrame(rng.normal(size=(20, 3)), index=pd.Index(ids, name="id"),
                     columns=["a", "b", "c"]).to_csv(path.parent / f"{name}.csv")
    return path


#: runs the command under the memory limit and reports its own peak resident memory
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "sys.stderr.write('\\npeak-kib %d' % resource.getrusage(resource.RUSAGE_CHILDREN)"
    ".ru_maxrss)\n"
    "sys.exit(code)\n")


def run_limited(args: list[str], timeout: float = 120.0, env: dict | None = None
                ) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m medfuse.cli ARGS`` under the 2 GB address-space limit.

    Returns
    -------
    result : CompletedProcess
        Its ``stderr`` without the peak line.
    seconds : float
        Wall time.
    peak_mib : float
        The command's peak resident memory in MiB.
    """
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _WRAPPER, str(MEMORY_LIMIT), sys.executable,
                             "-m", "medfuse.cli", *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    seconds = time.perf_counter() - start
    stderr, _, peak = result.stderr.rpartition("\npeak-kib ")
    result.stderr = stderr
    return result, seconds, int(peak or 0) / 1024
