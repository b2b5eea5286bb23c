"""WhiteStripe normalisation of MR images: :func:`find_white_stripe` locates the
normal-appearing white matter from the smoothed intensity histogram of a brain region (the
last mode for T1, the tallest for T2 and FLAIR) and returns it as a :class:`WhiteStripe`, and
:func:`white_stripe` z-scores the whole image by the mean and sd of that stripe, so that
intensities from different scanners and sessions become comparable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medfuse.imaging._intensity_region import _prefix, _region_values

__all__ = ["WHITE_STRIPE_MODES", "WhiteStripe", "find_white_stripe", "white_stripe"]

#: MR contrasts :func:`white_stripe` knows, and how each picks the white-matter mode.
WHITE_STRIPE_MODES: dict[str, str] = {"T1": "last", "T2": "largest", "FLAIR": "largest"}

#: Fraction of the in-region intensities removed from the top before the histogram of
#: :func:`find_white_stripe` (bright vessels, fat or lesions cannot then form the last mode).
_WS_TOP_TRIM = 0.01
#: A histogram peak counts as a mode when its prominence is at least this fraction of the
#: tallest smoothed bin (small ripples of the tails are ignored).
_WS_MIN_PROMINENCE = 0.05


@dataclass(frozen=True)
class WhiteStripe:
    """The white stripe of one MR image (what :func:`find_white_stripe` returns).

    Attributes
    ----------
    mode : float
        Intensity of the white-matter mode of the smoothed histogram (image units).
    quantile : float
        Its quantile among the region's voxels, ``q = #(x <= mode) / n``.
    lower, upper : float
        Intensities at the quantiles ``q - width`` and ``q + width`` (clipped to [0, 1]):
        the stripe is every region voxel with ``lower <= x <= upper``.
    mean, sd : float
        Mean and sd (``ddof=0``) of the stripe's voxels (image units).
    n_voxels : int
        Voxels in the stripe.
    """

    mode: float
    quantile: float
    lower: float
    upper: float
    mean: float
    sd: float
    n_voxels: int


def find_white_stripe(image: np.ndarray, mask: np.ndarray | None = None, *,
                      modality: str = "T1", width: float = 0.05, bins: int = 2000,
                      where: str = "") -> WhiteStripe:
    """Locate the normal-appearing white matter of an MR image by its histogram.

    1. The region: the voxels inside ``mask`` (a brain mask), or without a mask the voxels
       brighter than the image's mean (which drops a dark background).
    2. Its histogram, after removing the brightest 1 %, in ``bins`` equal bins, smoothed by
       a Gaussian kernel whose width is the normal-reference bandwidth
       ``h = 0.9 min(s, IQR / 1.34) n^(-1/5)`` of those intensities (at least one bin).
    3. The modes are the peaks whose prominence is at least 5 % of the tallest smoothed
       bin. White matter is, for ``T1``, the mode of largest intensity (it is the brightest
       tissue); for ``T2`` and ``FLAIR``, the largest (tallest) mode (white matter is the
       darkest brain tissue there, but cerebrospinal fluid and lesions make the first mode
       unreliable, while white matter is the most common tissue).
    4. With ``q`` the quantile of the mode among the region's voxels, the stripe is every
       region voxel whose quantile is within ``q +- width``.

    Every step commutes with ``x -> a x + b`` (``a > 0``): the stripe selects the same
    voxels.

    Parameters
    ----------
    image : ndarray, any shape (e.g. ``(z, y, x)``)
        A skull-stripped or brain-masked MR image.
    mask : ndarray, the image's shape, optional
        Non-zero in the brain.
    modality : {"T1", "T2", "FLAIR"}
        MR contrast (case-insensitive).
    width : float
        Half-width of the stripe in quantiles, in (0, 0.5); 0.05 selects about 10 % of the
        region's voxels.
    bins : int
        Histogram bins (at least 10).
    where : str
        Start of the validation messages.

    Returns
    -------
    WhiteStripe
        Mode, quantile, bounds, mean and sd of the stripe.

    Raises
    ------
    ValueError
        For an unknown modality, a width or bin count out of range, a bad or empty mask,
        non-finite or constant intensities in the region, or a constant stripe.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    contrast = str(modality).upper()
    if contrast not in WHITE_STRIPE_MODES:
        raise ValueError(f"{_prefix(where)}unknown MR modality {modality!r} for WhiteStripe; "
                         f"choose from {', '.join(WHITE_STRIPE_MODES)}.")
    if not 0.0 < width < 0.5:
        raise ValueError(f"{_prefix(where)}the stripe width must be in (0, 0.5), got {width}.")
    if int(bins) < 10:
        raise ValueError(f"{_prefix(where)}WhiteStripe needs at least 10 bins, got {bins}.")
    bins = int(bins)
    _, values = _region_values(image, mask, where)
    if mask is None:
        values = values[values > values.mean()]
    if values.size < 10 or values.max() <= values.min():
        raise ValueError(f"{_prefix(where)}the WhiteStripe region has {values.size} voxel(s) "
                         f"of constant or too few intensities.")
    kept = values[values <= np.quantile(values, 1.0 - _WS_TOP_TRIM)]
    lo, hi = float(kept.min()), float(kept.max())
    if hi <= lo:
        kept, lo, hi = values, float(values.min()), float(values.max())
    counts, _ = np.histogram(kept, bins=bins, range=(lo, hi))
    q25, q75 = np.quantile(kept, [0.25, 0.75])
    spread = min(float(kept.std()), float(q75 - q25) / 1.34) or float(kept.std())
    bandwidth = 0.9 * spread * kept.size ** -0.2
    smooth = gaussian_filter1d(counts.astype(float), max(bandwidth / (hi - lo) * bins, 1.0),
                               mode="constant")
    peaks, _ = find_peaks(smooth, prominence=_WS_MIN_PROMINENCE * smooth.max())
    if peaks.size == 0:
        peak = int(np.argmax(smooth))
    elif WHITE_STRIPE_MODES[contrast] == "last":
        peak = int(peaks.max())
    else:
        peak = int(peaks[np.argmax(smooth[peaks])])
    mode = lo + (peak + 0.5) * (hi - lo) / bins
    q = float(np.mean(values <= mode))
    lower, upper = np.quantile(values, [max(q - width, 0.0), min(q + width, 1.0)])
    stripe = values[(values >= lower) & (values <= upper)]
    sd = float(stripe.std())
    if sd <= 0:
        raise ValueError(f"{_prefix(where)}the white stripe ({stripe.size} voxels) has "
                         f"constant intensity {stripe.mean():g}; it cannot scale the image.")
    return WhiteStripe(mode=float(mode), quantile=q, lower=float(lower), upper=float(upper),
                       mean=float(stripe.mean()), sd=sd, n_voxels=int(stripe.size))


