"""``clinical``: mixed columns on the four measurement scales (and free text)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from medfuse.data.kinds.base import Kind

if TYPE_CHECKING:
    from medfuse.data.modality import Modality


class ClinicalKind(Kind):
    """Mixed columns; NaN cells are allowed (missingness is informative in clinical
    records). Default preprocessing: :class:`~medfuse.preprocess.ClinicalEncoder` with the
    modality's declared measurement scales; kernel: RBF on numeric columns times a matching
    kernel on categories."""

    name = "clinical"
    nan_allowed: ClassVar[bool] = True
    kernel = "clinical"
    constant_features: ClassVar[str] = ("kept; the default encoding maps a constant number to "
                                        "0 and a one-level category to a constant indicator")

    def default_preprocessor(self, spec: Modality):
        from medfuse.preprocess.clinical import ClinicalEncoder

        return ClinicalEncoder(scales=dict(spec.scales))

    def default_kernel(self, preprocessor) -> str:
        from medfuse.preprocess.clinical import ClinicalEncoder

        return "clinical" if isinstance(preprocessor, ClinicalEncoder) else "auto"
