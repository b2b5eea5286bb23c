"""The imputation a study gives every strategy (the ``impute:`` section): the methods checked
against the data's kinds, and every strategy wrapped so that its imputers are refitted
wherever it is (in every fold, and in the saved model)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

#: what the refusals of a modality that cannot be filled in say can be
_FILLABLE = "only continuous, counts and all-numeric clinical tables can be filled in"


def _impute_spec(impute):
    if impute is None:
        return None
    from medfuse.config import ImputeSpec

    return impute if isinstance(impute, ImputeSpec) else ImputeSpec(**impute)


def imputation_methods(spec, data, represented: Mapping[str, str] | None = None) -> dict:
    """modality -> method of a study's ``impute:`` section, each checked against the data.

    Parameters
    ----------
    spec : ImputeSpec
        The ``impute:`` section (:class:`medfuse.config.ImputeSpec`).
    data : MultiModalData
        The training subjects (their kinds and columns say what can be filled in).
    represented : dict of str to str, optional
        Modality -> the kind its representation outputs: such a modality is filled in as
        the features it becomes.

    Returns
    -------
    dict
        Modality -> method, as :func:`medfuse.preprocess.impute.make_imputer` takes it.

    Raises
    ------
    StudyError
        Naming the modality: not in the data, an unknown method or parameter, or a kind
        that cannot be filled in (an image, a series, a sequence, a clinical table with
        text columns).
    """
    from medfuse.config import StudyError
    from medfuse.config.impute import check_method
    from medfuse.preprocess.impute import IMPUTABLE_KINDS

    represented = dict(represented or {})
    out = {}
    for m, method in spec.methods.items():
        if m not in data.modality_names:
            raise StudyError(f"impute.methods: {m!r} is not a modality of the study "
                             f"({', '.join(data.modality_names)}).")
        try:
            check_method(m, method)
        except ValueError as err:
            raise StudyError(f"impute.methods.{m}: {err}.") from None
        kind = represented.get(m, str(data.kinds[m]))
        if kind not in IMPUTABLE_KINDS:
            hint = ("" if m in represented else
                    "; give it a representation that makes features (e.g. radiomics for an "
                    "image), or leave it out of impute.methods: every strategy predicts "
                    "from the modalities a subject has")
            raise StudyError(f"impute.methods: {m!r} is a {kind} modality; {_FILLABLE}"
                             f"{hint}.")
        if m not in represented and kind == "clinical":
            block = data.block(m)
            text = [str(c) for c in block.columns
                    if not pd.api.types.is_numeric_dtype(block[c])]
            if text:
                raise StudyError(
                    f"impute.methods: {m!r} is a clinical modality with non-numeric (text "
                    f"or category) columns {', '.join(text[:5])}"
                    f"{' ...' if len(text) > 5 else ''}; {_FILLABLE}. Leave those columns "
                    f"out of its file, or leave {m!r} out of impute.methods.")
        out[m] = method
    return out


def imputed_estimators(estimators: Mapping[str, object], methods: Mapping,
                       n_imputations: int = 1, seed: int | None = None) -> dict[str, object]:
    """Every strategy wrapped with :func:`medfuse.fusion.imputed.with_imputation`; a strategy
    inside a representation wrapper is wrapped there, so the imputers see the represented
    feature blocks.

    Parameters
    ----------
    estimators : mapping of str to estimator
        The unfitted strategies by name.
    methods : mapping
        Modality -> method (:func:`imputation_methods`).
    n_imputations : int
        Imputations whose predictions are pooled.
    seed : int, optional
        The wrappers' ``random_state`` (the study's seed).

    Returns
    -------
    dict of str to estimator
        Name -> unfitted wrapped strategy.
    """
    from sklearn.base import clone

    from medfuse.fusion.imputed import with_imputation
    from medfuse.fusion.represented import RepresentedClassifier, RepresentedSurvival

    def wrap(estimator):
        return with_imputation(estimator, dict(methods), n_imputations=n_imputations,
                               random_state=seed)

    out = {}
    for name, estimator in estimators.items():
        if isinstance(estimator, (RepresentedClassifier, RepresentedSurvival)):
            inner = estimator.get_params(deep=False)["estimator"]
            out[name] = clone(estimator).set_params(estimator=wrap(inner))
        else:
            out[name] = wrap(estimator)
    return out

