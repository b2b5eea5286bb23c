"""Reading new subjects for a saved model: its files read the way the study read its own.

A folder without a manifest is read with the kinds the model recorded, and only the files
named after its modalities; columns the study used as batch, groups, outcome or covariate
are set aside as at training; every problem of the folder is named in one error (features
that differ from the training ones, files that match no modality).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from medfuse.data.multimodal import DataValidationError, MultiModalData


def manifest_layout(manifest: dict):
    """What a saved model's manifest says of its training layout, as the attributes
    :func:`read_new_subjects` reads (``modalities_``, ``modality_kinds_``,
    ``feature_names_``), so that new subjects can be read (and bad input refused) before
    the model itself is loaded.

    Parameters
    ----------
    manifest : dict
        :func:`medfuse.persist.read_manifest`.

    Returns
    -------
    SimpleNamespace

    Raises
    ------
    DataValidationError
        When the manifest does not describe a layout.
    """
    from types import SimpleNamespace

    modalities, kinds = manifest.get("modalities"), manifest.get("kinds")
    names = manifest.get("feature_names") or {}
    if not (isinstance(modalities, list) and all(isinstance(m, str) for m in modalities)
            and isinstance(kinds, dict) and set(kinds) == set(modalities)
            and isinstance(names, dict)):
        raise DataValidationError("the model's manifest.json does not describe its modalities, "
                                  "kinds and features.")
    return SimpleNamespace(modalities_=modalities, modality_kinds_=dict(kinds),
                           feature_names_={m: names.get(m) for m in modalities})


def set_aside_columns(manifest: dict) -> dict[str, dict[str, str]]:
    """Modality -> {column: role}: the columns of the training files that the study used as
    outcome, batch, groups or covariate rather than as features (a manifest's ``set_aside``;
    malformed entries are ignored).

    Parameters
    ----------
    manifest : dict

    Returns
    -------
    dict
    """
    value = manifest.get("set_aside") or {}
    if not isinstance(value, dict):
        return {}
    return {str(m): {str(c): str(r) for c, r in cols.items()}
            for m, cols in value.items() if isinstance(cols, dict)}


def same_layout(layout, model) -> bool:
    """Whether a manifest's layout (:func:`manifest_layout`) is the loaded model's.

    Parameters
    ----------
    layout : SimpleNamespace
    model : fitted strategy

    Returns
    -------
    bool
    """
    return (list(layout.modalities_) == list(model.modalities_)
            and dict(layout.modality_kinds_) == dict(model.modality_kinds_)
            and {m: None if v is None else list(v) for m, v in layout.feature_names_.items()}
            == {m: None if v is None else list(v) for m, v in model.feature_names_.items()})


def read_new_subjects(path: str | Path, model, set_aside_columns: dict | None = None,
                      follow_links: bool = False) -> MultiModalData:
    """New subjects from a folder of modality files (first column = subject ID), a MOGONET
    folder or a ``.h5mu`` file, read for ``model``.

    Parameters
    ----------
    path : str or Path
        The folder or file.
    model : fitted strategy or layout
        Its ``modalities_``, ``modality_kinds_`` and ``feature_names_`` say what to read
        (a manifest's, :func:`manifest_layout`, before the model is loaded).
    set_aside_columns : dict, optional
        Modality -> {column: role}: the columns the study did not use as features (the
        model's manifest ``set_aside``); see :func:`set_aside`.
    follow_links : bool
        Read files of the folder that are links to places outside it (refused by default).

    Returns
    -------
    MultiModalData

    Raises
    ------
    DataValidationError
        Naming every problem of the folder: modalities whose features differ from the
        training ones and, with them, files that match no trained modality (a renamed
        file; alone, these are a warning, since a subject may lack a modality).
    FileNotFoundError
        When the folder holds none of the model's modalities.
    ValueError
        For a study file (read it with :func:`medfuse.config.read_study_data`).
    """
    from medfuse.data.io import MANIFEST, read_data, read_folder

    path = Path(path)
    modalities = list(model.modalities_)
    if path.suffix in (".yaml", ".yml"):
        raise ValueError(f"{path} is a study file: read its subjects with "
                         "medfuse.config.read_study_data and pass them to predict.")
    unmatched = unmatched_files(path, modalities)
    try:
        if path.is_dir() and not (path / MANIFEST).exists() and not (
                path / "labels_tr.csv").exists():
            stems = {p.stem for p in path.iterdir()}
            data = read_folder(path, modalities={m: k for m, k in model.modality_kinds_.items()
                                                 if m in stems}, only=modalities,
                               follow_links=follow_links)
        else:
            data = read_data(path, follow_links=follow_links)
    except DataValidationError as err:
        raise DataValidationError("; ".join([str(err).rstrip("."), *unmatched]) + ".") \
            from None
    data = set_aside(data, set_aside_columns or {})
    unused = [m for m in data.modality_names if m not in modalities]
    if unused and not unmatched:
        unmatched = [_unmatched_message(path, unused, modalities)]
    problems = feature_problems(model, data)
    if problems:
        raise DataValidationError(f"{path}: " + "; ".join(problems + unmatched) + ".")
    if unmatched:
        warnings.warn("; ".join(unmatched) + ".", stacklevel=3)
    if not set(modalities) & set(data.modality_names):
        raise FileNotFoundError(
            f"{path} holds none of the model's modalities ({', '.join(modalities)}); "
            f"found {', '.join(data.modality_names)}.")
    return data


def _unmatched_message(path: Path, names, modalities) -> str:
    return (f"{path}: modality file(s) {', '.join(map(repr, names))} match no modality "
            f"of the model ({', '.join(modalities)}) and are not used; rename them "
            "to a trained modality if they hold one")


def unmatched_files(path: Path, modalities) -> list[str]:
    """The message about the files of a folder that no trained modality is named after.

    Parameters
    ----------
    path : Path
        A folder without a manifest (anything else has none).
    modalities : sequence of str
        The model's modalities.

    Returns
    -------
    list of str
        One message, or none when every modality file is named after a modality.
    """
    from medfuse.data.io import MANIFEST
    from medfuse.data.kinds import all_kinds

    if not path.is_dir() or (path / MANIFEST).exists():
        return []
    files = [p for p in sorted(path.iterdir()) if p.is_file()
             and p.stem not in ("obs", "labels_tr", "labels_te")
             and p.stem not in modalities and any(k.claims(p) for k in all_kinds())]
    return [_unmatched_message(path, [p.name for p in files], modalities)] if files else []


def set_aside(data: MultiModalData, columns: dict[str, dict[str, str]]) -> MultiModalData:
    """``data`` with the columns a study used as outcome, batch, groups or covariate taken
    out of the modality tables, as at training.

    Parameters
    ----------
    data : MultiModalData
        New subjects as read from their files.
    columns : dict of str to dict of str to str
        Modality -> {column: role} (``batch``, ``groups``, ``covariate``, ``outcome``).

    Returns
    -------
    MultiModalData
        Without those columns; a batch column becomes obs ``batch`` and a groups column obs
        ``group`` (each also under its own name), a covariate an obs column of its name, and
        an outcome column is dropped. ``data`` itself when no such column is present.
    """
    moved: dict[str, pd.Series] = {}
    blocks = {}
    for m, roles in columns.items():
        if m not in data.modality_names or data.storage(m) != "table":
            continue
        block = data.block(m)
        present = [c for c in roles if c in block.columns]
        if not present:
            continue
        for c in present:
            role = roles[c]
            if role != "outcome":
                moved.setdefault(c, block[c])
                alias = {"batch": "batch", "groups": "group"}.get(role)
                if alias:
                    moved.setdefault(alias, block[c])
        blocks[m] = block.drop(columns=present)
    if not blocks:
        return data
    obs = data.obs.copy()
    for name, values in moved.items():
        if name not in obs.columns:
            obs[name] = values.reindex(obs.index)
        else:
            obs[name] = obs[name].fillna(values.reindex(obs.index))
    return data.with_blocks(blocks, {m: data.modalities[m] for m in blocks}).with_obs(obs)


def feature_problems(model, data: MultiModalData) -> list[str]:
    """Every modality of ``data`` whose feature columns differ from the model's training
    ones, as messages naming the missing and extra columns (empty when all match).

    Parameters
    ----------
    model : fitted strategy
        Its ``feature_names_`` are the training features.
    data : MultiModalData
        New subjects.

    Returns
    -------
    list of str
    """
    from medfuse.data.validation import preview

    out = []
    for m in model.modalities_:
        expected = model.feature_names_.get(m)
        if m not in data.modality_names or expected is None or data.storage(m) != "table":
            continue
        got = [str(c) for c in data.block(m).columns]
        missing = [c for c in expected if c not in set(got)]
        extra = [c for c in got if c not in set(expected)]
        if missing or extra:
            parts = [f"{label} {preview(cols)}" for label, cols in
                     (("missing", missing), ("extra", extra)) if cols]
            out.append(f"modality {m!r} does not have the training features: "
                       f"{', '.join(parts)}")
    return out
