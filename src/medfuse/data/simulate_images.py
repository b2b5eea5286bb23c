"""Lesion images acquired at several scanner sites, with a known domain shift.

Each subject has one true image ``x``: homogeneous background tissue holding one lesion, an
axis-aligned ellipsoid of random size and position whose texture depends on the outcome.
The true image is drawn by the same process whatever the site. Site ``s`` then acquires it
as

    ``image = a_s (h_s * x) + b_s + n_s``

with ``h_s`` a Gaussian point-spread function of the site's full width at half maximum (FWHM,
mm, per axis), ``a_s`` an intensity scale, ``b_s`` an offset and ``n_s`` white Gaussian
noise of the site's own standard deviation. Harmonisation and resolution-matching methods
can be checked against these known site parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage

from medfuse.data.ragged import RaggedBlock

#: FWHM of a Gaussian in units of its standard deviation, ``2 sqrt(2 ln 2)``
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: intensity of the background tissue in the true image
TISSUE_INTENSITY = 1.0
#: mean intensity of a lesion of grade 0
LESION_INTENSITY = 1.5
#: change of the lesion's mean intensity per unit of grade
LESION_SHIFT = 0.1
#: standard deviation of the texture of a lesion of grade 0
TEXTURE_SD = 0.15
#: correlation length (sd of the Gaussian smoothing kernel, mm) of a grade-0 texture
TEXTURE_CORRELATION_MM = 3.0
#: smallest and largest lesion semi-axis, as fractions of the volume's smallest extent
LESION_RADIUS = (0.15, 0.3)

#: site parameters used when none are given: FWHM (mm), scale, offset, noise sd
DEFAULT_SITE = {"fwhm_mm": 2.0, "scale": 1.0, "offset": 0.0, "noise": 0.05}


def lesion_texture(grade: float) -> tuple[float, float, float]:
    """Mean intensity, texture sd and texture correlation length of a lesion.

    Parameters
    ----------
    grade : float
        ``texture_effect * y``: 0 for a smooth lesion (class 0), 1 for a heterogeneous one
        (class 1 under the default effect).

    Returns
    -------
    mean : float
        ``LESION_INTENSITY + LESION_SHIFT * grade`` (intensity units of the true image).
    sd : float
        ``TEXTURE_SD * 2**grade``: each unit of grade doubles the texture's sd.
    correlation_mm : float
        ``TEXTURE_CORRELATION_MM * 2**-grade`` (mm): each unit of grade halves it.
    """
    return (LESION_INTENSITY + LESION_SHIFT * grade, TEXTURE_SD * 2.0 ** grade,
            TEXTURE_CORRELATION_MM * 2.0 ** -grade)


def draw_lesion(grade: float, shape: tuple[int, int, int], spacing: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One subject's true image and lesion mask.

    Parameters
    ----------
    grade : float
        Texture grade (see :func:`lesion_texture`).
    shape : (Z, Y, X)
        Volume shape in voxels.
    spacing : ndarray (3,)
        Voxel size in mm along z, y, x.
    rng : numpy Generator
        Draws the lesion's size, position and texture; the number of draws does not depend
        on ``grade``, so one stream gives the same lesion at every grade.

    Returns
    -------
    x : ndarray of float64 (Z, Y, X)
        ``TISSUE_INTENSITY`` outside the lesion; inside, the lesion's mean plus a Gaussian
        random field of the grade's sd and correlation length.
    mask : ndarray of uint8 (Z, Y, X)
        1 inside the lesion (never empty).
    """
    extent = np.asarray(shape) * spacing
    radius = rng.uniform(*LESION_RADIUS, size=3) * extent.min()
    low, high = radius + spacing, extent - radius - spacing
    centre = np.where(high > low, low + rng.random(3) * np.maximum(high - low, 0.0),
                      extent / 2)
    axes = [(np.arange(n) + 0.5) * d for n, d in zip(shape, spacing, strict=True)]
    grid = np.meshgrid(*axes, indexing="ij")
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radius, strict=True))
    mask = (inside <= 1.0).astype(np.uint8)
    if not mask.any():
        nearest = np.minimum((centre / spacing).astype(int), np.asarray(shape) - 1)
        mask[tuple(nearest)] = 1

    mean, sd, correlation = lesion_texture(grade)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), correlation / spacing,
                                    mode="wrap")
    field /= field.std() + 1e-12
    x = np.full(shape, TISSUE_INTENSITY)
    x[mask > 0] = mean + sd * field[mask > 0]
    return x, mask


