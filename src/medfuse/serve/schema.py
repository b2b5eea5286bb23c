"""The request and response models of one saved model, built from its modalities, kinds,
feature names and classes, so that the OpenAPI document lists exactly what the model reads.

A subject sends any subset of the model's modalities; a modality it sends has every one of
the model's features for it (missing and unknown features are refused, as ``medfuse
predict`` refuses a file whose columns differ). What a cell may hold follows the modality's
kind: ``continuous`` a finite number, ``counts`` a whole number >= 0, ``clinical`` a finite
number, a string or null (clinical tables allow missing cells), ``sequence`` a string.
Kinds stored as arrays (``image``, ``timeseries``) cannot be sent as JSON numbers: such a
modality is left out of the request model and refused with its own message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from medfuse.data.kinds import ContinuousKind, CountsKind, get_kind
from medfuse.predictor import Predictor

#: the longest subject ID a request may carry
MAX_ID_CHARS = 256

Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = Annotated[float, Strict(), Field(ge=0, multiple_of=1, allow_inf_nan=False)]
Text = Annotated[str, Strict()]
SubjectId = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID_CHARS,
                                           description="The subject's ID, unique in the "
                                                       "request; echoed in the response.")]


@dataclass(frozen=True)
class SentModality:
    """A modality of the model that a request can carry as JSON.

    Parameters
    ----------
    name : str
        The modality.
    kind : str
        Its kind.
    features : tuple of str
        The training features, in the model's order.
    nullable : bool
        Whether a cell may be null (the kind allows missing cells).
    expected : str
        What a cell holds, in words, for messages.
    numeric : bool
        Whether every cell is a number (``continuous``, ``counts``); otherwise cells may
        be text.
    """

    name: str
    kind: str
    features: tuple[str, ...]
    nullable: bool
    expected: str
    numeric: bool


@dataclass(frozen=True)
class ModelSchema:
    """The request and response models of one saved model.

    Parameters
    ----------
    modalities : dict of str to SentModality
        The modalities a request can carry.
    refused : dict of str to str
        Modality -> kind for the model's modalities that cannot be sent as JSON.
    obs_columns : tuple of str
        The obs columns each subject must send (those the model's harmonizers read).
    request : type
        The pydantic model of ``POST /predict`` and ``POST /explain`` bodies.
    predict_response, explain_response : type
        The pydantic models of their answers.
    """

    modalities: dict[str, SentModality]
    refused: dict[str, str]
    obs_columns: tuple[str, ...]
    request: type[BaseModel]
    predict_response: type[BaseModel]
    explain_response: type[BaseModel]


def _safe(name: str) -> str:
    """A class-name fragment made of ``name``'s letters and digits."""
    return re.sub(r"\W+", "_", name).strip("_")[:40] or "x"


def value_rule(kind_name: str) -> tuple[Any, str, bool, bool] | None:
    """The pydantic type of a cell of a modality of ``kind_name``, its description,
    whether it may be null and whether it is always a number; None for a kind that cannot
    be sent as JSON.

    Parameters
    ----------
    kind_name : str
        A registered kind.

    Returns
    -------
    tuple or None
        ``(type, words, nullable, numeric)``.
    """
    kind = get_kind(kind_name)
    if kind.storage != "table":
        return None
    if isinstance(kind, CountsKind):
        rule, words = Count, "a count (a whole number >= 0)"
    elif isinstance(kind, ContinuousKind):
        rule, words = Finite, "a finite number"
    elif "tabular" not in kind.capabilities:
        rule, words = Text, "a string"
    else:
        rule, words = Finite | Text, "a finite number or a string"
    numeric = isinstance(kind, ContinuousKind)
    nullable = bool(kind.nan_allowed)
    if nullable:
        rule, words = rule | None, words + " or null"
    return rule, words, nullable, numeric


def sendable_modalities(predictor: Predictor) -> tuple[dict[str, SentModality], dict[str, str]]:
    """The model's modalities a request can carry, and the others with their kinds.

    Parameters
    ----------
    predictor : Predictor
        The loaded model.

    Returns
    -------
    tuple of (dict of str to SentModality, dict of str to str)
    """
    sent, refused = {}, {}
    for m in predictor.modalities:
        kind = predictor.kinds[m]
        rule = value_rule(kind)
        features = predictor.model.feature_names_.get(m)
        if rule is None or not features:
            refused[m] = kind
            continue
        sent[m] = SentModality(m, kind, tuple(str(f) for f in features), rule[2], rule[1],
                              rule[3])
    return sent, refused


def obs_columns(predictor: Predictor) -> tuple[str, ...]:
    """The obs columns the model's harmonizers read (batch first, then covariates).

    Parameters
    ----------
    predictor : Predictor
        The loaded model.

    Returns
    -------
    tuple of str
    """
    out: dict[str, None] = {}
    for h in predictor.harmonizers:
        out[str(getattr(h, "batch_col", "batch"))] = None
        for c in getattr(h, "covariate_cols", None) or ():
            out[str(c)] = None
    return tuple(out)


def _features_model(modality: SentModality, index: int) -> type[BaseModel]:
    rule = value_rule(modality.kind)[0]
    fields = {f"f{k}": (rule, Field(..., alias=name, title=name))
              for k, name in enumerate(modality.features)}
    return create_model(
        f"Modality{index}_{_safe(modality.name)}",
        __config__=ConfigDict(extra="forbid", title=f"modality {modality.name}",
                              json_schema_extra={"description": (
                                  f"Kind {modality.kind}: every one of its "
                                  f"{len(modality.features)} features, each "
                                  f"{modality.expected}.")}),
        **fields)


def _request_model(sent: dict[str, SentModality], obs: tuple[str, ...]) -> type[BaseModel]:
    modality_fields = {f"m{j}": (_features_model(s, j) | None, Field(None, alias=name,
                                                                     title=name))
                       for j, (name, s) in enumerate(sent.items())}
    modalities = create_model(
        "Modalities", __config__=ConfigDict(
            extra="forbid", json_schema_extra={
                "minProperties": 1,
                "description": "Any subset of the model's modalities (at least one)."}),
        **modality_fields)
    subject_fields: dict[str, Any] = {"id": (SubjectId, ...), "modalities": (modalities, ...)}
    if obs:
        obs_model = create_model(
            "Obs", __config__=ConfigDict(extra="forbid", json_schema_extra={
                "description": "The columns the model's harmonizers read (the batch, "
                               "protected covariates)."}),
            **{f"o{k}": (Finite | Text, Field(..., alias=c, title=c))
               for k, c in enumerate(obs)})
        subject_fields["obs"] = (obs_model, ...)
    subject = create_model("Subject", __config__=ConfigDict(extra="forbid"), **subject_fields)
    return create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        subjects=(list[subject], Field(..., min_length=1, description="The subjects, each "
                                       "with any subset of the modalities.")),
        alpha=(Annotated[float, Strict()] | None, Field(
            None, gt=0, lt=1, allow_inf_nan=False,
            description="Add conformal prediction sets at miscoverage alpha (a model saved "
                        "with conformal calibration only).")),
        abstain=(Annotated[bool, Strict()], Field(
            False, description="Add abstain: true where the prediction set is not a single "
                               "class.")))


