"""What an imputer sees: the other modalities as a few principal component scores, and the
modality it fills on a standardised scale.

Predictors: each other tabular modality goes through its kind's default preprocessing
(z-score, log-CPM then z-score, the clinical encoder), fitted on the training subjects that
have it; missing cells become 0 (the training mean); the first ``n_components`` principal
components of the result, fitted on the same subjects, are its predictors. A subject without
that modality has NaN there. Image and series modalities are not predictors.

Target: a ``continuous`` or numeric ``clinical`` block as it is, a ``counts`` block as
``log1p(CPM)``; each feature then standardised by the training subjects that have the
modality. Imputed values are mapped back (counts at the training median library size,
rounded to whole counts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.decomposition import PCA

from medfuse.data import DataValidationError, MultiModalData
from medfuse.preprocess.blocks import default_preprocessor

#: kinds whose blocks can be filled in
IMPUTABLE_KINDS = ("continuous", "counts", "clinical")


class PredictorEncoder:
    """The other modalities of a subject as principal component scores (see the module
    docstring); fitted on training subjects only.

    Parameters
    ----------
    exclude : str
        The modality being filled in, which is not a predictor of itself.
    n_components : int
        Principal component scores per other modality (capped at its columns and its
        training subjects minus one).
    """

    def __init__(self, exclude: str, n_components: int = 10) -> None:
        self.exclude = exclude
        self.n_components = n_components

    def fit(self, data: MultiModalData) -> PredictorEncoder:
        self.parts_ = []
        for name in data.modality_names:
            block = data.block(name)
            if name == self.exclude or not isinstance(block, pd.DataFrame) or len(block) < 3:
                continue
            prep = default_preprocessor(data.modalities[name])
            prep = clone(prep).fit(block) if prep is not None else None
            values = _numbers(prep, block)
            k = int(min(self.n_components, values.shape[1], len(values) - 1))
            self.parts_.append((name, prep, PCA(k).fit(values)))
        self.modalities_ = [name for name, _, _ in self.parts_]
        return self

    def transform(self, data: MultiModalData) -> np.ndarray:
        """Scores ``(n_subjects, sum of components)``; NaN where a modality is absent."""
        blocks = []
        available = data.available
        for name, prep, pca in self.parts_:
            out = np.full((len(data), pca.n_components_), np.nan)
            if name in data.modality_names:
                has = available[name].to_numpy()
                if has.any():
                    out[has] = pca.transform(_numbers(prep, data.block(name)))
            blocks.append(out)
        return np.hstack(blocks) if blocks else np.empty((len(data), 0))

    def groups(self) -> list[np.ndarray]:
        """Column indices of each predictor modality in :meth:`transform`'s output."""
        out, start = [], 0
        for _, _, pca in self.parts_:
            out.append(np.arange(start, start + pca.n_components_))
            start += pca.n_components_
        return out


def _numbers(prep, block: pd.DataFrame) -> np.ndarray:
    values = prep.transform(block) if prep is not None else block
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, 0.0)


class TargetScale:
    """The modality being filled, standardised per feature (see the module docstring).

    Parameters
    ----------
    modality : str
        The modality being filled in (a table of a kind in :data:`IMPUTABLE_KINDS`).
    """

    def __init__(self, modality: str) -> None:
        self.modality = modality

    def fit(self, data: MultiModalData) -> TargetScale:
        name = self.modality
        if name not in data.modality_names:
            raise DataValidationError(f"impute: no modality {name!r}; the data have "
                                      f"{data.modality_names}.")
        self.kind_ = data.kinds[name]
        block = data.block(name)
        if self.kind_ not in IMPUTABLE_KINDS or not isinstance(block, pd.DataFrame):
            raise DataValidationError(
                f"impute: {name!r} is a {self.kind_} modality; only tables of the kinds "
                f"{', '.join(IMPUTABLE_KINDS)} can be filled in (represent images and series "
                "as features first, or leave them missing).")
        text = [c for c in block.columns if not pd.api.types.is_numeric_dtype(block[c])]
        if text:
            raise DataValidationError(f"impute: {name!r} has non-numeric columns "
                                      f"{text[:5]}; only numeric tables can be filled in.")
        if len(block) < 3:
            raise DataValidationError(f"impute: only {len(block)} training subjects have "
                                      f"{name!r}; at least 3 are needed to fill it in.")
        self.columns_ = list(block.columns)
        raw = block.to_numpy(dtype=float)
        if self.kind_ == "counts":
            self.library_size_ = float(np.median(np.nansum(raw, axis=1)))
        values = self._forward(raw)
        self.mean_ = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        return self

    def _forward(self, raw: np.ndarray) -> np.ndarray:
        if self.kind_ == "counts":
            totals = np.nansum(raw, axis=1, keepdims=True)
            return np.log1p(raw / np.where(totals > 0, totals, 1.0) * 1e6)
        return raw

    def transform(self, block: pd.DataFrame) -> np.ndarray:
        """Standardised values ``(n, q)``; missing cells stay NaN."""
        return (self._forward(block.to_numpy(dtype=float)) - self.mean_) / self.scale_

    def inverse(self, z: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """A block on the modality's own scale from standardised values ``(n, q)``."""
        values = z * self.scale_ + self.mean_
        if self.kind_ == "counts":
            values = np.round(np.clip(np.expm1(values), 0, None) * self.library_size_ / 1e6)
        return pd.DataFrame(values, index=index, columns=self.columns_)
