"""Robustness of radiomics features to small image and mask perturbations.

A feature is worth modelling only when it tells subjects apart better than it is moved by
the small changes an acquisition or a segmentation could have made to the same subject.
This module measures that by perturbation: each subject's image and mask are perturbed in
ways that model such changes (a small rotation and a sub-voxel shift for positioning and
registration error, additive noise for image noise, erosion and dilation of the mask for
delineation), the features are extracted from every perturbed copy, and per feature the
agreement between the copies of a subject, relative to the spread between subjects, is the
intraclass correlation coefficient ICC(1,1).

Geometry follows the rest of the imaging package: arrays are ordered ``(z, y, x)`` (axis 0
runs across slices), ``spacing`` is the distance between neighbouring voxel centres along
each axis in mm, and the physical position of voxel ``i`` along an axis is ``i * spacing``
(the origin plays no part: every transform here is about a point inside the image).

Workflow
--------
>>> grid = perturbation_grid(n=12, seed=0)                      # doctest: +SKIP
>>> table = feature_icc(subjects, families=["stat", "morph"],   # doctest: +SKIP
...                     perturbations=grid)
>>> drop = unstable_features(table, threshold=0.75)            # doctest: +SKIP
"""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medfuse.imaging.icc import ICCResult, icc_one_way
from medfuse.imaging.perturb import (
    DEFAULT_MASK_CHANGES_VOXELS,
    DEFAULT_NOISE_FRACTIONS,
    DEFAULT_ROTATIONS_DEG,
    DEFAULT_TRANSLATIONS_VOXELS,
    Perturbation,
    as_spacing,
    perturb,
    perturbation_grid,
    rotation_matrix,
)
from medfuse.imaging.radiomics.features import extract
from medfuse.imaging.radiomics.settings import RadiomicsSettings

__all__ = [
    "DEFAULT_MASK_CHANGES_VOXELS",
    "DEFAULT_NOISE_FRACTIONS",
    "DEFAULT_ROTATIONS_DEG",
    "DEFAULT_TRANSLATIONS_VOXELS",
    "ICCResult",
    "Perturbation",
    "feature_icc",
    "icc_one_way",
    "perturb",
    "perturbation_grid",
    "rotation_matrix",
    "unstable_features",
]


def _as_kwargs(perturbation: Perturbation | Mapping[str, Any], image: np.ndarray,
               mask: np.ndarray, spacing: np.ndarray) -> dict[str, Any]:
    if isinstance(perturbation, Perturbation):
        return perturbation.resolve(image, mask, spacing)
    if isinstance(perturbation, Mapping):
        known = {"rotation_deg", "translation_mm", "noise_sd", "mask_change_mm", "seed"}
        unknown = sorted(set(perturbation) - known)
        if unknown:
            raise ValueError(f"unknown perturbation key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}.")
        return dict(perturbation)
    raise TypeError(f"a perturbation is a Perturbation or a mapping of perturb() keyword "
                    f"arguments; got {type(perturbation).__name__}.")


