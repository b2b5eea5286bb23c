"""``continuous``: real-valued features (microarray, methylation beta values, radiomics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from medfuse.data.kinds.base import Kind
from medfuse.data.validation import check_no_inf, check_no_nan, to_numeric

if TYPE_CHECKING:
    from medfuse.data.modality import Modality


class ContinuousKind(Kind):
    """A numeric table; no NaN in a present row unless allowed, never inf. Default
    preprocessing: z-score (:class:`~medfuse.preprocess.scaling.ZScore`, scikit-learn's
    ``StandardScaler`` reading a table as one array)."""

    name = "continuous"
    harmonizers: ClassVar[tuple[str, ...]] = ("ComBat",)
    screening_scale: ClassVar[str | None] = "raw"
    constant_features: ClassVar[str] = ("kept; the default z-score maps them to 0, so they "
                                        "carry no weight")

    def coerce(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        return to_numeric(name, frame)

    def check(self, name: str, spec: Modality, measured: pd.DataFrame) -> None:
        check_no_inf(name, measured)
        if not spec.nan_allowed:
            check_no_nan(name, measured)

    def default_preprocessor(self, spec: Modality):
        from medfuse.preprocess.scaling import ZScore

        return ZScore().set_output(transform="pandas")
