"""Rigid and affine registration: recovery of known transforms, determinism, saving, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
nib = pytest.importorskip("nibabel")

from medfuse.data.validation import DataValidationError  # noqa: E402
from medfuse.imaging.register import Registration, from_sitk, register, to_sitk  # noqa: E402

ANATOMICAL = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def nifti_to_sitk(image) -> sitk.Image:
    """A NIfTI image (RAS affine, array indexed (i, j, k)) as a SimpleITK image in LPS."""
    affine = np.asarray(image.affine, dtype=float)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    array = np.asarray(image.get_fdata(dtype=np.float32)).transpose(2, 1, 0)
    return to_sitk(array, zooms[::-1], RAS_TO_LPS @ affine[:3, 3],
                   RAS_TO_LPS @ affine[:3, :3] / zooms)


@pytest.fixture(scope="module")
def anatomical() -> sitk.Image:
    if not ANATOMICAL.exists():
        pytest.skip("the small MR volume bundled with the NIfTI reader's tests is not installed")
    return nifti_to_sitk(nib.load(ANATOMICAL))


def centre(image: sitk.Image) -> list[float]:
    size = np.asarray(image.GetSize(), dtype=float)
    return list(image.TransformContinuousIndexToPhysicalPoint([float(c) for c in (size - 1) / 2]))


def random_rigid(rng: np.random.Generator, image: sitk.Image, degrees: float = 10.0,
                 mm: float = 8.0) -> sitk.Euler3DTransform:
    """Rotations up to ``degrees`` about each axis and shifts up to ``mm``, about the centre."""
    truth = sitk.Euler3DTransform()
    truth.SetCenter(centre(image))
    angles = np.deg2rad(rng.uniform(-degrees, degrees, 3))
    shifts = rng.uniform(-mm, mm, 3)
    truth.SetParameters([float(v) for v in (*angles, *shifts)])
    return truth


def moved(image: sitk.Image, truth: sitk.Transform, grid: sitk.Image | None = None,
          noise: float = 0.0, rng: np.random.Generator | None = None) -> sitk.Image:
    """The image seen through ``truth``: moved(truth(p)) = image(p) for fixed points p."""
    out = sitk.Resample(image, grid or image, truth.GetInverse(), sitk.sitkLinear, 0.0,
                        sitk.sitkFloat32)
    if noise:
        array = sitk.GetArrayFromImage(out)
        array = array + rng.normal(0.0, noise * float(np.ptp(array)), array.shape)
        noisy = sitk.GetImageFromArray(array.astype(np.float32))
        noisy.CopyInformation(out)
        out = noisy
    return out


def corner_tre(fitted: sitk.Transform, truth: sitk.Transform, image: sitk.Image) -> float:
    """Mean distance (mm) between where the fitted and true transforms send the 8 corners."""
    size = np.asarray(image.GetSize(), dtype=float) - 1
    errors = []
    for corner in np.ndindex(2, 2, 2):
        p = image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner * size])
        errors.append(np.linalg.norm(np.subtract(fitted.TransformPoint(p),
                                                 truth.TransformPoint(p))))
    return float(np.mean(errors))


def test_geometry_follows_the_conventions(anatomical):
    # voxel (i, j, k) of the NIfTI array lies at LPS = flip(affine @ (i, j, k)); the array of
    # the SimpleITK image is indexed (z, y, x) = (k, j, i)
    image = nib.load(ANATOMICAL)
    array, spacing, origin, direction = from_sitk(anatomical)
    assert array.shape == image.shape[::-1]
    assert spacing == tuple(float(z) for z in image.header.get_zooms()[::-1])
    ijk = np.array([3.0, 7.0, 11.0])
    expected = RAS_TO_LPS @ (image.affine[:3, :3] @ ijk + image.affine[:3, 3])
    assert np.allclose(anatomical.TransformContinuousIndexToPhysicalPoint(ijk.tolist()), expected)
    assert np.allclose(np.asarray(origin) + direction @ (ijk * spacing[::-1]), expected)
    assert array[11, 7, 3] == pytest.approx(float(np.asarray(image.dataobj)[3, 7, 11]))
    rebuilt = to_sitk(array, spacing, origin, direction)
    assert rebuilt.GetDirection() == pytest.approx(anatomical.GetDirection())


def test_random_rigid_transforms_are_recovered(anatomical):
    # 20 seeded transforms (rotations up to 10 degrees about each axis, shifts up to 8 mm)
    # of a noisy copy; the fixed image goes in as an (array, spacing, origin, direction)
    # tuple, the moving one as a SimpleITK image
    rng = np.random.default_rng(20)
    fixed = from_sitk(anatomical)
    errors = []
    for trial in range(20):
        truth = random_rigid(rng, anatomical)
        moving = moved(anatomical, truth, noise=0.01, rng=rng)
        fit = register(fixed, moving, seed=trial, subject=f"trial-{trial}")
        errors.append(corner_tre(fit.to_sitk(), truth, anatomical))
        assert fit.metric_value < fit.initial_metric_value
    errors = np.array(errors)
    assert np.mean(errors < 1.0) >= 0.95, np.round(errors, 2)


def test_affine_registration_recovers_a_rigid_motion(anatomical):
    rng = np.random.default_rng(3)
    truth = random_rigid(rng, anatomical)
    fit = register(anatomical, moved(anatomical, truth), transform="affine", subject="S-affine")
    assert fit.transform == "affine" and len(fit.parameters) == 12
    assert corner_tre(fit.to_sitk(), truth, anatomical) < 1.0


def test_registering_an_image_to_itself_stays_near_identity(anatomical):
    fit = register(anatomical, anatomical, subject="S-self")
    assert np.abs(fit.parameters[:3]).max() < math.radians(0.1)
    assert np.abs(fit.parameters[3:]).max() < 0.1


def test_cross_contrast_t1_onto_grey_matter_map():
    datasets = pytest.importorskip("nilearn.datasets")
    t1 = nifti_to_sitk(datasets.load_mni152_template(resolution=4))
    grey = nifti_to_sitk(datasets.load_mni152_gm_template(resolution=4))
    rng = np.random.default_rng(7)
    truth = random_rigid(rng, t1)
    fit = register(t1, moved(grey, truth, grid=t1), sampling=0.1, subject="MNI152")
    assert corner_tre(fit.to_sitk(), truth, t1) < 2.0


def test_same_seed_same_result_and_round_trip(anatomical):
    rng = np.random.default_rng(11)
    truth = random_rigid(rng, anatomical)
    moving = moved(anatomical, truth, noise=0.01, rng=rng)
    first = register(anatomical, moving, seed=5, subject="S-001")
    second = register(anatomical, moving, seed=5, subject="S-001")
    assert first.parameters == second.parameters
    assert first == second
    other = register(anatomical, moving, seed=6, subject="S-001")
    assert other.parameters != first.parameters  # the seed does reach the sampler

    saved = json.loads(json.dumps(first.as_dict()))
    restored = Registration.from_dict(saved)
    assert restored == first
    assert restored.to_sitk().GetParameters() == first.to_sitk().GetParameters()
    assert restored.to_sitk().GetFixedParameters() == first.to_sitk().GetFixedParameters()

    # a mask of the fixed image carried into the moving space, then brought back onto the
    # fixed grid by nearest neighbour: 0/1 only, and on the tissue it started from, as
    # closely as the true transform brings it back (what left the field of view is lost)
    fixed_array = sitk.GetArrayFromImage(anatomical)
    fixed_mask = fixed_array > np.percentile(fixed_array, 60)
    carried = sitk.Resample(to_sitk(fixed_mask, *from_sitk(anatomical)[1:]), anatomical,
                            truth.GetInverse(), sitk.sitkNearestNeighbor, 0)
    array, spacing, origin, direction = from_sitk(carried)
    warped = restored.apply_mask((array.astype(bool), spacing, origin, direction), anatomical)
    assert warped.GetSize() == anatomical.GetSize()
    got = sitk.GetArrayFromImage(warped)
    assert set(np.unique(got).tolist()) <= {0, 1}
    exact = Registration("rigid", truth.GetParameters(), truth.GetFixedParameters(), "mattes",
                         0.0, 0.0, (), "")
    best = sitk.GetArrayFromImage(exact.apply_mask(carried, anatomical)).astype(bool)

    def dice(a: np.ndarray) -> float:
        return 2 * np.sum(a & fixed_mask) / (a.sum() + fixed_mask.sum())

    assert dice(got.astype(bool)) > dice(best) - 0.02

    # the moving image brought back matches the fixed one as well as the true transform does
    def correlation(image: sitk.Image) -> float:
        return np.corrcoef(sitk.GetArrayFromImage(image).ravel(), fixed_array.ravel())[0, 1]

    after = correlation(restored.apply(moving, anatomical))
    assert after > correlation(moving) + 0.2
    assert after > correlation(exact.apply(moving, anatomical)) - 0.01


def random_image(rng: np.random.Generator, shape, spacing, origin) -> sitk.Image:
    return to_sitk(rng.random(shape).astype(np.float32), spacing, origin)


@pytest.mark.parametrize("case", ["one metre away", "tiny and far"])
def test_images_that_do_not_overlap_are_refused(anatomical, case):
    if case == "one metre away":
        moving = sitk.Image(anatomical)
        moving.SetOrigin(np.add(anatomical.GetOrigin(), (1000.0, 0.0, 0.0)).tolist())
    else:
        moving = random_image(np.random.default_rng(0), (4, 4, 4), (1.0, 1.0, 1.0),
                              (5000.0, 5000.0, 5000.0))
    with pytest.raises(DataValidationError, match="S-042") as caught:
        register(anatomical, moving, initialise="none", subject="S-042")
    assert "do not overlap" in str(caught.value)
    assert "initialise='geometry'" in str(caught.value)


@pytest.mark.parametrize(("shift", "sampling"), [(60.0, 0.01), (64.0, 0.25)])
def test_a_failed_optimisation_names_subject_stop_condition_and_remedies(
        anatomical, shift, sampling):
    # the two volumes overlap by a sliver a few millimetres wide: the optimiser either
    # loses every sample outside the moving image or ends worse than it began
    moving = sitk.Image(anatomical)
    moving.SetOrigin(np.add(anatomical.GetOrigin(), (shift, 0.0, 0.0)).tolist())
    with pytest.raises(DataValidationError, match="S-099") as caught:
        register(anatomical, moving, initialise="none", sampling=sampling, subject="S-099")
    message = str(caught.value)
    assert "stop condition" in message
    assert "initialise='geometry'" in message
    assert "max_iterations" in message and "sampling" in message


def test_iteration_limit_without_improvement_and_worse_metric_are_refused():
    # the rule applied after optimisation, on given metric values (lower is better)
    from medfuse.imaging.register import _check_outcome

    stop = "Maximum number of iterations (200) exceeded."
    _check_outcome("subject 'S-5'", -0.50, -0.80, stop, True, "Try more.")  # improved
    _check_outcome("subject 'S-5'", -0.50, -0.50, "Step too small", False, "Try more.")
    with pytest.raises(DataValidationError, match=r"S-5.*iteration limit.*200"):
        _check_outcome("subject 'S-5'", -0.50, -0.5001, stop, True, "Try more.")
    with pytest.raises(DataValidationError, match=r"S-5.*worse metric.*Step too small"):
        _check_outcome("subject 'S-5'", -0.50, -0.40, "Step too small", False, "Try more.")


def test_a_constant_image_is_refused(anatomical):
    flat = sitk.Image(anatomical) * 0 + 5
    with pytest.raises(DataValidationError, match=r"S-007.*single value"):
        register(anatomical, flat, subject="S-007")


def test_bad_inputs_and_settings():
    rng = np.random.default_rng(1)
    image = random_image(rng, (8, 8, 8), (1.0, 1.0, 1.0), None)
    with pytest.raises(DataValidationError, match=r"S-3.*3-D"):
        register((np.zeros((4, 4)), (1.0, 1.0)), image, subject="S-3")
    with pytest.raises(DataValidationError, match=r"S-3.*spacing"):
        register((rng.random((4, 4, 4)), (1.0, 0.0, 1.0)), image, subject="S-3")
    with pytest.raises(ValueError, match="transform"):
        register(image, image, transform="bspline")
    with pytest.raises(ValueError, match="levels and smoothing"):
        register(image, image, levels=(2, 1), smoothing=(1,))
    with pytest.raises(ValueError, match="parameters"):
        Registration.from_dict({"transform": "rigid", "parameters": [0.0] * 5,
                                "fixed_parameters": [0.0] * 3})
