"""``timeseries``: one multichannel series per subject (``C x T``)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from medfuse.data.kinds.base import ArrayKind, ModalitySpec
from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import DataValidationError, listing


class TimeseriesKind(ArrayKind):
    """Series with channels first: a dense ``N x C x T`` array with subject IDs, or a
    :class:`~medfuse.data.RaggedBlock` of per-subject ``C x T_i`` arrays (field
    ``timestamps`` for irregular sampling: one finite, strictly increasing time per sample).
    Encoder: 1-D convolutions with global pooling (``series_encoder="gru"``: a
    bidirectional GRU), fed ``series-input`` (ragged series resampled to the median training
    length, then standardised per channel); features: ``series-values`` (the same resampling,
    flattened and z-scored)."""

    name = "timeseries"
    encoder: ClassVar[str | None] = "conv1d"
    value_ndims: ClassVar[tuple[int, ...]] = (2,)
    neural_preprocessing: ClassVar[str | None] = "series-input"
    features: ClassVar[str | None] = "series-values"

    def encoder_for(self, settings) -> str | None:
        return "gru" if getattr(settings, "series_encoder", "conv") == "gru" else self.encoder

    def check(self, name: str, spec: ModalitySpec, measured: RaggedBlock) -> None:
        """Also: a ``timestamps`` field holds one finite time per sample, strictly
        increasing."""
        super().check(name, spec, measured)
        if "timestamps" not in measured.field_names:
            return
        problems = []
        for subject, series, times in zip(measured.ids, measured.values,
                                          measured.field("timestamps"), strict=True):
            problem = _timestamp_problem(series, times)
            if problem:
                problems.append(f"{subject!r} ({problem})")
        if problems:
            raise DataValidationError(
                f"Modality {name!r} (timeseries): field 'timestamps' must hold one finite "
                f"time per sample, strictly increasing; subject(s) {listing(problems)}.")

    def example(self, ids, y: np.ndarray, rng: np.random.Generator) -> RaggedBlock:
        """Two-channel series of 12 to 30 samples at irregular times; the first channel's
        slope is positive when ``y`` is 1, negative otherwise."""
        series, stamps = [], []
        for label in y:
            t = np.cumsum(rng.uniform(0.5, 1.5, int(rng.integers(12, 31))))
            slope = 0.3 if label else -0.3
            series.append(np.vstack([slope * t + rng.normal(0, 0.5, len(t)),
                                     rng.normal(size=len(t))]))
            stamps.append(t)
        return RaggedBlock(ids, series, {"timestamps": stamps})


def _timestamp_problem(series: np.ndarray, times) -> str:
    if times is None:
        return "no timestamps"
    t = np.asarray(times)
    if t.ndim != 1 or t.dtype.kind not in "iuf":
        return f"timestamps of shape {t.shape} and dtype {t.dtype}, not one number per sample"
    if len(t) != series.shape[-1]:
        return f"{len(t)} timestamps for {series.shape[-1]} samples"
    if not np.isfinite(t).all():
        return "non-finite timestamps"
    steps = np.diff(t.astype(float))
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0])
        return f"timestamp {k + 1} ({t[k + 1]}) is not after timestamp {k} ({t[k]})"
    return ""
