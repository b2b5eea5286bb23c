"""``continuous``: real-valued features (microarray, methylation beta values, radiomics)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from medfuse.data.kinds.base import Kind, ModalitySpec
from medfuse.data.validation import check_no_inf, check_no_nan, to_numeric


class ContinuousKind(Kind):
    """A numeric table; no NaN in a present row unless allowed, never inf. Default
    preprocessing: ``zscore`` (:class:`~medfuse.preprocess.scaling.ZScore`, scikit-learn's
    ``StandardScaler`` reading a table as one array)."""

    name = "continuous"
    preprocessing: ClassVar[str | None] = "zscore"
    harmonizers: ClassVar[tuple[str, ...]] = ("ComBat",)
    screening_scale: ClassVar[str | None] = "raw"
    constant_features: ClassVar[str] = ("kept; the default z-score maps them to 0, so they "
                                        "carry no weight")

    def coerce(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        return to_numeric(name, frame)

    def check(self, name: str, spec: ModalitySpec, measured: pd.DataFrame) -> None:
        check_no_inf(name, measured)
        if not spec.nan_allowed:
            check_no_nan(name, measured)

    def example(self, ids: pd.Index, y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Six standard normal features; the first two shifted by ``y``."""
        values = rng.normal(size=(len(ids), 6))
        values[:, :2] += 1.5 * y[:, None]
        return pd.DataFrame(values, index=ids, columns=[f"x{k}" for k in range(6)])