def acquire(x: np.ndarray, spacing: np.ndarray, fwhm_mm: np.ndarray, scale: float,
            offset: float, noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """A site's image of a true image: ``scale * (h * x) + offset + noise``.

    Parameters
    ----------
    x : ndarray (Z, Y, X)
        True image.
    spacing : ndarray (3,)
        Voxel size in mm along z, y, x.
    fwhm_mm : ndarray (3,)
        FWHM of the Gaussian point-spread function ``h`` in mm along z, y, x (0: none); its
        sd in voxels is ``fwhm_mm / FWHM_PER_SIGMA / spacing``.
    scale, offset : float
        Intensity scale ``a_s`` and offset ``b_s``.
    noise_sd : float
        Standard deviation of the white Gaussian noise (intensity units of the image).
    rng : numpy Generator
        Draws the noise.

    Returns
    -------
    ndarray of float64 (Z, Y, X)
    """
    blurred = ndimage.gaussian_filter(x, fwhm_mm / FWHM_PER_SIGMA / spacing, mode="nearest")
    return scale * blurred + offset + noise_sd * rng.standard_normal(x.shape)


def simulate_lesion_images(
    y: ArrayLike,
    site: ArrayLike | None = None,
    *,
    shape: Sequence[int] = (24, 24, 24),
    spacing: Sequence[float] = (2.0, 1.0, 1.0),
    site_fwhm_mm: Sequence[float | Sequence[float]] | None = None,
    site_scale: Sequence[float] | None = None,
    site_offset: Sequence[float] | None = None,
    site_noise: Sequence[float] | None = None,
    texture_effect: float = 1.0,
    ids: Sequence[str] | None = None,
    site_labels: Sequence[str] | None = None,
    random_state: int | np.random.Generator | None = None,
) -> RaggedBlock:
    """Simulate one 3D lesion image per subject, acquired at the subject's site.

    The true image ``x`` has background tissue of intensity ``TISSUE_INTENSITY`` and one
    lesion: an axis-aligned ellipsoid with semi-axes drawn uniformly between 0.15 and 0.3 of
    the volume's smallest extent (mm) and a centre drawn uniformly where it fits inside the
    volume with one voxel to spare. Inside the lesion, ``x`` is the lesion's mean plus a
    Gaussian random field (white noise smoothed by a Gaussian of the correlation length,
    scaled to the texture's sd); with grade ``g = texture_effect * y`` the mean is
    ``1.5 + 0.1 g``, the sd ``0.15 * 2**g`` and the correlation length ``3 * 2**-g`` mm
    (:func:`lesion_texture`): class-1 lesions are brighter, more heterogeneous and finer
    grained. The site then blurs, scales, shifts and adds noise (:func:`acquire`).

    Parameters
    ----------
    y : array-like of float (n,)
        Outcome per subject: 0/1 class labels, or a grade in [0, 1] between them.
    site : array-like of int (n,), optional
        Site code per subject, ``0 .. S - 1``, indexing the ``site_*`` parameters (default:
        every subject at site 0).
    shape : (Z, Y, X)
        Volume shape in voxels.
    spacing : (dz, dy, dx)
        Voxel size in mm.
    site_fwhm_mm : sequence of float or of (z, y, x) triples, length S, optional
        FWHM of each site's Gaussian point-spread function, mm (one value: isotropic).
        Default 2.0 at every site.
    site_scale : sequence of float, length S, optional
        Each site's intensity scale ``a_s`` (default 1.0).
    site_offset : sequence of float, length S, optional
        Each site's intensity offset ``b_s`` (default 0.0).
    site_noise : sequence of float, length S, optional
        Each site's noise standard deviation, in image intensity units (default 0.05).
    texture_effect : float
        Grade of a class-1 lesion; 0 makes the images carry no outcome information.
    ids : sequence of str, length n, optional
        Subject IDs (default ``S0000`` ...).
    site_labels : sequence of str, length S, optional
        Site names in the metadata (default ``site0`` ..., the ``batch`` labels of
        :func:`medfuse.data.make_cohort`).
    random_state : int or numpy Generator, optional
        Seed. Each subject has streams of its own: its true image depends only on the seed,
        its position and its grade, never on its site, so simulating the same subjects at
        other sites (same seed) images the same true volumes.

    Returns
    -------
    RaggedBlock
        Values: float32 arrays ``1 x Z x Y x X``; field ``mask``: uint8 ``Z x Y x X``, 1 in
        the lesion; metadata ``spacing`` (mm, z, y, x), ``fwhm`` (the site's FWHM in mm along
        z, y, x) and ``site`` (the site's label).
    """
    grade = np.asarray(y, dtype=float).ravel()
    n = len(grade)
    if not (np.isfinite(grade).all() and ((grade >= 0) & (grade <= 1)).all()):
        raise ValueError("y must be class labels 0/1 or grades in [0, 1].")
    codes = (np.zeros(n, dtype=int) if site is None
             else np.asarray(site).ravel())
    if len(codes) != n:
        raise ValueError(f"site has {len(codes)} entries for {n} subjects.")
    if n and (not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0):
        raise ValueError("site must hold integer site codes 0, 1, ...")
    codes = codes.astype(int)
    shape_t = tuple(int(s) for s in shape)
    if len(shape_t) != 3 or min(shape_t) < 1:
        raise ValueError(f"shape must be three positive sizes (Z, Y, X), got {tuple(shape)}")
    spacing_a = np.asarray(spacing, dtype=float)
    if spacing_a.shape != (3,) or not (spacing_a > 0).all():
        raise ValueError(f"spacing must be three positive sizes in mm, got {spacing}")

    given = [len(p) for p in (site_fwhm_mm, site_scale, site_offset, site_noise, site_labels)
             if p is not None]
    n_sites = max([int(codes.max()) + 1 if n else 1, *given])
    fwhm = _per_site(site_fwhm_mm, DEFAULT_SITE["fwhm_mm"], n_sites, "site_fwhm_mm", axes=3)
    scale = _per_site(site_scale, DEFAULT_SITE["scale"], n_sites, "site_scale")
    offset = _per_site(site_offset, DEFAULT_SITE["offset"], n_sites, "site_offset")
    noise = _per_site(site_noise, DEFAULT_SITE["noise"], n_sites, "site_noise")
    if (fwhm < 0).any() or (noise < 0).any():
        raise ValueError("site_fwhm_mm and site_noise must not be negative.")
    labels = ([f"site{k}" for k in range(n_sites)] if site_labels is None
              else [str(s) for s in site_labels])
    if len(labels) != n_sites:
        raise ValueError(f"site_labels names {len(labels)} sites; the codes need {n_sites}.")
    subject_ids = [f"S{i:04d}" for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(subject_ids) != n:
        raise ValueError(f"ids has {len(subject_ids)} entries for {n} subjects.")

    rng = np.random.default_rng(random_state)
    images, masks = [], []
    for i, stream in enumerate(rng.spawn(n)):
        truth_rng, acquisition_rng = stream.spawn(2)
        s = codes[i]
        x, mask = draw_lesion(texture_effect * grade[i], shape_t, spacing_a, truth_rng)
        image = acquire(x, spacing_a, fwhm[s], scale[s], offset[s], noise[s], acquisition_rng)
        images.append(image[None].astype(np.float32))
        masks.append(mask)
    meta = pd.DataFrame({
        "spacing": [tuple(float(d) for d in spacing_a)] * n,
        "fwhm": [tuple(float(f) for f in fwhm[s]) for s in codes],
        "site": [labels[s] for s in codes],
    }, index=pd.Index(subject_ids, name="subject"))
    return RaggedBlock(subject_ids, images, {"mask": masks}, meta)


def _per_site(values: Sequence | None, default: float, n_sites: int, name: str,
              axes: int | None = None) -> np.ndarray:
    """Per-site parameters as an array (S,), or (S, axes) with scalars repeated per axis."""
    if values is None:
        values = [float(default)] * n_sites
    if len(values) != n_sites:
        raise ValueError(f"{name} gives {len(values)} sites; the site codes need {n_sites}.")
    width = 1 if axes is None else axes
    try:
        arr = np.stack([np.broadcast_to(np.asarray(v, dtype=float).ravel(), (width,))
                        for v in values])
    except ValueError:
        raise ValueError(f"{name} must hold one number per site"
                         + ("" if axes is None else f", or {axes} (z, y, x)") + ".") from None
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite.")
    return arr[:, 0] if axes is None else arr
