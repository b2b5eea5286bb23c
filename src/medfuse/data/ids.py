"""Subject IDs that differ between the files of one cohort: which ones, and which look alike.

The usual causes are formatting: upper/lower case (``S001`` / ``s001``), surrounding
whitespace (``" S001"``), leading zeros (``001`` / ``1``) or a letter prefix on one side
only (``S001`` / ``1``). :func:`id_mismatch_message` names the subjects of each modality file
without an outcome and the outcome subjects in no modality file, and pairs up the IDs that
become equal under one of those normalisations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from medfuse.data.validation import preview

_ZEROS = re.compile(r"(?<!\d)0+(?=\d)")
_PREFIXED_NUMBER = re.compile(r"[A-Za-z_\-.]*0*(\d+)")


def _no_zeros(i: str) -> str:
    return _ZEROS.sub("", i)


def _number(i: str) -> str | None:
    """The number of an ID made of an optional letter prefix and digits."""
    match = _PREFIXED_NUMBER.fullmatch(i.strip())
    return match.group(1) if match else None


#: (normalisation, how the message describes it), tried in this order
RULES: tuple[tuple[Callable[[str], str | None], str], ...] = (
    (str.strip, "same after stripping whitespace"),
    (str.lower, "same after lower-casing"),
    (_no_zeros, "same after dropping leading zeros"),
    (lambda i: _no_zeros(i.strip().lower()),
     "same after lower-casing, stripping whitespace and dropping leading zeros"),
    (_number, "same number"),
)


def near_matches(ids: Sequence[str], others: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(id, other, reason)`` for each of ``ids`` that one rule of :data:`RULES` maps to
    exactly one of ``others`` (the first such rule)."""
    pairs = []
    for rule, reason in RULES:
        index: dict[str, list[str]] = {}
        for o in others:
            key = rule(o)
            if key is not None:
                index.setdefault(key, []).append(o)
        for i in ids:
            if any(p[0] == i for p in pairs):
                continue
            key = rule(i)
            found = index.get(key, []) if key is not None else []
            if len(found) != 1 or found[0] == i:
                continue
            if rule is _number and not (i.strip().isdigit() or found[0].strip().isdigit()):
                continue        # "A1" and "B1" are different subjects, "S001" and "1" alike
            pairs.append((i, found[0], reason))
    return pairs


def id_mismatch_message(outcome_file: str, outcome_ids: Sequence[str],
                        modality_ids: Mapping[str, Sequence[str]]) -> str | None:
    """What differs between the outcome file's IDs and the modality files' IDs, or None
    when every modality subject has an outcome.

    Parameters
    ----------
    outcome_file : the outcome file's name as the user wrote it.
    outcome_ids : the subject IDs of the outcome file.
    modality_ids : modality file name -> its subject IDs.
    """
    in_outcome = set(outcome_ids)
    extra = {f: [i for i in ids if i not in in_outcome] for f, ids in modality_ids.items()}
    extra = {f: ids for f, ids in extra.items() if ids}
    if not extra:
        return None
    measured = set().union(*(set(ids) for ids in modality_ids.values()))
    orphans = [i for i in outcome_ids if i not in measured]
    parts = [f"{len(ids)} subject(s) of {f} have no outcome in {outcome_file}: {preview(ids)}"
             for f, ids in extra.items()]
    if orphans:
        parts.append(f"{len(orphans)} subject(s) of {outcome_file} are in no modality file: "
                     f"{preview(orphans)}")
    message = "Subject IDs differ between files: " + "; ".join(parts) + "."
    pairs: dict[tuple[str, str], str] = {}
    for f, ids in extra.items():
        mine = set(modality_ids[f])
        candidates = [i for i in outcome_ids if i not in mine]
        for i, other, reason in near_matches(ids, candidates):
            pairs.setdefault((i, other), f"{i!r} in {f} looks like {other!r} in "
                                         f"{outcome_file} ({reason})")
    if pairs:
        shown = list(pairs.values())
        message += " Near matches: " + "; ".join(shown[:3]) + (
            f" ... ({len(shown)} in all)" if len(shown) > 3 else "") + "."
    return message + " Make the IDs in the first column of every file identical."
