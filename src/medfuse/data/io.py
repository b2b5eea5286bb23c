"""Reading and writing MultiModalData: folders of CSV/Parquet files, MuData, MOGONET layout."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.data.modality import Modality
from medfuse.data.multimodal import DataValidationError, MultiModalData

MANIFEST = "medfuse.json"
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


# ---------------------------------------------------------------------- tables
def read_table(path: str | Path) -> pd.DataFrame:
    """Read one modality or obs file: first column = subject ID, header row = names.

    CSV, TSV and Parquet are supported. IDs are read as strings.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if frame.index.name is None or isinstance(frame.index, pd.RangeIndex):
            frame = frame.set_index(frame.columns[0])
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        frame = pd.read_csv(path, sep=sep, index_col=0, dtype={0: str})
        frame.index = frame.index.astype(str)
    frame.index.name = "subject"
    if frame.shape[1] == 0:
        raise DataValidationError(f"{path} has an ID column but no feature columns.")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    frame = frame.copy()
    frame.index.name = "subject"
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


# ---------------------------------------------------------------------- folders
def write_folder(data: MultiModalData, path: str | Path, fmt: str = "csv") -> Path:
    """Write one file per modality (only subjects that have it), ``obs`` and a manifest.

    Array modalities are written as ``<name>.npz`` with arrays ``ids`` and ``values``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"modalities": {}, "outcome": data.outcome, "obs": None}
    for name, spec in data.modalities.items():
        entry = spec.to_dict()
        block = data.block(name)
        if isinstance(block, pd.DataFrame):
            file = f"{name}.{fmt}"
            write_table(block, path / file)
            entry["categories"] = _categories(block)
        else:
            file = f"{name}.npz"
            np.savez_compressed(path / file, ids=np.asarray(data.block_subjects(name), dtype=str),
                                values=block)
        entry["file"] = file
        manifest["modalities"][name] = entry
    if data.obs.shape[1]:
        manifest["obs"] = f"obs.{fmt}"
        write_table(data.obs, path / manifest["obs"])
        manifest["obs_categories"] = _categories(data.obs)
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2))
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
                modalities: Mapping[str, Modality | str] | None = None) -> MultiModalData:
    """Read a folder written by :func:`write_folder`, or any folder of modality files.

    Without a ``medfuse.json`` manifest, every ``.csv``/``.tsv``/``.parquet`` file except
    ``obs.*`` is a modality named after the file (kind ``continuous`` unless ``modalities``
    says otherwise) and ``.npz`` files (arrays ``ids`` and ``values``) are array modalities.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"No such folder: {path}")
    manifest_file = path / MANIFEST
    blocks: dict = {}
    specs: dict = dict(modalities or {})
    obs = None
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        for name, entry in manifest["modalities"].items():
            specs.setdefault(name, Modality.from_dict(entry))
            blocks[name] = _read_block(path / entry["file"], entry.get("categories"))
        if manifest.get("obs"):
            obs = _restore_categories(read_table(path / manifest["obs"]),
                                      manifest.get("obs_categories"))
        outcome = outcome or manifest.get("outcome")
    else:
        for file in sorted(path.iterdir()):
            if file.stem == "obs" and file.suffix in TABLE_SUFFIXES:
                obs = read_table(file)
            elif file.suffix in (*TABLE_SUFFIXES, ".npz"):
                blocks[file.stem] = _read_block(file, None)
        if not blocks:
            raise DataValidationError(f"{path} holds no modality files (.csv, .tsv, .parquet, "
                                      ".npz).")
    return MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome)


def _read_block(file: Path, categories: Mapping | None):
    if file.suffix == ".npz":
        with np.load(file, allow_pickle=False) as z:
            return ([str(i) for i in z["ids"]], z["values"])
    return _restore_categories(read_table(file), categories)


