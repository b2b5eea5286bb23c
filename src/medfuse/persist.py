"""Saving and loading fitted strategies without pickle.

A saved model is a folder:

- ``estimator.skops``: the fitted estimator, written by :func:`skops.io.dump`. On load, only
  types from medfuse, scikit-learn, numpy, scipy and pandas (and Python builtins) are trusted;
  any other type in the file is refused with an error that names it.
- ``module.safetensors`` (neural strategies only): the weights of the torch module. Neural
  estimators keep every torch module in the one attribute ``module_`` and implement
  ``_build_module()``, which rebuilds the untrained architecture from fitted attributes; the
  estimator is dumped without ``module_`` and the module is rebuilt and loaded on load.
- pandas objects among the fitted attributes (skops cannot store them) are written as plain
  values, index and column labels and restored on load; values come back with numeric or
  object dtype (a categorical dtype is not kept).
- ``manifest.json``: medfuse version, strategy name, modalities, kinds, feature names and
  classes, so that a model can be inspected (and input checked) without loading it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

import medfuse

ESTIMATOR_FILE = "estimator.skops"
MODULE_FILE = "module.safetensors"
MANIFEST_FILE = "manifest.json"
TRUSTED_PREFIXES = ("medfuse.", "sklearn.", "numpy.", "scipy.", "pandas.")


PANDAS_MARK = "__medfuse_pandas__"
_WALK_PREFIXES = ("medfuse.", "sklearn.")


class UntrustedModelError(ValueError):
    """A saved model holds types outside the trusted packages."""


def _walkable(obj) -> bool:
    """Objects whose attributes are searched for pandas objects: estimators and medfuse's
    own classes."""
    from sklearn.base import BaseEstimator

    return (not isinstance(obj, type) and hasattr(obj, "__dict__")
            and (isinstance(obj, BaseEstimator)
                 or type(obj).__module__.startswith(_WALK_PREFIXES)))


def _labels(index) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in index]


def _encode(obj, memo: dict):
    """A copy of ``obj`` with every pandas object (in attributes of medfuse/scikit-learn
    objects, dicts, lists and tuples) replaced by a plain dict that skops can store; objects
    without pandas inside are returned as they are."""
    import pandas as pd

    if id(obj) in memo:
        return memo[id(obj)]
    out = obj
    if isinstance(obj, pd.Series | pd.DataFrame):
        values = obj.to_numpy()
        numeric = values.dtype.kind in "biuf"
        out = {PANDAS_MARK: type(obj).__name__,
               "values": values if numeric else values.tolist(),
               "index": _labels(obj.index), "index_name": obj.index.name}
        if isinstance(obj, pd.DataFrame):
            out["columns"] = _labels(obj.columns)
        else:
            out["name"] = obj.name
    elif isinstance(obj, dict):
        new = {k: _encode(v, memo) for k, v in obj.items()}
        out = new if any(new[k] is not obj[k] for k in obj) else obj
    elif isinstance(obj, list | tuple):
        new = [_encode(v, memo) for v in obj]
        if any(a is not b for a, b in zip(new, obj, strict=True)):
            out = type(obj)(new) if isinstance(obj, list) else tuple(new)
    elif _walkable(obj):
        changed = {k: _encode(v, memo) for k, v in vars(obj).items()}
        changed = {k: v for k, v in changed.items() if v is not vars(obj)[k]}
        if changed:
            out = copy.copy(obj)
            for k, v in changed.items():
                setattr(out, k, v)
    memo[id(obj)] = out
    return out


def _decode(obj):
    """Inverse of :func:`_encode` (in place on freshly loaded objects)."""
    import pandas as pd

    if isinstance(obj, dict):
        if PANDAS_MARK in obj:
            index = pd.Index(obj["index"], name=obj["index_name"])
            if obj[PANDAS_MARK] == "DataFrame":
                return pd.DataFrame(np.asarray(obj["values"], dtype=None if isinstance(
                    obj["values"], np.ndarray) else object).reshape(len(index), -1),
                                    index=index, columns=obj["columns"])
            return pd.Series(obj["values"], index=index, name=obj["name"])
        for k, v in obj.items():
            obj[k] = _decode(v)
        return obj
    if isinstance(obj, list):
        obj[:] = [_decode(v) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(_decode(v) for v in obj)
    if _walkable(obj):
        for k, v in list(vars(obj).items()):
            setattr(obj, k, _decode(v))
    return obj


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def save_model(model, path: str | Path, strategy: str | None = None,
               extra: dict | None = None) -> Path:
    """Save a fitted strategy to the folder ``path`` (created; existing files replaced).

    Parameters
    ----------
    model : a fitted FusionClassifier.
    strategy : the strategy name recorded in the manifest.
    extra : more JSON-serialisable entries for the manifest (e.g. the study settings).
    """
    import skops.io as sio

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    module = getattr(model, "module_", None)
    to_dump = model
    if module is not None:
        from safetensors.torch import save_model as save_torch

        if not hasattr(model, "_build_module"):
            raise TypeError(f"{type(model).__name__} has a torch module_ but no "
                            "_build_module(); it cannot be saved without pickle.")
        to_dump = copy.copy(model)
        del to_dump.module_
        save_torch(module, str(path / MODULE_FILE))
    elif (path / MODULE_FILE).exists():
        (path / MODULE_FILE).unlink()
    sio.dump(_encode(to_dump, {}), path / ESTIMATOR_FILE)
    manifest = {
        "medfuse_version": medfuse.__version__,
        "strategy": strategy or type(model).__name__,
        "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
        "modalities": list(model.modalities_),
        "kinds": dict(model.modality_kinds_),
        "feature_names": {m: (list(v) if v is not None else None)
                          for m, v in model.feature_names_.items()},
        "block_shapes": {m: None if s is None else list(s)
                         for m, s in getattr(model, "block_shapes_", {}).items()},
        "classes": [_jsonable(c) for c in getattr(model, "classes_", [])],
        "torch_module": module is not None,
    }
    manifest.update(extra or {})
    (path / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    return path


def read_manifest(path: str | Path) -> dict:
    """The manifest of a saved model folder."""
    file = Path(path) / MANIFEST_FILE
    if not file.exists():
        raise FileNotFoundError(f"{path} is not a saved medfuse model (no {MANIFEST_FILE}).")
    return json.loads(file.read_text())


def load_model(path: str | Path, trust: tuple[str, ...] = ()):
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : the model folder.
    trust : more module prefixes to trust (e.g. ``("mylab.models.",)`` for your own
        strategy classes); only name code you control.

    Raises
    ------
    UntrustedModelError
        If the file holds types outside medfuse, scikit-learn, numpy, scipy and pandas.
    """
    import skops.io as sio

    path = Path(path)
    read_manifest(path)
    file = path / ESTIMATOR_FILE
    if not file.exists():
        raise FileNotFoundError(f"{path} has no {ESTIMATOR_FILE}.")
    untrusted = sio.get_untrusted_types(file=file)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES + tuple(trust))]
    if refused:
        raise UntrustedModelError(
            f"{file} holds types medfuse does not trust: {', '.join(refused)}. Only types "
            "from medfuse, scikit-learn, numpy, scipy and pandas are loaded.")
    model = _decode(sio.load(file, trusted=untrusted))
    if (path / MODULE_FILE).exists():
        from safetensors.torch import load_model as load_torch

        model.module_ = model._build_module()
        load_torch(model.module_, str(path / MODULE_FILE))
        model.module_.eval()
    return model
