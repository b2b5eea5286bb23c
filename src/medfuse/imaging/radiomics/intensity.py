"""First-order IBSI-1 features: intensity statistics, intensity histogram and
intensity-volume histogram.

All three families read the voxels inside ``roi.intensity_mask`` only and treat the ROI as
one 3D volume. ``stat_*`` features use the intensities ``X_gl`` (``roi.image``), ``ih_*``
features the grey levels ``X_d`` (``roi.levels``) and ``ivh_*`` features the grey levels
mapped back to intensities as set out in :func:`volume_histogram`.

Percentiles are the linear-interpolation (type 7) sample quantiles, the convention under
which the digital phantom's references were agreed (its 90th percentile is 4, not 4.2).
"""

from __future__ import annotations

import numpy as np

from medfuse.imaging.radiomics.roi import ROI

__all__ = ["features", "histogram", "statistics", "volume_histogram"]

_IVH_FRACTIONS = (10, 90)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0."""
    return float(numerator / denominator) if denominator != 0 else float("nan")


def _distribution(x: np.ndarray) -> dict[str, float]:
    """The statistics shared by the ``stat`` and ``ih`` families, keyed without prefix."""
    mean = float(x.mean())
    if np.ptp(x) == 0:  # a constant sample: moments are exactly 0, not rounding noise
        var = skew = kurt = 0.0
    else:
        dev = x - mean
        sq = dev * dev
        var = float(sq.mean())
        skew = float(np.mean(sq * dev)) / var**1.5
        kurt = float(np.mean(sq * sq)) / var**2 - 3.0
    p10, p25, p50, p75, p90 = (float(v) for v in np.percentile(x, [10, 25, 50, 75, 90]))
    central = x[(x >= p10) & (x <= p90)]
    x_min, x_max = float(x.min()), float(x.max())
    return {
        "mean": mean,
        "var": var,
        "skew": skew,
        "kurt": kurt,
        "median": p50,
        "min": x_min,
        "p10": p10,
        "p90": p90,
        "max": x_max,
        "iqr": p75 - p25,
        "range": x_max - x_min,
        "mad": float(np.abs(x - mean).mean()),
        "rmad": (float(np.abs(central - central.mean()).mean()) if central.size
                 else float("nan")),
        "medad": float(np.abs(x - p50).mean()),
        "cov": _ratio(np.sqrt(var), mean),
        "qcod": _ratio(p75 - p25, p75 + p25),
    }


def _roi_values(roi: ROI, grey_levels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Intensities (float) and grey levels (int) of the voxels in the intensity mask.

    Parameters
    ----------
    roi : ROI
        The region of interest.
    grey_levels : bool, default False
        The caller reads the grey levels: they must all be ``>= 1``.

    Returns
    -------
    x : ndarray of float, shape (N_v,)
        Intensities.
    levels : ndarray of int64, shape (N_v,)
        Grey levels.
    """
    inside = np.asarray(roi.intensity_mask, dtype=bool)
    if not inside.any():
        raise ValueError("The intensity mask is empty: no voxel to compute features on.")
    x = np.asarray(roi.image, dtype=float)[inside]
    levels = np.asarray(roi.levels)[inside].astype(np.int64)
    if grey_levels and levels.min() < 1:
        raise ValueError("Grey levels inside the intensity mask must be >= 1.")
    return x, levels


def statistics(roi: ROI) -> dict[str, float]:
    """Intensity-based statistical features (``stat_*``) of the intensities in the ROI.

    With ``X`` the ``N_v`` intensities in the intensity mask, ``mu`` their mean and
    ``P_q`` the q-th percentile (linear interpolation):

    - ``stat_mean`` = mean(X); ``stat_var`` = mean((X - mu)^2) (no bias correction);
    - ``stat_skew`` = m3 / m2^(3/2) and ``stat_kurt`` = m4 / m2^2 - 3 (excess), with
      ``m_k`` the k-th central moment; both are 0 when the variance is 0;
    - ``stat_median``, ``stat_min``, ``stat_p10``, ``stat_p90``, ``stat_max``;
    - ``stat_iqr`` = P75 - P25; ``stat_range`` = max - min;
    - ``stat_mad`` = mean|X - mu|; ``stat_medad`` = mean|X - median|;
    - ``stat_rmad`` = mean absolute deviation from their own mean of the intensities with
      P10 <= X <= P90;
    - ``stat_cov`` = sqrt(var) / mu; ``stat_qcod`` = (P75 - P25) / (P75 + P25) (NaN when
      the denominator is 0);
    - ``stat_energy`` = sum(X^2); ``stat_rms`` = sqrt(mean(X^2)).

    Parameters
    ----------
    roi : ROI
        The region of interest; only the voxels of its intensity mask are read.

    Returns
    -------
    dict of str to float
        The 18 ``stat_*`` features.
    """
    x, _ = _roi_values(roi)
    out = {f"stat_{name}": value for name, value in _distribution(x).items()}
    energy = float(np.dot(x, x))
    out["stat_energy"] = energy
    out["stat_rms"] = float(np.sqrt(energy / x.size))
    return out


