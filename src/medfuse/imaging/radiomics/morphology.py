"""IBSI-1 morphological features (``morph_*``).

Geometry is in millimetres: a voxel with index ``(k, j, i)`` has its centre at
``(k, j, i) * spacing``. The surface is a triangle mesh from marching cubes at level 0.5 on
the morphological mask padded by one empty voxel, so the mesh always closes. Volumes are
mm^3 and areas mm^2.

Approximations, all deterministic:

* Oriented minimum bounding box: for every distinct facet normal of the convex hull, the
  box takes that normal as one axis and the minimum-area rectangle of the projected hull
  (rotating calipers, one candidate per 2D hull edge) in the facet plane; the smallest of
  these boxes, the axis-aligned box and the principal-axes box is kept. This is an upper
  bound on the exact minimum.
* Minimum volume enclosing ellipsoid: Khachiyan's algorithm with away steps on the convex
  hull vertices, to the relative tolerance ``MVEE_TOLERANCE``; the result is then scaled
  up, if needed, so that it encloses every hull vertex.
* Ellipsoid surface areas use the standard's Legendre series truncated at order 20.
* Moran's I and Geary's C are exact: pairwise sums for up to ``AUTOCORR_MAX_PAIRWISE``
  voxels, otherwise a convolution of the mask and the centred intensities with the
  inverse-distance kernel by FFT. Only when that FFT grid would exceed
  ``AUTOCORR_MAX_GRID`` points are they estimated on a random subset of
  ``AUTOCORR_MAX_PAIRWISE`` voxels drawn with the fixed seed ``AUTOCORR_SEED``.
"""

from __future__ import annotations

import numpy as np

from medfuse.imaging.radiomics.autocorrelation import (
    AUTOCORR_MAX_GRID,
    AUTOCORR_MAX_PAIRWISE,
    AUTOCORR_SEED,
    moran_geary,
    moran_geary_pairwise,
)
from medfuse.imaging.radiomics.enclosing import (
    MVEE_TOLERANCE,
    box_area,
    convex_hull,
    ellipsoid_surface_area,
    min_volume_enclosing_ellipsoid,
    oriented_min_bounding_box,
)
from medfuse.imaging.radiomics.roi import ROI, voxel_positions

__all__ = [
    "AUTOCORR_MAX_GRID",
    "AUTOCORR_MAX_PAIRWISE",
    "AUTOCORR_SEED",
    "MVEE_TOLERANCE",
    "centre_of_mass_shift",
    "ellipsoid_surface_area",
    "features",
    "max_diameter",
    "mesh_area",
    "mesh_volume",
    "min_volume_enclosing_ellipsoid",
    "moran_geary",
    "moran_geary_pairwise",
    "oriented_min_bounding_box",
    "pca_eigenvalues",
    "surface_mesh",
    "voxel_positions",
]


# --------------------------------------------------------------------------- mesh


