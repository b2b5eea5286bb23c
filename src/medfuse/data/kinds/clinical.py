"""``clinical``: mixed columns on the four measurement scales (and free text)."""

from __future__ import annotations

from typing import ClassVar

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
