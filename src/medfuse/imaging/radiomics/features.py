"""All IBSI-1 feature families of one ROI, named by their IBSI tags.

Families and their modules: ``morph`` (:mod:`.morphology`), ``loc``
(:mod:`.local_intensity`), ``stat``, ``ih``, ``ivh`` (:mod:`.intensity`), ``cm``
(:mod:`.cooccurrence`), ``rlm`` (:mod:`.runlength`), ``szm``, ``dzm`` (:mod:`.zones`),
``ngt``, ``ngl`` (:mod:`.neighbourhood`). Texture tags end with their aggregation: ``_2D``,
``_2_5D`` or ``_3D``, then for the directional families ``_avg`` (features per direction,
averaged) or ``_comb`` (direction matrices merged).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence

import numpy as np

from medfuse.imaging.radiomics.roi import ROI
from medfuse.imaging.radiomics.settings import (
    RadiomicsSettings,
    make_roi,
    volume_histogram_roi,
)

#: Family -> (module, function) computing it (a function returns the tags of its family
#: and possibly of a sibling family, filtered by prefix).
FAMILIES: dict[str, tuple[str, str]] = {
    "morph": ("morphology", "features"),
    "loc": ("local_intensity", "features"),
    "stat": ("intensity", "statistics"),
    "ih": ("intensity", "histogram"),
    "ivh": ("intensity", "volume_histogram"),
    "cm": ("cooccurrence", "features"),
    "rlm": ("runlength", "features"),
    "szm": ("zones", "features"),
    "dzm": ("zones", "features"),
    "ngt": ("neighbourhood", "features"),
    "ngl": ("neighbourhood", "features"),
}
_AGGREGATION = re.compile(r"_(2D|2_5D|3D)(_avg|_comb)?$")


def aggregation_of(tag: str) -> str | None:
    """``2D``, ``2_5D`` or ``3D`` for a texture tag, None for the others."""
    found = _AGGREGATION.search(tag)
    return found.group(1) if found else None


def compute(roi: ROI, families: Sequence[str] | None = None,
            aggregation: Sequence[str] | None = None,
            ivh_roi: ROI | None = None) -> dict[str, float]:
    """The features of ``roi``.

    Parameters
    ----------
    roi : ROI
        The region, its grey levels and geometry (see :func:`make_roi
        <medfuse.imaging.radiomics.settings.make_roi>`).
    families : sequence of str, optional
        Family prefixes (keys of :data:`FAMILIES`); all by default.
    aggregation : sequence of str, optional
        Texture aggregations to keep (``2D``, ``2_5D``, ``3D``); all by default.
    ivh_roi : ROI, optional
        The ROI discretised for the intensity-volume histogram when that differs.

    Returns
    -------
    dict of str to float
        IBSI tag -> value, in family order.
    """
    wanted = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in wanted if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown feature famil{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(unknown)}; choose from {', '.join(FAMILIES)}.")
    keep = set(aggregation) if aggregation is not None else None
    cache: dict[tuple[str, str, int], dict[str, float]] = {}
    out: dict[str, float] = {}
    for family in wanted:
        module, function = FAMILIES[family]
        source = ivh_roi if family == "ivh" and ivh_roi is not None else roi
        key = (module, function, id(source))
        if key not in cache:
            mod = importlib.import_module(f"medfuse.imaging.radiomics.{module}")
            cache[key] = getattr(mod, function)(source)
        for tag, value in cache[key].items():
            if not tag.startswith(family + "_"):
                continue
            agg = aggregation_of(tag)
            if keep is not None and agg is not None and agg not in keep:
                continue
            out[tag] = float(value)
    return out


def extract(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
            settings: RadiomicsSettings | None = None,
            families: Sequence[str] | None = None, *, where: str = "the image"
            ) -> dict[str, float]:
    """IBSI-1 features of one image and mask after the settings' processing chain.

    Parameters
    ----------
    image : ndarray of float, shape (Z, Y, X)
        Intensities (CT in HU, PET in SUV, ...).
    mask : ndarray, shape (Z, Y, X)
        Non-zero inside the region of interest.
    spacing : sequence of float
        Voxel size along ``(z, y, x)``, mm.
    settings : RadiomicsSettings, optional
        Default: :class:`RadiomicsSettings()` (no interpolation, 32 bins, every aggregation).
    families : sequence of str, optional
        Family prefixes to compute; all by default.
    where : str
        Names the image in error messages.

    Returns
    -------
    dict of str to float
        IBSI tag -> value.
    """
    settings = settings or RadiomicsSettings()
    roi = make_roi(image, mask, tuple(spacing), settings, where=where)
    wanted = FAMILIES if families is None else families
    ivh_roi = volume_histogram_roi(roi, settings) if "ivh" in wanted else None
    return compute(roi, families, settings.aggregation, ivh_roi=ivh_roi)