def surface_mesh(mask: np.ndarray,
                 spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Closed triangle mesh of a mask by marching cubes.

    The mask is padded by one empty voxel on every side and contoured at level 0.5; the
    vertices are then shifted back so that they share the voxel-centre frame
    ``index * spacing``.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        The voxels to use.
    spacing : tuple of float
        mm along ``(z, y, x)``.

    Returns
    -------
    vertices : ndarray of float, shape (V, 3)
        Vertex positions, mm, in ``(z, y, x)`` order.
    faces : ndarray of int, shape (F, 3)
        Vertex indices of each triangle.
    """
    from skimage.measure import marching_cubes

    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    vertices, faces, _, _ = marching_cubes(padded, level=0.5, spacing=tuple(spacing))
    return vertices.astype(float) - np.asarray(spacing, dtype=float), faces


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh (divergence theorem).

    ``V = |sum_f a_f . (b_f x c_f)| / 6``: the signed volumes of the tetrahedra spanned by
    the origin and each triangle ``(a, b, c)``.

    Parameters
    ----------
    vertices : ndarray of float, shape (V, 3)
        mm.
    faces : ndarray of int, shape (F, 3)
        Vertex indices of each triangle.

    Returns
    -------
    float
        mm^3.
    """
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(abs(np.einsum("ij,ij->", a, np.cross(b, c))) / 6.0)


def mesh_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Surface area of a triangle mesh, ``A = sum_f |(b_f - a_f) x (c_f - a_f)| / 2``.

    Parameters
    ----------
    vertices : ndarray of float, shape (V, 3)
        mm.
    faces : ndarray of int, shape (F, 3)
        Vertex indices of each triangle.

    Returns
    -------
    float
        mm^2.
    """
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2.0)


def max_diameter(points: np.ndarray, chunk: int = 2048) -> float:
    """Largest distance between two points, ``max_ij ||p_i - p_j||``.

    Parameters
    ----------
    points : ndarray of float, shape (N, 3)
        mm; pass the convex hull vertices of the mesh to keep it fast.
    chunk : int
        Rows compared at once (bounds the memory to ``chunk * N`` distances).

    Returns
    -------
    float
        mm.
    """
    points = np.asarray(points, dtype=float)
    best = 0.0
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        d2 = ((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
        best = max(best, float(d2.max()))
    return float(np.sqrt(best))


# --------------------------------------------------------------------------- voxels


def centre_of_mass_shift(roi: ROI) -> float:
    """Distance between the geometric and the intensity-weighted centre of the ROI.

    ``||mean(p_morph) - sum(I_k p_k) / sum(I_k)||`` with ``p_morph`` the voxel centres of the
    morphological mask and ``p_k``, ``I_k`` the centres and intensities of the intensity
    mask.

    Parameters
    ----------
    roi : ROI
        The region of interest.

    Returns
    -------
    float
        mm; NaN when the intensities sum to 0.
    """
    geometric = voxel_positions(roi.morph_mask, roi.spacing).mean(axis=0)
    weights = roi.image[roi.intensity_mask]
    positions = voxel_positions(roi.intensity_mask, roi.spacing)
    total = float(weights.sum())
    if total == 0:
        return float("nan")
    weighted = (weights[:, None] * positions).sum(axis=0) / total
    return float(np.linalg.norm(geometric - weighted))


def pca_eigenvalues(positions: np.ndarray) -> np.ndarray:
    """Eigenvalues of the covariance of voxel centre positions, largest first.

    The covariance is the sample one (divided by ``N - 1``).

    Parameters
    ----------
    positions : ndarray of float, shape (N, 3)
        mm.

    Returns
    -------
    ndarray of float, shape (3,)
        ``lambda_major >= lambda_minor >= lambda_least``, mm^2 (zeros for one voxel).
    """
    if len(positions) < 2:
        return np.zeros(3)
    centred = positions - positions.mean(axis=0)
    cov = centred.T @ centred / (len(positions) - 1)
    return np.clip(np.sort(np.linalg.eigvalsh(cov))[::-1], 0.0, None)


# --------------------------------------------------------------------------- features


def features(roi: ROI) -> dict[str, float]:
    """The 29 IBSI-1 morphological features of an ROI.

    Parameters
    ----------
    roi : ROI
        Uses ``morph_mask`` for the shape, ``intensity_mask`` and ``image`` for the
        centre-of-mass shift, integrated intensity, Moran's I and Geary's C.

    Returns
    -------
    dict of str to float
        Keyed by IBSI tag (``morph_volume`` ... ``morph_geary_c``).
    """
    spacing = roi.spacing
    vertices, faces = surface_mesh(roi.morph_mask, spacing)
    volume = mesh_volume(vertices, faces)
    area = mesh_area(vertices, faces)
    sphere_term = (36.0 * np.pi * volume ** 2) ** (1.0 / 3.0)

    hull = convex_hull(vertices)
    hull_points = vertices[hull.vertices] if hull is not None else vertices

    positions = voxel_positions(roi.morph_mask, spacing)
    lam = pca_eigenvalues(positions)
    major, minor, least = 4.0 * np.sqrt(lam)
    semi = 2.0 * np.sqrt(lam)

    aabb = np.ptp(vertices, axis=0)
    ombb = oriented_min_bounding_box(hull_points)
    _, mvee = min_volume_enclosing_ellipsoid(hull_points)

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den > 0 else float("nan")

    mean_intensity = float(roi.image[roi.intensity_mask].mean())
    moran, geary = moran_geary(roi.image, roi.intensity_mask, spacing)
    return {
        "morph_volume": volume,
        "morph_vol_approx": float(roi.morph_mask.sum()) * roi.voxel_volume,
        "morph_area_mesh": area,
        "morph_av": ratio(area, volume),
        "morph_comp_1": ratio(volume, np.sqrt(np.pi) * area ** 1.5),
        "morph_comp_2": ratio(36.0 * np.pi * volume ** 2, area ** 3),
        "morph_sph_dispr": ratio(area, sphere_term),
        "morph_sphericity": ratio(sphere_term, area),
        "morph_asphericity": ratio(area, sphere_term) - 1.0,
        "morph_com": centre_of_mass_shift(roi),
        "morph_diam": max_diameter(hull_points),
        "morph_pca_maj_axis": float(major),
        "morph_pca_min_axis": float(minor),
        "morph_pca_least_axis": float(least),
        "morph_pca_elongation": ratio(np.sqrt(lam[1]), np.sqrt(lam[0])),
        "morph_pca_flatness": ratio(np.sqrt(lam[2]), np.sqrt(lam[0])),
        "morph_vol_dens_aabb": ratio(volume, float(np.prod(aabb))),
        "morph_area_dens_aabb": ratio(area, box_area(aabb)),
        "morph_vol_dens_ombb": ratio(volume, float(np.prod(ombb))),
        "morph_area_dens_ombb": ratio(area, box_area(ombb)),
        "morph_vol_dens_aee": ratio(volume, 4.0 / 3.0 * np.pi * float(np.prod(semi))),
        "morph_area_dens_aee": ratio(area, ellipsoid_surface_area(*semi)),
        "morph_vol_dens_mvee": ratio(volume, 4.0 / 3.0 * np.pi * float(np.prod(mvee))),
        "morph_area_dens_mvee": ratio(area, ellipsoid_surface_area(*mvee)),
        "morph_vol_dens_conv_hull": ratio(volume, hull.volume if hull is not None else 0.0),
        "morph_area_dens_conv_hull": ratio(area, hull.area if hull is not None else 0.0),
        "morph_integ_int": mean_intensity * volume,
        "morph_moran_i": moran,
        "morph_geary_c": geary,
    }