def histogram(roi: ROI) -> dict[str, float]:
    """Intensity histogram features (``ih_*``) of the grey levels in the ROI.

    The statistics of :func:`statistics` other than energy and RMS, computed on the grey
    levels ``X_d`` (prefix ``ih_``), and, with ``n_i`` the count and ``p_i = n_i / N_v``
    the fraction of voxels at grey level ``i = 1 .. N_g``:

    - ``ih_mode``: the grey level with the highest count; on ties the one closest to the
      mean, the lower one when two are equally close;
    - ``ih_entropy`` = -sum p_i log2 p_i (over p_i > 0); ``ih_uniformity`` = sum p_i^2;
    - the histogram gradient ``H'_i`` = (n_{i+1} - n_{i-1}) / 2 inside, n_2 - n_1 at
      ``i = 1`` and n_{N_g} - n_{N_g - 1} at ``i = N_g``, over all levels, empty ones
      included (0 when ``N_g = 1``); ``ih_max_grad`` / ``ih_min_grad`` are its extremes
      and ``ih_max_grad_g`` / ``ih_min_grad_g`` the (first) grey levels where they occur.

    Parameters
    ----------
    roi : ROI
        The region of interest; only the voxels of its intensity mask are read.

    Returns
    -------
    dict of str to float
        The 23 ``ih_*`` features.
    """
    _, levels = _roi_values(roi, grey_levels=True)
    stats = _distribution(levels.astype(float))
    n_g = max(int(roi.n_levels), int(levels.max()))
    counts = np.bincount(levels, minlength=n_g + 1)[1:].astype(float)
    grey = np.arange(1, n_g + 1)
    p = counts / levels.size

    top = grey[counts == counts.max()]
    mode = top[np.argmin(np.abs(top - stats["mean"]))]  # first minimum: the lower level
    nonzero = p[p > 0]
    gradient = np.gradient(counts) if n_g > 1 else np.zeros(1)

    out: dict[str, float] = {}
    for name, value in stats.items():
        out[f"ih_{name}"] = value
        if name == "max":
            out["ih_mode"] = float(mode)
    out["ih_entropy"] = float(-np.sum(nonzero * np.log2(nonzero)))
    out["ih_uniformity"] = float(np.sum(p * p))
    out["ih_max_grad"] = float(gradient.max())
    out["ih_max_grad_g"] = float(grey[np.argmax(gradient)])
    out["ih_min_grad"] = float(gradient.min())
    out["ih_min_grad_g"] = float(grey[np.argmin(gradient)])
    return out


def _ivh_grid(roi: ROI, levels: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, int, float,
                                                                     float]:
    """Step index ``k`` per voxel, number of steps ``K``, first intensity and step ``w_d``.

    Discretised intensity ``k`` of the IVH is ``first + k * w_d``, ``k = 0 .. K - 1``.
    """
    disc = roi.discretisation
    if disc.method == "none":
        lowest = int(levels.min())
        return levels - lowest, int(levels.max()) - lowest + 1, float(lowest), 1.0
    if disc.method == "fixed_bin_number":
        n_bins = int(disc.n_bins) if disc.n_bins is not None else int(roi.n_levels)
        return levels - 1, max(n_bins, int(levels.max())), 1.0, 1.0
    if disc.method == "fixed_bin_size":
        if disc.bin_size is None or disc.bin_size <= 0:
            raise ValueError("Fixed bin size discretisation needs a positive bin_size.")
        width = float(disc.bin_size)
        lower = float(disc.lower) if disc.lower is not None else float(x.min())
        n_bins = max(int(roi.n_levels), int(levels.max()))
        if disc.upper is not None:  # the range ends at the bin centre below the upper bound
            n_bins = max(n_bins, int(np.ceil((float(disc.upper) - lower) / width - 1e-9)))
        return levels - 1, n_bins, lower + 0.5 * width, width
    raise ValueError(f"Unknown discretisation method {disc.method!r}.")


