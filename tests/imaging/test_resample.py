"""Resampling on the IBSI-aligned grid and resolution matching, each against a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from medfuse.imaging.resample import (
    FWHM_PER_SIGMA,
    match_resolution,
    matching_sigma,
    resample,
    resample_mask,
    resampled_grid,
)


def _centres(n: int, spacing: float, origin: float) -> np.ndarray:
    return origin + spacing * np.arange(n)


def _physical_grid(shape, spacing, origin) -> list[np.ndarray]:
    axes = [_centres(n, s, o) for n, s, o in zip(shape, spacing, origin, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


def _inside(shape, spacing, origin, grid, margin: float = 0.0) -> np.ndarray:
    """New voxels whose centres lie within the original centres, ``margin`` voxels in."""
    keep = np.ones(grid.shape, dtype=bool)
    for axis, (n, s, o) in enumerate(zip(shape, spacing, origin, strict=True)):
        x = _centres(grid.shape[axis], grid.spacing[axis], grid.origin[axis])
        lo, hi = o + margin * s, o + (n - 1 - margin) * s
        ok = (x >= lo - 1e-9) & (x <= hi + 1e-9)
        shape_1d = [1] * len(shape)
        shape_1d[axis] = -1
        keep &= ok.reshape(shape_1d)
    return keep


# --- grid -----------------------------------------------------------------------------------


def test_grid_size_centre_and_extent():
    n, s, s_new, x0 = 5, 2.0, 3.0, -7.25
    grid = resampled_grid((n,), (s,), (s_new,), origin=(x0,))
    assert grid.shape == (math.ceil(n * s / s_new),) == (4,)
    # x_new_0 = x_0 + (s (n - 1) - s_new (n_new - 1)) / 2 = -7.25 + (8 - 9) / 2
    assert grid.origin[0] == pytest.approx(-7.75, abs=1e-12)
    centre_before = x0 + s * (n - 1) / 2
    centre_after = grid.origin[0] + s_new * (grid.shape[0] - 1) / 2
    assert abs(centre_after - centre_before) <= 1e-9
    assert abs(grid.shape[0] * s_new - n * s) <= s_new

    image = np.arange(n, dtype=float)
    out, origin = resample(image, s, s_new, origin=(x0,))
    assert out.shape == (4,)
    assert origin[0] == pytest.approx(grid.origin[0], abs=1e-12)


def test_grid_in_3d_with_a_kept_axis():
    shape, spacing, origin = (7, 40, 33), (3.0, 0.8, 0.8), (10.0, -5.0, 2.5)
    grid = resampled_grid(shape, spacing, (None, 1.0, 1.0), origin=origin)
    assert grid.shape == (7, 32, math.ceil(33 * 0.8))
    assert grid.spacing == (3.0, 1.0, 1.0)
    assert grid.offset[0] == 0.0 and grid.origin[0] == 10.0
    for axis in range(3):
        before = origin[axis] + spacing[axis] * (shape[axis] - 1) / 2
        after = grid.origin[axis] + grid.spacing[axis] * (grid.shape[axis] - 1) / 2
        assert abs(after - before) <= 1e-9
        extent = shape[axis] * spacing[axis]
        assert extent <= grid.shape[axis] * grid.spacing[axis] < extent + grid.spacing[axis]


def test_ratio_that_is_an_integer_up_to_rounding_gets_no_extra_voxel():
    # 10 * 0.7 / 0.35 is 20 in exact arithmetic, not 20.000000000000004
    assert resampled_grid((10,), 0.7, 0.35).shape == (20,)


def test_round_trip_of_a_linear_ramp_is_exact_in_the_interior():
    # 12 voxels of 2 mm -> 8 of 3 mm -> 12 of 2 mm: the grid comes back onto itself.
    shape, spacing = (12, 12, 12), (2.0, 2.0, 2.0)
    z, y, x = _physical_grid(shape, spacing, (0.0, 0.0, 0.0))
    ramp = 0.5 * z - 1.5 * y + 2.0 * x + 4.0
    coarse, origin = resample(ramp, spacing, 3.0)
    assert coarse.shape == (8, 8, 8)
    back, origin_back = resample(coarse, 3.0, 2.0, origin=origin)
    assert back.shape == shape
    np.testing.assert_allclose(origin_back, (0.0, 0.0, 0.0), atol=1e-12)
    # interior: away from the half voxel where the edge value is clamped on either pass
    inner = (slice(2, -2),) * 3
    np.testing.assert_allclose(back[inner], ramp[inner], rtol=0, atol=1e-9)


def test_an_axis_kept_is_resampled_slice_by_slice():
    rng = np.random.default_rng(3)
    image = ndimage.gaussian_filter(rng.normal(size=(4, 20, 18)), 2.0)
    out, origin = resample(image, (5.0, 1.0, 1.2), (None, 1.7, 1.7), origin=(1.0, 2.0, 3.0))
    assert out.shape[0] == 4 and origin[0] == 1.0
    for k in range(4):
        slice_out, slice_origin = resample(image[k], (1.0, 1.2), 1.7, origin=(2.0, 3.0))
        np.testing.assert_allclose(out[k], slice_out, rtol=0, atol=1e-12)
        np.testing.assert_allclose(origin[1:], slice_origin, atol=1e-12)


# --- closed forms ---------------------------------------------------------------------------

SHAPE = (16, 22, 19)
SPACING = (3.0, 1.0, 1.5)
ORIGIN = (-20.0, 4.0, 11.5)
NEW_SPACING = (2.0, 1.4, 0.8)


def test_linear_reproduces_a_linear_function_of_position():
    a, b, c = 0.7, -1.3, 2.1
    z, y, x = _physical_grid(SHAPE, SPACING, ORIGIN)
    image = a * z + b * y + c * x
    out, origin = resample(image, SPACING, NEW_SPACING, order="linear", origin=ORIGIN)
    grid = resampled_grid(SHAPE, SPACING, NEW_SPACING, origin=ORIGIN)
    assert out.shape == grid.shape
    zn, yn, xn = _physical_grid(out.shape, NEW_SPACING, origin)
    expected = a * zn + b * yn + c * xn
    inside = _inside(SHAPE, SPACING, ORIGIN, grid)
    assert inside.sum() > 0.5 * inside.size
    np.testing.assert_allclose(out[inside], expected[inside], rtol=0, atol=1e-9)


def test_bspline_reproduces_a_quadratic_in_the_interior():
    shape, spacing, origin = (40, 40, 40), (1.0, 1.2, 0.9), (0.0, -3.0, 5.0)
    new_spacing = (0.7, 1.5, 1.1)
    z, y, x = _physical_grid(shape, spacing, origin)

    def f(z, y, x):
        return 0.02 * z**2 - 0.01 * y**2 + 0.015 * x**2 + 0.03 * z * x - 0.5 * y + 3.0

    out, new_origin = resample(f(z, y, x), spacing, new_spacing, order="bspline", origin=origin)
    grid = resampled_grid(shape, spacing, new_spacing, origin=origin)
    expected = f(*_physical_grid(out.shape, new_spacing, new_origin))
    # the clamped edge perturbs the spline coefficients by a factor (2 - sqrt 3)^k at k voxels
    inside = _inside(shape, spacing, origin, grid, margin=12)
    assert inside.any()
    np.testing.assert_allclose(out[inside], expected[inside], rtol=0, atol=1e-6)
    # linear interpolation of the same quadratic is visibly worse: the check has teeth
    linear, _ = resample(f(z, y, x), spacing, new_spacing, order="linear", origin=origin)
    assert np.abs(linear[inside] - expected[inside]).max() > 1e-3


def test_bspline_matches_map_coordinates_with_cubic_prefiltering():
    rng = np.random.default_rng(5)
    image = rng.normal(size=(9, 11, 10))
    out, _ = resample(image, (2.0, 1.0, 1.5), (1.3, 1.7, 0.6), order="bspline")
    grid = resampled_grid(image.shape, (2.0, 1.0, 1.5), (1.3, 1.7, 0.6))
    coords = np.meshgrid(*[(np.arange(n) * sn + off) / s for n, sn, off, s in
                           zip(grid.shape, grid.spacing, grid.offset, (2.0, 1.0, 1.5),
                               strict=True)], indexing="ij")
    expected = ndimage.map_coordinates(image, coords, order=3, mode="nearest", prefilter=True)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_nearest_returns_only_original_values():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 1000, size=SHAPE).astype(np.int16)
    out, _ = resample(image, SPACING, NEW_SPACING, order="nearest", origin=ORIGIN)
    assert out.dtype == np.int16
    assert np.isin(out, image).all()
    # upsampling by an integer factor repeats each voxel
    up, _ = resample(image[:, :, 0], (1.0, 1.0), (0.5, 0.5), order="nearest")
    # 0.5-mm centres at -0.25, 0.25, 0.75 ... mm: each pair falls around one original centre
    np.testing.assert_array_equal(up, np.repeat(np.repeat(image[:, :, 0], 2, 0), 2, 1))


def test_unknown_interpolator_is_refused():
    with pytest.raises(ValueError, match="bspline"):
        resample(np.zeros((3, 3, 3)), 1.0, 2.0, order="cubic")  # type: ignore[arg-type]


# --- against SimpleITK ----------------------------------------------------------------------


def test_linear_agrees_with_simpleitk_resample_filter():
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(11)
    shape, spacing, origin = (18, 24, 21), (2.5, 0.9, 1.1), (-12.0, 30.0, 7.0)
    new_spacing = (1.6, 1.3, 0.75)
    image = ndimage.gaussian_filter(rng.normal(size=shape), 2.0, mode="nearest") * 100.0

    out, new_origin = resample(image, spacing, new_spacing, order="linear", origin=origin)
    grid = resampled_grid(shape, spacing, new_spacing, origin=origin)

    # SimpleITK orders geometry (x, y, z), the array stays (z, y, x)
    source = sitk.GetImageFromArray(image)
    source.SetSpacing(spacing[::-1])
    source.SetOrigin(origin[::-1])
    flt = sitk.ResampleImageFilter()
    flt.SetOutputOrigin(tuple(new_origin[::-1]))
    flt.SetOutputSpacing(tuple(grid.spacing[::-1]))
    flt.SetSize([int(n) for n in grid.shape[::-1]])
    flt.SetOutputDirection(source.GetDirection())
    flt.SetInterpolator(sitk.sitkLinear)
    flt.SetDefaultPixelValue(np.nan)
    flt.SetOutputPixelType(sitk.sitkFloat64)
    reference = sitk.GetArrayFromImage(flt.Execute(source))

    assert reference.shape == out.shape
    inside = _inside(shape, spacing, origin, grid, margin=1)
    assert inside.sum() > 0.5 * inside.size
    np.testing.assert_allclose(out[inside], reference[inside], rtol=0, atol=1e-6)


# --- masks ----------------------------------------------------------------------------------


def _sphere(radius: float, n: int) -> np.ndarray:
    c = np.arange(n) - (n - 1) / 2
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    return z**2 + y**2 + x**2 <= radius**2


@pytest.mark.parametrize("new_spacing", [2.0, 0.7])
def test_resampled_sphere_keeps_its_volume(new_spacing):
    radius = 12.0
    mask = _sphere(radius, 31)  # 1 mm voxels, centred on the middle voxel
    volume = mask.sum() * 1.0
    sphere = 4.0 / 3.0 * math.pi * radius**3
    assert abs(volume - sphere) <= 0.03 * sphere

    out = resample_mask(mask, 1.0, new_spacing)
    assert out.dtype == bool
    assert out.shape == resampled_grid(mask.shape, 1.0, new_spacing).shape
    new_volume = out.sum() * new_spacing**3
    assert abs(new_volume - volume) <= 0.02 * volume
    assert abs(new_volume - sphere) <= 0.03 * sphere


def test_mask_threshold_is_the_partial_volume_rule():
    # 1-D edge: voxels 0..3 inside; linear values at the 0.5-mm grid decide membership
    mask = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.uint8)
    fraction, _ = resample(mask.astype(float), 1.0, 0.5)
    for threshold in (0.5, 0.25, 1.0):
        out = resample_mask(mask, 1.0, 0.5, threshold=threshold)
        np.testing.assert_array_equal(out, fraction >= threshold)
    # centres at 3.25 and 3.75 mm interpolate to 0.75 and 0.25
    assert resample_mask(mask, 1.0, 0.5).sum() == 8
    with pytest.raises(ValueError, match="threshold"):
        resample_mask(mask, 1.0, 0.5, threshold=0.0)


def test_mask_fraction_of_one_half_is_kept_despite_rounding_error():
    # New centre (0, 1) lies half-way between an inside and an outside voxel along y, so its
    # fraction is 0.5; the interpolation weights give 0.49999999999999956 (the IBSI-1
    # manual's example of a voxel wrongly dropped by the 0.5 partial-volume rule).
    mask = np.zeros((2, 8, 1), np.uint8)
    mask[0, :4] = 1
    spacing, new = (3.0, 0.6, 1.0), (2.0, 2.0, None)
    fraction, _ = resample(mask.astype(float), spacing, new)
    assert fraction[0, 1, 0] == pytest.approx(0.5, abs=1e-12)
    assert fraction[1, 0, 0] == pytest.approx(0.5, abs=1e-12)
    out = resample_mask(mask, spacing, new)
    assert out[0, 1, 0] and out[1, 0, 0] and out[0, 0, 0]
    assert not out[1, 1, 0]  # 0.25
    assert out.sum() == 3


# --- resolution -----------------------------------------------------------------------------


def _fwhm(profile: np.ndarray, spacing: float) -> float:
    """Width at half maximum, each crossing linearly interpolated between samples."""
    peak = int(np.argmax(profile))
    half = profile[peak] / 2.0
    right = peak
    while profile[right + 1] > half:
        right += 1
    left = peak
    while profile[left - 1] > half:
        left -= 1
    x_right = right + (profile[right] - half) / (profile[right] - profile[right + 1])
    x_left = left - (profile[left] - half) / (profile[left] - profile[left - 1])
    return (x_right - x_left) * spacing


def test_delta_blurred_to_fwhm_6mm():
    n = 41
    delta = np.zeros((n, n, n))
    delta[20, 20, 20] = 1.0
    out = match_resolution(delta, 1.0, 0.0, 6.0)
    assert out.sum() == pytest.approx(1.0, abs=1e-6)
    for profile in (out[:, 20, 20], out[20, :, 20], out[20, 20, :]):
        assert _fwhm(profile, 1.0) == pytest.approx(6.0, abs=0.1)


def test_from_fwhm_4_to_fwhm_6():
    sigma = matching_sigma((1.0, 1.0, 1.0), 4.0, 6.0)
    np.testing.assert_allclose(sigma, math.sqrt(6.0**2 - 4.0**2) / FWHM_PER_SIGMA, rtol=1e-12)
    np.testing.assert_allclose(sigma, math.sqrt(6.0**2 - 4.0**2) / 2.3548, rtol=1e-4)
    # in voxels: halving the spacing doubles the sigma
    np.testing.assert_allclose(matching_sigma((0.5, 1.0, 2.0), 4.0, 6.0),
                               sigma * np.array([2.0, 1.0, 0.5]), rtol=1e-12)

    n, spacing = 41, 1.0
    c = (np.arange(n) - 20) * spacing
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    s4 = 4.0 / FWHM_PER_SIGMA
    image = np.exp(-(z**2 + y**2 + x**2) / (2 * s4**2))
    assert _fwhm(image[20, 20, :], spacing) == pytest.approx(4.0, abs=0.1)
    out = match_resolution(image, spacing, 4.0, 6.0)
    for profile in (out[:, 20, 20], out[20, :, 20], out[20, 20, :]):
        assert _fwhm(profile, spacing) == pytest.approx(6.0, abs=0.1)


def test_an_axis_at_its_target_is_not_blurred():
    delta = np.zeros((9, 21, 21))
    delta[4, 10, 10] = 1.0
    out = match_resolution(delta, (3.0, 1.0, 1.0), (5.0, 2.0, 2.0), (5.0, 6.0, 6.0))
    assert np.all(out[[0, 1, 2, 3, 5, 6, 7, 8]] == 0.0)
    assert _fwhm(out[4, 10, :], 1.0) == pytest.approx(math.sqrt(36 - 4), abs=0.1)
    same = match_resolution(delta, 1.0, 4.0, 4.0)
    np.testing.assert_array_equal(same, delta)


def test_sharpening_is_refused_naming_the_axis():
    image = np.zeros((5, 5, 5))
    with pytest.raises(ValueError, match=r"cannot be sharpened.*axis 1 \(y\).*3 mm.*4 mm"):
        match_resolution(image, 1.0, (4.0, 4.0, 4.0), (6.0, 3.0, 6.0))
    with pytest.raises(ValueError, match="axis 0"):
        match_resolution(image, 1.0, 6.0, 5.0)
