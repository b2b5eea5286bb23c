"""MuData conversion: one AnnData per modality holding only the subjects that have it.

Modality presence is taken from each AnnData's obs names, never from row positions. Kinds
and measurement scales travel in each AnnData's ``.uns``; ragged blocks keep one array per
subject in ``.uns["medfuse_ragged"]``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from medfuse.data.modality import Modality
from medfuse.data.multimodal import MultiModalData
from medfuse.data.ragged import RaggedBlock, meta_from_json, meta_json


def to_mudata(data: MultiModalData):
    """MuData with one AnnData per modality holding only the subjects that have it.

    Parameters
    ----------
    data : MultiModalData
        The cohort to convert.

    Returns
    -------
    mudata.MuData
        ``obs`` holds ``data.obs``; ragged blocks travel in ``.uns``.
    """
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
        elif isinstance(block, RaggedBlock):
            adata = ad.AnnData(obs=pd.DataFrame(index=ids))
            uns["medfuse_ragged"] = {
                field: {str(i): a for i, a in zip(range(len(ids)), arrays, strict=True)
                        if a is not None}
                for field, arrays in (("values", block.values),
                                      *((f, block.field(f)) for f in block.field_names))}
            uns["medfuse_ragged_meta"] = meta_json(block.meta)
            uns["medfuse_ragged_fields"] = json.dumps(block.field_names)
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
    """MultiModalData from a MuData object (inverse of :func:`to_mudata`): modality presence
    is taken from each AnnData's obs names, never from row positions.

    Parameters
    ----------
    mdata : mudata.MuData
        One AnnData per modality, indexed by subject ID.
    outcome : str, optional
        The obs column to use as outcome.

    Returns
    -------
    MultiModalData
    """
    blocks, specs = {}, {}
    for name, adata in mdata.mod.items():
        meta = json.loads(adata.uns["medfuse"]) if "medfuse" in adata.uns else {}
        spec = Modality.from_dict(meta) if meta else Modality()
        ids = [str(i) for i in adata.obs_names]
        if adata.uns.get("medfuse_table") == "obs":
            blocks[name] = adata.obs.copy().set_axis(ids, axis=0)
        elif "medfuse_ragged" in adata.uns:
            blocks[name] = _ragged_from_uns(adata.uns, ids)
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


def _ragged_from_uns(uns, ids: list[str]) -> RaggedBlock:
    stored = uns["medfuse_ragged"]
    fields = json.loads(str(uns.get("medfuse_ragged_fields", "[]")))

    def arrays(field: str) -> list:
        per = stored.get(field, {})
        return [np.asarray(per[str(i)]) if str(i) in per else None for i in range(len(ids))]

    return RaggedBlock(ids, arrays("values"), {f: arrays(f) for f in fields},
                       meta_from_json(str(uns["medfuse_ragged_meta"]), ids))


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)
