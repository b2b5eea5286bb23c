"""The preprocessing chains a study gives every strategy: batch harmonization and feature
screening refitted inside every fold (the ``harmonize:`` and ``screening:`` sections)."""

from __future__ import annotations


def _harmonize_spec(harmonize):
    if harmonize is None:
        return None
    from medfuse.config import HarmonizeSpec

    return harmonize if isinstance(harmonize, HarmonizeSpec) else HarmonizeSpec(**harmonize)


def _screening_spec(screening):
    if screening is None:
        return None
    from medfuse.config import ScreeningSpec

    return screening if isinstance(screening, ScreeningSpec) else ScreeningSpec(**screening)


def harmonization_chains(spec, data, batch_column: str,
                         represented: dict[str, str] | None = None) -> dict:
    """modality -> unfitted ``ObsChain([harmonizer, default preprocessing])`` for the
    modalities of ``data`` that a study's ``harmonize:`` section harmonizes.

    Parameters
    ----------
    spec : HarmonizeSpec
        The study's ``harmonize:`` section (:class:`medfuse.config.HarmonizeSpec`).
    data : MultiModalData
        The training subjects (their kinds choose the default preprocessing and whether
        the method applies).
    batch_column : str
        The obs column the harmonizer reads the batch from.
    represented : dict of str to str, optional
        Modality -> the kind its representation outputs (radiomics of an image are
        ``continuous``): the harmonizer then adjusts the represented features.

    Returns
    -------
    dict of str to ObsChain
        Modality -> unfitted chain.
    """
    from medfuse.config import StudyError
    from medfuse.data.modality import Modality
    from medfuse.preprocess import ComBat, ComBatSeq, default_preprocessor
    from medfuse.preprocess.chain import ObsChain

    represented = dict(represented or {})

    def seen(m: str) -> Modality:  # what the strategy sees of a modality
        return Modality(represented[m]) if m in represented else data.modalities[m]

    chosen = spec.modalities
    if chosen is None:
        chosen = [m for m in data.modality_names
                  if spec.method in seen(m).kind_object.harmonizers]
        if not chosen:
            raise StudyError(f"harmonize.modalities: no modality is of a kind {spec.method} "
                             f"adjusts (modalities: {', '.join(data.modality_names)}).")
    covariates = [c if isinstance(c, str) else c.column for c in spec.covariates]
    for col in [batch_column, *covariates]:
        if col not in data.obs.columns:
            raise StudyError(f"harmonize: the data has no obs column {col!r} (obs "
                             f"columns: {', '.join(map(str, data.obs.columns))}).")
    out = {}
    for m in chosen:
        if m not in data.modality_names:
            raise StudyError(f"harmonize.modalities: {m!r} is not a modality of the study "
                             f"({', '.join(data.modality_names)}).")
        modality = seen(m)
        kind = modality.kind_object
        raw = m not in represented and kind.storage != "table"  # an image, a series ...
        if spec.method not in kind.harmonizers:
            use = (f"use method: {kind.harmonizers[0]}" if kind.harmonizers else
                   f"{kind.name} modalities are not harmonized")
            raise StudyError(f"harmonize.modalities: {spec.method} adjusts "
                             f"{_ADJUSTS[spec.method]}; {m!r} is a {kind.name} modality "
                             f"({use}{_REPRESENT_HINT if raw else ''}).")
        if spec.method == "ComBat":
            harmonizer = ComBat(
                parametric=True if spec.parametric is None else spec.parametric,
                mean_only=bool(spec.mean_only), ref_batch=spec.reference_batch,
                unseen_batch=spec.unseen_batch, batch_col=batch_column,
                covariate_cols=covariates or None)
        else:
            harmonizer = ComBatSeq(ref_batch=spec.reference_batch, batch_col=batch_column,
                                   covariate_cols=covariates or None,
                                   unseen_batch=spec.unseen_batch)
        out[m] = ObsChain([harmonizer, default_preprocessor(modality)])
    return out


_ADJUSTS = {"ComBat": "continuous values", "ComBat-seq": "counts"}
_REPRESENT_HINT = ("; or give it a representation that makes features, e.g. radiomics for "
                   "an image")


