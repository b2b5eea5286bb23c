"""The answers whose shape does not depend on the model: errors, health, and the
description of the model served."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ProblemItem(BaseModel):
    """One problem of a request: where it is and what is wrong.

    Parameters
    ----------
    subject_index : int or None
        The subject's position in ``subjects``.
    subject : str or None
        The subject's ID, as sent.
    modality, feature : str or None
        Where in the subject.
    message : str
        What is wrong and what was expected, naming all of the above.
    """

    subject_index: int | None = Field(None, description="Position in ``subjects``.")
    subject: str | None = Field(None, description="The subject's ID, as sent.")
    modality: str | None = None
    feature: str | None = None
    message: str


class Problem(BaseModel):
    """An error answer: what went wrong and the request ID to quote.

    Parameters
    ----------
    detail : str
        One line: every problem (the first ten) or the reason.
    request_id : str or None
        The ID of the request, also in the ``X-Request-ID`` header and the log.
    errors : list of ProblemItem
        The problems (the first hundred).
    """

    detail: str
    request_id: str | None = None
    errors: list[ProblemItem] = Field(default_factory=list)


class Health(BaseModel):
    """``GET /health``.

    Parameters
    ----------
    status : "ok"
        The service answers.
    strategy : str
        The strategy of the model served.
    """

    status: Literal["ok"]
    strategy: str


class ModalityInfo(BaseModel):
    """A modality of the model, as ``GET /model`` describes it.

    Parameters
    ----------
    name, kind : str
        The modality and its kind.
    features : list of str or None
        The training features, in order (None for array kinds).
    accepted : bool
        Whether a request can carry the modality as JSON.
    nullable : bool
        Whether its cells may be null.
    values : str
        What a cell holds, in words.
    """

    name: str
    kind: str
    features: list[str] | None
    accepted: bool = Field(description="Whether a request can carry it as JSON.")
    nullable: bool = Field(description="Whether its cells may be null.")
    values: str = Field(description="What a cell holds.")


class ModelInfo(BaseModel):
    """``GET /model``: what the service predicts with.

    Parameters
    ----------
    strategy : str
        The strategy name of the manifest.
    task : {"classification", "survival"}
        What the model predicts.
    classes : list
        The classes (empty for survival).
    conformal : bool
        Whether the model gives prediction sets (``alpha``).
    modalities : list of ModalityInfo
        Every modality of the model.
    obs_columns : list of str
        The obs columns each subject must send (for harmonizers).
    medfuse_version : str
        The medfuse version serving the model.
    saved_with : dict of str to str
        The package versions recorded in the manifest.
    files : dict of str to str
        The manifest's SHA-256 of each model file.
    study : dict
        What the manifest records of the study (name, select, primary metric, CV score).
    """

    strategy: str
    task: Literal["classification", "survival"]
    classes: list[Any]
    conformal: bool = Field(description="Whether the model gives prediction sets (alpha).")
    modalities: list[ModalityInfo]
    obs_columns: list[str]
    medfuse_version: str = Field(description="The medfuse version serving the model.")
    saved_with: dict[str, str] = Field(description="Package versions in the manifest.")
    files: dict[str, str] = Field(description="The manifest's SHA-256 of each model file.")
    study: dict[str, Any] = Field(description="What the manifest records of the study.")
