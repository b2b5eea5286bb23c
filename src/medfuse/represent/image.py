"""Images as features: first-order statistics inside a mask, in physical units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medfuse.represent.base import (
    Representation,
    masks_and_spacing,
    per_subject,
    subject_ids,
)

PERCENTILES = (10, 50, 90)


class ImageStatistics(Representation):
    """Intensity statistics of each subject's image inside its mask, and the mask's size in
    physical units.

    Per channel: mean, standard deviation (ddof 0), minimum, maximum and the 10th, 50th and
    90th percentiles of the voxels where the mask is non-zero (all voxels without a mask);
    then ``volume``: the number of mask voxels times the voxel size, the product of the
    subject's ``spacing`` metadata (mm per axis, so mm^3 for 3-D and mm^2 for 2-D images;
    voxel counts when the block has no spacing). Works on ragged blocks of any image sizes.

    Parameters
    ----------
    mask_field : str
        The ragged block's field holding the masks (spatial shape of the image).

    Attributes
    ----------
    n_channels_ : int
    feature_names_out_ : list of str
    """

    def __init__(self, mask_field: str = "mask") -> None:
        self.mask_field = mask_field

    def fit(self, X, y=None):
        """Record the number of channels and the output columns."""
        images = per_subject(X)
        channels = {im.shape[0] for im in images}
        if len(channels) != 1:
            raise ValueError(f"Images must all have the same channels, got {sorted(channels)}.")
        self.n_channels_ = channels.pop()
        stats = ["mean", "sd", "min", "max", *(f"p{q}" for q in PERCENTILES)]
        self.feature_names_out_ = [f"c{c}_{s}" for c in range(self.n_channels_)
                                   for s in stats] + ["volume"]
        return self

    def transform(self, X) -> pd.DataFrame:
        """(N, channels x 7 + 1) statistics, indexed by subject when ``X`` has IDs."""
        images = per_subject(X)
        masks, spacings = masks_and_spacing(X, images, self.mask_field)
        rows = []
        for im, mask, spacing in zip(images, masks, spacings, strict=True):
            if mask.shape != im.shape[1:]:
                raise ValueError(f"A mask of shape {mask.shape} does not match its image "
                                 f"{im.shape[1:]} (channels first).")
            inside = mask != 0
            if not inside.any():
                raise ValueError("An image has an empty mask; no statistics can be computed.")
            row = []
            for ch in im:
                v = ch[inside]
                row += [v.mean(), v.std(), v.min(), v.max(),
                        *np.percentile(v, PERCENTILES)]
            row.append(inside.sum() * float(np.prod(spacing)))
            rows.append(row)
        return pd.DataFrame(np.array(rows, dtype=float), index=subject_ids(X),
                            columns=self.feature_names_out_)
