"""Intensity normalisation of images, every method in one place.

MR intensities have no physical unit: the same tissue reads differently from scanner to
scanner and from session to session, so features computed from raw intensities mix biology
with acquisition. CT (Hounsfield units) and PET (activity concentration) do have units, and
are windowed or converted rather than rescaled. This module gathers (WhiteStripe
defined in :mod:`medfuse.imaging.white_stripe`, histogram standardisation in
:mod:`medfuse.imaging.histogram_standardize`, both re-exported here):

- the per-image methods, functions of one array: :func:`zscore_in_mask` (``(x - mean) / sd``
  of a region), :func:`white_stripe` (MR, by the normal-appearing white matter),
  :func:`ct_window` and :data:`CT_WINDOWS` (CT), :func:`suv` (PET) and
  :func:`match_histogram` (to a reference distribution), the last three re-exported from
  :mod:`medfuse.preprocess.intensity`;
- the one learned method, :class:`NyulStandardizer` (piecewise-linear histogram
  standardisation), whose landmarks are fitted on training images only;
- a registry of named methods, :data:`NORMALIZATIONS` and :func:`make_normalizer`, which the
  ``radiomics`` representation (:class:`medfuse.imaging.represent.Radiomics`) reads.

Arrays are any shape (a ``(z, y, x)`` volume, usually); a mask has the image's shape and
selects the voxels the statistics come from (non-zero = inside), while the whole image is
transformed. ``where`` (e.g. ``"subject 'p1'"``) starts every validation message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sklearn.base import BaseEstimator

from medfuse.imaging._intensity_region import _region_values
from medfuse.imaging.histogram_standardize import (
    DEFAULT_PERCENTILES,
    NyulStandardizer,
    nyul_landmarks,
    nyul_standardize,
)
from medfuse.imaging.white_stripe import (
    WHITE_STRIPE_MODES,
    WhiteStripe,
    find_white_stripe,
    white_stripe,
)
from medfuse.preprocess.intensity import CT_WINDOWS, ct_window, match_histogram, suv


# ------------------------------------------------------------------------------ z-score
def zscore_in_mask(image: np.ndarray, mask: np.ndarray | None = None, *,
                   where: str = "") -> np.ndarray:
    """Z-score a whole image by the mean and sd of the voxels inside a mask.

    ``z = (x - mu) / sigma`` with ``mu`` and ``sigma`` (population sd, ``ddof=0``) of the
    voxels where ``mask`` is non-zero. For ``a > 0``, ``a x + b`` gives the same result.

    Parameters
    ----------
    image : ndarray, any shape (e.g. ``(z, y, x)``)
        Intensities in any unit.
    mask : ndarray, the image's shape, optional
        Non-zero inside the region; None: every voxel.
    where : str
        Start of the validation messages (e.g. ``"subject 'p1'"``).

    Returns
    -------
    ndarray, the image's shape, float
        Dimensionless. A constant region (``sigma = 0``) is only centred.

    Raises
    ------
    ValueError
        For a mask of another shape, an empty mask or non-finite voxels inside it.
    """
    x, values = _region_values(image, mask, where)
    mu = float(values.mean())
    sigma = float(values.std())
    return (x - mu) / sigma if sigma > 0 else x - mu

# ----------------------------------------------------------------------------- registry
class ImageNormalizer(Protocol):
    """What :func:`make_normalizer` returns: learn from training images (a no-op for the
    per-image methods), then normalise one image at a time."""

    def fit(self, images: Sequence[np.ndarray],
            masks: Sequence[np.ndarray | None] | None = None, *,
            names: Sequence | None = None) -> ImageNormalizer: ...

    def transform(self, image: np.ndarray, mask: np.ndarray | None = None, *,
                  where: str = "") -> np.ndarray: ...


class PerImageNormalizer(BaseEstimator):
    """A registered method that needs no training: each image by its own statistics.

    Parameters
    ----------
    method : str
        A name of :data:`NORMALIZATIONS` other than ``"nyul"``.
    """

    def __init__(self, method: str = "none") -> None:
        self.method = method

    def fit(self, images=None, masks=None, *, names=None) -> PerImageNormalizer:
        """Check the method's name (nothing is learned)."""
        _parse(self.method)
        return self

    def transform(self, image: np.ndarray, mask: np.ndarray | None = None, *,
                  where: str = "") -> np.ndarray:
        """Normalise one image (shape kept, float); the mask selects the statistics' voxels
        (CT windows ignore it)."""
        kind, arg = _parse(self.method)
        if kind == "none":
            return np.array(image, dtype=float)
        if kind == "zscore-mask":
            return zscore_in_mask(image, mask, where=where)
        if kind == "white-stripe":
            return white_stripe(image, mask, modality=arg, where=where)
        if kind == "ct-window":
            center, width = CT_WINDOWS[arg]
            return ct_window(image, center, width)
        raise ValueError(f"{self.method!r} is learned; make it with make_normalizer.")


