"""The ``impute:`` section: missing modalities filled in inside every fold."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from medfuse.config.errors import _At
from medfuse.config.refs import _Strict


class ImputeSpec(_Strict):
    """Missing modalities filled in inside every fit (off unless the section is given).

    Every strategy is wrapped with :func:`medfuse.fusion.imputed.with_imputation` (inside
    its representation wrapper, if any, so a represented modality is filled in as the
    features it becomes): the imputers are fitted on the training subjects of every fold,
    and the saved model carries them to fill in new subjects (see
    :func:`medfuse.study.imputed_estimators`).

    Parameters
    ----------
    methods : dict of str to str or dict
        Modality -> a method name (see :func:`medfuse.preprocess.impute.imputer_names`) or
        ``{method: name, <the imputer's parameters>}``. Only ``continuous``, ``counts`` and
        all-numeric ``clinical`` tables can be filled in.
    n_imputations : int
        1: single imputation (the imputers' best guess); more: multiple imputation, each
        with its own bootstrap and draws, the strategies' predictions pooled.
    """

    methods: dict[str, str | dict[str, Any]] = Field(min_length=1)
    n_imputations: int = Field(1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _methods_section(cls, v: Any) -> Any:
        if isinstance(v, dict) and v and not set(v) & {"methods", "n_imputations"}:
            raise ValueError("give the modalities under methods: (impute: {methods: "
                             "{<modality>: <method>}, n_imputations: 1})")
        return v

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: dict) -> dict:
        for modality, method in v.items():
            try:
                check_method(modality, method)
            except ValueError as err:
                raise _At(modality, str(err)) from None
        return v


def check_method(modality: str, method: str | dict) -> None:
    """Refuse an unknown imputation method (listing the known ones) or a parameter its
    imputer does not take.

    Parameters
    ----------
    modality : str
        The modality the method fills in.
    method : str or dict
        A method name or ``{method: name, <params>}``.

    Raises
    ------
    ValueError
        Naming the modality.
    """
    from medfuse.preprocess.impute import imputer_names, make_imputer

    if isinstance(method, dict) and "method" not in method:
        raise ValueError(f"give {{method: <name>, <parameters>}} for modality {modality!r}; "
                         f"known methods: {', '.join(imputer_names())}")
    name = method["method"] if isinstance(method, dict) else method
    if name not in imputer_names():
        raise ValueError(f"unknown imputation method {name!r} for modality {modality!r}; "
                         f"known methods: {', '.join(imputer_names())}")
    if isinstance(method, dict):
        given = set(method) - {"method"}
        allowed = set(make_imputer(name, modality).get_params(deep=False)) - _SET_BY_STUDY
        wrong = sorted(given - allowed)
        if wrong:
            raise ValueError(f"{name} has no parameter {', '.join(map(repr, wrong))} "
                             f"(its parameters: {', '.join(sorted(allowed))})")


#: imputer parameters the study sets itself (the modality, and the bootstrap and seed of
#: multiple imputation)
_SET_BY_STUDY = {"modality", "bootstrap", "random_state"}
