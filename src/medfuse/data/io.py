"""Reading and writing MultiModalData: folders of modality files with a manifest, the
MOGONET layout, and :func:`read_data` for whatever a path holds.

Each modality's files are read and written by its kind (:mod:`medfuse.data.kinds`); MuData
conversion is in :mod:`medfuse.data.mudata`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.kinds import all_kinds
from medfuse.data.modality import Modality
from medfuse.data.mudata import from_mudata
from medfuse.data.multimodal import MultiModalData
from medfuse.data.tables import read_table, write_table
from medfuse.data.validation import DataValidationError
from medfuse.files import (
    UnsafePathError,
    confined_folder,
    open_regular,
    read_json,
    write_file,
)

MANIFEST = "medfuse.json"
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


# ---------------------------------------------------------------------- folders
def write_folder(data: MultiModalData, path: str | Path, fmt: str = "csv") -> Path:
    """Write one file per modality (only subjects that have it), ``obs`` and a manifest.

    Each modality is written by its kind: tables as ``<name>.<fmt>``, arrays as
    ``<name>.npz`` with arrays ``ids`` and ``values``, ragged blocks as ``<name>.npz`` with
    one member per subject array (see :meth:`RaggedBlock.to_npz`).

    Parameters
    ----------
    data : MultiModalData
        The cohort to write.
    path : str or Path
        The folder (created if needed; files of the same names are replaced).
    fmt : {"csv", "parquet"}
        File format of the tables.

    Returns
    -------
    Path
        The folder, holding one file per modality, ``obs.<fmt>`` (when ``data`` has obs
        columns) and the ``medfuse.json`` manifest.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    path = confined_folder(path)
    manifest: dict = {"modalities": {}, "outcome": data.outcome, "obs": None}
    for name, spec in data.modalities.items():
        entry = spec.to_dict()
        block = data.block(name)
        if isinstance(block, pd.DataFrame):
            entry["categories"] = _categories(block)
        entry["file"] = spec.kind_object.write(block, data.block_subjects(name), path, name,
                                               fmt)
        manifest["modalities"][name] = entry
    if data.obs.shape[1]:
        manifest["obs"] = f"obs.{fmt}"
        write_table(data.obs, path / manifest["obs"])
        manifest["obs_categories"] = _categories(data.obs)
    write_file(path / MANIFEST, json.dumps(manifest, indent=2))
    return path


def _categories(frame: pd.DataFrame) -> dict:
    return {str(c): {"categories": [str(v) for v in frame[c].cat.categories],
                     "ordered": bool(frame[c].cat.ordered)}
            for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}


def _restore_categories(frame: pd.DataFrame, cats: Mapping) -> pd.DataFrame:
    for col, c in (cats or {}).items():
        if col in frame.columns:
            frame[col] = pd.Categorical(frame[col].astype("string").astype(object)
                                        .where(frame[col].notna()),
                                        categories=c["categories"], ordered=c["ordered"])
    return frame