def white_stripe(image: np.ndarray, mask: np.ndarray | None = None, *, modality: str = "T1",
                 width: float = 0.05, bins: int = 2000, where: str = "") -> np.ndarray:
    """WhiteStripe normalisation of an MR image: z-score by the white stripe.

    ``z = (x - mu_ws) / sigma_ws``, with ``mu_ws`` and ``sigma_ws`` the mean and sd of the
    stripe found by :func:`find_white_stripe` (see there for the steps and parameters). The
    stripe's voxels then have mean 0 and sd 1; normal-appearing white matter is centred near
    0, and its sd is larger than 1 since the stripe holds only its central part.

    Parameters
    ----------
    image : ndarray, any shape (e.g. ``(z, y, x)``)
        MR intensities.
    mask : ndarray, the image's shape, optional
        Non-zero in the brain; None: the voxels above the image mean.
    modality : {"T1", "T2", "FLAIR"}
        MR contrast.
    width : float
        Half-width of the stripe in quantiles.
    bins : int
        Histogram bins.
    where : str
        Start of the validation messages.

    Returns
    -------
    ndarray, the image's shape, float
        Dimensionless (units of the stripe's sd), the whole image transformed.
    """
    stripe = find_white_stripe(image, mask, modality=modality, width=width, bins=bins,
                               where=where)
    return (np.asarray(image, dtype=float) - stripe.mean) / stripe.sd
