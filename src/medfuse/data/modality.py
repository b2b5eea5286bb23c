"""Modality specifications: which kind of measurement a block holds, with its clinical
measurement scales."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from medfuse.data.kinds import Kind, all_kinds, get_kind


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
    kind : str
        What the block holds: the name of a registered kind (see
        :mod:`medfuse.data.kinds`; built-in: ``continuous``, ``counts``, ``clinical``,
        ``sequence``, ``image``, ``timeseries``).
    scales : mapping of column -> MeasurementScale, optional
        For ``clinical`` blocks, the measurement scale of each column. Columns left out are
        inferred by :func:`infer_scales` (numeric -> ratio, ordered categorical -> ordinal,
        text with many distinct long values -> text, other -> nominal).
    allow_nan : bool, optional
        Whether NaN cells may occur in a subject that has the modality. Default: True for
        ``clinical``, False otherwise.
    """

    kind: str = "continuous"
    scales: Mapping[str, MeasurementScale] = field(default_factory=dict)
    allow_nan: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.kind_object.name)
        object.__setattr__(
            self, "scales", {str(k): MeasurementScale(v) for k, v in dict(self.scales).items()}
        )

    @property
    def kind_object(self) -> Kind:
        """The registered :class:`~medfuse.data.kinds.Kind` of this modality."""
        return get_kind(self.kind)

    @property
    def nan_allowed(self) -> bool:
        """Whether NaN cells are valid in a present row (default: the kind's rule)."""
        if self.allow_nan is not None:
            return bool(self.allow_nan)
        return self.kind_object.nan_allowed

    def to_dict(self) -> dict:
        """A JSON-serialisable description."""
        return {
            "kind": str(self.kind),
            "scales": {k: str(v) for k, v in self.scales.items()},
            "allow_nan": self.allow_nan,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Modality:
        """Inverse of :meth:`to_dict`."""
        return cls(kind=d.get("kind", "continuous"), scales=d.get("scales") or {},
                   allow_nan=d.get("allow_nan"))


def infer_scales(frame: pd.DataFrame, declared: Mapping[str, MeasurementScale] | None = None
                 ) -> dict[str, MeasurementScale]:
    """Measurement scale of each column of a clinical block.

    Declared scales win; the rest are inferred: ordered categoricals are ordinal, numeric
    columns are ratio, object columns whose values are mostly long distinct strings are free
    text, everything else is nominal.

    Parameters
    ----------
    frame : DataFrame
        The clinical block (subjects x columns).
    declared : mapping of str to MeasurementScale, optional
        Scales given by the user, by column (strings such as ``"ordinal"`` are accepted).

    Returns
    -------
    dict of str to MeasurementScale
        One scale per column of ``frame``.
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
    """Normalise a user's modality spec; without one, the first registered kind whose
    :meth:`~medfuse.data.kinds.Kind.infer` recognises the block (arrays: ``timeseries`` for
    one value dimension pair, ``image`` for three or four), else ``continuous``."""
    if isinstance(spec, Modality):
        return spec
    if isinstance(spec, str):
        return Modality(kind=spec)
    if isinstance(spec, Mapping):
        return Modality.from_dict(spec)
    for kind in all_kinds():
        if kind.infer(block):
            return Modality(kind=kind.name)
    return Modality()
