"""Modality specifications: what kind of measurement a block holds and how it may be validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd


class ModalityKind(StrEnum):
    """The kind of a modality; it chooses validation, default preprocessing and encoders.

    - ``continuous``: real-valued features (microarray, methylation beta values, radiomics).
    - ``counts``: non-negative integer counts (RNA-seq reads); no NaN, no inf.
    - ``clinical``: mixed columns on the four measurement scales; NaN cells are allowed
      (missingness is informative in clinical records).
    - ``image``: ndarray ``N x C x H x W`` (2D) or ``N x C x H x W x D`` (3D).
    - ``timeseries``: ndarray ``N x C x T`` (channels by time points).
    - ``sequence``: one string per subject (e.g. a DNA or protein sequence), in column ``sequence``.
    """

    CONTINUOUS = "continuous"
    COUNTS = "counts"
    CLINICAL = "clinical"
    IMAGE = "image"
    TIMESERIES = "timeseries"
    SEQUENCE = "sequence"

    @property
    def is_array(self) -> bool:
        """True for kinds stored as an ndarray with subjects first."""
        return self in (ModalityKind.IMAGE, ModalityKind.TIMESERIES)

    @property
    def is_tabular(self) -> bool:
        """True for kinds stored as a DataFrame (subjects x features)."""
        return not self.is_array


class MeasurementScale(StrEnum):
    """Stevens' levels of measurement for a clinical column."""

    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    INTERVAL = "interval"
    RATIO = "ratio"
    TEXT = "text"


@dataclass(frozen=True)
class Modality:
    """Specification of one modality.

    Parameters
    ----------
    kind : ModalityKind or str
        What the block holds; see :class:`ModalityKind`.
    scales : mapping of column -> MeasurementScale, optional
        For ``clinical`` blocks, the measurement scale of each column. Columns left out are
        inferred by :func:`infer_scales` (numeric -> ratio, ordered categorical -> ordinal,
        text with many distinct long values -> text, other -> nominal).
    allow_nan : bool, optional
        Whether NaN cells may occur in a subject that has the modality. Default: True for
        ``clinical``, False otherwise.
    """

    kind: ModalityKind = ModalityKind.CONTINUOUS
    scales: Mapping[str, MeasurementScale] = field(default_factory=dict)
    allow_nan: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ModalityKind(self.kind))
        object.__setattr__(
            self, "scales", {str(k): MeasurementScale(v) for k, v in dict(self.scales).items()}
        )

    @property
    def nan_allowed(self) -> bool:
        """Whether NaN cells are valid in a present row."""
        if self.allow_nan is not None:
            return bool(self.allow_nan)
        return self.kind == ModalityKind.CLINICAL

    def to_dict(self) -> dict:
        """A JSON-serialisable description."""
        return {
            "kind": str(self.kind),
            "scales": {k: str(v) for k, v in self.scales.items()},
            "allow_nan": self.allow_nan,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Modality:
        return cls(kind=d.get("kind", "continuous"), scales=d.get("scales") or {},
                   allow_nan=d.get("allow_nan"))


def infer_scales(frame: pd.DataFrame, declared: Mapping[str, MeasurementScale] | None = None
                 ) -> dict[str, MeasurementScale]:
    """Measurement scale of each column of a clinical block.

    Declared scales win; the rest are inferred: ordered categoricals are ordinal, numeric
    columns are ratio, object columns whose values are mostly long distinct strings are free
    text, everything else is nominal.
    """
    declared = dict(declared or {})
    scales: dict[str, MeasurementScale] = {}
    for col in frame.columns:
        name = str(col)
        if name in declared:
            scales[name] = MeasurementScale(declared[name])
            continue
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            scales[name] = MeasurementScale.ORDINAL if s.cat.ordered else MeasurementScale.NOMINAL
        elif pd.api.types.is_bool_dtype(s):
            scales[name] = MeasurementScale.NOMINAL
        elif pd.api.types.is_numeric_dtype(s):
            scales[name] = MeasurementScale.RATIO
        else:
            values = s.dropna().astype(str)
            long_text = values.str.len().mean() > 30 if len(values) else False
            distinct = values.nunique() > 0.5 * max(len(values), 1)
            scales[name] = (MeasurementScale.TEXT if long_text and distinct
                            else MeasurementScale.NOMINAL)
    return scales


def as_modality(spec: Modality | str | Mapping | None, block: object) -> Modality:
    """Normalise a user's modality spec; default kind from the block's type."""
    if isinstance(spec, Modality):
        return spec
    if isinstance(spec, str):
        return Modality(kind=spec)
    if isinstance(spec, Mapping):
        return Modality.from_dict(spec)
    if isinstance(block, np.ndarray) or (isinstance(block, tuple) and len(block) == 2):
        arr = block[1] if isinstance(block, tuple) else block
        return Modality(kind=ModalityKind.TIMESERIES if np.ndim(arr) == 3 else ModalityKind.IMAGE)
    return Modality()