def volume_histogram(roi: ROI) -> dict[str, float]:
    """Intensity-volume histogram features (``ivh_*``).

    The grey levels are mapped to discretised intensities ``i`` on a regular grid spanning
    the total range ``G`` with step ``w_d``:

    - ``"none"``: the grey levels are the intensities; ``G = [min, max]`` of the ROI's grey
      levels, ``w_d = 1``;
    - ``"fixed_bin_number"``: the grey levels themselves (uncalibrated intensities),
      ``G = [1, N_g]`` with ``N_g = n_bins``, ``w_d = 1``;
    - ``"fixed_bin_size"``: bin ``j`` maps to its centre ``lower + (j - 0.5) w_b`` and
      ``w_d = w_b``. ``G`` runs from the centre of the first bin, ``lower + w_b / 2``
      (``lower`` is the re-segmentation lower bound, or the ROI minimum when it is not
      given), to ``upper - w_b / 2`` when the re-segmentation range has an upper bound
      (the centre of the last bin below it, as the reference manual defines it), else to
      the centre of the highest bin of the ROI, ``lower + (N_g - 0.5) w_b``.

    On that grid, every step counted whether or not a voxel holds it:

    - volume fraction ``nu_i`` = fraction of voxels with intensity >= ``i``;
    - intensity fraction ``gamma_i = (i - min G) / (max G - min G)`` (1 when ``G`` is a
      single intensity);
    - ``ivh_v10`` / ``ivh_v90``: the largest ``nu`` with ``gamma >= 0.1`` / ``0.9``;
    - ``ivh_i10`` / ``ivh_i90``: the lowest ``i`` with ``nu_i <= 0.1`` / ``0.9``; when the
      highest intensity still fills more than that fraction, the next step above the
      range (where ``nu = 0``);
    - ``ivh_diff_v10_v90`` = V10 - V90; ``ivh_diff_i10_i90`` = I10 - I90;
    - ``ivh_auc``: area under ``nu(gamma)`` by the trapezoidal rule (0 for one intensity).

    Parameters
    ----------
    roi : ROI
        The region of interest; only the voxels of its intensity mask are read.

    Returns
    -------
    dict of str to float
        The 7 ``ivh_*`` features.
    """
    x, levels = _roi_values(roi, grey_levels=True)
    index, n_steps, first, step = _ivh_grid(roi, levels, x)
    counts = np.bincount(index, minlength=n_steps)
    nu = counts[::-1].cumsum()[::-1] / index.size  # voxels at or above each step
    gamma = np.arange(n_steps) / (n_steps - 1) if n_steps > 1 else np.ones(1)

    out: dict[str, float] = {}
    for pct in _IVH_FRACTIONS:
        fraction = pct / 100.0
        out[f"ivh_v{pct}"] = float(nu[np.argmax(gamma >= fraction)])
        below = nu <= fraction
        k = int(np.argmax(below)) if below.any() else n_steps
        out[f"ivh_i{pct}"] = first + k * step
    out["ivh_diff_v10_v90"] = out["ivh_v10"] - out["ivh_v90"]
    out["ivh_diff_i10_i90"] = out["ivh_i10"] - out["ivh_i90"]
    out["ivh_auc"] = float(np.sum(0.5 * (nu[1:] + nu[:-1]) * np.diff(gamma)))
    return out


def features(roi: ROI) -> dict[str, float]:
    """All first-order features: :func:`statistics`, :func:`histogram` and
    :func:`volume_histogram` in one dictionary.

    Parameters
    ----------
    roi : ROI
        The region of interest; only the voxels of its intensity mask are read.

    Returns
    -------
    dict of str to float
        The 48 ``stat_*``, ``ih_*`` and ``ivh_*`` features keyed by their IBSI tag.
    """
    return {**statistics(roi), **histogram(roi), **volume_histogram(roi)}
