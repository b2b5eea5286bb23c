"""``sequence``: one string per subject (a DNA or protein sequence)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
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

    def example(self, ids: pd.Index, y: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Random DNA of 40 bases; the motif ``GATTACA`` three times in when ``y`` is 1."""
        rows = []
        for label in y:
            bases = list(rng.choice(list("ACGT"), 40))
            if label:
                for start in (2, 15, 28):
                    bases[start:start + 7] = list("GATTACA")
            rows.append("".join(bases))
        return pd.DataFrame({"sequence": rows}, index=ids)
