"""Imputers by name, as the study file's ``impute:`` section gives them."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import clone

from medfuse.preprocess.impute.base import ModalityImputer
from medfuse.preprocess.impute.cycle import CycleTranslatorImputer
from medfuse.preprocess.impute.methods import (
    CrossModalImputer,
    IterativeModalityImputer,
    KNNModalityImputer,
    MeanImputer,
)
from medfuse.preprocess.impute.translator import TranslatorImputer

_METHODS: dict[str, type[ModalityImputer]] = {
    "mean": MeanImputer,
    "knn": KNNModalityImputer,
    "iterative": IterativeModalityImputer,
    "cross-modal": CrossModalImputer,
    "translator": TranslatorImputer,
    "cycle": CycleTranslatorImputer,
}


def imputer_names() -> list[str]:
    """The registered imputation methods.

    Returns
    -------
    list of str
        The names :func:`make_imputer` accepts, in registration order.
    """
    return list(_METHODS)


def make_imputer(method: str | Mapping | ModalityImputer, modality: str) -> ModalityImputer:
    """An unfitted imputer of ``modality``.

    Parameters
    ----------
    method : str, mapping or ModalityImputer
        A registered name, ``{"method": name, **params}`` or an unfitted imputer (cloned,
        its ``modality`` set).
    modality : str
        The modality it fills in.

    Returns
    -------
    ModalityImputer
        An unfitted imputer of the method, with ``modality`` set.
    """
    if isinstance(method, ModalityImputer):
        return clone(method).set_params(modality=modality)
    params = {}
    if isinstance(method, Mapping):
        params = {k: v for k, v in method.items() if k != "method"}
        method = method.get("method", "")
    if method not in _METHODS:
        raise ValueError(f"impute: {modality!r} names the method {method!r}; known methods "
                         f"are {', '.join(_METHODS)}.")
    cls = _METHODS[method]
    try:
        return cls(modality=modality, **params)
    except TypeError as err:
        raise ValueError(f"impute: {modality!r}: {method} does not take {err}") from None
