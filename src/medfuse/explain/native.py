"""What a strategy reports about itself, as tidy DataFrames behind one function.

:func:`native` looks for the explanation attributes of every strategy by name (duck typing),
so a strategy that is not installed or not fitted never breaks it:

====================  ===================================================================
key                   source
====================  ===================================================================
modality_weights      ``modality_weights_`` (late-weighted, additive, ...)
kernel_weights        ``kernel_weights_`` (mkl)
mean_attention        ``attention_``: mean attention per modality over training subjects
loadings              ``loadings_`` / ``block_loadings_`` / ``x_loadings_`` (block-pls)
block_variance        ``block_variance_`` (block-pls)
coefficients          ``coefficients()`` or ``coef_`` given per modality (additive)
attention             ``attention_weights(data)`` per subject (attention), needs ``data``
cross_attention       ``cross_attention_maps(data)`` / ``attention_maps(data)``, needs ``data``;
                      [subject, (head,) query, key, weight]
contributions         ``explain(data).modality_frame()`` (additive), needs ``data``
====================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from medfuse.data.multimodal import MultiModalData


def native(model, data: MultiModalData | None = None) -> dict[str, pd.DataFrame]:
    """Strategy-native explanations of a fitted model as tidy DataFrames.

    Parameters
    ----------
    model : fitted FusionClassifier
    data : MultiModalData, optional
        Subjects for per-subject explanations (attention weights, cross-attention maps,
        additive contributions); omitted, only fitted attributes are reported.

    Returns
    -------
    dict name -> DataFrame
        Only the entries the strategy provides (see the module docstring); empty for a
        strategy without native explanations.
    """
    modalities = list(getattr(model, "modalities_", []))
    out: dict[str, pd.DataFrame] = {}
    for key, attr, value_name in (("modality_weights", "modality_weights_", "weight"),
                                  ("kernel_weights", "kernel_weights_", "weight"),
                                  ("mean_attention", "attention_", "weight")):
        value = getattr(model, attr, None)
        if value is not None:
            out[key] = _weights(value, modalities, value_name)
    for attr in ("loadings_", "block_loadings_", "x_loadings_"):
        value = getattr(model, attr, None)
        if value is not None:
            out["loadings"] = _blockwise(value, modalities, "loading", row_name="feature")
            break
    value = getattr(model, "block_variance_", None)
    if value is not None:
        out["block_variance"] = _blockwise(value, modalities, "variance", row_name="component")
    coef = getattr(model, "coef_", None)
    if callable(getattr(model, "coefficients", None)) and coef is not None:
        out["coefficients"] = model.coefficients()
    elif isinstance(coef, Mapping):
        out["coefficients"] = _blockwise(coef, modalities, "coefficient", row_name="feature")
    if data is None:
        return out
    if callable(getattr(model, "attention_weights", None)):
        out["attention"] = _per_subject(model.attention_weights(data), model, data, "weight")
    for name in ("cross_attention_maps", "attention_maps"):
        method = getattr(model, name, None)
        if callable(method):
            out["cross_attention"] = _maps(method(data), model, data)
            break
    explain = getattr(model, "explain", None)
    if callable(explain) and len(model.classes_) == 2:
        decomposition = explain(data)
        if callable(getattr(decomposition, "modality_frame", None)):
            out["contributions"] = _long(decomposition.modality_frame(), "contribution")
    return out


# ---------------------------------------------------------------------- converters
def _weights(value, modalities: list[str], value_name: str) -> pd.DataFrame:
    """Weights per modality (or per kernel) as a table [modality, weight]."""
    if isinstance(value, Mapping):
        value = pd.Series(dict(value))
    if isinstance(value, pd.DataFrame):
        return _long(value.T if value.shape[0] == 1 else value, value_name)
    if not isinstance(value, pd.Series):
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1:
            index = modalities if len(arr) == len(modalities) else [f"kernel{i}" for i in
                                                                     range(len(arr))]
            value = pd.Series(arr, index=index)
        else:
            return _long(pd.DataFrame(arr), value_name)
    frame = value.rename(value_name).rename_axis("modality").reset_index()
    return frame


def _blockwise(value, modalities: list[str], value_name: str, row_name: str) -> pd.DataFrame:
    """A per-modality mapping of arrays/frames (or one frame) as a long table."""
    if isinstance(value, Mapping):
        parts = []
        for m, v in value.items():
            part = _as_frame(v, row_name)
            parts.append(_long(part, value_name, row_name, "component")
                         .assign(modality=str(m)))
        frame = pd.concat(parts, ignore_index=True)
        return frame[["modality", *[c for c in frame.columns if c != "modality"]]]
    frame = _as_frame(value, row_name)
    by_modality = set(map(str, frame.index)) <= set(modalities)
    if len(frame) == len(modalities) and not isinstance(value, pd.DataFrame | pd.Series):
        frame.index = pd.Index(modalities)
        by_modality = True
    return _long(frame, value_name, "modality" if by_modality else row_name, "component")


def _as_frame(v, row_name: str) -> pd.DataFrame:
    if isinstance(v, pd.Series):
        return v.to_frame()
    if isinstance(v, pd.DataFrame):
        return v
    arr = np.asarray(v, dtype=float)
    arr = arr[:, None] if arr.ndim == 1 else arr.reshape(len(arr), -1)
    return pd.DataFrame(arr, index=pd.RangeIndex(len(arr), name=row_name))


def _long(frame: pd.DataFrame, value_name: str, row_name: str | None = None,
          col_name: str | None = None) -> pd.DataFrame:
    """Wide frame -> rows (row label, column label, value)."""
    frame = frame.copy()
    row = row_name or frame.index.name or "subject"
    col = col_name or frame.columns.name or ("modality" if row != "modality" else "component")
    frame.index = frame.index.rename(row)
    frame.columns = pd.Index([str(c) for c in frame.columns], name=col)
    return frame.stack().rename(value_name).reset_index()


def _per_subject(value, model, data: MultiModalData, value_name: str) -> pd.DataFrame:
    """Per-subject x modality weights as [subject, modality, weight]."""
    if not isinstance(value, pd.DataFrame):
        arr = np.asarray(value, dtype=float)
        cols = (list(model.modalities_) if arr.shape[-1] == len(model.modalities_)
                else [f"slot{i}" for i in range(arr.shape[-1])])
        value = pd.DataFrame(arr.reshape(len(data), -1), index=data.subjects, columns=cols)
    value = value.rename_axis(index="subject", columns="modality")
    return _long(value, value_name)


def _maps(value, model, data: MultiModalData) -> pd.DataFrame:
    """Cross-attention maps as [subject, query, key, weight] (or [subject, map, ...] for a
    mapping of named maps)."""
    if isinstance(value, pd.DataFrame):
        return value.reset_index() if not isinstance(value.index, pd.RangeIndex) else value
    if isinstance(value, Mapping):
        parts = [_maps(v, model, data).assign(map=str(k)) for k, v in value.items()]
        return pd.concat(parts, ignore_index=True)
    arr = np.asarray(value, dtype=float)
    n = len(data)
    if arr.ndim == 4:                      # subjects x heads x queries x keys
        parts = [_maps(arr[:, h], model, data).assign(head=h) for h in range(arr.shape[1])]
        frame = pd.concat(parts, ignore_index=True)
        return frame[["subject", "head", "query", "key", "weight"]]
    if arr.ndim == 3:
        q, k = arr.shape[1:]
        mods = list(model.modalities_)
        qn = mods if q == len(mods) else [f"q{i}" for i in range(q)]
        kn = mods if k == len(mods) else [f"k{i}" for i in range(k)]
        return pd.DataFrame({
            "subject": np.repeat(np.asarray(data.subjects), q * k),
            "query": np.tile(np.repeat(qn, k), n),
            "key": np.tile(kn, n * q),
            "weight": arr.reshape(-1)})
    flat = arr.reshape(n, -1)
    return _long(pd.DataFrame(flat, index=data.subjects.rename("subject")), "weight")
