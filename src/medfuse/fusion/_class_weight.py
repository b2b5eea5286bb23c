"""Class weights: the one reading of a strategy's ``class_weight`` parameter.

A strategy holds the parameter as the user gave it; :func:`class_weights` turns it into one
weight per class (the only form passed between modules); :func:`sklearn_class_weight` makes
scikit-learn's ``class_weight`` dict from that vector where a scikit-learn estimator is built.
"""

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
    classes : ndarray (K,)
        Class labels; ``y`` indexes them.
    y : ndarray (n,)
        Integer class indices.

    Returns
    -------
    ndarray (K,)
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


def sklearn_class_weight(weights: np.ndarray | None,
                         y: np.ndarray | None = None) -> dict[int, float] | None:
    """scikit-learn's ``class_weight`` for an estimator fitted on class indices: a dict
    class index -> weight (None when there are no weights or all are 1); with ``y``, only the
    classes present in it (scikit-learn refuses weights of classes its target lacks).

    Parameters
    ----------
    weights : ndarray (K,) or None
        From :func:`class_weights`.
    y : ndarray (n,), optional
        The class indices the estimator will be fitted on.
    """
    if weights is None or np.allclose(weights, 1.0):
        return None
    present = None if y is None else set(np.unique(y).tolist())
    return {i: float(w) for i, w in enumerate(weights) if present is None or i in present}


def strategy_class_weights(estimator, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The per-class weights (K,) a strategy is (or will be) trained with on class indices
    ``y``: its innermost ``class_weight`` (wrappers are looked through by their
    ``estimator`` parameter), all 1 when it has none. Fitted or not, the parameters are the
    same.

    Parameters
    ----------
    estimator : strategy or wrapper of one
    classes : ndarray (K,)
        Class labels; ``y`` indexes them.
    y : ndarray (n,)
        Integer class indices of the training subjects.

    Returns
    -------
    ndarray (K,)
    """
    params = estimator.get_params(deep=False)
    while "class_weight" not in params and "estimator" in params:   # wrappers
        params = params["estimator"].get_params(deep=False)
    if "class_weight" not in params:
        return np.ones(len(classes))
    return class_weights(params["class_weight"], np.asarray(classes), y)
