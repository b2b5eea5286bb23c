"""The contract of a representation: a transformer that turns one raw modality block into a
feature table.

A representation is a scikit-learn transformer ``fit(block, y=None)`` /
``transform(block) -> DataFrame`` whose input is what :meth:`MultiModalData.block` returns for
one modality (a DataFrame, an ``N x ...`` array, or a :class:`~medfuse.data.RaggedBlock`) and
whose output has one row per input subject (indexed by subject ID when the input carries IDs)
and named float columns. ``output_kind`` is the modality kind of the output (``continuous``
unless a representation says otherwise). It is fitted on the training subjects of each fold,
inside the estimator, and saved with the model.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from medfuse.data.ragged import RaggedBlock


class Representation(TransformerMixin, BaseEstimator):
    """Base of the built-in representations (see the module docstring)."""

    output_kind: ClassVar[str] = "continuous"

    def fit(self, X, y=None):
        """Learn what the representation needs from the training subjects (default:
        nothing)."""
        return self


def subject_ids(X) -> pd.Index | None:
    """Subject IDs carried by a block (None for a bare array)."""
    if isinstance(X, pd.DataFrame | RaggedBlock):
        return pd.Index(X.index, name="subject")
    return None


def per_subject(X) -> list[np.ndarray]:
    """One float array per subject from a dense ``N x ...`` array or a ragged block."""
    if isinstance(X, RaggedBlock):
        missing = [i for i, v in zip(X.ids, X.values, strict=True) if v is None]
        if missing:
            raise ValueError(f"Subjects {missing[:5]} have no value in this block.")
        return [np.asarray(v, dtype=float) for v in X.values]
    return list(np.asarray(X, dtype=float))


def masks_and_spacing(X, images: list[np.ndarray], mask_field: str = "mask"
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each subject's mask and voxel spacing from an image block.

    Parameters
    ----------
    X : block
        A :class:`~medfuse.data.RaggedBlock` (masks in the field ``mask_field``, spacing in
        the ``spacing`` metadata) or a dense array (neither).
    images : list of ndarray
        The block's ``C x ...`` images (:func:`per_subject`).
    mask_field : str
        The field holding the masks.

    Returns
    -------
    masks : list of ndarray
        As stored; all-true of the image's spatial shape where a subject has none.
    spacings : list of ndarray of float
        mm per spatial axis; ones where a subject has none.
    """
    masks = [np.ones(im.shape[1:], dtype=bool) for im in images]
    spacings = [np.ones(im.ndim - 1) for im in images]
    if isinstance(X, RaggedBlock):
        if mask_field in X.field_names:
            masks = [np.ones(im.shape[1:], bool) if m is None else np.asarray(m)
                     for im, m in zip(images, X.field(mask_field), strict=True)]
        if "spacing" in X.meta.columns:
            spacings = [np.ones(images[i].ndim - 1) if _missing(s) else
                        np.asarray(s, dtype=float) for i, s in enumerate(X.meta["spacing"])]
    return masks[:len(images)], spacings[:len(images)]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
