"""The representation step: MultiModalData with raw modalities -> MultiModalData with feature
blocks, fitted on training subjects only."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import MultiModalData
from medfuse.preprocess.blocks import fit_transform_block, transform_block
from medfuse.represent.registry import make_representation


class RepresentationStep(TransformerMixin, BaseEstimator):
    """Replace the named modalities of a :class:`~medfuse.data.MultiModalData` by feature
    tables computed by their representations.

    Parameters
    ----------
    representations : mapping of modality -> representation
        A registered name (``"image-statistics"``), ``{"name": ..., "params": {...}}`` or an
        unfitted transformer (see :mod:`medfuse.represent.base`). Other modalities pass
        through unchanged.

    Attributes
    ----------
    representations_ : dict modality -> fitted transformer
    output_kinds_ : dict modality -> kind name of the feature block
    feature_names_ : dict modality -> list of feature names
    """

    def __init__(self, representations: Mapping | None = None) -> None:
        self.representations = representations

    def fit(self, data: MultiModalData, y=None):
        """Fit each representation on the subjects that have its modality."""
        self.representations_, self.output_kinds_, self.feature_names_ = {}, {}, {}
        for m, spec in dict(self.representations or {}).items():
            if m not in data.modality_names:
                raise ValueError(f"A representation is given for modality {m!r}, which the "
                                 f"data does not have ({', '.join(data.modality_names)}).")
            rep = make_representation(spec)
            rows = data.available[m].to_numpy()
            out = fit_transform_block(rep, data.block(m), obs=data.obs.loc[rows])
            self.representations_[m] = rep
            self.output_kinds_[m] = str(getattr(rep, "output_kind", "continuous"))
            self.feature_names_[m] = _names(rep, out)
        return self

    def transform(self, data: MultiModalData) -> MultiModalData:
        """``data`` with each represented modality replaced by its feature table (subjects
        that lack the modality stay without it)."""
        check_is_fitted(self, "representations_")
        blocks = {}
        for m, rep in self.representations_.items():
            if m not in data.modality_names:
                continue
            rows = data.available[m].to_numpy()
            ids = data.block_subjects(m)
            if rows.any():
                out = transform_block(rep, data.block(m), obs=data.obs.loc[rows])
                values = out.to_numpy(dtype=float) if isinstance(out, pd.DataFrame) else out
            else:
                values = np.empty((0, len(self.feature_names_[m])))
            blocks[m] = pd.DataFrame(np.asarray(values, dtype=float), index=ids,
                                     columns=self.feature_names_[m])
        return data.with_blocks(blocks, dict(self.output_kinds_))


def _names(rep, out) -> list[str]:
    if isinstance(out, pd.DataFrame):
        return [str(c) for c in out.columns]
    names = getattr(rep, "feature_names_out_", None)
    width = np.asarray(out).reshape(len(out), -1).shape[1]
    if names is not None and len(names) == width:
        return [str(n) for n in names]
    return [f"f{j}" for j in range(width)]
