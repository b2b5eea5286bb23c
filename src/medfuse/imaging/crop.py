"""Crops around the region of interest on a fixed physical grid: what a CNN encoder of the
neural strategies sees of an image modality (``preprocessors={"ct": MaskCrop()}``, or
``mask-crop`` by name in a study file's strategy ``params``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.ragged import RaggedBlock
from medfuse.represent.base import masks_and_spacing, per_subject


class MaskCrop(TransformerMixin, BaseEstimator):
    """Resample a box of fixed physical size centred on each subject's mask.

    Per subject: the box's centre is the mask's centre of mass in mm (voxel index times the
    subject's ``spacing``); the box is ``size_mm`` wide per axis, sampled every
    ``spacing_mm`` (``round(size_mm / spacing_mm)`` voxels per axis, centred), by linear
    interpolation with the nearest edge value beyond the image. The mask is sampled the
    same way and, with ``mask_channel``, appended as the last channel (its partial-volume
    fraction, 0 to 1). Each image channel is then standardised by the mean and sd of the
    training crops (learned in ``fit``: inside each fold). Subjects whose scans differ in
    voxel size all come out on the same physical grid.

    Parameters
    ----------
    size_mm : float or sequence of float
        Box width per spatial axis (``(z, y, x)`` for 3D images), mm.
    spacing_mm : float or sequence of float
        Voxel size of the crop, mm.
    mask_field : str
        The block's field holding the masks.
    mask_channel : bool
        Append the resampled mask as a channel.

    Attributes
    ----------
    shape_ : tuple of int
        Spatial shape of a crop.
    n_channels_ : int
        Image channels (without the mask channel).
    mean_, scale_ : ndarray, one value per image channel
        Standardisation of each image channel, from the training crops.
    """

    def __init__(self, size_mm: float | Sequence[float] = 48.0,
                 spacing_mm: float | Sequence[float] = 2.0, mask_field: str = "mask",
                 mask_channel: bool = True) -> None:
        self.size_mm = size_mm
        self.spacing_mm = spacing_mm
        self.mask_field = mask_field
        self.mask_channel = mask_channel

    def fit(self, X, y=None):
        """Learn the crop grid and the per-channel standardisation of training crops."""
        images = per_subject(X)
        ndim = images[0].ndim - 1
        size = _per_axis(self.size_mm, ndim, "size_mm")
        step = _per_axis(self.spacing_mm, ndim, "spacing_mm")
        self.shape_ = tuple(max(round(s / d), 1) for s, d in zip(size, step, strict=True))
        self.n_channels_ = images[0].shape[0]
        crops = self._crops(X, images)
        values = crops[:, :self.n_channels_].reshape(len(crops), self.n_channels_, -1)
        self.mean_ = values.mean(axis=(0, 2))
        sd = values.std(axis=(0, 2))
        self.scale_ = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        """``(N, C [+ 1], *shape_)`` float array of standardised crops."""
        check_is_fitted(self, "shape_")
        crops = self._crops(X, per_subject(X))
        index = (slice(None), slice(0, self.n_channels_)) + (None,) * len(self.shape_)
        crops[:, :self.n_channels_] -= self.mean_[index[1:]]
        crops[:, :self.n_channels_] /= self.scale_[index[1:]]
        return crops

    def _crops(self, X, images: list[np.ndarray]) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        ndim = len(self.shape_)
        step = np.asarray(_per_axis(self.spacing_mm, ndim, "spacing_mm"))
        masks, spacings = masks_and_spacing(X, images, self.mask_field)
        ids = list(X.ids) if isinstance(X, RaggedBlock) else list(range(len(images)))
        channels = self.n_channels_ + int(bool(self.mask_channel))
        out = np.empty((len(images), channels, *self.shape_))
        offsets = [(np.arange(n) - (n - 1) / 2.0) * s for n, s in zip(self.shape_, step,
                                                                         strict=True)]
        grid_mm = np.stack(np.meshgrid(*offsets, indexing="ij"))
        for i, (subject, image, mask, spacing) in enumerate(zip(ids, images, masks, spacings,
                                                                 strict=True)):
            if image.ndim - 1 != ndim or image.shape[0] != self.n_channels_:
                raise ValueError(f"subject {subject!r}: image of shape {image.shape}; the "
                                 f"crop was fitted on {self.n_channels_} channel(s) of "
                                 f"{ndim} spatial dimensions.")
            inside = np.argwhere(mask > 0)
            if not len(inside):
                raise ValueError(f"subject {subject!r}: the mask is empty; there is nothing "
                                 "to crop around.")
            centre_mm = inside.mean(axis=0) * spacing
            coords = (grid_mm + centre_mm.reshape((-1,) + (1,) * ndim)) / spacing.reshape(
                (-1,) + (1,) * ndim)
            for c in range(self.n_channels_):
                out[i, c] = map_coordinates(image[c], coords, order=1, mode="nearest")
            if self.mask_channel:
                out[i, -1] = map_coordinates(mask.astype(float), coords, order=1,
                                             mode="constant", cval=0.0)
        return out


def _per_axis(value, ndim: int, name: str) -> tuple[float, ...]:
    values = np.broadcast_to(np.asarray(value, dtype=float), (ndim,)) if np.ndim(
        value) == 0 else np.asarray(value, dtype=float)
    if values.shape != (ndim,) or not (values > 0).all():
        raise ValueError(f"{name} must be one positive number or {ndim} of them, got "
                         f"{value!r}.")
    return tuple(float(v) for v in values)
