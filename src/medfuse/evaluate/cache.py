"""The benchmark's cache: one JSON file per finished (strategy, split) fit under
``<out>/cache``, keyed by a digest of everything that determines the result (data, strategy
and its parameters, split, seed, medfuse version), so that ``--resume`` reuses finished work
and never a result of other inputs.

Cached files are plain JSON (no code can run from them); an entry that does not fit its task
(a strict schema of :class:`~medfuse.evaluate.records.FoldResult` checked against the task's
split, held-out subjects, classes and availability subsets) is ignored with a warning and
recomputed.
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
from medfuse.files import UnsafePathError, read_json, write_file

#: Bumped when the cached records or keys change meaning.
CACHE_FORMAT = 3


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
    """Store a finished fit atomically (a fresh file renamed over the entry, never written
    through a link; see :func:`medfuse.files.write_file`)."""
    return write_file(folder / f"{key}.json", json.dumps(asdict(result)))


def read_cached(folder: Path, key: str, expected: dict) -> FoldResult | None:
    """The cached result of a task, or None when there is none, it is unreadable, or it does
    not fit its task (:func:`cache_problem`); a warning names the file, and the entry is
    recomputed.

    Parameters
    ----------
    folder : the cache folder.
    key : the task's cache key.
    expected : what the task's record must hold (strategy, split, held-out subjects,
        classes, availability subsets; built by the runner).
    """
    path = folder / f"{key}.json"
    if not (path.exists() or path.is_symlink()):
        return None
    entry = None
    try:
        entry = read_json(path, follow_links=False)
        problem = cache_problem(entry, expected)
    except (OSError, ValueError) as err:
        problem = f"it cannot be read ({err})"
    if problem is not None:
        warnings.warn(f"Ignoring the cached result {path}: {problem}; it is recomputed.",
                      UserWarning, stacklevel=2)
        return None
    return FoldResult(**entry)


def check_cache_folder(folder: Path) -> None:
    """Refuse a cache folder holding links (a link named like an entry would make the
    benchmark write, or ``--resume`` read, where it points).

    Parameters
    ----------
    folder : Path
        ``<out>/cache``.

    Raises
    ------
    UnsafePathError
        Naming the first link.
    """
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            raise UnsafePathError(f"{entry} is a link; the benchmark cache holds only its own "
                                  "files. Remove the link (or the cache folder).")


def _numbers(values, allow_nan: bool = False) -> bool:
    """All are int/float (not bool), finite, or NaN when ``allow_nan``."""
    return all(isinstance(v, int | float) and not isinstance(v, bool)
               and (np.isfinite(v) or (allow_nan and np.isnan(v))) for v in values)


def cache_problem(entry, expected: dict) -> str | None:
    """Why a cached entry does not fit its task (None when it does): a strict schema of
    :class:`FoldResult` with the task's split, subjects, classes and availability subsets."""
    names = {f.name for f in fields(FoldResult)}
    if not isinstance(entry, dict) or set(entry) != names:
        return "its fields are not those of a FoldResult"
    for key in ("strategy", "kind", "split", "repeat", "fold", "seed", "full_key", "n_train"):
        if entry[key] != expected[key] or type(entry[key]) is not type(expected[key]):
            return f"{key} is {entry[key]!r}, expected {expected[key]!r}"
    n, k = len(expected["subjects"]), expected["n_cols"]
    if entry["subjects"] != expected["subjects"]:
        return "its subjects are not the held-out subjects of the split"
    y = entry["y"]
    if not (isinstance(y, list) and len(y) == n and all(
            type(v) is int and 0 <= v < (2 if expected["survival"] else k) for v in y)):
        return f"y is not {n} class indices"
    times = entry["time"]
    if not isinstance(times, list) or len(times) != (n if expected["survival"] else 0) or not (
            _numbers(times) and all(t >= 0 for t in times)):
        return "time does not hold one finite, non-negative time per subject"
    proba = entry["proba"]
    if not isinstance(proba, dict) or set(proba) != expected["keys"]:
        return "its availability subsets are not those of the task"
    for key, rows in proba.items():
        if not (isinstance(rows, list) and len(rows) == n and all(
                isinstance(r, list) and len(r) == k and _numbers(r, allow_nan=True)
                and (np.isnan(r).all() or np.isfinite(r).all()) for r in rows)):
            return f"proba[{key!r}] is not {n} rows of {k} finite numbers (or NaN rows)"
        if not expected["survival"] and any(not 0 <= v <= 1 for r in rows for v in r
                                            if np.isfinite(v)):
            return f"proba[{key!r}] holds values outside [0, 1]"
    weights = entry["weights"]
    if not isinstance(weights, dict) or not all(
            isinstance(w, dict) and all(isinstance(m, str) for m in w) and _numbers(w.values())
            for w in weights.values()):
        return "weights are not finite numbers per modality"
    if not (_numbers([entry["fit_seconds"]]) and entry["fit_seconds"] >= 0):
        return "fit_seconds is not a finite, non-negative number"
    return _conformal_problem(entry, expected, n, k)


def _conformal_problem(entry, expected: dict, n: int, k: int) -> str | None:
    """The availability patterns, prediction sets, probabilities before recalibration and
    alpha of a cached record (see :mod:`medfuse.evaluate.coverage`)."""
    modalities = set(expected["full_key"].split("+"))
    patterns = entry["patterns"]
    if not (isinstance(patterns, list) and len(patterns) in (0, n) and all(
            isinstance(p, str) and p and set(p.split("+")) <= modalities for p in patterns)):
        return "patterns are not one availability pattern of the study per subject"
    sets = entry["sets"]
    if not isinstance(sets, dict) or not set(sets) <= expected["keys"] or not all(
            isinstance(rows, list) and len(rows) == n and all(
                r is None or (isinstance(r, list) and len(r) == k
                              and all(v in (0, 1) and type(v) in (int, bool) for v in r))
                for r in rows) for rows in sets.values()):
        return "sets are not one row of 0/1 per subject and class"
    raw = entry["uncalibrated"]
    if not isinstance(raw, dict) or not set(raw) <= expected["keys"] or not all(
            isinstance(rows, list) and len(rows) == n and all(
                isinstance(r, list) and len(r) == k and _numbers(r, allow_nan=True)
                and all(not np.isfinite(v) or 0 <= v <= 1 for v in r) for r in rows)
            for rows in raw.values()):
        return "uncalibrated probabilities are not rows of numbers in [0, 1]"
    alpha = entry["alpha"]
    if alpha is not None and not (_numbers([alpha]) and 0 < alpha < 1):
        return "alpha is not a number in (0, 1)"
    return None
