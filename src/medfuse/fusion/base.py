"""The estimator contract every fusion strategy follows.

A strategy is a scikit-learn classifier over :class:`~medfuse.data.MultiModalData`:
``fit(data, y)``, ``predict_proba(data)``, ``predict(data)``, ``score(data, y)``. It gives a
prediction for every subject that has at least one of its training modalities; each
strategy documents how it treats the modalities a subject lacks.

Subclasses implement two methods on validated input:

- ``_fit(data, y)``: ``data`` holds exactly the training modalities; ``y`` is an int array of
  class indices ``0 .. n_classes - 1``.
- ``_predict_proba(data)``: ``data`` is aligned to the training modalities and features
  (same order, same columns); returns an array (n_subjects, n_classes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from medfuse.data.blocks import empty_like, value_shape
from medfuse.data.modality import Modality
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.validation import preview


class MultiModalEstimator(BaseEstimator):
    """What every medfuse estimator shares: input is a MultiModalData (not a 2-D array),
    aligned at prediction time to the training layout stored by :func:`record_layout`."""

    def align(self, data: MultiModalData) -> MultiModalData:
        """``data`` restricted and ordered to the training modalities and feature columns
        (see :func:`align_to_model`)."""
        check_is_fitted(self, "modalities_")
        return align_to_model(self, data)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


class FusionClassifier(ClassifierMixin, MultiModalEstimator):
    """Base class of all fusion strategies (see the module docstring for the contract).

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    class_prior_ : ndarray (n_classes,), training class frequencies.
    modalities_ : list of str, the training modalities in order.
    modality_kinds_ : dict modality -> kind.
    feature_names_ : dict modality -> list of column names (None for array modalities).
    """

    def fit(self, data: MultiModalData, y=None):
        """Fit on training subjects. ``y`` may be omitted when ``data`` has an outcome; a
        pandas Series is aligned to the subjects by ID, an array by position. Subjects
        without an outcome are refused, except by strategies that learn from them (the
        neural strategies with an unsupervised stage), which get class index -1 for them."""
        data = check_data(data)
        y = check_target(data, y, allow_missing=self._uses_unlabelled())
        labelled = ~pd.isna(y)
        labels = y[labelled]
        if labels.dtype == object:   # e.g. integers with None for the unlabelled subjects
            labels = pd.Series(labels).infer_objects().to_numpy()
        self.classes_, y_index = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataValidationError(
                f"The outcome has a single class ({self.classes_[0]!r}) in these training "
                "subjects; a classifier needs at least two.")
        self.class_prior_ = np.bincount(y_index, minlength=len(self.classes_)) / len(y_index)
        record_layout(self, data)
        y_full = np.full(len(y), -1, dtype=int)
        y_full[labelled] = y_index
        self._fit(data, y_full)
        return self

    def predict_proba(self, data: MultiModalData) -> np.ndarray:
        """Class probabilities (n_subjects, n_classes), from the modalities each subject has."""
        check_is_fitted(self, "classes_")
        return self._predict_proba(self.align(data))

    def predict(self, data: MultiModalData) -> np.ndarray:
        """Most probable class per subject."""
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]

    # ------------------------------------------------------------------ for subclasses
    def _uses_unlabelled(self) -> bool:
        """Whether ``fit`` accepts subjects without an outcome (default: no)."""
        return False

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


def record_layout(model, data: MultiModalData) -> None:
    """Store the training layout on a model: ``modalities_``, ``modality_kinds_``,
    ``feature_names_`` and ``block_shapes_`` (per-subject shape; None for a ragged
    modality), what :func:`align_to_model` aligns to."""
    model.modalities_ = list(data.modality_names)
    model.modality_kinds_ = {m: str(k) for m, k in data.kinds.items()}
    model.feature_names_ = {m: data.feature_names(m) for m in model.modalities_}
    model.block_shapes_ = {m: value_shape(data.block(m, available_only=False))
                           for m in model.modalities_}


def align_to_model(model, data: MultiModalData) -> MultiModalData:
    """``data`` restricted and ordered to a fitted model's training modalities and feature
    columns (``modalities_``, ``modality_kinds_``, ``feature_names_``, ``block_shapes_``).

    Modalities unknown to the model are ignored; training modalities absent from
    ``data`` count as missing for every subject. Tabular columns are matched by name
    (reordered columns are realigned); missing or extra columns raise an error that
    names them.
    """
    data = check_data(data)
    blocks, specs = {}, {}
    avail = data.available
    mask = np.zeros((len(data), len(model.modalities_)), dtype=bool)
    for j, m in enumerate(model.modalities_):
        if m in data.modality_names:
            block = data.block(m, available_only=False)
            expected = model.feature_names_[m]
            if expected is not None:
                got = [str(c) for c in block.columns]
                if got != expected:
                    missing = [c for c in expected if c not in set(got)]
                    extra = [c for c in got if c not in set(expected)]
                    if missing or extra:
                        parts = [f"{label} {preview(cols)}" for label, cols in
                                 (("missing", missing), ("extra", extra)) if cols]
                        raise DataValidationError(
                            f"Modality {m!r} does not have the training features: "
                            f"{'; '.join(parts)}.")
                    block = block[expected]
            elif (model.block_shapes_[m] is not None
                  and value_shape(block) != tuple(model.block_shapes_[m])):
                raise DataValidationError(
                    f"Modality {m!r} has per-subject shape {value_shape(block)}; the model "
                    f"was trained on {tuple(model.block_shapes_[m])}.")
            blocks[m] = block
            specs[m] = data.modalities[m]
            mask[:, j] = avail[m].to_numpy()
        else:
            blocks[m] = _empty_block(model, m, len(data), data.subjects)
            specs[m] = Modality(model.modality_kinds_[m])
    none = ~mask.any(axis=1)
    if none.any():
        raise DataValidationError(
            f"{int(none.sum())} subject(s) have none of the model's modalities "
            f"{model.modalities_}: {preview(data.subjects[none])}.")
    return MultiModalData._from_aligned(data.subjects, blocks, mask, specs, data.obs,
                                        data.outcome, data.uns)


def _empty_block(model, m: str, n: int, subjects: pd.Index):
    shape = model.block_shapes_[m]
    storage = "ragged" if shape is None and model.feature_names_[m] is None else "array"
    return empty_like(model.feature_names_[m], None if shape is None else tuple(shape),
                      storage, subjects)


def check_data(data) -> MultiModalData:
    """The one input check of the fusion layer.

    Parameters
    ----------
    data : object
        What a strategy was given.

    Returns
    -------
    MultiModalData
        ``data`` itself.

    Raises
    ------
    TypeError
        When ``data`` is not a :class:`~medfuse.data.MultiModalData` (saying how to build
        one).
    """
    if not isinstance(data, MultiModalData):
        raise TypeError(
            f"Fusion strategies take a medfuse.MultiModalData, got {type(data).__name__}. "
            "Build one with MultiModalData({name: DataFrame, ...}, obs=...).")
    return data


def check_target(data: MultiModalData, y, allow_missing: bool = False) -> np.ndarray:
    """The outcome as a 1-D array aligned to ``data``'s subjects.

    Parameters
    ----------
    data : MultiModalData
        The subjects.
    y : array-like, Series or None
        The outcome: None reads ``data.y``; a Series is aligned by subject ID when its index
        holds the subjects, an array by position.
    allow_missing : bool
        Accept missing values (strategies that learn from unlabelled subjects).

    Returns
    -------
    ndarray of shape (n_subjects,)

    Raises
    ------
    DataValidationError
        When there is no outcome, its length differs from the subjects', or values are
        missing (naming the subjects) and ``allow_missing`` is False.
    """
    if y is None:
        if data.outcome is None:
            raise DataValidationError("No outcome: pass y, or build the data with outcome=.")
        y = data.y
    if isinstance(y, pd.Series):
        if y.index.astype(str).isin(data.subjects).all() and len(y) == len(data):
            y = y.set_axis(y.index.astype(str)).reindex(data.subjects)
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(data):
        raise DataValidationError(f"y must be 1-D with one value per subject ({len(data)}), "
                                  f"got shape {y.shape}.")
    missing = pd.isna(y)
    if missing.all():
        raise DataValidationError("No training subject has an outcome.")
    if missing.any() and not allow_missing:
        raise DataValidationError(
            f"The outcome is missing for {int(missing.sum())} subject(s): "
            f"{preview(data.subjects[missing])}. Drop them or impute the outcome.")
    return y


def modality_series(values, modalities) -> pd.Series:
    """A pandas Series indexed by modality (fitted state is stored as numpy arrays, which
    every serialiser handles; the Series is built on access)."""
    return pd.Series(np.asarray(values, dtype=float), index=pd.Index(list(modalities),
                                                                       name="modality"))


def modality_mask(data: MultiModalData) -> np.ndarray:
    """Boolean (n_subjects, n_modalities) availability in the data's modality order."""
    return data.available.to_numpy()


def is_survival(model) -> bool:
    """Whether ``model`` is a survival estimator (it predicts a risk, not classes)."""
    return getattr(model, "_estimator_type", None) == "survival"


def model_outputs(model, data: MultiModalData) -> np.ndarray:
    """What a model predicts, (n, K) floats: class probabilities, or a survival model's
    risk as one column."""
    if is_survival(model):
        return np.asarray(model.predict(data), dtype=float).reshape(-1, 1)
    return np.asarray(model.predict_proba(data), dtype=float)