#: The named methods of :func:`make_normalizer` (and of ``Radiomics(normalize=...)``), with
#: what each does. ``ct-window:<name>`` exists for every window of :data:`CT_WINDOWS`.
NORMALIZATIONS: dict[str, str] = {
    "none": "intensities as they are",
    "zscore-mask": "(x - mean) / sd of the voxels in the region",
    "white-stripe": "WhiteStripe of a T1-weighted MR image: z-score by the white stripe",
    "white-stripe:t2": "WhiteStripe of a T2-weighted MR image",
    "white-stripe:flair": "WhiteStripe of a FLAIR MR image",
    "nyul": "piecewise-linear histogram standardisation, landmarks learned on training images",
    **{f"ct-window:{name}": f"CT window centre {c:g} HU, width {w:g} HU, scaled to [0, 1]"
       for name, (c, w) in CT_WINDOWS.items()},
}


def _parse(name: str) -> tuple[str, str | None]:
    text = str(name).strip().lower()
    kind, _, arg = text.partition(":")
    if kind in ("none", "zscore-mask", "nyul") and not arg:
        return kind, None
    if kind == "white-stripe" and (arg or "t1").upper() in WHITE_STRIPE_MODES:
        return kind, (arg or "t1").upper()
    if kind == "ct-window" and arg in CT_WINDOWS:
        return kind, arg
    raise ValueError(f"Unknown intensity normalisation {name!r}; choose from "
                     f"{', '.join(NORMALIZATIONS)}.")


def make_normalizer(name: str | None) -> NyulStandardizer | PerImageNormalizer:
    """An unfitted normaliser for a name of :data:`NORMALIZATIONS`.

    ``"nyul"`` gives a :class:`NyulStandardizer` with the default landmarks, every other
    name a :class:`PerImageNormalizer`; both follow :class:`ImageNormalizer` (``fit`` on
    training images and masks, then ``transform(image, mask)``).

    Parameters
    ----------
    name : str or None
        A name of :data:`NORMALIZATIONS`; None means ``"none"``.

    Returns
    -------
    NyulStandardizer or PerImageNormalizer
        Unfitted.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    text = "none" if name is None else str(name).strip().lower()
    kind, _ = _parse(text)
    return NyulStandardizer() if kind == "nyul" else PerImageNormalizer(text)


__all__ = [
    "CT_WINDOWS",
    "DEFAULT_PERCENTILES",
    "NORMALIZATIONS",
    "WHITE_STRIPE_MODES",
    "ImageNormalizer",
    "NyulStandardizer",
    "PerImageNormalizer",
    "WhiteStripe",
    "ct_window",
    "find_white_stripe",
    "make_normalizer",
    "match_histogram",
    "nyul_landmarks",
    "nyul_standardize",
    "suv",
    "white_stripe",
    "zscore_in_mask",
]