def feature_icc(subjects: Sequence[tuple[ArrayLike, ArrayLike, Sequence[float]]],
                settings: RadiomicsSettings | None = None,
                families: Sequence[str] | None = None,
                perturbations: Sequence[Perturbation | Mapping[str, Any]] | None = None,
                seed: int = 0, *, threshold: float = 0.75, confidence: float = 0.95,
                stable_by: str = "icc") -> pd.DataFrame:
    """Robustness of every feature to perturbation, as the intraclass correlation ICC(1,1).

    Each subject's image and mask are perturbed by every perturbation (:func:`perturb`),
    the features of every copy are extracted with ``settings`` (the full IBSI-1 chain, so
    interpolation and discretisation see the perturbed image), and for each feature the
    ``n_subjects x n_perturbations`` matrix of values gives ICC(1,1) and its confidence
    interval (:func:`icc_one_way`).

    Why ICC(1,1). The perturbed copies of a subject are repeated measurements of that
    subject's feature value. They are not a fixed set of raters that measured every subject
    alike: a rotation moves different voxels across the mask edge of different subjects,
    noise is drawn anew for each subject, and an erosion by one voxel removes a larger share
    of a small ROI than of a large one. So a "perturbation" effect shared by all subjects,
    which two-way models (ICC(2,1), ICC(3,1)) estimate and remove or model, is not what is
    asked; every difference between copies of a subject counts as disagreement. This is the
    one-way random-effects model, with absolute agreement and a single measurement (a
    feature is used from one image, not averaged over copies): case 1, single rater, of the
    classic classification of intraclass correlations.

    Parameters
    ----------
    subjects : sequence of (image, mask, spacing)
        ``image`` and ``mask`` of shape ``(Z, Y, X)`` (mask non-zero inside), ``spacing`` in
        mm along ``(z, y, x)``; at least two subjects.
    settings : RadiomicsSettings, optional
        Extraction settings; the package default when None.
    families : sequence of str, optional
        Feature families (``"stat"``, ``"morph"``, ``"cm"``, ...); all when None.
    perturbations : sequence of (Perturbation or mapping), optional
        At least two. A :class:`Perturbation` is resolved per subject
        (:meth:`Perturbation.resolve`); a mapping gives :func:`perturb`'s keyword arguments
        in absolute units. None: :func:`perturbation_grid` with ``seed`` (90 perturbations:
        the cost is ``n_subjects x 90`` extractions).
    seed : int, default 0
        Seeds the default grid and the noise: subject ``i`` under perturbation ``j`` gets
        noise seeded by ``numpy.random.SeedSequence((seed, i, j))`` unless a mapping gives
        its own ``seed``.
    threshold : float, default 0.75
        A feature is ``stable`` when its ICC is at least this (0.75 is the lower limit of
        "good" reliability in the usual guideline for intraclass correlations: below 0.5
        poor, 0.5 to 0.75 moderate, 0.75 to 0.9 good, above 0.9 excellent).
    confidence : float, default 0.95
        Level of the confidence interval.
    stable_by : {"icc", "icc_low"}, default "icc"
        Compare the point estimate or the lower confidence bound with ``threshold``.

    Returns
    -------
    pandas.DataFrame
        One row per feature, most robust first, with columns ``feature`` (IBSI tag),
        ``icc``, ``icc_low``, ``icc_high``, ``rank`` (1 for the highest ICC; ties share the
        lowest rank; NaN for an undefined ICC) and ``stable`` (bool). A feature with one
        value across all subjects and perturbations (or with a missing value) has ICC NaN
        and is not stable. ``attrs`` holds ``threshold``, ``confidence``, ``stable_by``,
        ``n_subjects`` and ``n_perturbations``; ``attrs["values"]`` is the long table of
        feature values (``subject``, ``perturbation``, then one column per feature).

    Raises
    ------
    ValueError
        With fewer than two subjects or perturbations, a bad ``stable_by``, or a
        perturbation that leaves a subject's mask empty (named in the message).
    """
    if len(subjects) < 2:
        raise ValueError("feature_icc needs at least two subjects.")
    if stable_by not in ("icc", "icc_low"):
        raise ValueError(f"stable_by must be 'icc' or 'icc_low'; got {stable_by!r}.")
    chosen = perturbation_grid(seed=seed) if perturbations is None else list(perturbations)
    if len(chosen) < 2:
        raise ValueError("feature_icc needs at least two perturbations.")

    rows: list[dict[str, float]] = []
    for i, (image, mask, spacing) in enumerate(subjects):
        img = np.asarray(image, dtype=np.float64)
        msk = np.asarray(mask) != 0
        s = as_spacing(spacing)
        for j, perturbation in enumerate(chosen):
            kwargs = _as_kwargs(perturbation, img, msk, s)
            kwargs.setdefault("seed", int(np.random.SeedSequence((seed, i, j))
                                          .generate_state(1)[0]))
            p_img, p_msk = perturb(img, msk, s, **kwargs)
            where = f"subject {i} under perturbation {j}"
            if not p_msk.any():
                raise ValueError(f"{where}: the perturbed mask is empty; use a smaller "
                                 "erosion for this ROI.")
            values = extract(p_img, p_msk, tuple(s), settings, families, where=where)
            rows.append({"subject": i, "perturbation": j, **values})

    long = pd.DataFrame(rows)
    tags = [c for c in long.columns if c not in ("subject", "perturbation")]
    n_sub, n_pert = len(subjects), len(chosen)
    records = []
    for tag in tags:
        matrix = (long.pivot(index="subject", columns="perturbation", values=tag)
                  .reindex(index=range(n_sub), columns=range(n_pert)).to_numpy(np.float64))
        result = icc_one_way(matrix, confidence)
        records.append({"feature": tag, "icc": result.icc, "icc_low": result.low,
                        "icc_high": result.high})
    table = pd.DataFrame.from_records(records, columns=["feature", "icc", "icc_low",
                                                        "icc_high"])
    table["rank"] = table["icc"].rank(ascending=False, method="min")
    basis = table[stable_by].to_numpy(np.float64)
    table["stable"] = np.where(np.isnan(basis), False, basis >= threshold).astype(bool)
    table = (table.sort_values(["icc", "feature"], ascending=[False, True],
                               na_position="last", kind="mergesort")
             .reset_index(drop=True))
    table.attrs.update(threshold=float(threshold), confidence=float(confidence),
                       stable_by=stable_by, n_subjects=n_sub, n_perturbations=n_pert,
                       values=long)
    return table


def unstable_features(icc_table: pd.DataFrame, threshold: float = 0.75) -> list[str]:
    """The features whose ICC is below ``threshold`` or undefined.

    Parameters
    ----------
    icc_table : pandas.DataFrame
        A table from :func:`feature_icc` (columns ``feature`` and ``icc`` at least).
    threshold : float, default 0.75
        Smallest ICC that counts as stable (the ``stable`` column is not read, so another
        threshold can be tried on the same table).

    Returns
    -------
    list of str
        Feature tags, least robust first: those with an undefined (NaN) ICC, e.g. a
        feature that is constant across all subjects and perturbations, then those with
        ``icc < threshold`` by increasing ICC.
    """
    icc = icc_table["icc"].to_numpy(np.float64)
    names = icc_table["feature"].astype(str).to_numpy()
    undefined = [str(f) for f in names[np.isnan(icc)]]
    low = np.flatnonzero(~np.isnan(icc) & (icc < threshold))
    low = low[np.argsort(icc[low], kind="stable")]
    return sorted(undefined) + [str(names[i]) for i in low]