def screening_chains(spec, data, chains: dict | None = None,
                     task: str = "classification") -> dict:
    """modality -> unfitted ``ObsChain([harmonizer, FeatureScreen, default preprocessing])``
    (no harmonizer where ``chains``, the harmonization chains, has none) for the modalities
    a study's ``screening:`` section screens.

    Parameters
    ----------
    spec : ScreeningSpec
        The ``screening:`` section.
    data : MultiModalData
        The training subjects: their kinds say whether and on which scale a modality is
        screened, and their ``outcome`` names the column a univariate screen reads.
    chains : dict of str to ObsChain, optional
        The harmonization chains (see :func:`harmonization_chains`).
    task : {"classification", "survival"}
        ``"survival"``: a univariate screen reads the obs columns ``time`` and ``event``.

    Returns
    -------
    dict of str to ObsChain
        Modality -> chain, the harmonization chains of unscreened modalities included.

    Raises
    ------
    StudyError
        When a named modality is not in the data, is not of a screened kind or has no more
        than ``keep`` features, or when no modality is wider than ``keep``.
    """
    from medfuse.config import StudyError
    from medfuse.preprocess import default_preprocessor
    from medfuse.preprocess.chain import ObsChain
    from medfuse.preprocess.screening import FeatureScreen

    out = dict(chains or {})
    if spec.method not in ("variance", "univariate"):
        raise StudyError(f"screening.method: {spec.method!r} is not a screening method "
                         "(variance, univariate).")
    chosen = spec.modalities
    if chosen is None:
        # by default: the screenable modalities wider than ``keep`` (a narrow block, such
        # as a few clinical measurements, is left as it is)
        screenable = [m for m in data.modality_names
                      if data.modalities[m].kind_object.screening_scale is not None]
        chosen = [m for m in screenable if data.n_features(m) > spec.keep]
        if not chosen:
            widths = ", ".join(f"{m}: {data.n_features(m):,}" for m in screenable)
            raise StudyError(
                "screening: no modality has more features than screening.keep "
                f"({spec.keep:,}) among those of a kind that is screened (continuous, "
                f"counts){'; ' + widths if widths else ''}. Lower keep, or leave the "
                "screening section out.")
    outcome = None
    if spec.method == "univariate":
        outcome = ("time", "event") if task == "survival" else data.outcome
        if outcome is None:
            raise StudyError("screening.method: univariate needs the study's outcome.")
    for m in chosen:
        if m not in data.modality_names:
            raise StudyError(f"screening.modalities: {m!r} is not a modality of the study "
                             f"({', '.join(data.modality_names)}).")
        kind = data.modalities[m].kind_object
        if kind.screening_scale is None:
            raise StudyError(f"screening.modalities: {m!r} is a {kind.name} modality; "
                             "screening applies to feature tables of numeric kinds "
                             "(continuous, counts).")
        if data.n_features(m) <= spec.keep:
            raise StudyError(f"screening.keep: {spec.keep:,} features is not fewer than the "
                             f"{data.n_features(m):,} of modality {m!r}, so screening would "
                             f"keep all of them; lower keep or leave {m!r} out of "
                             "screening.modalities.")
        screen = FeatureScreen(method=spec.method, keep=spec.keep, outcome=outcome,
                               scale=kind.screening_scale)
        if m in out:
            harmonizer, *rest = out[m].steps
            out[m] = ObsChain([harmonizer, screen, *rest])
        else:
            out[m] = ObsChain([screen, default_preprocessor(data.modalities[m])])
    return out


def _with_step(chains: dict, step: str) -> list[str]:
    """The modalities whose chain holds a harmonizer (``step="harmonizer"``) or a feature
    screen (``"screen"``)."""
    from medfuse.preprocess import ComBat, ComBatSeq
    from medfuse.preprocess.chain import ObsChain
    from medfuse.preprocess.screening import FeatureScreen

    types = (ComBat, ComBatSeq) if step == "harmonizer" else (FeatureScreen,)
    return [m for m, t in chains.items()
            if isinstance(t, ObsChain) and any(isinstance(s, types) for s in t.steps)]
