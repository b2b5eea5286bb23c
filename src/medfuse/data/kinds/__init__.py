"""Modality kinds: one object per kind, in one module each, and a registry third-party code
can add to (see :mod:`medfuse.data.kinds.base` for the contract).

Built-in kinds: ``continuous``, ``counts``, ``clinical``, ``sequence``, ``image``,
``timeseries``. :data:`ModalityKind` names them as constants.
"""

from enum import StrEnum

from medfuse.data.kinds.base import ArrayKind, Kind
from medfuse.data.kinds.clinical import ClinicalKind
from medfuse.data.kinds.continuous import ContinuousKind
from medfuse.data.kinds.counts import CountsKind
from medfuse.data.kinds.image import ImageKind
from medfuse.data.kinds.registry import (
    all_kinds,
    get_kind,
    kind_names,
    register_kind,
    unregister_kind,
)
from medfuse.data.kinds.sequence import SequenceKind
from medfuse.data.kinds.timeseries import TimeseriesKind

for _kind in (ContinuousKind, CountsKind, ClinicalKind, SequenceKind, ImageKind,
              TimeseriesKind):
    register_kind(_kind)


class ModalityKind(StrEnum):
    """Names of the built-in kinds (constants; any registered kind name is valid where a
    kind is expected)."""

    CONTINUOUS = "continuous"
    COUNTS = "counts"
    CLINICAL = "clinical"
    IMAGE = "image"
    TIMESERIES = "timeseries"
    SEQUENCE = "sequence"


__all__ = ["ArrayKind", "ClinicalKind", "ContinuousKind", "CountsKind", "ImageKind", "Kind",
           "ModalityKind", "SequenceKind", "TimeseriesKind", "all_kinds", "get_kind",
           "kind_names", "register_kind", "unregister_kind"]
