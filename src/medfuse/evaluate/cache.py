"""The benchmark's cache: one JSON file per finished (strategy, split) fit under
``<out>/cache``, keyed by a digest of everything that determines the result (data, strategy
and its parameters, split, seed, medfuse version), so that ``--resume`` reuses finished work
and never a result of other inputs.

Cached files are plain JSON (no code can run from them); an entry that does not read back as
a valid :class:`~medfuse.evaluate.records.FoldResult` is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data import blocks as _blocks
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.records import FoldResult

#: Bumped when the cached records or keys change meaning.
CACHE_FORMAT = 2


def data_fingerprint(data: MultiModalData) -> str:
    """A hash of the subjects, blocks, availability and obs (for cache keys)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, data.subjects)).encode())
    for name in data.modality_names:
        h.update(name.encode())
        h.update(str(data.kinds[name]).encode())
        _blocks.update_digest(h, data.block(name, available_only=False))
    h.update(data.available.to_numpy().tobytes())
    if data.obs.shape[1]:
        h.update(pd.util.hash_pandas_object(data.obs.astype(str), index=True)
                 .to_numpy().tobytes())
    h.update(str(data.outcome).encode())
    return h.hexdigest()


def params_repr(estimator) -> str:
    """The estimator's parameters as text (part of a cache key)."""
    return json.dumps({k: repr(v) for k, v in
                       sorted(estimator.get_params(deep=False).items())})


def digest(parts) -> str:
    """A short hash of JSON-serialisable parts."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


def write_cached(folder: Path, key: str, result: FoldResult) -> Path:
    """Store a finished fit atomically (write, then rename)."""
    path = folder / f"{key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result)))
    tmp.replace(path)
    return path


def read_cached(folder: Path, key: str) -> FoldResult | None:
    """A cached fit, or None when there is none or it is not a valid record (a warning
    names the file)."""
    path = folder / f"{key}.json"
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        names = {f.name for f in fields(FoldResult)}
        if not isinstance(raw, dict) or set(raw) - names:
            raise ValueError("unexpected fields")
        result = FoldResult(**raw)
        _check_record(result)
    except (OSError, ValueError, TypeError, KeyError) as err:
        warnings.warn(f"Ignoring the cached result {path.name} ({err}); it is recomputed.",
                      stacklevel=2)
        return None
    return result


def _check_record(fr: FoldResult) -> None:
    """Refuse a cached record whose parts are inconsistent."""
    n = len(fr.subjects)
    if len(fr.y) != n or fr.full_key not in fr.proba:
        raise ValueError("inconsistent lengths or keys")
    for key, rows in fr.proba.items():
        arr = np.asarray(rows, dtype=float)
        if arr.ndim != 2 or len(arr) != n or np.isinf(arr).any():
            raise ValueError(f"invalid predictions for {key!r}")
