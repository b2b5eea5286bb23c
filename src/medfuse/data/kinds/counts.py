"""``counts``: non-negative integer counts (RNA-seq reads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from medfuse.data.kinds.continuous import ContinuousKind
from medfuse.data.validation import check_counts

if TYPE_CHECKING:
    from medfuse.data.modality import Modality


class CountsKind(ContinuousKind):
    """Non-negative integer counts; no NaN, no inf. Default preprocessing: log-CPM then
    z-score."""

    name = "counts"
    harmonizers: ClassVar[tuple[str, ...]] = ("ComBat-seq",)
    screening_scale: ClassVar[str | None] = "log-cpm"
    constant_features: ClassVar[str] = (
        "kept; log-CPM then z-score map a gene counted 0 in every subject to 0 (a constant "
        "non-zero count varies with library size after log-CPM)")

    def check(self, name: str, spec: Modality, measured: pd.DataFrame) -> None:
        super().check(name, spec, measured)
        check_counts(name, measured)

    def default_preprocessor(self, spec: Modality):
        from sklearn.pipeline import make_pipeline

        from medfuse.preprocess.counts import LogCPM
        from medfuse.preprocess.scaling import ZScore

        return make_pipeline(LogCPM(), ZScore()).set_output(transform="pandas")
