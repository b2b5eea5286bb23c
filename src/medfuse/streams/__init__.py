"""Wearable sensor streams as a modality: reading long tables, causal alignment, trailing
window features, a simulator of nights with hypoglycaemia and a sampling report; detection
of events under a latency budget (four fusion designs, event-level scoring, cross-validation
split by subject) and streaming replay one sample at a time.

A domain package: each stream of a night (a CGM every 5 minutes, heart rate at 1 Hz, an
accelerometer at 10 Hz) keeps its own times and becomes a ``timeseries`` modality (a
:class:`~medfuse.data.RaggedBlock` with field ``timestamps``) of
:class:`~medfuse.data.MultiModalData`. Every time is seconds since 1970-01-01T00:00:00 UTC;
every feature at time ``t`` uses samples at or before ``t`` only. Nothing in
:mod:`medfuse.fusion` imports it.
"""

from medfuse.streams.align import asof, latest_index, resample, window_bounds
from medfuse.streams.crossval import METRICS, cross_validate_detection, subject_folds
from medfuse.streams.data import EPOCH, Stream, StreamSet, merge, seconds_to_iso
from medfuse.streams.designs import (
    DESIGNS,
    EarlyDetector,
    FastDetector,
    HybridDetector,
    HybridMachine,
    SlowDetector,
    hybrid_alerts,
    make_detector,
)
from medfuse.streams.detect import Alert, Detector, offline_features, threshold_alerts
from medfuse.streams.events import (
    episodes,
    events_from_glucose,
    latency_summary,
    score_night,
    score_nights,
)
from medfuse.streams.irregularity import SamplingReport, sampling_report, sampling_table
from medfuse.streams.online import OnlineWindow
from medfuse.streams.read import StreamSpec, StreamWarning, read_long_table, read_streams
from medfuse.streams.replay import Replayer, replay
from medfuse.streams.simulate import NightParams, SimulatedNights, simulate_nights
from medfuse.streams.windows import FEATURES, feature_names, stream_features, window_features

__all__ = [
    "DESIGNS",
    "EPOCH",
    "FEATURES",
    "METRICS",
    "Alert",
    "Detector",
    "EarlyDetector",
    "FastDetector",
    "HybridDetector",
    "HybridMachine",
    "NightParams",
    "OnlineWindow",
    "Replayer",
    "SamplingReport",
    "SimulatedNights",
    "SlowDetector",
    "Stream",
    "StreamSet",
    "StreamSpec",
    "StreamWarning",
    "asof",
    "cross_validate_detection",
    "episodes",
    "events_from_glucose",
    "feature_names",
    "hybrid_alerts",
    "latency_summary",
    "latest_index",
    "make_detector",
    "merge",
    "offline_features",
    "read_long_table",
    "read_streams",
    "replay",
    "resample",
    "sampling_report",
    "sampling_table",
    "score_night",
    "score_nights",
    "seconds_to_iso",
    "simulate_nights",
    "stream_features",
    "subject_folds",
    "threshold_alerts",
    "window_bounds",
    "window_features",
]
