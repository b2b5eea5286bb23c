"""``counts``: non-negative integer counts (RNA-seq reads)."""

from __future__ import annotations

from typing import ClassVar

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
