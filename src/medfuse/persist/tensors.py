"""Checks of ``module.safetensors`` before its weights are loaded.

A safetensors file is an 8-byte little-endian header length, a JSON header mapping each tensor
name to its dtype, shape and ``[begin, end)`` byte range in the data that follows, and the
data. :func:`read_header` validates the header against the file alone (lengths, offsets,
dtypes, byte counts, a data area covered exactly once); :func:`load_weights` then compares it
with the tensors the rebuilt architecture expects (names, shapes, dtypes) and only then loads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from medfuse.persist.errors import UntrustedModelError

#: bytes per element of each safetensors dtype code
DTYPE_BYTES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
#: the largest header accepted (the safetensors library's own limit)
MAX_HEADER_BYTES = 100_000_000


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors header."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _refuse(file: Path, why: str) -> UntrustedModelError:
    return UntrustedModelError(f"{file} is refused: {why}. Save the model again from its "
                               "fitted estimator.")


def _entry(file: Path, name: str, raw, data_bytes: int) -> TensorEntry:
    if not isinstance(raw, dict) or set(raw) != {"dtype", "shape", "data_offsets"}:
        raise _refuse(file, f"the header entry of tensor {name!r} is not "
                            "{dtype, shape, data_offsets}")
    dtype, shape, offsets = raw["dtype"], raw["shape"], raw["data_offsets"]
    if dtype not in DTYPE_BYTES:
        raise _refuse(file, f"tensor {name!r} has the unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise _refuse(file, f"tensor {name!r} has the invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise _refuse(file, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_bytes:
        raise _refuse(file, f"tensor {name!r} claims bytes [{begin}, {end}) but the data "
                            f"area holds {data_bytes} bytes")
    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - begin != expected:
        raise _refuse(file, f"tensor {name!r} ({dtype}, shape {shape}) needs {expected} bytes "
                            f"but its offsets span {end - begin}")
    return TensorEntry(dtype, tuple(shape), begin, end)


def read_header(file: str | Path, data: bytes | None = None) -> dict[str, TensorEntry]:
    """The validated header of a safetensors file: tensor name -> :class:`TensorEntry`.

    Parameters
    ----------
    file : the file (named in messages).
    data : its bytes, when already read; read from ``file`` otherwise.

    Raises
    ------
    UntrustedModelError
        If the file is too short or truncated, the header length or JSON is invalid, a dtype
        is unknown, a shape does not match its byte range, a range is out of the data area,
        ranges overlap or leave bytes unaccounted for.
    """
    file = Path(file)
    data = file.read_bytes() if data is None else data
    size = len(data)
    if size < 8:
        raise _refuse(file, f"it has {size} bytes, fewer than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise _refuse(file, f"the header claims {n} bytes but the file holds {size - 8} "
                            "after the length (truncated or forged)")
    try:
        header = json.loads(data[8: 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _refuse(file, "its header is not valid UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise _refuse(file, "its header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _refuse(file, "its __metadata__ is not a mapping of strings")
    data_bytes = size - 8 - n
    entries = {name: _entry(file, name, raw, data_bytes) for name, raw in header.items()}
    cursor = 0
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if e.begin != cursor:
            what = "overlaps the previous tensor" if e.begin < cursor else "leaves a gap before it"
            raise _refuse(file, f"tensor {name!r} (bytes [{e.begin}, {e.end})) {what}")
        cursor = e.end
    if cursor != data_bytes:
        raise _refuse(file, f"the tensors cover {cursor} bytes of a {data_bytes}-byte data area "
                            "(trailing bytes)")
    return entries


def _dtype_code(dtype) -> str:
    import torch

    codes = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
             torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
             torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}
    return codes.get(dtype, str(dtype))


def _shared_groups(state: dict) -> dict[str, set[str]]:
    """name -> the names sharing its storage (safetensors keeps one of each group)."""
    by_storage: dict[tuple, set[str]] = {}
    for name, t in state.items():
        if t.numel() and not t.is_meta:
            by_storage.setdefault((t.device.type, t.untyped_storage().data_ptr()),
                                  set()).add(name)
    return {n: group for group in by_storage.values() for n in group}


def check_architecture(file: str | Path, header: dict[str, TensorEntry], module,
                       missing: bool = True) -> None:
    """Refuse a header whose tensors differ from those of the rebuilt ``module``.

    Parameters
    ----------
    file : str or Path
        The safetensors file (named in messages).
    header : dict of str to TensorEntry
        Its header (:func:`read_header`).
    module : nn.Module
        The rebuilt architecture; its tensors may be on the ``meta`` device (built without
        memory, to compare shapes before anything is allocated).
    missing : bool
        Refuse tensors of the architecture that the file lacks even when nothing else is
        wrong (False for a ``meta`` module, whose tensors share no storage to tell tied
        weights apart: they are then named only beside other problems).

    Raises
    ------
    UntrustedModelError
        Naming the missing, unexpected and shape- or dtype-mismatched tensors.
    """
    file = Path(file)
    state = module.state_dict()
    shared = _shared_groups(state)
    absent = [n for n in state if n not in header
              and not (shared.get(n, set()) & set(header))]
    unexpected = [n for n in header if n not in state]
    mismatched = [
        f"{n} (file: {header[n].dtype} {list(header[n].shape)}, architecture: "
        f"{_dtype_code(t.dtype)} {list(t.shape)})"
        for n, t in state.items() if n in header
        and (header[n].shape != tuple(t.shape) or header[n].dtype != _dtype_code(t.dtype))]
    problems = []
    if absent and (missing or unexpected or mismatched):
        problems.append(f"missing tensors: {', '.join(sorted(absent))}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(sorted(unexpected))}")
    if mismatched:
        problems.append(f"mismatched tensors: {', '.join(sorted(mismatched))}")
    if problems:
        raise _refuse(file, f"its tensors do not match the architecture the estimator rebuilds "
                            f"({type(module).__name__}): " + "; ".join(problems))


def load_weights(file: str | Path, module, data: bytes | None = None):
    """Load the weights in ``data`` (the bytes of ``file``) into ``module`` after
    :func:`read_header` and :func:`check_architecture`; returns the module in eval mode.
    Tensors sharing storage in ``module`` are stored once, and are filled through that one."""
    from safetensors.torch import load

    file = Path(file)
    data = file.read_bytes() if data is None else data
    check_architecture(file, read_header(file, data), module)
    try:
        module.load_state_dict(load(data), strict=False)
    except Exception as err:  # any failure of the loader is a refusal
        raise _refuse(file, f"its weights could not be loaded ({type(err).__name__}: "
                            f"{err})") from err
    return module.eval()