def _class_type(classes: list) -> Any:
    if classes and all(isinstance(c, int | str) for c in classes):
        return Literal[tuple(classes)]
    return float | int | str


def _record_model(name: str, predictor: Predictor, explain: bool) -> type[BaseModel]:
    columns: dict[str, Any] = {"subject": (str, ...)}
    optional = float | None
    survival = predictor.task == "survival"
    classes = [c.item() if hasattr(c, "item") else c for c in
               getattr(predictor.model, "classes_", [])]
    label = _class_type(classes)
    if survival:
        columns["risk"] = (optional, ...)
    else:
        columns["prediction"] = (label | None, ...)
        columns.update({f"proba_{c}": (optional, ...) for c in classes})
        columns.update({f"in_set_{c}": (bool | None, None) for c in classes})
        columns.update({"set_size": (int | None, None), "set_category": (str | None, None),
                        "abstain": (bool | None, None)})
    columns["modalities_used"] = (str, ...)
    if explain:
        columns["explained_class"] = ((str if survival else label) | None, None)
        columns["shapley_base"] = (optional, None)
        columns.update({f"shapley_{m}": (optional, None) for m in predictor.modalities})
    fields = {f"c{k}": (kind, Field(default, alias=column, title=column))
              for k, (column, (kind, default)) in enumerate(columns.items())}
    record = create_model(f"{name}Record", **fields)
    return create_model(f"{name}Response", predictions=(list[record], ...))


def build_schema(predictor: Predictor) -> ModelSchema:
    """The request and response models of ``predictor``'s model.

    Parameters
    ----------
    predictor : Predictor
        The loaded model.

    Returns
    -------
    ModelSchema

    Raises
    ------
    ValueError
        When none of the model's modalities can be sent as JSON.
    """
    sent, refused = sendable_modalities(predictor)
    if not sent:
        raise ValueError(
            "none of the model's modalities can be sent as JSON ("
            + ", ".join(f"{m}: {k}" for m, k in refused.items())
            + "); the service takes table kinds only. Predict with medfuse predict.")
    obs = obs_columns(predictor)
    return ModelSchema(sent, refused, obs, _request_model(sent, obs),
                       _record_model("Predict", predictor, explain=False),
                       _record_model("Explain", predictor, explain=True))
