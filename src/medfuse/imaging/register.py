"""Rigid and affine registration of one 3-D image onto another by mutual information.

:func:`register` aligns a *moving* image to a *fixed* image and returns a
:class:`Registration`: the fitted transform as plain floats (saved with
:meth:`Registration.as_dict`, no pickle), the metric before and after, and how the optimiser
stopped. :meth:`Registration.apply` and :meth:`Registration.apply_mask` then resample the
moving image, or a mask drawn on it, onto the fixed grid. The result class lives in
:mod:`medfuse.imaging.transform` and the array conversions :func:`to_sitk` and
:func:`from_sitk` in :mod:`medfuse.imaging.sitk_images`; both are re-exported here.

Geometry follows the package conventions. An image is either a :class:`SimpleITK.Image` or a
tuple ``(array, spacing, origin, direction)`` as :func:`to_sitk` takes it:

* ``array`` is indexed ``(z, y, x)``;
* ``spacing`` is in millimetres, ordered ``(z, y, x)`` like the array axes;
* ``origin`` is the physical position of voxel ``(0, 0, 0)``, in millimetres, ordered
  ``(x, y, z)`` in LPS (the patient-based space the images live in);
* ``direction`` is a 3 x 3 matrix whose columns are the LPS directions of the x, y and z
  index axes.

The transform maps points of the fixed image's physical space onto the moving image's
physical space (the convention of resampling: the value at a fixed-grid point is read from
the moving image at the mapped point).

Method. The initial transform is centred by image moments (centres of mass) or by geometry
(centres of the two volumes). Mutual information, estimated from a joint histogram smoothed
by B-spline windows, is computed on a random sample of the fixed image's voxels drawn with a
fixed seed (at least 5000 points per level where the shrunken image has them) and optimised
by regular-step gradient descent: a step of fixed length along the gradient, halved whenever
the gradient turns back, until the step is shorter than a threshold. It needs no learning-rate
estimate, and its sample points stay fixed within a resolution level, so the search is
deterministic. Parameter scales come from the physical shift a unit change of each parameter
causes (radians and millimetres are made comparable), and the search runs coarse to fine over
shrunken and smoothed copies of both images. By default the registration runs on one thread
in one work unit: with several, the order in which partial sums are added varies from run to
run, and two runs with the same seed differ in the last digits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import SimpleITK as sitk

from medfuse.data.validation import DataValidationError
from medfuse.imaging.sitk_images import (
    ImageLike,
    _as_image,
    _corners,
    _extent,
    _physical_points,
    _who,
    from_sitk,
    to_sitk,
)
from medfuse.imaging.transform import _TRANSFORMS, Registration

__all__ = ["Registration", "from_sitk", "register", "to_sitk"]

TransformKind = Literal["rigid", "affine"]

_METRICS = ("mattes", "correlation")
_INITIALISERS = ("moments", "geometry", "none")

# Regular-step gradient descent, in the scaled parameter space where a unit step moves the
# image by about one millimetre: initial step, smallest step, step shrink on a turn.
_INITIAL_STEP = 2.0
_MIN_STEP = 1e-3
_RELAXATION = 0.5
_GRADIENT_TOLERANCE = 1e-8
# Fewest metric samples drawn at a level (all voxels if the shrunken image has fewer): a
# joint histogram of 50 x 50 bins filled from a few hundred points is too rough to follow.
_MIN_SAMPLES = 5000
# A final metric is "worse" than the initial one when larger by more than this fraction of
# the initial magnitude (plus a small absolute margin for metrics near zero).
_RELATIVE_TOLERANCE = 1e-2
_ABSOLUTE_TOLERANCE = 1e-6


def _map_points(transform: sitk.Transform, points: np.ndarray) -> np.ndarray:
    """Apply a matrix-and-offset transform to physical points (mm), one row per point."""
    matrix = np.asarray(transform.GetMatrix()).reshape(3, 3)
    centre = np.asarray(transform.GetCenter())
    translation = np.asarray(transform.GetTranslation())
    return (points - centre) @ matrix.T + centre + translation


def _boxes_overlap(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> bool:
    """Whether the fixed image's box, mapped by the transform, meets the moving image's box.

    Both boxes run along voxel edges. The mapped fixed box and the moving box are convex
    parallelepipeds, and two such solids are apart exactly when their projections are apart
    on one of these axes: the face normals of either, or the cross product of an edge of one
    with an edge of the other.
    """
    a = _map_points(transform, _corners(fixed))
    b = _corners(moving)
    # corners are ordered as np.ndindex(2, 2, 2) over (x, y, z): the edges from corner 0
    edges_a = [a[4] - a[0], a[2] - a[0], a[1] - a[0]]
    edges_b = [b[4] - b[0], b[2] - b[0], b[1] - b[0]]
    axes = [np.cross(edges_a[i], edges_a[j]) for i, j in ((0, 1), (1, 2), (2, 0))]
    axes += [np.cross(edges_b[i], edges_b[j]) for i, j in ((0, 1), (1, 2), (2, 0))]
    axes += [np.cross(u, v) for u in edges_a for v in edges_b]
    scale = max(np.ptp(a, axis=0).max(), np.ptp(b, axis=0).max())
    for axis in axes:
        norm = np.linalg.norm(axis)
        if norm <= 1e-9 * scale**2:
            continue  # parallel edges: the face normals already cover this direction
        pa, pb = a @ (axis / norm), b @ (axis / norm)
        if pa.max() <= pb.min() or pb.max() <= pa.min():
            return False
    return True


def _failure_reason(error: Exception) -> str:
    """The one-line reason inside a registration exception message."""
    text = str(error)
    found = re.findall(r"ITK ERROR:\s*(?:\w+\(0x[0-9a-fA-F]+\):\s*)?(.+)", text)
    lines = found or [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _what_to_try(initialise: str, max_iterations: int, sampling: float) -> str:
    tips = []
    if initialise != "geometry":
        tips.append("initialise='geometry' (centres the two volumes rather than their "
                    "intensity centres of mass)")
    tips.append(f"more iterations (max_iterations, now {max_iterations})")
    if sampling < 1.0:
        tips.append(f"a larger sampling fraction (sampling, now {sampling:g}, up to 1)")
    tips.append("checking that both images cover the same anatomy with correct origins and "
                "directions")
    return "Try " + "; ".join(tips) + "."


def _check_settings(transform: str, metric: str, bins: int, sampling: float,
                    levels: Sequence[int], smoothing: Sequence[float], initialise: str,
                    seed: int, max_iterations: int) -> None:
    if transform not in _TRANSFORMS:
        raise ValueError(f"transform must be one of {_TRANSFORMS}, not {transform!r}.")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, not {metric!r}.")
    if initialise not in _INITIALISERS:
        raise ValueError(f"initialise must be one of {_INITIALISERS}, not {initialise!r}.")
    if int(bins) < 4:
        raise ValueError(f"bins must be at least 4, not {bins}.")
    if not 0.0 < float(sampling) <= 1.0:
        raise ValueError(f"sampling is a fraction of the fixed voxels in (0, 1], not {sampling}.")
    if len(levels) == 0 or len(levels) != len(smoothing):
        raise ValueError(
            f"levels and smoothing need one entry per resolution level; got {len(levels)} "
            f"shrink factors and {len(smoothing)} smoothing sigmas.")
    if any(int(f) < 1 for f in levels) or any(float(s) < 0 for s in smoothing):
        raise ValueError("Shrink factors must be at least 1 and smoothing sigmas not negative.")
    if not 0 <= int(seed) < 2**32 - 1:
        raise ValueError(f"seed must be in [0, 2**32 - 1), not {seed}.")
    if int(max_iterations) < 1:
        raise ValueError(f"max_iterations must be at least 1, not {max_iterations}.")


def _level_fractions(fixed: sitk.Image, levels: Sequence[int], sampling: float) -> list[float]:
    """The sampling fraction of each level: ``sampling``, raised where a shrunken image would
    give fewer than the minimum number of samples."""
    size = np.asarray(fixed.GetSize())
    fractions = []
    for factor in levels:
        voxels = float(np.prod(np.maximum(size // int(factor), 1)))
        fractions.append(min(1.0, max(sampling, _MIN_SAMPLES / voxels)))
    return fractions


def _method(metric: str, bins: int, threads: int) -> sitk.ImageRegistrationMethod:
    """A registration method with the metric, interpolator and threading set."""
    method = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    else:
        method.SetMetricAsCorrelation()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetNumberOfThreads(threads)
    method.SetNumberOfWorkUnits(threads)
    return method


def _full_metric(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform,
                 metric: str, bins: int, threads: int) -> float:
    """The metric over every fixed voxel at full resolution, at a given transform."""
    method = _method(metric, bins, threads)
    method.SetInitialTransform(transform, inPlace=False)
    return float(method.MetricEvaluate(fixed, moving))


def _check_outcome(who: str, initial: float, final: float, stop: str, at_limit: bool,
                   tips: str) -> None:
    """Refuse a final metric worse than the initial one, or an optimiser that ran out of
    iterations without improving it (lower metric values are better)."""
    margin = _RELATIVE_TOLERANCE * abs(initial) + _ABSOLUTE_TOLERANCE
    if final > initial + margin:
        raise DataValidationError(
            f"Registration of {who} ended with a worse metric than it started with "
            f"({final:.4g} against {initial:.4g}, lower is better; stop condition: {stop}). "
            f"{tips}")
    if at_limit and final >= initial - margin:
        raise DataValidationError(
            f"Registration of {who} reached the iteration limit without improving the metric "
            f"({final:.4g} against {initial:.4g} at the start; stop condition: {stop}). "
            f"{tips}")


def register(fixed: ImageLike, moving: ImageLike, *, transform: TransformKind = "rigid",
             metric: Literal["mattes", "correlation"] = "mattes", bins: int = 50,
             sampling: float = 0.25, levels: Sequence[int] = (4, 2, 1),
             smoothing: Sequence[float] = (2, 1, 0),
             initialise: Literal["moments", "geometry", "none"] = "moments", seed: int = 0,
             max_iterations: int = 200, threads: int = 1,
             subject: str | None = None) -> Registration:
    """Register a moving image onto a fixed image with a rigid or affine transform.

    Parameters
    ----------
    fixed, moving : SimpleITK.Image or tuple
        3-D scalar images, each a SimpleITK image or a tuple
        ``(array, spacing, origin, direction)`` with the array indexed ``(z, y, x)``, spacing
        in mm ``(z, y, x)``, origin in mm ``(x, y, z)`` LPS and direction a 3 x 3 matrix whose
        columns are the LPS directions of the index axes (see :func:`to_sitk`; origin and
        direction may be left off). Both are cast to float32.
    transform : {"rigid", "affine"}
        Rigid: 3 rotations and 3 translations. Affine: 12 parameters (adds scaling and
        shearing).
    metric : {"mattes", "correlation"}
        Mutual information from a B-spline-smoothed joint histogram (any pair of contrasts) or
        normalised correlation (same contrast only).
    bins : int
        Joint-histogram bins per image of the mutual-information metric.
    sampling : float
        Fraction of the fixed image's voxels, in (0, 1], sampled at random at each
        resolution level to evaluate the metric. Where the shrunken image would give fewer
        than 5000 samples the fraction is raised to reach them (or all voxels).
    levels : sequence of int
        Shrink factor of each resolution level, coarse to fine.
    smoothing : sequence of float
        Gaussian smoothing sigma of each level, in voxels of each input image.
    initialise : {"moments", "geometry", "none"}
        How the initial transform is centred: on the intensity centres of mass, on the centres
        of the two volumes, or not at all (identity, rotating about the fixed image's centre).
    seed : int
        Seed of the random metric sampling; the same seed gives the same transform.
    max_iterations : int
        Iteration limit of the optimiser at each level.
    threads : int
        Threads (and work units) the registration uses. With 1, two runs with the same seed
        give identical parameters; with more, they agree only to about 1e-12.
    subject : str, optional
        Subject ID, named in error messages and kept with the result.

    Returns
    -------
    Registration
        The fitted transform (fixed physical points onto moving ones, mm), with the metric
        before and after, the iterations per level and the stop condition.

    Raises
    ------
    DataValidationError
        If an image is not 3-D and scalar; if the images do not overlap in physical space
        after initialisation (checked before any optimisation); if the optimiser fails (an
        exception such as all samples mapping outside the moving image), reaches the
        iteration limit without improving the metric, or ends with a metric worse than the
        initial one. The message names the subject, the stop condition and what to try.
    ValueError
        If a setting is out of range.
    """
    _check_settings(transform, metric, bins, sampling, levels, smoothing, initialise, seed,
                    max_iterations)
    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, not {threads}.")
    threads = int(threads)
    who = _who(subject)
    fixed_image = sitk.Cast(_as_image(fixed, "fixed", subject, True), sitk.sitkFloat32)
    moving_image = sitk.Cast(_as_image(moving, "moving", subject, True), sitk.sitkFloat32)
    tips = _what_to_try(initialise, max_iterations, sampling)

    base = sitk.Euler3DTransform() if transform == "rigid" else sitk.AffineTransform(3)
    if initialise == "none":
        size = np.asarray(fixed_image.GetSize(), dtype=float)
        centre = _physical_points(fixed_image, ((size - 1.0) / 2.0)[None, :])[0]
        base.SetCenter([float(c) for c in centre])
        initial = base
    else:
        mode = (sitk.CenteredTransformInitializerFilter.MOMENTS if initialise == "moments"
                else sitk.CenteredTransformInitializerFilter.GEOMETRY)
        try:
            initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, base, mode)
        except RuntimeError as error:
            raise DataValidationError(
                f"Registration of {who} could not be initialised by {initialise}: "
                f"{_failure_reason(error)}. {tips}") from error

    if not _boxes_overlap(fixed_image, moving_image, initial):
        raise DataValidationError(
            f"Registration of {who}: the fixed and moving images do not overlap in physical "
            f"space after initialisation ({initialise!r}); fixed spans {_extent(fixed_image)}, "
            f"moving spans {_extent(moving_image)} (LPS). Check the two images' origins and "
            "directions, or use initialise='geometry' to start from their centres.")

    try:
        initial_value = _full_metric(fixed_image, moving_image, initial, metric, bins, threads)
    except RuntimeError as error:
        raise DataValidationError(
            f"Registration of {who} failed before optimisation (stop condition: "
            f"{_failure_reason(error)}). {tips}") from error

    method = _method(metric, bins, threads)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # a seed of 0 would ask the library for a clock-based seed: shift by one
    method.SetMetricSamplingPercentagePerLevel(
        _level_fractions(fixed_image, levels, float(sampling)), int(seed) + 1)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=_INITIAL_STEP, minStep=_MIN_STEP, numberOfIterations=int(max_iterations),
        relaxationFactor=_RELAXATION, gradientMagnitudeTolerance=_GRADIENT_TOLERANCE)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([int(f) for f in levels])
    method.SetSmoothingSigmasPerLevel([float(s) for s in smoothing])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=True)
    counts = [0] * len(levels)

    def count() -> None:
        counts[method.GetCurrentLevel()] += 1

    method.AddCommand(sitk.sitkIterationEvent, count)
    try:
        method.Execute(fixed_image, moving_image)
    except RuntimeError as error:
        raise DataValidationError(
            f"Registration of {who} failed during optimisation (stop condition: "
            f"{_failure_reason(error)}). {tips}") from error
    finally:
        method.RemoveAllCommands()
    stop = method.GetOptimizerStopConditionDescription()

    try:
        final_value = _full_metric(fixed_image, moving_image, initial, metric, bins, threads)
    except RuntimeError as error:
        raise DataValidationError(
            f"Registration of {who} moved the images apart (stop condition: {stop}; then "
            f"{_failure_reason(error)}). {tips}") from error
    at_limit = counts[-1] >= int(max_iterations) or "aximum number of iterations" in stop
    _check_outcome(who, initial_value, final_value, stop, at_limit, tips)
    if not all(math.isfinite(p) for p in initial.GetParameters()):
        raise DataValidationError(
            f"Registration of {who} gave non-finite transform parameters (stop condition: "
            f"{stop}). {tips}")

    return Registration(
        transform=transform,
        parameters=tuple(initial.GetParameters()),
        fixed_parameters=tuple(initial.GetFixedParameters()),
        metric=metric,
        metric_value=final_value,
        initial_metric_value=initial_value,
        iterations=tuple(counts),
        stop_condition=stop,
        subject=subject,
    )
