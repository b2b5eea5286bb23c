"""Low-dimensional numeric summaries of each modality, the variables the missingness
diagnostics work on.

A tabular block becomes its first principal component scores: counts are scaled to the
median library size and log1p-transformed, categorical columns are one-hot encoded, every
column is standardised (missing cells filled with the column median for the rotation only)
and the scores of subjects without the modality are NaN. Image, series and other
non-tabular blocks have no summary; the diagnostics say they were left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.data import MultiModalData


def numeric_table(block: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A block as numbers: counts on the log1p library-size scale, categories one-hot,
    booleans 0/1; missing cells stay NaN. Shape (subjects, columns)."""
    if kind == "counts":
        values = block.to_numpy(dtype=float)
        totals = np.nansum(values, axis=1, keepdims=True)
        scale = np.median(totals[totals > 0]) if np.any(totals > 0) else 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(totals > 0, values / totals * scale, np.nan)
        return pd.DataFrame(np.log1p(scaled), index=block.index, columns=block.columns)
    categorical = [c for c in block.columns if not pd.api.types.is_numeric_dtype(block[c])
                   or pd.api.types.is_bool_dtype(block[c])]
    numeric = block.drop(columns=categorical).astype(float)
    if not categorical:
        return numeric
    dummies = pd.get_dummies(block[categorical].astype("object"), drop_first=True,
                             dummy_na=False, dtype=float)
    for col in categorical:
        absent = block[col].isna().to_numpy()
        if absent.any():
            owned = [c for c in dummies.columns if c.startswith(f"{col}_")]
            dummies.loc[absent, owned] = np.nan
    return pd.concat([numeric, dummies], axis=1)


def principal_scores(table: pd.DataFrame, n_components: int) -> pd.DataFrame:
    """First ``n_components`` principal component scores ``(subjects, k)`` of a numeric
    table with standardised columns; constant columns are dropped and NaN cells take the
    column median."""
    values = table.to_numpy(dtype=float)
    centre = np.nanmedian(values, axis=0)
    values = np.where(np.isnan(values), centre, values)
    sd = values.std(axis=0)
    values = (values[:, sd > 0] - values[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    k = int(min(n_components, values.shape[1], max(values.shape[0] - 1, 0)))
    if k == 0:
        return pd.DataFrame(index=table.index)
    u, s, _ = np.linalg.svd(values, full_matrices=False)
    scores = u[:, :k] * s[:k]
    return pd.DataFrame(scores, index=table.index, columns=[f"PC{i + 1}" for i in range(k)])


def modality_scores(data: MultiModalData, n_components: int = 2
                    ) -> tuple[pd.DataFrame, list[str]]:
    """Principal component scores of every tabular modality, joined on subject ID.

    Returns
    -------
    scores : DataFrame of shape (n_subjects, n_modalities * n_components)
        Columns ``"<modality>:PC1"`` ...; NaN for subjects without the modality.
    skipped : list of str
        Modalities without a table (images, series), which have no summary.
    """
    parts, skipped = [], []
    for name in data.modality_names:
        block = data.block(name)
        if not isinstance(block, pd.DataFrame):
            skipped.append(name)
            continue
        scores = principal_scores(numeric_table(block, data.kinds[name]), n_components)
        parts.append(scores.add_prefix(f"{name}:").reindex(data.subjects))
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.subjects)
    return frame, skipped