def read_folder(path: str | Path, outcome: str | None = None,
                modalities: Mapping[str, Modality | str] | None = None,
                only: Sequence[str] | None = None,
                follow_links: bool = False) -> MultiModalData:
    """Read a folder written by :func:`write_folder`, or any folder of modality files.

    Without a ``medfuse.json`` manifest, every file except ``obs.*`` is a modality named
    after the file: its kind is the one ``modalities`` gives, else the kind of highest
    ``priority`` that claims the file (the first registered among equals:
    ``.csv``/``.tsv``/``.parquet``: ``continuous``; ``.npz``: an array kind chosen from the
    array's dimensions; a third-party kind may claim its own endings, or with a higher
    priority ``.csv`` files whose header it recognises). Files no kind claims are ignored.

    Parameters
    ----------
    path : str or Path
        The folder.
    outcome : str, optional
        The obs column to use as outcome (default: the manifest's, if any).
    modalities : mapping of str to Modality or str, optional
        Kinds of the modality files of a folder without manifest, by modality (file) name.
    only : sequence of str, optional
        Read only these modalities (file names without their ending) of a folder without
        manifest; other files are left unread.
    follow_links : bool
        Read files that are links to places outside the folder (refused by default: a
        folder of data should hold its files; a link inside it is always followed).

    Returns
    -------
    MultiModalData
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"No such folder: {path}")
    manifest_file = path / MANIFEST
    blocks: dict = {}
    specs: dict = dict(modalities or {})
    obs = None
    if manifest_file.exists() or manifest_file.is_symlink():
        manifest = _read_manifest(path, follow_links)
        for name, entry in manifest["modalities"].items():
            spec = specs.setdefault(name, Modality.from_dict(entry))
            spec = spec if isinstance(spec, Modality) else Modality(kind=spec)
            blocks[name] = _read_block(spec, _inside(path, entry["file"], follow_links),
                                       entry.get("categories"))
        if manifest.get("obs"):
            obs = _restore_categories(read_table(_inside(path, manifest["obs"], follow_links)),
                                      manifest.get("obs_categories"))
        outcome = outcome or manifest.get("outcome")
    else:
        for file in sorted(path.iterdir()):
            if only is not None and file.stem not in only and file.stem != "obs":
                continue
            if file.is_dir() and not file.is_symlink():
                continue
            if file.stem == "obs" and file.suffix in TABLE_SUFFIXES:
                obs = read_table(_inside(path, file.name, follow_links))
                continue
            spec = _spec_for(specs.get(file.stem), _inside(path, file.name, follow_links))
            if spec is not None:
                specs[file.stem] = spec
                blocks[file.stem] = _read_block(spec, _inside(path, file.name, follow_links),
                                                None)
        if not blocks:
            endings = sorted({s for k in all_kinds() for s in k.suffixes})
            raise DataValidationError(f"{path} holds no modality files "
                                      f"({', '.join(endings)}).")
    return MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome)


def _inside(folder: Path, name, follow_links: bool = False) -> Path:
    """``folder / name``: a plain file name whose file (after links) lies in the folder,
    unless ``follow_links``; a name that is a path out of the folder is always refused."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name \
            or "\x00" in name:
        raise DataValidationError(f"{folder / MANIFEST} names the file {name!r}, which is "
                                  "not a plain file name in the folder; manifests may only "
                                  "name files inside it.")
    file = folder / name
    target = file.resolve()
    if not follow_links and not target.is_relative_to(folder.resolve()):
        raise UnsafePathError(f"{file} is a link to {target}, outside the folder {folder}; "
                              "copy the file in, or pass --follow-links (follow_links=True) "
                              "if you mean to read it.")
    return file


