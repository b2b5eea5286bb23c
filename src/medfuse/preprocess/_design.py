"""Batch and covariate design matrices shared by ComBat and ComBat-seq.

The covariate design follows R's ``model.matrix(~ a + b, data)`` with treatment contrasts:
numeric columns enter as they are, every other column becomes a factor whose levels are sorted
(or taken from a pandas Categorical) and whose first level is the baseline. The intercept is
left out because the batch indicators span it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class CovariateCoding:
    """How each covariate column was encoded at fit time.

    Attributes
    ----------
    columns : list of str
        Covariate columns, in order.
    levels : dict column -> list
        Factor levels of categorical columns (first = baseline); absent for numeric ones.
    names : list of str
        Design column names (``age``, ``sex[M]`` ...).
    owner : list of str
        For every design column, the covariate column it came from.
    """

    columns: list[str] = field(default_factory=list)
    levels: dict[str, list] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)


#: what ``transform`` does with a batch that had no subject in fit (see ComBat)
UNSEEN_BATCH_POLICIES = ("error", "reference", "fit-new")


class UnseenBatchError(ValueError):
    """``transform`` met batches that had no subject in ``fit`` under the ``error`` policy.

    Attributes
    ----------
    batches : list, the unseen batch labels.
    seen : list, the batches of fit.
    method : str, ``"ComBat"`` or ``"ComBat-seq"``.
    """

    def __init__(self, batches: list, seen: list, method: str) -> None:
        self.batches, self.seen, self.method = list(batches), list(seen), method
        super().__init__(
            f"Batch(es) {self.batches} had no subject among those {method} was fitted on "
            f"(seen: {self.seen}), so their batch effect is unknown. In cross-validation this "
            "happens when a batch has too few subjects to reach the training part of every "
            "fold (e.g. a batch with one subject): merge it into another batch, or evaluate "
            "new sites on purpose with leave-site-out CV (cv.scheme). Or choose an "
            "unseen-batch policy: unseen_batch='fit-new' (estimate the batch from its own "
            "subjects) or 'reference' (leave it unadjusted; needs ref_batch), e.g. "
            "harmonize.unseen_batch in a study file.")


def check_unseen_policy(policy: str, ref_batch) -> None:
    """Refuse an unknown unseen-batch policy, and ``"reference"`` without a reference."""
    if policy not in UNSEEN_BATCH_POLICIES:
        raise ValueError(f"unseen_batch must be one of {UNSEEN_BATCH_POLICIES}, got "
                         f"{policy!r}.")
    if policy == "reference" and ref_batch is None:
        raise ValueError("unseen_batch='reference' needs ref_batch.")


def level_lookup(levels: list) -> dict:
    """Batch label -> position in ``levels``; a label also matches by its text (so that a
    batch ``1`` read as a number from one file matches ``"1"`` from another), unless two
    levels have the same text."""
    lookup = {lev: i for i, lev in enumerate(levels)}
    texts = [str(lev) for lev in levels]
    if len(set(texts)) == len(texts):
        for i, text in enumerate(texts):
            lookup.setdefault(text, i)
    return lookup


def find_level(lookup: dict, label) -> int | None:
    """The position of ``label`` in a :func:`level_lookup` (None: not a level)."""
    if label in lookup:
        return lookup[label]
    return lookup.get(str(label))


def batch_levels(batch: np.ndarray) -> list:
    """Batch levels in R's ``as.factor`` order (sorted; Categorical order when given)."""
    if isinstance(batch, pd.Series):
        batch = batch.array
    if isinstance(batch, pd.Categorical):
        present = set(pd.unique(np.asarray(batch)))
        return [c for c in batch.categories if c in present]
    values = pd.unique(np.asarray(batch, dtype=object))
    if any(pd.isna(v) for v in values):
        raise ValueError("batch holds missing values; every subject needs a batch.")
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def as_batch_array(batch, n: int, index=None) -> np.ndarray:
    """A 1-d object array of batch labels of length ``n`` (aligned on ``index`` if a Series)."""
    if batch is None:
        raise ValueError("batch is required (pass batch=..., or obs with the batch column).")
    if isinstance(batch, pd.Series) and index is not None and batch.index.equals(index) is False:
        if set(batch.index) == set(index):
            batch = batch.reindex(index)
    arr = np.asarray(batch, dtype=object).ravel()
    if arr.shape[0] != n:
        raise ValueError(f"batch has {arr.shape[0]} labels for {n} subjects.")
    if any(pd.isna(v) for v in arr):
        raise ValueError("batch holds missing values; every subject needs a batch.")
    return arr


