"""``radiomics``: a registered representation that turns an image modality into IBSI-1
features, so that radiomics go into every fusion strategy like any other block."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from medfuse.data.ragged import RaggedBlock
from medfuse.represent.base import Representation, per_subject, subject_ids


class Radiomics(Representation):
    """IBSI-1 radiomics of each subject's image inside its mask.

    Reads an ``image`` block: a :class:`~medfuse.data.RaggedBlock` (or dense array) of
    ``C x Z x Y x X`` volumes (spatial axes in ``(z, y, x)`` order, as
    :func:`medfuse.imaging.io.read_scan` gives them) with a ``mask`` field and ``spacing``
    metadata in mm along ``(z, y, x)``. A 2D image ``C x Y x X`` is one slice 1 mm thick
    (its spacing metadata has two entries, ``(y, x)``). By default nothing is learned: each
    subject's row depends on its own image only, so fitting records the feature names.

    ``normalize`` first normalises each measured channel's intensities
    (:mod:`medfuse.imaging.normalize`), with statistics taken from the voxels of the
    ``normalize_field`` region (a brain or body mask, say; by default the whole image):
    ``"zscore-mask"`` (``(x - mean) / sd``), ``"white-stripe"`` (MR, by the normal-appearing
    white matter; ``"white-stripe:t2"``, ``"white-stripe:flair"``), ``"ct-window:<name>"``
    (a window of :data:`~medfuse.imaging.normalize.CT_WINDOWS`) each work on one image;
    ``"nyul"`` (piecewise-linear histogram standardisation) learns its standard landmarks in
    :meth:`fit` from the training subjects only and applies them in :meth:`transform`.
    Normalised intensities are no longer in Hounsfield units: use a bin number, not the
    HU bin sizes and re-segmentation ranges of the CT presets.

    Parameters
    ----------
    preset : str, optional
        A preset of :mod:`medfuse.imaging.radiomics.settings` (``ibsi1-a`` ... ``ibsi1-e``).
    settings : mapping, optional
        Settings (keys of :class:`~medfuse.imaging.radiomics.settings.RadiomicsSettings`)
        overriding the preset's; neither: 32 grey levels, no interpolation, 3D aggregation
        (2D for a block of 2D images).
    families : sequence of str, optional
        Feature families (``morph``, ``stat``, ``cm`` ...); all by default.
    channel : int
        The image channel measured.
    mask_field : str
        The block's field holding the masks.
    normalize : str, optional
        A name of :data:`~medfuse.imaging.normalize.NORMALIZATIONS` (``"zscore-mask"``,
        ``"white-stripe"``, ``"nyul"`` ...); None (or ``"none"``): raw intensities.
    normalize_field : str, optional
        The block's field holding the region the normalisation statistics come from (it may
        be ``mask_field``); None: every voxel (WhiteStripe then uses the voxels above the
        image's mean).
    match_fwhm : float or sequence of float, optional
        Blur every image to this resolution (FWHM, mm, per axis ``z, y, x``) from its own
        ``fwhm`` metadata before anything else, by a Gaussian of
        ``sigma = sqrt(sigma_target^2 - sigma_source^2)``; a subject sharper than the
        target is blurred, one blurrier is an error (resolution cannot be sharpened).
    min_icc : float, optional
        Drop, inside each fold, the features whose ICC(1,1) over ``icc_perturbations``
        perturbed copies of the training subjects is below this
        (:mod:`medfuse.imaging.robustness`); costs ``n_training x icc_perturbations``
        extractions per fit.
    icc_perturbations : int
        Perturbations per subject for ``min_icc``.
    random_state : int
        Seeds the perturbations.

    Attributes
    ----------
    feature_names_out_ : list of str
        IBSI tags (the stable ones with ``min_icc``).
    feature_icc_ : dict of str to float
        With ``min_icc``: each feature's ICC on the training subjects (empty otherwise).
    dropped_features_ : list of str
        With ``min_icc``: the features left out as unstable.
    nyul_landmarks_ : ndarray (K,)
        With ``normalize="nyul"``: the standard landmarks learned from the training subjects
        (at the percentiles of :data:`~medfuse.imaging.normalize.DEFAULT_PERCENTILES`, on the
        scale 0 .. 100).

    Notes
    -----
    A feature IBSI leaves undefined for a region (a correlation of a constant region, for
    example) is reported as 0, so that every row is finite.
    """

    def __init__(self, preset: str | None = None, settings: Mapping | None = None,
                 families: Sequence[str] | None = None, channel: int = 0,
                 mask_field: str = "mask", normalize: str | None = None,
                 normalize_field: str | None = None,
                 match_fwhm: float | Sequence[float] | None = None,
                 min_icc: float | None = None, icc_perturbations: int = 8,
                 random_state: int = 0) -> None:
        self.preset = preset
        self.settings = settings
        self.families = families
        self.channel = channel
        self.mask_field = mask_field
        self.normalize = normalize
        self.normalize_field = normalize_field
        self.match_fwhm = match_fwhm
        self.min_icc = min_icc
        self.icc_perturbations = icc_perturbations
        self.random_state = random_state

    def _settings(self, X):
        """The settings; without a preset or an aggregation, texture is aggregated in 3D
        (``2D`` for a block of 2D images)."""
        from medfuse.imaging.radiomics.settings import RadiomicsSettings

        values = dict(self.settings or {})
        if self.preset is not None:
            values.setdefault("preset", self.preset)
        if "preset" not in values:
            flat = all(np.ndim(v) == 3 for v in (X.values if isinstance(X, RaggedBlock)
                                                 else np.asarray(X)))
            values.setdefault("aggregation", ("2D",) if flat else ("3D",))
        return RadiomicsSettings.from_mapping(values)

    def fit(self, X, y=None):
        """Check the settings, learn the histogram-standardisation landmarks
        (``normalize="nyul"``) from these subjects and record the feature names (from the
        first subject)."""
        from medfuse.imaging.normalize import NyulStandardizer, make_normalizer

        settings = self._settings(X)
        normalizer = make_normalizer(self.normalize)
        ids, volumes, masks, spacings, regions = self._inputs(X)
        volumes = self._matched(X, ids, volumes, spacings)
        self.__dict__.pop("nyul_landmarks_", None)
        if isinstance(normalizer, NyulStandardizer):
            normalizer.fit(volumes, regions, names=ids)
            self.nyul_landmarks_ = np.array(normalizer.landmarks_, dtype=float)
        first = self._one(self._normalized(volumes[0], regions[0], ids[0]), masks[0],
                          spacings[0], settings, ids[0])
        self.feature_names_out_ = list(first)
        self.feature_icc_, self.dropped_features_ = {}, []
        if self.min_icc is not None:
            self._drop_unstable(ids, volumes, masks, spacings, regions, settings)
        return self

    def _drop_unstable(self, ids, volumes, masks, spacings, regions, settings) -> None:
        """Keep the features whose ICC(1,1) over perturbed copies of the training subjects
        reaches ``min_icc`` (:func:`medfuse.imaging.robustness.feature_icc`)."""
        from medfuse.imaging.robustness import feature_icc, perturbation_grid

        if len(ids) < 2:
            raise ValueError("min_icc needs at least two training subjects.")
        subjects = [(self._normalized(v, r, i), m, sp) for i, v, m, sp, r in zip(
            ids, volumes, masks, spacings, regions, strict=True)]
        grid = perturbation_grid(n=max(int(self.icc_perturbations), 2),
                                 seed=self.random_state)
        table = feature_icc(subjects, settings, self.families, grid, seed=self.random_state,
                            threshold=float(self.min_icc))
        icc = dict(zip(table["feature"], table["icc"].astype(float), strict=True))
        self.feature_icc_ = {name: icc.get(name, float("nan"))
                             for name in self.feature_names_out_}
        keep = [n for n in self.feature_names_out_ if icc.get(n, np.nan) >= self.min_icc]
        if not keep:
            raise ValueError(f"no radiomics feature reaches ICC {self.min_icc} on the training "
                             "subjects; lower min_icc or check the images and masks.")
        self.dropped_features_ = [n for n in self.feature_names_out_ if n not in keep]
        self.feature_names_out_ = keep

    def _matched(self, X, ids, volumes, spacings) -> list[np.ndarray]:
        """Volumes blurred to the resolution ``match_fwhm`` (mm) from each subject's own
        ``fwhm`` metadata (:func:`medfuse.imaging.resample.match_resolution`)."""
        if self.match_fwhm is None:
            return volumes
        from medfuse.imaging.resample import match_resolution

        meta = X.meta if isinstance(X, RaggedBlock) else None
        if meta is None or "fwhm" not in meta.columns:
            raise ValueError("match_fwhm needs each subject's resolution as 'fwhm' metadata "
                             "(mm, one number or one per axis z, y, x).")
        out = []
        for subject, volume, spacing, fwhm in zip(ids, volumes, spacings, meta["fwhm"],
                                                  strict=True):
            if fwhm is None or (isinstance(fwhm, float) and np.isnan(fwhm)):
                raise ValueError(f"subject {subject!r}: no 'fwhm' metadata; its resolution "
                                 "is needed to match it to match_fwhm.")
            try:
                out.append(match_resolution(volume, spacing, fwhm, self.match_fwhm))
            except ValueError as err:
                raise ValueError(f"subject {subject!r}: {err}") from None
        return out

    def transform(self, X) -> pd.DataFrame:
        """(N, features) IBSI-1 features, indexed by subject when ``X`` has IDs."""
        settings = self._settings(X)
        ids, volumes, masks, spacings, regions = self._inputs(X)
        volumes = self._matched(X, ids, volumes, spacings)
        volumes = [self._normalized(v, r, subject)
                   for v, r, subject in zip(volumes, regions, ids, strict=True)]
        rows = []
        for subject, volume, mask, spacing in zip(ids, volumes, masks, spacings, strict=True):
            values = self._one(volume, mask, spacing, settings, subject)
            rows.append([values.get(name, np.nan) for name in self.feature_names_out_])
        table = np.nan_to_num(np.asarray(rows, float), nan=0.0, posinf=0.0, neginf=0.0)
        return pd.DataFrame(table, index=subject_ids(X), columns=self.feature_names_out_)

    def _normalized(self, volume, region, subject) -> np.ndarray:
        """One subject's volume with the ``normalize`` method applied (as is without)."""
        from medfuse.imaging.normalize import (
            DEFAULT_PERCENTILES,
            make_normalizer,
            nyul_standardize,
        )

        where = f"subject {subject!r}"
        if self.normalize is None:
            return volume
        if str(self.normalize).strip().lower() == "nyul":
            if not hasattr(self, "nyul_landmarks_"):
                raise ValueError("Radiomics(normalize='nyul') is not fitted: call fit first.")
            return nyul_standardize(volume, self.nyul_landmarks_, region,
                                    percentiles=DEFAULT_PERCENTILES, where=where)
        return make_normalizer(self.normalize).transform(volume, region, where=where)

    def _one(self, volume, mask, spacing, settings, subject) -> dict[str, float]:
        from medfuse.imaging.radiomics.features import extract

        return extract(volume, mask, spacing, settings, self.families,
                       where=f"subject {subject!r}")

    def _inputs(self, X):
        images = per_subject(X)
        n = len(images)
        ids = list(X.ids) if isinstance(X, RaggedBlock) else list(range(n))
        masks: list = [None] * n
        spacings: list = [None] * n
        regions: list = [None] * n
        if isinstance(X, RaggedBlock):
            if self.mask_field in X.field_names:
                masks = list(X.field(self.mask_field))
            if "spacing" in X.meta.columns:
                spacings = list(X.meta["spacing"])
        if self.normalize_field is not None:
            if not isinstance(X, RaggedBlock) or self.normalize_field not in X.field_names:
                have = X.field_names if isinstance(X, RaggedBlock) else []
                raise ValueError(f"normalize_field {self.normalize_field!r} is not a field of "
                                 f"the image block (fields: {have}).")
            regions = list(X.field(self.normalize_field))
        volumes, out_masks, out_spacing, out_regions = [], [], [], []
        for subject, image, mask, spacing, region in zip(ids, images, masks, spacings,
                                                         regions, strict=True):
            if image.ndim not in (3, 4) or not 0 <= self.channel < image.shape[0]:
                raise ValueError(f"subject {subject!r}: radiomics reads C x Z x Y x X (or "
                                 f"C x Y x X) images with channel {self.channel}; got shape "
                                 f"{image.shape}.")
            volume = image[self.channel]
            mask = np.ones(volume.shape, bool) if mask is None else np.asarray(mask) != 0
            if region is not None:
                region = np.asarray(region) != 0
            step = _spacing(spacing, volume.ndim)
            if volume.ndim == 2:
                volume, mask, step = volume[None], mask[None], (1.0, *step)
                region = None if region is None else region[None]
            volumes.append(volume)
            out_masks.append(mask)
            out_spacing.append(step)
            out_regions.append(region)
        return ids, volumes, out_masks, out_spacing, out_regions


def _spacing(value, ndim: int) -> tuple[float, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return (1.0,) * ndim
    step = tuple(float(s) for s in value)
    if len(step) != ndim:
        raise ValueError(f"spacing {step} has {len(step)} entries for a {ndim}D image.")
    return step
