"""``image``: one image per subject, 2D (``C x H x W``) or 3D (``C x H x W x D``)."""

from __future__ import annotations

from typing import ClassVar

from medfuse.data.kinds.base import ArrayKind


class ImageKind(ArrayKind):
    """Images with channels first: a dense ``N x C x H x W [x D]`` array with subject IDs,
    or a :class:`~medfuse.data.RaggedBlock` of per-subject ``C x H x W [x D]`` arrays with
    their own sizes (fields such as ``mask``, metadata such as ``spacing``, ``origin``,
    ``direction``). Encoder: a small CNN that adapts to the size; features: flattened,
    z-scored voxels (use a representation such as radiomics for ragged images)."""

    name = "image"
    encoder: ClassVar[str | None] = "cnn"
    value_ndims: ClassVar[tuple[int, ...]] = (3, 4)
