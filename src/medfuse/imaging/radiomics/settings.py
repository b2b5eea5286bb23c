"""How an image and its mask become an ROI: interpolation, re-segmentation, discretisation.

The IBSI-1 processing chain, in order: interpolate the image (and the mask, by the
partial-volume rule) to a new voxel size on a grid centred on the original, round the
intensities when the modality is integer-valued (CT), re-segment the intensity mask to a
range and/or remove outliers beyond ``mean +- k sd`` (mean and sd of the whole ROI, so the
two combine in either order), then discretise the intensities inside the intensity mask to
grey levels by a fixed bin number or a fixed bin size.

Presets ``ibsi1-a`` ... ``ibsi1-e`` are the five configurations of the IBSI-1 CT phantom
(Zwanenburg et al., Radiology 2020, reference manual table of configurations):

====  ============  ==========================  ================  ==================  ========
name  aggregation   interpolation               re-segmentation   discretisation      IVH
====  ============  ==========================  ================  ==================  ========
A     2D            none                        [-500, 400] HU    bin size 25 HU      none
B     2D            2 x 2 mm in-plane, linear   [-500, 400] HU    32 bins             none
C     3D            2 x 2 x 2 mm, linear        [-1000, 400] HU   bin size 25 HU      2.5 HU
D     3D            2 x 2 x 2 mm, linear        3 sd outliers     32 bins             none
E     3D            2 x 2 x 2 mm, cubic spline  [-1000, 400] HU   32 bins             1000 bins
                                                and 3 sd outliers
====  ============  ==========================  ================  ==================  ========

Every interpolated preset rounds intensities to integers (CT) and keeps mask voxels whose
interpolated value is at least 0.5. The intensity-volume histogram (IVH) of A, B and D uses
the integer HU as they are (the manual's "definite intensity units, discrete case": step 1 HU
over the re-segmentation range, or over the ROI's range without one); C re-discretises them
with bins of 2.5 HU from the lower re-segmentation bound and E into 1000 bins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from medfuse.imaging.radiomics.roi import ROI, Discretisation

INTERPOLATORS = ("nearest", "linear", "bspline")
DISCRETISATIONS = ("none", "fixed_bin_number", "fixed_bin_size")
AGGREGATIONS = ("2D", "2_5D", "3D")


@dataclass(frozen=True)
class RadiomicsSettings:
    """The settings of one radiomics extraction (see the module docstring for the chain).

    Parameters
    ----------
    spacing : tuple of (float or None), optional
        New voxel size along ``(z, y, x)``, mm; None keeps an axis (``(None, 2, 2)`` is
        in-plane interpolation). None: no interpolation.
    interpolator : {"nearest", "linear", "bspline"}
        How the image is interpolated (masks always by the partial-volume rule).
    mask_threshold : float
        Partial-volume threshold of the interpolated mask.
    round_intensities : bool
        Round interpolated intensities to integers (CT).
    resegment : tuple of float, optional
        ``(lower, upper)`` intensity range kept in the intensity mask (either may be
        ``-inf``/``inf``).
    outlier_sd : float, optional
        Remove intensities beyond ``mean +- outlier_sd * sd`` of the ROI (IBSI uses 3).
    discretisation : {"none", "fixed_bin_number", "fixed_bin_size"}
    n_bins : int, optional
        Bins of the fixed bin number method.
    bin_size : float, optional
        Bin width of the fixed bin size method, in intensity units.
    ivh : tuple (method, value), optional
        Discretisation of the intensity-volume histogram: ``("fixed_bin_size", 2.5)``,
        ``("fixed_bin_number", 1000)``; None uses the intensities as they are when they are
        all integers (CT), else the texture grey levels (see :func:`volume_histogram_roi`).
    aggregation : tuple of str
        Which of ``2D``, ``2_5D``, ``3D`` texture aggregations to report.
    """

    spacing: tuple[float | None, float | None, float | None] | None = None
    interpolator: str = "linear"
    mask_threshold: float = 0.5
    round_intensities: bool = False
    resegment: tuple[float, float] | None = None
    outlier_sd: float | None = None
    discretisation: str = "fixed_bin_number"
    n_bins: int | None = 32
    bin_size: float | None = None
    ivh: tuple[str, float] | None = None
    aggregation: tuple[str, ...] = AGGREGATIONS

    def __post_init__(self) -> None:
        if self.interpolator not in INTERPOLATORS:
            raise ValueError(f"interpolator {self.interpolator!r} is not one of "
                             f"{', '.join(INTERPOLATORS)}.")
        if self.discretisation not in DISCRETISATIONS:
            raise ValueError(f"discretisation {self.discretisation!r} is not one of "
                             f"{', '.join(DISCRETISATIONS)}.")
        if self.discretisation == "fixed_bin_number" and not (self.n_bins or 0) >= 1:
            raise ValueError("fixed_bin_number needs n_bins >= 1.")
        if self.discretisation == "fixed_bin_size" and not (self.bin_size or 0) > 0:
            raise ValueError("fixed_bin_size needs a positive bin_size.")
        if self.resegment is not None and not self.resegment[0] < self.resegment[1]:
            raise ValueError(f"resegment range {self.resegment} must have lower < upper.")
        if self.spacing is not None and (len(self.spacing) != 3 or any(
                s is not None and not s > 0 for s in self.spacing)):
            raise ValueError(f"spacing {self.spacing} must be three positive sizes (z, y, x) "
                             "in mm, None for an axis that keeps its size.")
        if not 0 < self.mask_threshold <= 1:
            raise ValueError("mask_threshold must be in (0, 1].")
        unknown = set(self.aggregation) - set(AGGREGATIONS)
        if unknown or not self.aggregation:
            raise ValueError(f"aggregation must be some of {', '.join(AGGREGATIONS)}; got "
                             f"{list(self.aggregation)}.")
        if self.ivh is not None and self.ivh[0] not in DISCRETISATIONS[1:]:
            raise ValueError(f"ivh method {self.ivh[0]!r} is not one of "
                             f"{', '.join(DISCRETISATIONS[1:])}.")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RadiomicsSettings:
        """Settings from a mapping (a YAML file's content); ``preset`` starts from a preset
        and the other keys override it; unknown keys are an error naming them."""
        values = dict(values)
        base = preset(values.pop("preset")) if "preset" in values else cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown radiomics setting(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(names | {'preset'}))}.")
        for key in ("spacing", "resegment", "ivh", "aggregation"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return dataclasses.replace(base, **values)


PRESETS: dict[str, RadiomicsSettings] = {
    "ibsi1-a": RadiomicsSettings(resegment=(-500.0, 400.0), discretisation="fixed_bin_size",
                                 n_bins=None, bin_size=25.0, aggregation=("2D", "2_5D")),
    "ibsi1-b": RadiomicsSettings(spacing=(None, 2.0, 2.0), interpolator="linear",
                                 round_intensities=True, resegment=(-500.0, 400.0),
                                 discretisation="fixed_bin_number", n_bins=32,
                                 aggregation=("2D", "2_5D")),
    "ibsi1-c": RadiomicsSettings(spacing=(2.0, 2.0, 2.0), interpolator="linear",
                                 round_intensities=True, resegment=(-1000.0, 400.0),
                                 discretisation="fixed_bin_size", n_bins=None, bin_size=25.0,
                                 ivh=("fixed_bin_size", 2.5), aggregation=("3D",)),
    "ibsi1-d": RadiomicsSettings(spacing=(2.0, 2.0, 2.0), interpolator="linear",
                                 round_intensities=True, outlier_sd=3.0,
                                 discretisation="fixed_bin_number", n_bins=32,
                                 aggregation=("3D",)),
    "ibsi1-e": RadiomicsSettings(spacing=(2.0, 2.0, 2.0), interpolator="bspline",
                                 round_intensities=True, resegment=(-1000.0, 400.0),
                                 outlier_sd=3.0, discretisation="fixed_bin_number", n_bins=32,
                                 ivh=("fixed_bin_number", 1000), aggregation=("3D",)),
    # the digital phantom: grey levels used as they are
    "ibsi1-phantom": RadiomicsSettings(discretisation="none", n_bins=None),
}


def preset(name: str) -> RadiomicsSettings:
    """A preset by name (see the module docstring).

    Parameters
    ----------
    name : str
        ``ibsi1-a`` ... ``ibsi1-e`` or ``ibsi1-phantom`` (case does not matter).

    Returns
    -------
    RadiomicsSettings

    Raises
    ------
    ValueError
        For an unknown name, listing the presets.
    """
    try:
        return PRESETS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown radiomics preset {name!r}; choose from "
                         f"{', '.join(PRESETS)}.") from None


def discretise(values: np.ndarray, settings: RadiomicsSettings) -> tuple[np.ndarray, int,
                                                                         Discretisation]:
    """Grey levels of the intensities inside the ROI.

    Fixed bin number: ``floor(N_g (x - x_min) / (x_max - x_min)) + 1``, the maximum put in
    bin ``N_g`` (one level when the ROI is constant). Fixed bin size:
    ``floor((x - x_low) / w) + 1`` with ``x_low`` the lower re-segmentation bound (the ROI
    minimum without one). None: the intensities, which must be integers >= 1.

    Parameters
    ----------
    values : ndarray of float, shape (n,)
        Intensities inside the intensity mask.
    settings : RadiomicsSettings

    Returns
    -------
    levels : ndarray of int, shape (n,)
    n_levels : int
    discretisation : Discretisation
    """
    x = np.asarray(values, dtype=float)
    method = settings.discretisation
    if method == "fixed_bin_number":
        n = int(settings.n_bins)
        lo, hi = float(x.min()), float(x.max())
        if hi == lo:
            return np.ones(x.shape, np.int64), 1, Discretisation(method, n_bins=n, lower=lo)
        levels = np.floor(n * (x - lo) / (hi - lo)).astype(np.int64) + 1
        return np.minimum(levels, n), n, Discretisation(method, n_bins=n, lower=lo)
    if method == "fixed_bin_size":
        w = float(settings.bin_size)
        low = (settings.resegment[0] if settings.resegment is not None
               and np.isfinite(settings.resegment[0]) else float(x.min()))
        high = (settings.resegment[1] if settings.resegment is not None
                and np.isfinite(settings.resegment[1]) else None)
        levels = np.floor((x - low) / w).astype(np.int64) + 1
        return levels, int(levels.max()), Discretisation(method, bin_size=w, lower=low,
                                                         upper=high)
    if not np.allclose(x, np.round(x)) or x.min() < 1:
        raise ValueError("discretisation 'none' needs integer grey levels >= 1 inside the "
                         "mask; choose fixed_bin_number or fixed_bin_size.")
    levels = np.round(x).astype(np.int64)
    return levels, int(levels.max()), Discretisation("none")


def resegment(image: np.ndarray, mask: np.ndarray, settings: RadiomicsSettings) -> np.ndarray:
    """The intensity mask: the voxels of ``mask`` inside the re-segmentation range and inside
    ``mean +- outlier_sd * sd``, the mean and (population) sd of every voxel of ``mask``.

    The reference manual computes the outlier limits from the intensities of the ROI and has
    each method remove voxels from the intensity mask, so the two combine as an intersection,
    whatever their order: the range does not narrow the limits (voxels it removes, such as
    calcifications above its upper bound, still count in the mean and sd).

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
    mask : ndarray of bool, shape (Z, Y, X)
    settings : RadiomicsSettings

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
    """
    roi = np.asarray(mask, bool)
    keep = roi.copy()
    if settings.resegment is not None:
        lo, hi = settings.resegment
        keep &= (image >= lo) & (image <= hi)
    if settings.outlier_sd is not None and roi.any():
        values = image[roi]
        mean, sd = values.mean(), values.std()
        keep &= np.abs(image - mean) <= settings.outlier_sd * sd
    return keep


def make_roi(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float, float],
             settings: RadiomicsSettings, *, where: str = "the image") -> ROI:
    """Run the IBSI-1 chain (interpolation, rounding, re-segmentation, discretisation).

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
        Intensities.
    mask : ndarray, shape (Z, Y, X)
        Non-zero inside the region.
    spacing : tuple of float
        mm along ``(z, y, x)``.
    settings : RadiomicsSettings
        The chain's settings.
    where : str
        Names the image in error messages (a subject, a file).

    Returns
    -------
    ROI
    """
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask)
    if image.ndim != 3 or image.shape != mask.shape:
        raise ValueError(f"{where}: image {image.shape} and mask {mask.shape} must be the "
                         "same 3D shape (z, y, x).")
    if not np.isfinite(image).all():
        raise ValueError(f"{where}: {int((~np.isfinite(image)).sum())} voxel(s) are NaN or "
                         "infinite; fix the image before extracting features.")
    morph = mask != 0
    if not morph.any():
        raise ValueError(f"{where}: the mask is empty.")
    if image.shape[0] == 1 and not {"2D", "2_5D"} & set(settings.aggregation):
        raise ValueError(f"{where}: a 2D image (one slice) where 3D is expected: these "
                         f"settings aggregate texture in {', '.join(settings.aggregation)} "
                         "only; use a 2D preset (ibsi1-a, ibsi1-b) or aggregation 2D.")
    spacing = tuple(float(s) for s in spacing)
    if settings.spacing is not None:
        from medfuse.imaging.resample import resample, resample_mask

        new = tuple(s if n is None else float(n) for s, n in zip(spacing, settings.spacing,
                                                                 strict=True))
        image, _ = resample(image, spacing, new, order=settings.interpolator)
        morph = resample_mask(morph.astype(float), spacing, new,
                              threshold=settings.mask_threshold)
        spacing = new
        if not morph.any():
            raise ValueError(f"{where}: the mask is empty after interpolation to {new} mm.")
    if settings.round_intensities:
        image = np.round(image)
    intensity = resegment(image, morph, settings)
    if not intensity.any():
        raise ValueError(f"{where}: no voxel of the mask is left after re-segmentation to "
                         f"{settings.resegment} (outliers {settings.outlier_sd} sd).")
    values, n_levels, how = discretise(image[intensity], settings)
    levels = np.zeros(image.shape, np.int64)
    levels[intensity] = values
    return ROI(image=image, intensity_mask=intensity, morph_mask=morph, levels=levels,
               n_levels=n_levels, spacing=spacing, discretisation=how)


def volume_histogram_roi(roi: ROI, settings: RadiomicsSettings) -> ROI:
    """The ROI whose grey levels the intensity-volume histogram reads (IBSI-1).

    * ``settings.ivh`` given: the intensities of the intensity mask discretised again by that
      method (fixed bin size from the lower re-segmentation bound, the range ending below the
      upper one; fixed bin number over the ROI's range);
    * None, every intensity an integer (CT in HU; the reference manual's "definite intensity
      units, discrete case"): the intensities as they are, one step per unit over the total
      range ``G``: the re-segmentation range (its bounds rounded inwards to integers), a
      missing or infinite bound replaced by the ROI's lowest or highest intensity. It is
      stored as a fixed bin size of 1 starting half a unit below ``G``, whose bin centres are
      the intensities themselves;
    * None otherwise: ``roi`` itself (the texture grey levels).

    Parameters
    ----------
    roi : ROI
        The ROI of :func:`make_roi`.
    settings : RadiomicsSettings

    Returns
    -------
    ROI
        ``roi`` with other grey levels (or ``roi`` itself).
    """
    x = roi.image[roi.intensity_mask]
    if settings.ivh is not None:
        method, value = settings.ivh
        ivh_settings = dataclasses.replace(
            settings, discretisation=method,
            n_bins=int(value) if method == "fixed_bin_number" else None,
            bin_size=float(value) if method == "fixed_bin_size" else None)
        values, n_levels, how = discretise(x, ivh_settings)
    elif np.array_equal(x, np.round(x)):
        low, high = float(x.min()), float(x.max())
        if settings.resegment is not None:
            lower, upper = settings.resegment
            low = float(np.ceil(lower)) if np.isfinite(lower) else low
            high = float(np.floor(upper)) if np.isfinite(upper) else high
        values = (x - low).astype(np.int64) + 1
        n_levels = int(high - low) + 1
        how = Discretisation("fixed_bin_size", bin_size=1.0, lower=low - 0.5, upper=high + 0.5)
    else:
        return roi
    levels = np.zeros(roi.image.shape, np.int64)
    levels[roi.intensity_mask] = values
    return dataclasses.replace(roi, levels=levels, n_levels=n_levels, discretisation=how)
