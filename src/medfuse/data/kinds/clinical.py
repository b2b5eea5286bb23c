"""``clinical``: mixed columns on the four measurement scales (and free text)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from medfuse.data.kinds.base import Kind


class ClinicalKind(Kind):
    """Mixed columns; NaN cells are allowed (missingness is informative in clinical
    records). Default preprocessing: ``clinical-encoder``
    (:class:`~medfuse.preprocess.ClinicalEncoder` with the modality's declared measurement
    scales); kernel: RBF on numeric columns times a matching kernel on categories (when the
    preprocessor is that encoder)."""

    name = "clinical"
    nan_allowed: ClassVar[bool] = True
    kernel = "clinical"
    preprocessing: ClassVar[str | None] = "clinical-encoder"
    constant_features: ClassVar[str] = ("kept; the default encoding maps a constant number to "
                                        "0 and a one-level category to a constant indicator")

    def default_kernel(self, preprocessor) -> str:
        return getattr(preprocessor, "mkl_kernel", "auto")

    def example(self, ids: pd.Index, y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Age (ratio, older when ``y`` is 1, a tenth missing), sex (nominal) and stage
        (ordinal, later when ``y`` is 1)."""
        n = len(ids)
        age = rng.normal(55 + 10 * y, 6).round()
        age[rng.random(n) < 0.1] = np.nan
        stage = np.clip(rng.integers(0, 3, n) + y, 0, 3)
        return pd.DataFrame({
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "stage": pd.Categorical(np.array(["I", "II", "III", "IV"])[stage],
                                    categories=["I", "II", "III", "IV"], ordered=True),
        }, index=ids)
