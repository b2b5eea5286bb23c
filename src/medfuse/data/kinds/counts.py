"""``counts``: non-negative integer counts (RNA-seq reads)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from medfuse.data.kinds.base import ModalitySpec
from medfuse.data.kinds.continuous import ContinuousKind
from medfuse.data.validation import check_counts


class CountsKind(ContinuousKind):
    """Non-negative integer counts; no NaN, no inf. Default preprocessing:
    ``log-cpm-zscore`` (log-CPM then z-score)."""

    name = "counts"
    preprocessing: ClassVar[str | None] = "log-cpm-zscore"
    harmonizers: ClassVar[tuple[str, ...]] = ("ComBat-seq",)
    screening_scale: ClassVar[str | None] = "log-cpm"
    constant_features: ClassVar[str] = (
        "kept; log-CPM then z-score map a gene counted 0 in every subject to 0 (a constant "
        "non-zero count varies with library size after log-CPM)")

    def check(self, name: str, spec: ModalitySpec, measured: pd.DataFrame) -> None:
        super().check(name, spec, measured)
        check_counts(name, measured)

    def example(self, ids: pd.Index, y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Poisson counts of eight genes at library sizes that differ; the first two genes
        four times as expressed when ``y`` is 1."""
        depth = rng.uniform(0.5, 2.0, len(ids))[:, None]
        rate = 50.0 * depth * np.where(np.arange(8) < 2, 1.0 + 3.0 * y[:, None], 1.0)
        return pd.DataFrame(rng.poisson(rate), index=ids, columns=[f"gene{k}" for k in range(8)])
