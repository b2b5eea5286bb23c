"""``image``: one image per subject, 2D (``C x H x W``) or 3D (``C x H x W x D``)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from medfuse.data.kinds.base import ArrayKind, ModalitySpec
from medfuse.data.ragged import RaggedBlock
from medfuse.data.validation import DataValidationError, listing


class ImageKind(ArrayKind):
    """Images with channels first: a dense ``N x C x H x W [x D]`` array with subject IDs,
    or a :class:`~medfuse.data.RaggedBlock` of per-subject ``C x H x W [x D]`` arrays with
    their own sizes (fields such as ``mask``, of the image's spatial shape; metadata such as
    ``spacing``, ``origin``, ``direction``). Encoder: a small CNN that adapts to the size,
    fed ``image-input`` (ragged images resampled to the median training size, then
    standardised per channel); features: ``image-values`` (the same resampling, flattened and
    z-scored voxels; a representation such as ``image-statistics`` summarises images
    instead)."""

    name = "image"
    encoder: ClassVar[str | None] = "cnn"
    value_ndims: ClassVar[tuple[int, ...]] = (3, 4)
    neural_preprocessing: ClassVar[str | None] = "image-input"
    features: ClassVar[str | None] = "image-values"

    def check(self, name: str, spec: ModalitySpec, measured: RaggedBlock) -> None:
        """Also: a ``mask`` field has the spatial shape of its image and finite values."""
        super().check(name, spec, measured)
        if "mask" not in measured.field_names:
            return
        wrong = []
        for subject, image, mask in zip(measured.ids, measured.values, measured.field("mask"),
                                        strict=True):
            if mask is not None and (mask.shape != image.shape[1:]
                                     or not np.isfinite(np.asarray(mask, float)).all()):
                wrong.append(f"{subject!r} (mask {mask.shape}, image {image.shape})")
        if wrong:
            raise DataValidationError(
                f"Modality {name!r} (image): a mask must have the spatial shape of its image "
                f"(the image's shape without the channel axis) and finite values; subject(s) "
                f"{listing(wrong)} do not.")

    def example(self, ids, y: np.ndarray, rng: np.random.Generator) -> RaggedBlock:
        """2D one-channel images of 10 to 14 pixels a side with a mask over a central
        square that is brighter when ``y`` is 1; voxel spacing in the metadata."""
        import pandas as pd

        images, masks = [], []
        for label in y:
            h, w = rng.integers(10, 15, 2)
            image = rng.normal(size=(1, h, w))
            mask = np.zeros((h, w))
            mask[3:h - 3, 3:w - 3] = 1
            image[0][mask > 0] += 2.0 * label
            images.append(image)
            masks.append(mask)
        meta = pd.DataFrame({"spacing": [(1.0, 1.0)] * len(ids)}, index=ids)
        return RaggedBlock(ids, images, {"mask": masks}, meta)
