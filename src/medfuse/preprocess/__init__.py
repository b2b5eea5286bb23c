"""Modality-aware preprocessing: transformers fitted on training subjects only."""

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
    "IntensityZScore",
    "LogCPM",
    "MedianOfRatios",
    "ScaleMapping",
    "ZScore",
    "default_preprocessor",
    "fit_transform_block",
    "residual_batch_signal",
    "resolve_preprocessor",
    "transform_block",
]
