"""Reading one cohort of a study file: modality tables, outcome and obs columns.

Columns a study uses as outcome, batch, groups or harmonization covariates are dropped from
every modality table read from the same file, and subject IDs that differ between the files
are refused with the subjects named and their near matches (:mod:`medfuse.data.ids`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medfuse.config.errors import StudyError
from medfuse.config.refs import ColumnRef, ModalitySpec, SurvivalRef
from medfuse.data.ids import id_mismatch_message
from medfuse.data.kinds import get_kind
from medfuse.data.kinds.base import TABLE_SUFFIXES
from medfuse.data.multimodal import DataValidationError, MultiModalData


def read_cohort(resolve: Callable[[str], Path], obs_columns: list[tuple[str, ColumnRef, str,
                                                                         str]],
                outcome: ColumnRef | SurvivalRef, modalities: dict[str, ModalitySpec],
                prefix: str) -> MultiModalData:
    """One cohort of a study file.

    Parameters
    ----------
    resolve : callable
        A path of the study file -> the file (relative to the study's folder).
    obs_columns : list of (obs name, ColumnRef, field, role)
        The columns the study adds to obs (``Study._obs_columns()``).
    outcome : ColumnRef or SurvivalRef
        The cohort's outcome.
    modalities : dict of str to ModalitySpec
        The cohort's modality files.
    prefix : str
        ``""`` for the training cohort, ``"test."`` for the test cohort: its batch, group and
        covariate columns are looked up by name in the test files (outcome file first), and
        left out when no test file has them (the harmonization's batch and covariates are
        then an error).

    Returns
    -------
    MultiModalData
        Columns used as outcome, batch, groups or covariates are dropped from the modality
        tables of the same file: ``uns["notes"]`` says which, and ``uns["set_aside"]``
        holds them as modality -> {column: role} (saved with the model, so that new
        subjects' files are read the same way).
    """
    from medfuse.data.tables import read_table

    tables: dict[Path, pd.DataFrame] = {}
    roles: dict[Path, dict[str, str]] = {}      # file -> column -> what it is used as

    def table(file: str, field: str) -> pd.DataFrame:
        p = resolve(file)
        if p not in tables:
            try:
                tables[p] = read_table(p)
            except FileNotFoundError:
                raise StudyError(f"{field}.file: no such file {p}") from None
        return tables[p]

    def column(ref: ColumnRef, field: str, name: str, role: str) -> pd.Series:
        t = table(ref.file, field)
        if name not in t.columns:
            raise StudyError(f"{field}: column {name!r} is not in {ref.file} (columns: "
                             f"{', '.join(map(str, t.columns[:20]))})")
        roles.setdefault(resolve(ref.file), {}).setdefault(name, role)
        return t[name]

    blocks, specs, files = {}, {}, {}
    for name, spec in modalities.items():
        kind = get_kind(spec.kind)
        if spec.images is not None:  # one scan per subject: read once the subjects are known
            specs[name] = spec.to_modality()
            continue
        if spec.stream is not None:  # a long table of sensor samples
            from medfuse.config.streams import read_stream_block

            blocks[name] = read_stream_block(spec.stream, resolve(spec.file), name,
                                             f"{prefix}modalities.{name}")
            specs[name] = spec.to_modality()
            continue
        if kind.storage == "table" and Path(spec.file).suffix in TABLE_SUFFIXES:
            blocks[name] = table(spec.file, f"{prefix}modalities.{name}")
            files[name] = resolve(spec.file)
        else:
            path = resolve(spec.file)
            if not path.exists():
                raise StudyError(f"{prefix}modalities.{name}.file: no such file {path}")
            blocks[name] = kind.read(path)
        specs[name] = spec.to_modality()
    if isinstance(outcome, SurvivalRef):
        obs = _survival_obs(
            column(outcome, f"{prefix}outcome.time", outcome.time, "outcome"),
            column(outcome, f"{prefix}outcome.event", outcome.event, "outcome"),
            f"{prefix}outcome")
    else:
        obs = pd.DataFrame({outcome.column: column(outcome, f"{prefix}outcome.column",
                                                   outcome.column, "outcome")})
    outcome_ids = [str(i) for i in obs.index]
    for name, spec in modalities.items():
        if spec.images is not None:
            from medfuse.config.images import read_scans

            blocks[name] = read_scans(spec, outcome_ids, resolve, f"{prefix}modalities.{name}")
    blocks = {name: blocks[name] for name in modalities}
    for key, ref, field, role in obs_columns:
        if prefix:
            files_ = [outcome.file] + [m.file for m in modalities.values()
                                       if m.file is not None]
            found = [(f, table(f, f"{prefix}outcome")) for f in files_]
            found = [(f, t[ref.column]) for f, t in found if ref.column in t.columns]
            if not found:
                if field.startswith("harmonize"):
                    raise StudyError(f"{prefix}modalities: no test file has the column "
                                     f"{ref.column!r} ({field}), which harmonization needs "
                                     "for every test subject.")
                continue
            file, values = found[0]
            roles.setdefault(resolve(file), {}).setdefault(ref.column, role)
        else:
            values = column(ref, f"{field}.column", ref.column, role)
        if key not in obs.columns:
            obs = obs.join(values.rename(key), how="outer")
        if ref.column not in obs.columns:
            obs[ref.column] = obs[key]
    notes, set_aside = [], {}
    for name, path in files.items():
        used = {c: r for c, r in roles.get(path, {}).items() if c in blocks[name].columns}
        if not used:
            continue
        if len(used) == blocks[name].shape[1]:
            raise StudyError(f"{prefix}modalities.{name}: every column of "
                             f"{modalities[name].file} is used as outcome, batch, groups "
                             "or covariate; no feature is left.")
        blocks[name] = blocks[name].drop(columns=list(used))
        set_aside[name] = dict(used)
        listed = ", ".join(f"{c!r} ({r})" for c, r in used.items())
        notes.append(f"modality {name!r}: {listed} of {modalities[name].file} "
                     f"{'are not features' if len(used) > 1 else 'is not a feature'}")
    ids = {modalities[m].source: [str(i) for i in (b[0] if isinstance(b, tuple) else b.index)]
           for m, b in blocks.items()}
    mismatch = id_mismatch_message(outcome.file, outcome_ids, ids)
    if mismatch:
        raise StudyError(mismatch)
    measured = set().union(*(set(v) for v in ids.values()))
    orphans = [i for i in obs.index if i not in measured]
    if orphans:
        warnings.warn(
            f"{prefix}outcome: {len(orphans)} subject(s) have an outcome but no modality "
            f"file row and are left out: {', '.join(map(repr, orphans[:5]))}"
            + (" ..." if len(orphans) > 5 else ""), stacklevel=3)
        obs = obs.drop(index=orphans)
    try:
        return MultiModalData(blocks, obs=obs, modalities=specs,
                              outcome=getattr(outcome, "column", None),
                              uns={"notes": notes, "set_aside": set_aside} if notes else None)
    except DataValidationError as err:
        raise StudyError(f"data: {err}") from None


def _survival_obs(time: pd.Series, event: pd.Series, field: str) -> pd.DataFrame:
    """obs columns ``time`` (float, >= 0) and ``event`` (bool) from the study's columns; the
    event column may be 0/1, true/false or yes/no."""
    t = pd.to_numeric(time, errors="coerce")
    bad = t.isna() | (t < 0)
    if bad.any():
        raise StudyError(f"{field}.time: {int(bad.sum())} subject(s) have a missing, "
                         f"non-numeric or negative time: "
                         f"{', '.join(map(repr, list(t.index[bad])[:5]))}")
    words = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False,
             "1.0": True, "0.0": False}
    e = event.map(lambda v: words.get(str(v).strip().lower()))
    if e.isna().any():
        raise StudyError(f"{field}.event: {int(e.isna().sum())} subject(s) have an event "
                         f"value that is not 0/1, true/false or yes/no: "
                         f"{', '.join(map(repr, list(e.index[e.isna()])[:5]))}")
    return pd.DataFrame({"time": t.astype(float), "event": e.astype(bool)})
