"""``sequence``: one string per subject (a DNA or protein sequence)."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd

from medfuse.data.kinds.base import Kind, ModalitySpec
from medfuse.data.validation import DataValidationError, check_no_nan


class SequenceKind(Kind):
    """A table with exactly one column of strings. Features: ``kmer``, the k-mer spectrum
    (k=3); kernel: the cosine-normalised spectrum kernel. No neural encoder."""

    name = "sequence"
    capabilities: ClassVar[frozenset[str]] = frozenset({"features"})
    encoder: ClassVar[str | None] = None
    kernel = "spectrum"
    features: ClassVar[str | None] = "kmer"

    def check(self, name: str, spec: ModalitySpec, measured: pd.DataFrame) -> None:
        if measured.shape[1] != 1:
            raise DataValidationError(
                f"Modality {name!r} (sequence) must have exactly one column of strings.")
        if not spec.nan_allowed:
            check_no_nan(name, measured)
