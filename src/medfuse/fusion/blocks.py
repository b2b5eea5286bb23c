"""Per-modality preprocessing held inside the classical estimators: each modality's
transformer is fitted on the training subjects that have it, so cross-validation refits it
inside every fold."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import class_weights
from medfuse.fusion.base import FusionClassifier
from medfuse.fusion.learners import default_is_tree
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)
from medfuse.preprocess.scaling import ZScore
from medfuse.represent.registry import make_representation


def block_preprocessor(preprocessors, name: str, spec, scaled: bool = True):
    """The unfitted transformer that turns modality ``name`` into a feature matrix: the
    user's or the kind's default preprocessor (``resolve_preprocessor``), else the kind's
    featurizer (k-mer spectrum for sequences, resampled, flattened, z-scored values for
    arrays).

    Parameters
    ----------
    preprocessors : None, dict or transformer
        A strategy's ``preprocessors`` parameter (see
        :func:`medfuse.preprocess.resolve_preprocessor`).
    name : str
        The modality.
    spec : Modality
        Its specification.
    scaled : bool
        False for a learner that needs no scaling (trees): the z-scores of the kind's
        default are left out (a preprocessor of the user's is kept as given).

    Returns
    -------
    transformer or None
        Unfitted; None when the block already is a feature matrix.
    """
    t = resolve_preprocessor(preprocessors, name, spec)
    if t is not None:
        user = preprocessors is not None and (not isinstance(preprocessors, dict)
                                              or name in preprocessors)
        return t if scaled or user else without_zscore(t)
    featurizer = spec.kind_object.featurizer(spec)
    return None if featurizer is None else make_representation(featurizer)


def without_zscore(transformer):
    """``transformer`` without its z-score steps (None when nothing else is left)."""
    if isinstance(transformer, ZScore):
        return None
    if isinstance(transformer, Pipeline):
        steps = [(n, t) for n, t in transformer.steps if not isinstance(t, ZScore)]
        if not steps:
            return None
        if len(steps) < len(transformer.steps):
            return Pipeline(steps).set_output(transform="pandas")
    return transformer


class BlockPreprocessing:
    """Mixin of per-modality preprocessing fitted in ``fit`` (classifiers and survival
    models alike; the estimator needs a ``preprocessors`` parameter).

    Subclasses call :meth:`_fit_blocks` at the start of ``_fit`` and :meth:`_transform_blocks`
    in ``_predict_proba``; both return dict modality -> float matrix over ALL subjects of
    the data, with NaN rows for subjects that lack the modality (see
    :func:`block_preprocessor` for what each modality gets).
    """

    def _fit_blocks(self, data: MultiModalData, names=None) -> dict[str, np.ndarray]:
        """Fit the preprocessing of each modality (``names``: default all) on the subjects
        that have it; returns the transformed blocks over all subjects (NaN rows where
        missing)."""
        self.preprocessors_ = {}
        self.n_block_features_ = {}
        out = {}
        avail = data.available
        for m in (data.modality_names if names is None else names):
            t = block_preprocessor(self.preprocessors, m, data.modalities[m],
                                   scaled=self._scaled(m))
            rows = avail[m].to_numpy()
            z = as_matrix(fit_transform_block(t, data.block(m), obs=data.obs.loc[rows]))
            self.preprocessors_[m] = t
            self.n_block_features_[m] = int(z.shape[1])
            out[m] = spread(z, rows)
        return out

    def _scaled(self, modality: str) -> bool:
        """Whether ``modality``'s block is scaled for its learner (False for trees)."""
        return not default_is_tree(getattr(self, "base_estimator", None),
                                   getattr(self, "learner", "logistic"), modality)

    def _transform_blocks(self, data: MultiModalData) -> dict[str, np.ndarray]:
        """Apply the fitted preprocessing (see :meth:`_fit_blocks`) to aligned data."""
        out = {}
        avail = data.available
        for m, t in self.preprocessors_.items():
            rows = avail[m].to_numpy()
            width = self.n_block_features_[m]
            z = (as_matrix(transform_block(t, data.block(m), obs=data.obs.loc[rows]))
                 if rows.any() else np.empty((0, width)))
            out[m] = spread(z, rows, width)
        return out


class BlockFusion(BlockPreprocessing, FusionClassifier):
    """Base of the classical classification strategies (see :class:`BlockPreprocessing`)."""

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-class weights (K,) from the ``class_weight`` parameter (see
        :func:`~medfuse.fusion._class_weight.class_weights`); ``y`` are the training class
        indices."""
        return class_weights(self.class_weight, np.asarray(self.classes_), y)


def spread(z: np.ndarray, rows: np.ndarray, width: int | None = None) -> np.ndarray:
    """Place the rows of the subjects that have a modality into an all-subject matrix (NaN
    rows for the others)."""
    full = np.full((len(rows), z.shape[1] if width is None else width), np.nan)
    full[rows] = z
    return full
