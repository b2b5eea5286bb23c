"""``timeseries``: one multichannel series per subject (``C x T``)."""

from __future__ import annotations

from typing import ClassVar

from medfuse.data.kinds.base import ArrayKind


class TimeseriesKind(ArrayKind):
    """Series with channels first: a dense ``N x C x T`` array with subject IDs, or a
    :class:`~medfuse.data.RaggedBlock` of per-subject ``C x T_i`` arrays (field
    ``timestamps`` for irregular sampling). Encoder: 1-D convolutions with global pooling
    (``series_encoder="gru"``: a bidirectional GRU)."""

    name = "timeseries"
    encoder: ClassVar[str | None] = "conv1d"
    value_ndims: ClassVar[tuple[int, ...]] = (2,)

    def encoder_for(self, settings) -> str | None:
        return "gru" if getattr(settings, "series_encoder", "conv") == "gru" else self.encoder
