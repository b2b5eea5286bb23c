"""``sequence``: one string per subject (a DNA or protein sequence)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from medfuse.data.kinds.base import Kind
from medfuse.data.validation import DataValidationError, check_no_nan

if TYPE_CHECKING:
    from medfuse.data.modality import Modality


class SequenceKind(Kind):
    """A table with exactly one column of strings. Features: the k-mer spectrum (k=3);
    kernel: the cosine-normalised spectrum kernel. No neural encoder."""

    name = "sequence"
    capabilities: ClassVar[frozenset[str]] = frozenset({"features"})
    encoder: ClassVar[str | None] = None
    kernel = "spectrum"

    def check(self, name: str, spec: Modality, measured: pd.DataFrame) -> None:
        if measured.shape[1] != 1:
            raise DataValidationError(
                f"Modality {name!r} (sequence) must have exactly one column of strings.")
        if not spec.nan_allowed:
            check_no_nan(name, measured)

    def featurizer(self, spec: Modality):
        from medfuse.represent.sequence import KmerSpectrum

        return KmerSpectrum(3)
