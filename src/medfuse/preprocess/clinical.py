"""Measurement-scale-aware encoding of clinical tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.modality import MeasurementScale, infer_scales


class ClinicalEncoder(TransformerMixin, BaseEstimator):
    """Encode a clinical table by each column's measurement scale.

    - nominal -> one-hot (categories seen in fit; unseen ones encode as all zeros),
    - ordinal -> the category's rank (0, 1, ...), then scaled like interval columns,
    - interval / ratio -> robust scaling: ``(x - median) / IQR`` (IQR 0 -> 1),
    - free text (notes) -> term frequencies of the training vocabulary, one column
      ``<column>__tf[<term>]`` per term (see ``text_vectorizer``),
    - every column with missing cells in fit -> a 0/1 missingness indicator
      ``<column>__missing`` (missingness is often informative), and the cell itself is
      imputed with the training median (numeric) or left all-zero (one-hot).

    Parameters
    ----------
    scales : mapping column -> MeasurementScale, optional
        Declared scales; the rest are inferred (see ``medfuse.data.infer_scales``).
    missing_indicators : bool
        Add indicator columns for columns that had missing cells in training.
    text_vectorizer : scikit-learn text vectorizer, optional
        Cloned and fitted per free-text column (missing notes count as empty). Default:
        ``TfidfVectorizer(use_idf=False, norm="l1", max_features=100)``, i.e. each note's
        relative term frequencies over the 100 most frequent training terms.

    Attributes
    ----------
    scales_ : dict column -> MeasurementScale
    levels_ : dict column -> list of str, the ordered levels of ordinal categorical columns
        (a column given as text at transform is ranked by them)
    feature_names_out_ : list of str
    vectorizers_ : dict column -> fitted text vectorizer
    """

    #: the ``mkl`` kernel its output needs: RBF on numbers times matching on categories
    mkl_kernel: ClassVar[str] = "clinical"

    def __init__(self, scales: Mapping[str, str] | None = None,
                 missing_indicators: bool = True, text_vectorizer=None) -> None:
        self.scales = scales
        self.missing_indicators = missing_indicators
        self.text_vectorizer = text_vectorizer

    def fit(self, X: pd.DataFrame, y=None):
        X = self._as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.scales_ = infer_scales(X, self.scales)
        self.categories_: dict[str, list] = {}
        self.levels_: dict[str, list] = {}
        self.center_: dict[str, float] = {}
        self.spread_: dict[str, float] = {}
        self.with_indicator_: list[str] = []
        self.vectorizers_: dict = {}
        names: list[str] = []
        for col in X.columns:
            scale = self.scales_[col]
            s = X[col]
            if scale == MeasurementScale.TEXT:
                try:
                    vectorizer = self._new_vectorizer().fit(self._notes(s))
                except ValueError as err:
                    raise ValueError(f"Clinical text column {col!r}: {err}") from None
                self.vectorizers_[col] = vectorizer
                names += [f"{col}__tf[{t}]" for t in vectorizer.get_feature_names_out()]
            elif scale == MeasurementScale.NOMINAL:
                cats = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                        else sorted(s.dropna().unique(), key=str))
                self.categories_[col] = cats
                names += [f"{col}={c}" for c in cats]
            else:
                if scale == MeasurementScale.ORDINAL and isinstance(s.dtype,
                                                                    pd.CategoricalDtype):
                    self.levels_[col] = [str(c) for c in s.cat.categories]
                values = self._numeric(col, s)
                med = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
                q75, q25 = (np.nanpercentile(values, [75, 25]) if np.isfinite(values).any()
                            else (1.0, 0.0))
                self.center_[col] = med
                self.spread_[col] = float(q75 - q25) or 1.0
                names.append(col)
            if self.missing_indicators and s.isna().any():
                self.with_indicator_.append(col)
                names.append(f"{col}__missing")
        self.feature_names_out_ = names
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "scales_")
        X = self._as_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"Clinical table lacks column(s) seen in fit: {missing}.")
        out: dict[str, np.ndarray] = {}
        for col in self.feature_names_in_:
            s = X[col]
            if col in self.vectorizers_:
                vectorizer = self.vectorizers_[col]
                tf = vectorizer.transform(self._notes(s)).toarray()
                for j, term in enumerate(vectorizer.get_feature_names_out()):
                    out[f"{col}__tf[{term}]"] = tf[:, j]
            elif col in self.categories_:
                values = s.astype(object).to_numpy()
                for c in self.categories_[col]:
                    out[f"{col}={c}"] = (values == c).astype(float)
            else:
                v = (self._numeric(col, s) - self.center_[col]) / self.spread_[col]
                out[col] = np.where(np.isnan(v), 0.0, v)
            if col in self.with_indicator_:
                out[f"{col}__missing"] = s.isna().to_numpy().astype(float)
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "scales_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def _new_vectorizer(self):
        from sklearn.base import clone
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.text_vectorizer is None:
            return TfidfVectorizer(use_idf=False, norm="l1", max_features=100)
        return clone(self.text_vectorizer)

    @staticmethod
    def _notes(s: pd.Series) -> list[str]:
        return ["" if pd.isna(v) else str(v) for v in s]

    def _numeric(self, col: str, s: pd.Series) -> np.ndarray:
        if self.scales_[col] == MeasurementScale.ORDINAL:
            levels = getattr(self, "levels_", {}).get(col)
            if isinstance(s.dtype, pd.CategoricalDtype) and (
                    levels is None or [str(c) for c in s.cat.categories] == levels):
                codes = s.cat.codes.to_numpy().astype(float)
                codes[codes < 0] = np.nan
                return codes
            if levels is not None:
                # the same ordered levels given as text (e.g. a CSV file without manifest)
                rank = {lv: float(k) for k, lv in enumerate(levels)}
                unknown = sorted({str(v) for v in s.dropna()} - set(rank))
                if unknown:
                    raise ValueError(f"Clinical column {col!r}: value(s) {unknown} are not "
                                     f"among the ordinal levels seen in fit {levels}.")
                return np.array([np.nan if pd.isna(v) else rank[str(v)] for v in s])
            return pd.to_numeric(s, errors="raise").to_numpy(dtype=float)
        try:
            return pd.to_numeric(s, errors="raise").to_numpy(dtype=float)
        except (ValueError, TypeError) as err:
            raise ValueError(f"Clinical column {col!r} is declared {self.scales_[col]} but "
                             f"holds non-numeric values: {err}") from None

    @staticmethod
    def _as_frame(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ClinicalEncoder expects a DataFrame with named columns.")
        X = X.copy()
        X.columns = [str(c) for c in X.columns]
        return X