def _read_manifest(folder: Path, follow_links: bool) -> dict:
    """The ``medfuse.json`` of a data folder, checked: a JSON object whose ``modalities``
    maps names to entries with a ``file`` (every problem names the file)."""
    file = _inside(folder, MANIFEST, follow_links)
    try:
        manifest = read_json(file)
    except (OSError, ValueError) as err:
        raise DataValidationError(str(err)) from None
    modalities = manifest.get("modalities") if isinstance(manifest, dict) else None
    if not isinstance(modalities, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("file"), str)
            for k, v in modalities.items()):
        raise DataValidationError(f"{file} is not a medfuse data manifest: 'modalities' must "
                                  "map each modality name to an entry with its 'file'.")
    for key in ("outcome", "obs"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            raise DataValidationError(f"{file}: {key!r} must be a name, got "
                                      f"{type(manifest[key]).__name__}.")
    return manifest


def _spec_for(given, file: Path) -> Modality | None:
    """The modality spec of a file in a folder without manifest (None: not a modality)."""
    if given is not None:
        return given if isinstance(given, Modality) else Modality(kind=given)
    claimants = sorted((k for k in all_kinds() if k.claims(file)), key=lambda k: -k.priority)
    if not claimants:
        return None
    claimants = [k for k in claimants if k.priority == claimants[0].priority]
    if len(claimants) > 1 and file.suffix == ".npz":
        block = claimants[0].read(file)
        for kind in claimants:
            if kind.infer(block):
                return Modality(kind=kind.name)
    return Modality(kind=claimants[0].name)


def _read_block(spec: Modality, file: Path, categories: Mapping | None):
    block = spec.kind_object.read(file)
    if isinstance(block, pd.DataFrame):
        block = _restore_categories(block, categories)
    return block


# ---------------------------------------------------------------------- MOGONET layout
MOGONET_NAMES = ("mrna", "methylation", "mirna")


def load_mogonet(path: str | Path, names: Sequence[str] | None = None,
                 outcome: str = "label") -> tuple[MultiModalData, MultiModalData]:
    """Read the MOGONET layout: ``{i}_tr.csv``, ``{i}_te.csv``, ``{i}_featname.csv`` for views
    i = 1, 2, ..., and ``labels_tr.csv``/``labels_te.csv``.

    The files carry no subject IDs (row i of every file is the same subject), so IDs
    ``tr0000...`` and ``te0000...`` are assigned once here and every later step aligns by ID.

    Parameters
    ----------
    path : str or Path
        Folder with the files.
    names : sequence of str, optional
        Modality names for views 1, 2, 3, ...; MOGONET datasets use mRNA, methylation and
        miRNA in that order, which is the default for three views (``view{i}`` otherwise).
    outcome : str
        Name of the label column in obs.

    Returns
    -------
    train, test : MultiModalData
        Both with obs columns ``outcome`` (integer labels) and ``split`` (``"train"`` or
        ``"test"``).
    """
    path = Path(path)
    views = sorted(int(p.name.split("_")[0]) for p in path.glob("*_tr.csv")
                   if p.name.split("_")[0].isdigit())
    if not views:
        raise FileNotFoundError(f"{path} has no MOGONET files (1_tr.csv, labels_tr.csv, ...).")
    if names is None:
        names = MOGONET_NAMES if len(views) == 3 else [f"view{v}" for v in views]
    if len(names) != len(views):
        raise ValueError(f"{len(views)} views found but {len(names)} names given.")
    out = []
    for split, prefix in (("tr", "tr"), ("te", "te")):
        labels = _load_text(path / f"labels_{split}.csv", ndmin=1)
        ids = [f"{prefix}{i:04d}" for i in range(len(labels))]
        blocks, specs = {}, {}
        for view, name in zip(views, names, strict=True):
            values = _load_text(path / f"{view}_{split}.csv", ndmin=2)
            if values.shape[0] != len(labels):
                raise DataValidationError(
                    f"{view}_{split}.csv has {values.shape[0]} rows but labels_{split}.csv has "
                    f"{len(labels)}.")
            featfile = path / f"{view}_featname.csv"
            feats = (_read_names(featfile)
                     if featfile.exists() else [f"{name}_{k}" for k in range(values.shape[1])])
            blocks[name] = pd.DataFrame(values, index=ids, columns=_dedupe(feats))
            specs[name] = Modality("continuous")
        obs = pd.DataFrame({outcome: labels.astype(int), "split": "train" if split == "tr"
                            else "test"}, index=ids)
        out.append(MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome))
    return out[0], out[1]


def _load_text(path: Path, ndmin: int) -> np.ndarray:
    """Numbers of a MOGONET file (a regular file inside its folder)."""
    with open_regular(_inside(path.parent, path.name)) as handle:
        try:
            return np.loadtxt(handle, delimiter=",", ndmin=ndmin)
        except ValueError as err:
            raise DataValidationError(f"{path}: {err}") from None


def _read_names(path: Path) -> list[str]:
    with open_regular(_inside(path.parent, path.name)) as handle:
        return pd.read_csv(handle, header=None).iloc[:, 0].astype(str).tolist()


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for n in names:
        k = seen.get(n, 0)
        result.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return result


def read_data(path: str | Path, outcome: str | None = None,
              follow_links: bool = False) -> MultiModalData:
    """Open whatever ``path`` is: a MOGONET folder (train and test joined, obs column
    ``split``), a medfuse/modality-file folder, or a ``.h5mu`` MuData file.

    Parameters
    ----------
    path : str or Path
        The folder or file.
    outcome : str, optional
        The obs column to use as outcome.
    follow_links : bool
        Read files of a folder that are links out of it (see :func:`read_folder`).

    Returns
    -------
    MultiModalData
    """
    path = Path(path)
    if path.suffix == ".h5mu":
        import mudata as md

        from medfuse.data.hdf5 import check_h5

        check_h5(path)
        return from_mudata(md.read_h5mu(path), outcome=outcome)
    if path.is_dir() and (path / "labels_tr.csv").exists():
        train, test = load_mogonet(path)
        return MultiModalData.concat([train, test])
    return read_folder(path, outcome=outcome, follow_links=follow_links)
