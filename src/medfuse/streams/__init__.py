"""Wearable sensor streams as a modality: reading long tables, causal alignment, trailing
window features, a simulator of nights with hypoglycaemia and a sampling report.

A domain package: each stream of a night (a CGM every 5 minutes, heart rate at 1 Hz, an
accelerometer at 10 Hz) keeps its own times and becomes a ``timeseries`` modality (a
:class:`~medfuse.data.RaggedBlock` with field ``timestamps``) of
:class:`~medfuse.data.MultiModalData`. Every time is seconds since 1970-01-01T00:00:00 UTC;
every feature at time ``t`` uses samples at or before ``t`` only. Nothing in
:mod:`medfuse.fusion` imports it.
"""

from medfuse.streams.align import asof, latest_index, resample, window_bounds
from medfuse.streams.data import EPOCH, Stream, StreamSet, merge, seconds_to_iso
from medfuse.streams.irregularity import SamplingReport, sampling_report, sampling_table
from medfuse.streams.online import OnlineWindow
from medfuse.streams.read import StreamSpec, StreamWarning, read_long_table, read_streams
from medfuse.streams.simulate import NightParams, SimulatedNights, simulate_nights
from medfuse.streams.windows import FEATURES, feature_names, stream_features, window_features

__all__ = [
    "EPOCH",
    "FEATURES",
    "NightParams",
    "OnlineWindow",
    "SamplingReport",
    "SimulatedNights",
    "Stream",
    "StreamSet",
    "StreamSpec",
    "StreamWarning",
    "asof",
    "feature_names",
    "latest_index",
    "merge",
    "read_long_table",
    "read_streams",
    "resample",
    "sampling_report",
    "sampling_table",
    "seconds_to_iso",
    "simulate_nights",
    "stream_features",
    "window_bounds",
    "window_features",
]
