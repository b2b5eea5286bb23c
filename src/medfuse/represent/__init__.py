"""Representations: transformers that turn a raw modality (images, streams, sequences) into
a feature block, fitted inside every fold and saved with the model. Strategies see feature
blocks and do not need to know where they came from (see :mod:`medfuse.represent.base`).

Built-in, by name: ``flatten``, ``series-values``, ``image-values``, ``kmer``,
``series-summary``, ``image-statistics``, ``radiomics`` (IBSI-1 features, from
:mod:`medfuse.imaging`, imported when first made); plugins register more with
:func:`register_representation`.
"""

from medfuse.represent.arrays import Flatten, image_values, series_values
from medfuse.represent.base import Representation
from medfuse.represent.image import ImageStatistics
from medfuse.represent.registry import (
    make_representation,
    register_representation,
    representation_names,
    representations_for,
)
from medfuse.represent.sequence import KmerSpectrum
from medfuse.represent.series import SeriesSummary
from medfuse.represent.step import RepresentationStep

register_representation("image-statistics", ImageStatistics, kinds=("image",))
register_representation("series-summary", SeriesSummary, kinds=("timeseries",))
register_representation("kmer", KmerSpectrum, kinds=("sequence",))
register_representation("flatten", Flatten)  # dense arrays of any kind
register_representation("series-values", series_values, kinds=("timeseries",))
register_representation("image-values", image_values, kinds=("image",))
# domain packages, imported when first made
register_representation("radiomics", "medfuse.imaging.represent:Radiomics", kinds=("image",))

__all__ = ["Flatten", "ImageStatistics", "KmerSpectrum", "Representation",
           "RepresentationStep", "SeriesSummary", "image_values", "make_representation",
           "register_representation", "representation_names", "representations_for",
           "series_values"]
