"""The voxels an intensity normalisation takes its statistics from, shared by the z-score,
WhiteStripe and histogram-standardisation modules: the image as floats and its values inside
a mask (every voxel without one), checked for a mask of the image's shape, an empty region and
non-finite values, with validation messages that start with where the image comes from (e.g.
``"subject 'p1'"``)."""

from __future__ import annotations

import numpy as np


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _region_values(image: np.ndarray, mask: np.ndarray | None, where: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The image as floats and its (finite) voxel values inside the mask, checked."""
    x = np.asarray(image, dtype=float)
    if mask is None:
        values = x.ravel()
    else:
        m = np.asarray(mask)
        if m.shape != x.shape:
            raise ValueError(f"{_prefix(where)}the mask has shape {m.shape}, the image "
                             f"{x.shape}; they must be the same.")
        values = x[m != 0]
    if values.size == 0:
        raise ValueError(f"{_prefix(where)}the mask is empty: no voxel to normalise by.")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"{_prefix(where)}{bad} voxel(s) of the normalisation region are "
                         f"NaN or infinite.")
    return x, values
