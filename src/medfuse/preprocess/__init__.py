"""Modality-aware preprocessing: transformers fitted on training subjects only.

Modality kinds name their defaults by registered name (:mod:`medfuse.preprocess.registry`);
importing this package registers the built-in ones.
"""

from medfuse.preprocess import defaults as _defaults  # noqa: F401  (registers the names)
from medfuse.preprocess.arrays import ChannelStandardizer
from medfuse.preprocess.batch_signal import residual_batch_signal
from medfuse.preprocess.blocks import (
    default_preprocessor,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)
from medfuse.preprocess.clinical import ClinicalEncoder
from medfuse.preprocess.combat_seq import ComBatSeq
from medfuse.preprocess.counts import TPM, VST, LogCPM, MedianOfRatios
from medfuse.preprocess.harmonize import ComBat
from medfuse.preprocess.intensity import (
    PETSUV,
    CTWindow,
    HistogramMatching,
    IntensityZScore,
    ScaleMapping,
)
from medfuse.preprocess.registry import make_transform, register_transform, transform_names
from medfuse.preprocess.resample import ImageResampler, SeriesResampler
from medfuse.preprocess.scaling import ZScore
from medfuse.preprocess.screening import FeatureScreen

__all__ = [
    "PETSUV",
    "TPM",
    "VST",
    "CTWindow",
    "ChannelStandardizer",
    "ClinicalEncoder",
    "ComBat",
    "ComBatSeq",
    "FeatureScreen",
    "HistogramMatching",
    "ImageResampler",
    "IntensityZScore",
    "LogCPM",
    "MedianOfRatios",
    "ScaleMapping",
    "SeriesResampler",
    "ZScore",
    "default_preprocessor",
    "fit_transform_block",
    "make_transform",
    "register_transform",
    "residual_batch_signal",
    "resolve_preprocessor",
    "transform_block",
    "transform_names",
]
