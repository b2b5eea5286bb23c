"""The built-in named transforms that modality kinds declare as their defaults (see
:mod:`medfuse.preprocess.registry`)."""

from __future__ import annotations

from sklearn.pipeline import make_pipeline

from medfuse.preprocess.arrays import ChannelStandardizer
from medfuse.preprocess.clinical import ClinicalEncoder
from medfuse.preprocess.counts import LogCPM
from medfuse.preprocess.registry import register_transform
from medfuse.preprocess.resample import ImageResampler, SeriesResampler
from medfuse.preprocess.scaling import ZScore


@register_transform("zscore")
def zscore(spec):
    """z-score of every column (pandas output, column names kept)."""
    return ZScore().set_output(transform="pandas")


@register_transform("log-cpm-zscore")
def log_cpm_zscore(spec):
    """log-CPM of counts, then z-score."""
    return make_pipeline(LogCPM(), ZScore()).set_output(transform="pandas")


@register_transform("clinical-encoder")
def clinical_encoder(spec):
    """The measurement-scale-aware clinical encoder with the modality's declared scales."""
    return ClinicalEncoder(scales=dict(spec.scales))


@register_transform("channel-standardizer")
def channel_standardizer(spec):
    """Per-channel standardisation of dense arrays."""
    return ChannelStandardizer()


@register_transform("series-input")
def series_input(spec):
    """Series resampled to the median training length, then standardised per channel."""
    return make_pipeline(SeriesResampler(), ChannelStandardizer())


@register_transform("image-input")
def image_input(spec):
    """Images resampled to the median training size, then standardised per channel."""
    return make_pipeline(ImageResampler(), ChannelStandardizer())


# crops of a fixed physical size around each image's mask, standardised on the training
# crops, for a CNN on the region of interest (imported when first made)
register_transform("mask-crop", "medfuse.imaging.crop:MaskCrop")