# ---------------------------------------------------------------------- MuData
def to_mudata(data: MultiModalData):
    """MuData with one AnnData per modality holding only the subjects that have it."""
    import anndata as ad
    import mudata as md

    mods = {}
    for name, spec in data.modalities.items():
        block = data.block(name)
        ids = [str(i) for i in data.block_subjects(name)]
        uns = {"medfuse": json.dumps(spec.to_dict())}
        if isinstance(block, pd.DataFrame):
            numeric = all(pd.api.types.is_numeric_dtype(block[c])
                          and not isinstance(block[c].dtype, pd.CategoricalDtype)
                          for c in block.columns)
            if numeric:
                adata = ad.AnnData(X=block.to_numpy(dtype=float),
                                   obs=pd.DataFrame(index=ids),
                                   var=pd.DataFrame(index=[str(c) for c in block.columns]))
            else:
                # Mixed clinical columns live in obs of an AnnData with no variables.
                adata = ad.AnnData(obs=block.set_axis(ids, axis=0).copy())
                uns["medfuse_table"] = "obs"
        else:
            adata = ad.AnnData(X=block.reshape(len(block), -1), obs=pd.DataFrame(index=ids))
            uns["medfuse_shape"] = list(block.shape[1:])
        adata.uns.update(uns)
        mods[name] = adata
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    obs = data.obs.copy()
    obs.index = obs.index.astype(str)
    for col in obs.columns:
        mdata.obs[col] = obs[col].reindex(mdata.obs_names)
    mdata.uns["medfuse_outcome"] = data.outcome or ""
    mdata.uns["medfuse_obs_columns"] = list(map(str, obs.columns))
    mdata.uns["medfuse_subjects"] = [str(i) for i in data.subjects]
    return mdata


def from_mudata(mdata, outcome: str | None = None) -> MultiModalData:
    """MultiModalData from a MuData object: modality presence is taken from each AnnData's
    obs names, never from row positions."""
    blocks, specs = {}, {}
    for name, adata in mdata.mod.items():
        meta = json.loads(adata.uns["medfuse"]) if "medfuse" in adata.uns else {}
        spec = Modality.from_dict(meta) if meta else Modality()
        ids = [str(i) for i in adata.obs_names]
        if adata.uns.get("medfuse_table") == "obs":
            blocks[name] = adata.obs.copy().set_axis(ids, axis=0)
        elif "medfuse_shape" in adata.uns:
            x = _dense(adata.X)
            blocks[name] = (ids, x.reshape(len(ids), *[int(s) for s in adata.uns["medfuse_shape"]]))
        else:
            blocks[name] = pd.DataFrame(_dense(adata.X), index=ids,
                                        columns=[str(v) for v in adata.var_names])
        specs[name] = spec
    cols = list(mdata.uns.get("medfuse_obs_columns", []))
    if not cols:
        cols = [c for c in mdata.obs.columns if ":" not in str(c)]
    obs = mdata.obs[cols].copy()
    if "medfuse_subjects" in mdata.uns:
        obs = obs.loc[[str(i) for i in mdata.uns["medfuse_subjects"]]]
    if outcome is None:
        outcome = str(mdata.uns.get("medfuse_outcome", "")) or None
    return MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome)


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)


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
    path : folder with the files.
    names : modality names for views 1, 2, 3, ...; MOGONET datasets use mRNA, methylation and
        miRNA in that order, which is the default for three views (``view{i}`` otherwise).
    outcome : name of the label column in obs.

    Returns
    -------
    (train, test) : MultiModalData, both with obs columns ``label`` and ``split``.
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
        labels = np.loadtxt(path / f"labels_{split}.csv", delimiter=",", ndmin=1)
        ids = [f"{prefix}{i:04d}" for i in range(len(labels))]
        blocks, specs = {}, {}
        for view, name in zip(views, names, strict=True):
            values = np.loadtxt(path / f"{view}_{split}.csv", delimiter=",", ndmin=2)
            if values.shape[0] != len(labels):
                raise DataValidationError(
                    f"{view}_{split}.csv has {values.shape[0]} rows but labels_{split}.csv has "
                    f"{len(labels)}.")
            featfile = path / f"{view}_featname.csv"
            feats = (pd.read_csv(featfile, header=None).iloc[:, 0].astype(str).tolist()
                     if featfile.exists() else [f"{name}_{k}" for k in range(values.shape[1])])
            blocks[name] = pd.DataFrame(values, index=ids, columns=_dedupe(feats))
            specs[name] = Modality("continuous")
        obs = pd.DataFrame({outcome: labels.astype(int), "split": "train" if split == "tr"
                            else "test"}, index=ids)
        out.append(MultiModalData(blocks, obs=obs, modalities=specs, outcome=outcome))
    return out[0], out[1]


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for n in names:
        k = seen.get(n, 0)
        result.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return result


def read_data(path: str | Path, outcome: str | None = None) -> MultiModalData:
    """Open whatever ``path`` is: a MOGONET folder (train and test joined, obs column
    ``split``), a medfuse/modality-file folder, or a ``.h5mu`` MuData file."""
    path = Path(path)
    if path.suffix == ".h5mu":
        import mudata as md

        return from_mudata(md.read_h5mu(path), outcome=outcome)
    if path.is_dir() and (path / "labels_tr.csv").exists():
        train, test = load_mogonet(path)
        return MultiModalData.concat([train, test])
    return read_folder(path, outcome=outcome)