def fit_covariates(covariates, n: int, index=None) -> CovariateCoding:
    """Learn the coding of a covariate table (see module docstring)."""
    coding = CovariateCoding()
    if covariates is None:
        return coding
    frame = _as_frame(covariates, n, index)
    for col in frame.columns:
        s = frame[col]
        if s.isna().any():
            raise ValueError(f"Covariate {col!r} has missing values; ComBat needs complete "
                             "covariates (impute or drop the subjects first).")
        coding.columns.append(col)
        if _is_numeric(s):
            coding.names.append(col)
            coding.owner.append(col)
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            present = set(s.astype(object))
            levels = [c for c in s.cat.categories if c in present]
        else:
            levels = sorted(pd.unique(s.astype(object)), key=lambda v: (str(type(v)), v))
        coding.levels[col] = levels
        for lev in levels[1:]:
            coding.names.append(f"{col}[{lev}]")
            coding.owner.append(col)
    return coding


def covariate_matrix(coding: CovariateCoding, covariates, n: int, index=None) -> np.ndarray:
    """The design columns of ``covariates`` under a fitted coding (n x len(coding.names))."""
    if not coding.columns:
        return np.zeros((n, 0))
    if covariates is None:
        raise ValueError(f"ComBat was fitted with covariates {coding.columns}; pass them "
                         "again (covariates=... or obs) to transform.")
    frame = _as_frame(covariates, n, index)
    missing = [c for c in coding.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"Covariate column(s) seen in fit are missing: {missing}.")
    blocks = []
    for col in coding.columns:
        s = frame[col]
        if s.isna().any():
            raise ValueError(f"Covariate {col!r} has missing values.")
        if col not in coding.levels:
            blocks.append(pd.to_numeric(s).to_numpy(dtype=float)[:, None])
            continue
        levels = coding.levels[col]
        values = s.astype(object).to_numpy()
        unseen = sorted({v for v in values if v not in levels}, key=str)
        if unseen:
            raise ValueError(f"Covariate {col!r} has level(s) {unseen} not seen in fit "
                             f"(known: {levels}).")
        blocks.append(np.column_stack([(values == lev).astype(float) for lev in levels[1:]])
                      if len(levels) > 1 else np.zeros((n, 0)))
    return np.column_stack(blocks) if blocks else np.zeros((n, 0))


def check_confounding(batch_idx: np.ndarray, levels: list, mod: np.ndarray,
                      coding: CovariateCoding, covariates, index=None) -> None:
    """Raise a ValueError naming the covariate and batches when batch is not identifiable.

    A covariate is confounded with batch when some combination of its design columns is
    constant within every batch (it lies in the span of the batch indicators).
    """
    n = batch_idx.shape[0]
    onehot = np.zeros((n, len(levels)))
    onehot[np.arange(n), batch_idx] = 1.0
    full = np.column_stack([onehot, mod])
    if np.linalg.matrix_rank(full) == full.shape[1]:
        return
    frame = _as_frame(covariates, n, index) if covariates is not None else None
    for col in coding.columns:
        cols = [j for j, o in enumerate(coding.owner) if o == col]
        sub = np.column_stack([onehot, mod[:, cols]])
        if np.linalg.matrix_rank(sub) < sub.shape[1]:
            desc = []
            for b, lev in enumerate(levels):
                vals = pd.unique(frame[col].to_numpy()[batch_idx == b])
                if len(vals) == 1:
                    desc.append(f"{col}={vals[0]} in every subject of batch {lev!r}")
            raise ValueError(
                f"Covariate {col!r} is confounded with batch: batch is not identifiable from "
                f"it ({'; '.join(desc)}). Remove {col!r} or rebalance batches "
                f"{[lev for lev in levels]}.")
    if np.linalg.matrix_rank(mod) < mod.shape[1]:
        raise ValueError(f"The covariates {coding.columns} are collinear among themselves; "
                         "remove one of them.")
    raise ValueError(f"The covariates {coding.columns} are jointly confounded with batch "
                     f"{levels}; remove one or more of them.")


def _as_frame(covariates, n: int, index=None) -> pd.DataFrame:
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if not isinstance(covariates, pd.DataFrame):
        arr = np.asarray(covariates)
        arr = arr[:, None] if arr.ndim == 1 else arr
        covariates = pd.DataFrame(arr, columns=[f"cov{j}" for j in range(arr.shape[1])])
    elif index is not None and not covariates.index.equals(index) \
            and set(covariates.index) == set(index):
        covariates = covariates.reindex(index)
    if covariates.shape[0] != n:
        raise ValueError(f"covariates has {covariates.shape[0]} rows for {n} subjects.")
    covariates = covariates.copy()
    covariates.columns = [str(c) for c in covariates.columns]
    return covariates


def _is_numeric(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            and not isinstance(s.dtype, pd.CategoricalDtype))
