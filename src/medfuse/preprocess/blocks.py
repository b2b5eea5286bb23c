"""Default per-modality preprocessing and the helpers that fit it on one block."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
from sklearn.base import clone

from medfuse.data.modality import Modality
from medfuse.preprocess.registry import make_transform


def default_preprocessor(spec: Modality):
    """The default transformer of a modality, as its kind declares it
    (:meth:`medfuse.data.kinds.Kind.default_preprocessor`, a registered name or a
    transformer): z-score for ``continuous``, log-CPM then z-score for ``counts``,
    :class:`ClinicalEncoder` with the declared scales for ``clinical``, None for array and
    sequence kinds.

    Parameters
    ----------
    spec : Modality
        The modality's specification.

    Returns
    -------
    transformer or None
        Unfitted.
    """
    return make_transform(spec.kind_object.default_preprocessor(spec), spec)


def neural_input(spec: Modality, preprocessor):
    """The transformer that prepares a modality for a neural encoder, as its kind declares
    it (:meth:`medfuse.data.kinds.Kind.neural_input`, a registered name or a transformer).

    Parameters
    ----------
    spec : Modality
        The modality's specification.
    preprocessor : transformer or None
        The modality's resolved preprocessor (:func:`resolve_preprocessor`).

    Returns
    -------
    transformer or None
        Unfitted.
    """
    return make_transform(spec.kind_object.neural_input(spec, preprocessor), spec)


def resolve_preprocessor(preprocessors, name: str, spec: Modality):
    """The (unfitted clone of the) transformer for modality ``name``.

    Parameters
    ----------
    preprocessors : None, dict or transformer
        None (defaults for every modality), a dict name -> transformer, registered
        transform name (:func:`~medfuse.preprocess.registry.make_transform`) or
        ``"passthrough"``, or one transformer used for every tabular modality (array and
        ragged modalities then keep their kind's default).
    name : str
        The modality.
    spec : Modality
        Its specification (for the default).

    Returns
    -------
    transformer or None
        An unfitted clone; None for no preprocessing.
    """
    if preprocessors is None:
        return default_preprocessor(spec)
    if isinstance(preprocessors, dict):
        if name not in preprocessors:
            return default_preprocessor(spec)
        chosen = preprocessors[name]
    elif spec.kind_object.storage != "table":
        return default_preprocessor(spec)
    else:
        chosen = preprocessors
    if chosen is None or (isinstance(chosen, str) and chosen == "passthrough"):
        return None
    if isinstance(chosen, str):  # a registered transform, e.g. named in a study file
        return make_transform(chosen, spec)
    return clone(chosen)


def _accepts_obs(transformer, method: str = "fit") -> bool:
    try:
        return "obs" in inspect.signature(getattr(transformer, method)).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def fit_transform_block(transformer, X, obs: pd.DataFrame | None = None):
    """Fit ``transformer`` on one block and transform it.

    Transformers whose ``fit``/``transform`` take an ``obs`` keyword (harmonizers that need
    batch and covariates) receive the obs rows of the same subjects.

    Parameters
    ----------
    transformer : transformer or None
        Unfitted (fitted here); None returns ``X`` unchanged.
    X : DataFrame, ndarray or RaggedBlock
        The block, rows of the subjects that have the modality.
    obs : DataFrame, optional
        The obs rows of the same subjects.

    Returns
    -------
    DataFrame or ndarray
        The transformed block.
    """
    if transformer is None:
        return X
    if _accepts_obs(transformer):
        if _accepts_obs(transformer, "fit_transform"):
            return transformer.fit_transform(X, obs=obs)
        return transformer.fit(X, obs=obs).transform(X, obs=obs)
    return transformer.fit_transform(X)


def transform_block(transformer, X, obs: pd.DataFrame | None = None):
    """Apply a fitted block transformer (see :func:`fit_transform_block`).

    Parameters
    ----------
    transformer : transformer or None
        Fitted; None returns ``X`` unchanged.
    X : DataFrame, ndarray or RaggedBlock
        The block.
    obs : DataFrame, optional
        The obs rows of the same subjects.

    Returns
    -------
    DataFrame or ndarray
        The transformed block.
    """
    if transformer is None:
        return X
    if _accepts_obs(transformer):
        return transformer.transform(X, obs=obs)
    return transformer.transform(X)


def as_matrix(X) -> np.ndarray:
    """A float matrix from a transformed block (DataFrame or array)."""
    return np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=float)
