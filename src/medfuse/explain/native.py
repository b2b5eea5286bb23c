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
coefficients          ``coefficients()`` or ``coef_`` given per modality (additive); the
                      linear classifier of early fusion split by modality
meta_coefficients     stacking's linear meta-classifier on modality log-odds
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
from medfuse.fusion.wrappers import final_estimator


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
        strategy without native explanations. A wrapped strategy (representations,
        conformal) is explained by the strategy it wraps, on what that strategy sees of
        ``data``.
    """
    if data is None:
        model = final_estimator(model)
    else:
        model, data = final_estimator(model, data)
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
            out["loadings"] = _blockwise(_named_rows(value, model), modalities, "loading",
                                         row_name="feature")
            break
    value = getattr(model, "block_variance_", None)
    if value is not None:
        out["block_variance"] = _blockwise(value, modalities, "variance", row_name="component")
    coef = getattr(model, "coef_", None)
    if callable(getattr(model, "coefficients", None)) and coef is not None:
        out["coefficients"] = model.coefficients()
    elif isinstance(coef, Mapping):
        out["coefficients"] = _blockwise(coef, modalities, "coefficient", row_name="feature")
    early = _early_coefficients(model)
    if early is not None and "coefficients" not in out:
        out["coefficients"] = early
    stacked = _stacking_coefficients(model)
    if stacked is not None:
        out["meta_coefficients"] = stacked
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


# ---------------------------------------------------------------------- linear strategies
def _linear_coef(estimator) -> np.ndarray | None:
    """(n_scores, n_columns) coefficients of a fitted linear model (or a search/pipeline
    ending in one), None otherwise."""
    for candidate in (estimator, getattr(estimator, "best_estimator_", None)):
        if candidate is None:
            continue
        if hasattr(candidate, "steps"):
            candidate = candidate.steps[-1][1]
        coef = getattr(candidate, "coef_", None)
        if coef is not None and np.ndim(coef) == 2:
            return np.asarray(coef, dtype=float)
    return None


def _score_names(model, n_scores: int) -> list[str]:
    classes = list(getattr(model, "classes_", []))
    if n_scores == 1 and len(classes) == 2:
        return [str(classes[1])]
    return [str(c) for c in classes[:n_scores]] or [str(k) for k in range(n_scores)]


def _early_coefficients(model) -> pd.DataFrame | None:
    """Early fusion with a linear classifier: [modality, feature, class, coefficient] on the
    preprocessed columns (``feature_slices_`` locate each modality's columns)."""
    slices = getattr(model, "feature_slices_", None)
    coef = _linear_coef(getattr(model, "estimator_", None))
    if not isinstance(slices, Mapping) or coef is None:
        return None
    names = getattr(model, "feature_names_", {}) or {}
    labels = _score_names(model, coef.shape[0])
    rows = []
    for m, sl in slices.items():
        block = coef[:, sl]
        feats = names.get(m)
        feats = feats if feats is not None and len(feats) == block.shape[1] else [
            f"{m}[{j}]" for j in range(block.shape[1])]
        for k, c in enumerate(labels):
            rows += [(str(m), str(f), c, float(v)) for f, v in zip(feats, block[k],
                                                                   strict=True)]
    return pd.DataFrame(rows, columns=["modality", "feature", "class", "coefficient"])


def _stacking_coefficients(model) -> pd.DataFrame | None:
    """Stacking with a linear meta-classifier: its coefficient on each modality's log-odds
    and on each availability indicator, [term, class, coefficient]."""
    if not hasattr(model, "estimators_") or not hasattr(model, "log_prior_"):
        return None
    coef = _linear_coef(getattr(model, "meta_estimator_", None))
    mods = list(getattr(model, "modalities_", []))
    if coef is None or not mods:
        return None
    per = (coef.shape[1] - len(mods)) // len(mods)
    if per < 1 or per * len(mods) + len(mods) != coef.shape[1]:
        return None
    classes = [str(c) for c in model.classes_]
    score_terms = ([f"{m}: log-odds" for m in mods] if per == 1 else
                   [f"{m}: log p({c})" for m in mods for c in classes])
    terms = score_terms + [f"{m}: available" for m in mods]
    labels = _score_names(model, coef.shape[0])
    rows = [(t, c, float(coef[k, j])) for k, c in enumerate(labels)
            for j, t in enumerate(terms)]
    return pd.DataFrame(rows, columns=["term", "class", "coefficient"])


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


def _named_rows(value, model):
    """Per-modality arrays labelled with the modality's feature names when they match."""
    if not isinstance(value, Mapping):
        return value
    names = getattr(model, "feature_names_", {}) or {}
    out = {}
    for m, v in value.items():
        rows = names.get(m)
        if not isinstance(v, pd.DataFrame | pd.Series) and rows is not None \
                and np.ndim(v) >= 1 and len(v) == len(rows):
            arr = np.asarray(v, dtype=float)
            arr = arr[:, None] if arr.ndim == 1 else arr.reshape(len(arr), -1)
            v = pd.DataFrame(arr, index=pd.Index(rows, name="feature"),
                             columns=[f"comp{h + 1}" for h in range(arr.shape[1])])
        out[m] = v
    return out


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
