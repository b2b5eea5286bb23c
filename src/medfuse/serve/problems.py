"""Validation errors as messages a person can act on: each names the subject (its position in
the request and its ID), the modality and the feature, and says what was expected.

pydantic reports one error per location; here the missing features of one subject's
modality become one message, the members of a union (a clinical cell is a number, a string
or null) one message, and a modality that cannot be sent as JSON (an image) its own
message. Values are never echoed: a message names the JSON type that was sent instead.
"""

from __future__ import annotations

from medfuse.data.validation import preview
from medfuse.serve.schema import MAX_ID_CHARS, ModelSchema
from medfuse.serve.subjects import subject_label

#: the most problems an answer lists
MAX_LISTED = 100
#: the most problems the one-line ``detail`` names
MAX_DETAIL = 10

_TOP = {
    "subjects": "subjects must be a list of at least one subject, each an object with id and "
                "modalities",
    "alpha": "alpha must be a number strictly between 0 and 1, or null",
    "abstain": "abstain must be true or false",
}


def json_type(value) -> str:
    """The JSON type of a value, in words (messages name it instead of the value).

    Parameters
    ----------
    value : object
        A value parsed from JSON.

    Returns
    -------
    str
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number out of range" if value != value or abs(value) == float("inf") \
            else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _subject_id(body, index: int):
    if isinstance(body, dict) and isinstance(body.get("subjects"), list) \
            and 0 <= index < len(body["subjects"]):
        item = body["subjects"][index]
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            return item["id"]
    return None


def _item(message: str, index: int | None = None, subject=None, modality=None,
          feature=None) -> dict:
    where = subject_label(index, subject) + ": " if index is not None else ""
    return {"subject_index": index, "subject": subject, "modality": modality,
            "feature": feature, "message": where + message}


def describe(errors: list[dict], body, schema: ModelSchema) -> list[dict]:
    """Problems (``subject_index``, ``subject``, ``modality``, ``feature``, ``message``)
    from pydantic's errors of a ``POST /predict`` or ``/explain`` body.

    Parameters
    ----------
    errors : list of dict
        ``RequestValidationError.errors()``.
    body : object
        The body as parsed (to find the subjects' IDs).
    schema : ModelSchema
        The model's request schema.

    Returns
    -------
    list of dict
        One entry per problem, in the order of the request.
    """
    out: list[dict] = []
    seen: set = set()
    missing: dict[tuple, list[str]] = {}
    for err in errors:
        loc = tuple(err.get("loc", ()))
        loc = loc[1:] if loc[:1] == ("body",) else loc
        kind = err.get("type", "")
        if kind == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            out.append(_item(f"the body is not valid JSON ({reason} at character "
                             f"{loc[0] if loc else '?'})"))
            continue
        if not loc or not isinstance(loc[0], str):
            key = ("body",)
            text = ("the body must be a JSON object with subjects (send it with "
                    "Content-Type: application/json)")
        elif loc[0] != "subjects" or len(loc) == 1:
            key = loc[:1]
            text = _TOP.get(loc[0], f"unknown field {loc[0]!r}; a request has subjects, "
                                    "alpha and abstain")
        elif not isinstance(loc[1], int):
            key, text = loc[:1], _TOP["subjects"]
        else:
            index = loc[1]
            sid = _subject_id(body, index)
            key = loc[:5]  # a union's members report the same place more than once
            if key in seen:
                continue
            if len(loc) >= 5 and loc[2] == "modalities" and kind == "missing":
                missing.setdefault((index, loc[3]), []).append(str(loc[4]))
                seen.add(key)
                continue
            out.append(_subject_problem(loc, kind, err.get("input"), index, sid, schema))
            seen.add(key)
            continue
        if key not in seen:
            seen.add(key)
            out.append(_item(text))
    for (index, modality), features in missing.items():
        sent = schema.modalities[modality]
        out.append(_item(
            f"modality {modality!r} lacks feature(s) {preview(features)} ({len(features)} of "
            f"{len(sent.features)}); a subject that sends a modality sends every one of its "
            "features", index, _subject_id(body, index), modality, features[0]))
    out.sort(key=lambda p: -1 if p["subject_index"] is None else p["subject_index"])
    return out


def _subject_problem(loc: tuple, kind: str, value, index: int, sid, schema: ModelSchema
                     ) -> dict:
    """The problem of one location inside ``subjects[index]``."""
    if len(loc) == 2:
        return _item("must be an object with id and modalities", index, sid)
    field = loc[2]
    if field == "id":
        return _item(f"id must be a string of 1 to {MAX_ID_CHARS} characters, got "
                     f"{json_type(value)}" if kind != "missing" else "id is missing",
                     index, sid)
    if field == "obs":
        columns = ", ".join(schema.obs_columns) or "none"
        if len(loc) == 3:
            return _item(f"obs must be an object with the columns the model's harmonizers "
                         f"read ({columns})", index, sid)
        if kind == "extra_forbidden":
            return _item(f"obs column {loc[3]!r} is not read by the model (it reads "
                         f"{columns})", index, sid)
        if kind == "missing":
            return _item(f"obs column {loc[3]!r} is missing", index, sid)
        return _item(f"obs column {loc[3]!r} must be a number or a string, got "
                     f"{json_type(value)}", index, sid)
    if field != "modalities":
        return _item(f"unknown field {field!r}; a subject has id, modalities"
                     + (" and obs" if schema.obs_columns else ""), index, sid)
    if len(loc) == 3:
        return _item("modalities must be an object of modality: {feature: value}"
                     if kind != "missing" else "modalities is missing", index, sid)
    modality = loc[3]
    if len(loc) == 4:
        if modality in schema.refused:
            return _item(f"modality {modality!r} is of kind {schema.refused[modality]}, which "
                         "cannot be sent as JSON; this service takes table kinds only "
                         "(leave the modality out, or predict with medfuse predict)",
                         index, sid, modality)
        if kind == "extra_forbidden":
            return _item(f"unknown modality {modality!r}; the model's modalities are "
                         f"{', '.join(schema.modalities)}", index, sid, modality)
        return _item(f"modality {modality!r} must be an object of feature: value, got "
                     f"{json_type(value)}", index, sid, modality)
    feature = loc[4]
    sent = schema.modalities[modality]
    if kind == "extra_forbidden":
        return _item(f"modality {modality!r} has no feature {feature!r} (it has "
                     f"{len(sent.features)}: {preview(list(sent.features))})",
                     index, sid, modality, feature)
    return _item(f"modality {modality!r}, feature {feature!r} must be {sent.expected}, got "
                 f"{json_type(value)}", index, sid, modality, feature)


def summary(problems: list[dict]) -> str:
    """The one-line ``detail`` of an answer that lists ``problems``.

    Parameters
    ----------
    problems : list of dict
        From :func:`describe` or :class:`~medfuse.serve.subjects.InputProblem`.

    Returns
    -------
    str
    """
    shown = "; ".join(p["message"] for p in problems[:MAX_DETAIL])
    more = len(problems) - MAX_DETAIL
    head = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return head + shown + (f"; and {more} more" if more > 0 else "")
