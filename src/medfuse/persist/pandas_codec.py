"""pandas objects among fitted attributes, written as plain values that skops can store.

skops cannot store pandas objects; :func:`encode` replaces each Series/DataFrame (in
attributes of medfuse/scikit-learn objects, dicts, lists and tuples) by a plain dict of its
values, index and column labels, and :func:`decode` restores them after loading. Values come
back with numeric or object dtype (a categorical dtype is not kept).
"""

from __future__ import annotations

import copy

import numpy as np

PANDAS_MARK = "__medfuse_pandas__"
_WALK_PREFIXES = ("medfuse.", "sklearn.")


def _walkable(obj) -> bool:
    """Objects whose attributes are searched for pandas objects: estimators and medfuse's
    own classes."""
    from sklearn.base import BaseEstimator

    return (not isinstance(obj, type) and hasattr(obj, "__dict__")
            and (isinstance(obj, BaseEstimator)
                 or type(obj).__module__.startswith(_WALK_PREFIXES)))


def _labels(index) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in index]


def encode(obj, memo: dict):
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
        new = {k: encode(v, memo) for k, v in obj.items()}
        out = new if any(new[k] is not obj[k] for k in obj) else obj
    elif isinstance(obj, list | tuple):
        new = [encode(v, memo) for v in obj]
        if any(a is not b for a, b in zip(new, obj, strict=True)):
            out = type(obj)(new) if isinstance(obj, list) else tuple(new)
    elif _walkable(obj):
        changed = {k: encode(v, memo) for k, v in vars(obj).items()}
        changed = {k: v for k, v in changed.items() if v is not vars(obj)[k]}
        if changed:
            out = copy.copy(obj)
            for k, v in changed.items():
                setattr(out, k, v)
    memo[id(obj)] = out
    return out


def decode(obj):
    """Inverse of :func:`encode` (in place on freshly loaded objects)."""
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
            obj[k] = decode(v)
        return obj
    if isinstance(obj, list):
        obj[:] = [decode(v) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(decode(v) for v in obj)
    if _walkable(obj):
        for k, v in list(vars(obj).items()):
            setattr(obj, k, decode(v))
    return obj
