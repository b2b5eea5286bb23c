"""Class weights: the one reading of a strategy's ``class_weight`` parameter."""

from __future__ import annotations

import numpy as np


def class_weights(class_weight, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weight of each class (K,) for the class indices ``y`` of the training subjects.

    Parameters
    ----------
    class_weight : None, "balanced", dict or sequence
        None: all 1. ``"balanced"``: ``n / (K * n_k)``, as scikit-learn (1 for a class
        absent from ``y``). A dict keyed by the class labels in ``classes`` (classes left
        out weigh 1). A sequence of K weights in the order of ``classes``.
    classes : (K,) class labels; ``y`` indexes them.
    y : (n,) int class indices.
    """
    classes = np.asarray(classes)
    n_classes = len(classes)
    if class_weight is None:
        return np.ones(n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be None, 'balanced', a dict or a sequence, "
                             f"got {class_weight!r}.")
        counts = np.bincount(y, minlength=n_classes).astype(float)
        return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1.0)), 1.0)
    labels = classes.tolist()
    if isinstance(class_weight, dict):
        unknown = [c for c in class_weight if c not in set(labels)]
        if unknown:
            raise ValueError(f"class_weight names classes {unknown} that are not in the "
                             f"outcome (classes: {labels}).")
        return np.array([float(class_weight.get(c, 1.0)) for c in labels])
    weights = np.asarray(class_weight, dtype=float)
    if weights.shape != (n_classes,):
        raise ValueError(f"class_weight needs one weight per class ({labels}), got "
                         f"shape {weights.shape}.")
    return weights


def index_weights(weights: np.ndarray, y: np.ndarray | None = None) -> dict[int, float] | None:
    """Per-class weights as scikit-learn's ``class_weight`` dict over class indices (None
    when all are 1); with ``y``, only the classes present in it (scikit-learn's
    ``LogisticRegressionCV`` refuses weights of classes its target lacks)."""
    if np.allclose(weights, 1.0):
        return None
    return present_weights({i: float(w) for i, w in enumerate(weights)}, y)


def present_weights(class_weight: dict[int, float] | None,
                    y: np.ndarray | None) -> dict[int, float] | None:
    """``class_weight`` (dict class index -> weight) restricted to the classes in ``y``
    (all of it when ``y`` is None)."""
    if class_weight is None or y is None:
        return class_weight
    present = set(np.unique(y).tolist())
    return {k: w for k, w in class_weight.items() if k in present}
