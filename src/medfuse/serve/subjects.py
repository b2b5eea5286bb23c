"""From a validated request to :class:`~medfuse.data.MultiModalData`, and from a prediction
table to JSON.

The subjects' blocks are built as ``medfuse predict`` reads modality files: one table per
modality, indexed by subject ID, the model's feature columns in its order, the model's kind.
Cells of numeric kinds become float64 (a JSON number is the float64 Python reads, exactly);
a ``clinical`` column is numeric when every value sent is a number or null and text
otherwise, as a CSV column would be read. Answers keep every float64 exactly: Python's
``json`` writes the shortest text that reads back to the same float.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from medfuse.data.multimodal import MultiModalData
from medfuse.serve.schema import ModelSchema

#: IDs that medfuse reads as a missing ID (:func:`medfuse.data.validation.as_id_index`)
_MISSING_IDS = ("", "nan", "None")


class InputProblem(ValueError):
    """A request that passed the schema but cannot be predicted as sent.

    Parameters
    ----------
    problems : list of dict
        One entry per problem (``subject_index``, ``subject``, ``modality``, ``feature``,
        ``message``).
    """

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        return "; ".join(p["message"] for p in self.problems)


def subject_label(index: int, subject_id) -> str:
    """How messages name a subject: its position in the request and its ID.

    Parameters
    ----------
    index : int
        Position in ``subjects``.
    subject_id : object
        The ID sent (shortened when long).

    Returns
    -------
    str
    """
    if isinstance(subject_id, str):
        shown = subject_id if len(subject_id) <= 64 else subject_id[:61] + "..."
        return f"subject {index} (ID {shown!r})"
    return f"subject {index}"


def _problem(index: int, subject_id, message: str, modality: str | None = None) -> dict:
    return {"subject_index": index, "subject": subject_id, "modality": modality,
            "feature": None, "message": f"{subject_label(index, subject_id)}: {message}"}


def check_subjects(subjects: list[dict]) -> None:
    """Refuse what the schema cannot say: an ID sent twice, an ID medfuse reads as missing,
    a subject whose modalities are all null.

    Parameters
    ----------
    subjects : list of dict
        The request's subjects, by alias (``id``, ``modalities``, ``obs``).

    Raises
    ------
    InputProblem
        Naming every such subject.
    """
    problems, first = [], {}
    for i, s in enumerate(subjects):
        sid = s["id"]
        if sid in first:
            problems.append(_problem(i, sid, f"repeats the ID of subject {first[sid]}; "
                                             "IDs must be unique in a request"))
        first.setdefault(sid, i)
        if sid in _MISSING_IDS:
            problems.append(_problem(i, sid, "the ID reads as a missing ID; give another"))
        if not any(v is not None for v in s["modalities"].values()):
            problems.append(_problem(i, sid, "sends none of the model's modalities"))
    if problems:
        raise InputProblem(problems)


def _column(values: list) -> list | np.ndarray:
    """A column of a kind that takes text: numbers (float64, NaN for null) unless a value
    is text, as a CSV column is read."""
    if any(isinstance(v, str) for v in values):
        return [v if v is None or isinstance(v, str) else repr(v) for v in values]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def to_data(subjects: list[dict], schema: ModelSchema) -> MultiModalData:
    """The request's subjects as :class:`~medfuse.data.MultiModalData`, with the model's
    kinds, in the order of the request.

    Parameters
    ----------
    subjects : list of dict
        Validated subjects, by alias (see :func:`check_subjects`).
    schema : ModelSchema
        The model's request schema.

    Returns
    -------
    MultiModalData
    """
    check_subjects(subjects)
    blocks, kinds = {}, {}
    for name, modality in schema.modalities.items():
        rows = [(s["id"], s["modalities"][name]) for s in subjects
                if s["modalities"].get(name) is not None]
        if not rows:
            continue
        ids = pd.Index([r[0] for r in rows], dtype=object, name="subject")
        features = list(modality.features)
        if modality.numeric:
            frame = pd.DataFrame(np.array([[r[1][f] for f in features] for r in rows],
                                          dtype=float), index=ids, columns=features)
        else:
            frame = pd.DataFrame({f: _column([r[1][f] for r in rows]) for f in features},
                                 index=ids)
        blocks[name], kinds[name] = frame, modality.kind
    obs = None
    if schema.obs_columns:
        obs = pd.DataFrame([[s["obs"][c] for c in schema.obs_columns] for s in subjects],
                           index=pd.Index([s["id"] for s in subjects], name="subject"),
                           columns=list(schema.obs_columns))
    return MultiModalData(blocks, obs=obs, modalities=kinds)


def _cell(value):
    """A table cell as JSON: numpy scalars as Python ones, NaN and NA as null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_records(table: pd.DataFrame, ids: list[str]) -> list[dict]:
    """One JSON-ready record per subject, in the order of ``ids``: ``subject`` and the
    table's columns.

    Parameters
    ----------
    table : DataFrame
        :meth:`Predictor.predict <medfuse.predictor.Predictor.predict>` or ``explain``,
        indexed by subject ID.
    ids : list of str
        The request's subject IDs.

    Returns
    -------
    list of dict
    """
    table = table.reindex(pd.Index(ids, dtype=object))
    columns = {str(c): [_cell(v) for v in table[c].tolist()] for c in table.columns}
    if "modalities_used" in columns:
        columns["modalities_used"] = [v or "" for v in columns["modalities_used"]]
    names = list(columns)
    return [{"subject": sid, **{c: columns[c][k] for c in names}}
            for k, sid in enumerate(ids)]


def dumps(payload) -> bytes:
    """JSON bytes of an answer (floats written to round-trip exactly; NaN refused).

    Parameters
    ----------
    payload : object
        Plain Python data.

    Returns
    -------
    bytes
    """
    return json.dumps(payload, allow_nan=False, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
