"""Classification and survival metrics computed from predicted probabilities.

Conventions
-----------
- Binary tasks: the positive class is the second of the sorted classes (``classes[1]``);
  ``f1``, ``precision``, ``recall`` and ``specificity`` refer to it, ``roc_auc`` is the area
  under its ROC curve.
- Multiclass tasks: ``roc_auc`` is one-vs-rest, macro-averaged; ``precision``, ``recall`` and
  ``specificity`` are macro-averaged over classes; ``f1`` (binary only) is left out.
- ``brier``: binary, mean squared error of the positive-class probability; multiclass, the
  original Brier score ``mean_i sum_k (p_ik - 1[y_i = k])^2`` (range 0 to 2).
- ``ece`` (expected calibration error): 10 equal-width bins on [0, 1]; binary, of the
  positive-class probability against the observed positive rate; multiclass, of the top-label
  confidence against the top-label accuracy. ``ECE = sum_b n_b / n * |acc_b - conf_b|``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

#: Metrics where lower is better.
LOWER_IS_BETTER = frozenset({"brier", "ece"})
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "f1_macro",
                          "f1_weighted", "precision", "recall", "specificity", "brier", "ece")
ECE_BINS = 10


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray,
                               n_bins: int = ECE_BINS) -> float:
    """ECE of class probabilities (see the module docstring for the binning).

    Parameters
    ----------
    y_true : int array (n,), class indices 0 .. n_classes - 1.
    proba : array (n, n_classes).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if proba.shape[1] == 2:
        conf = proba[:, 1]
        hit = (y_true == 1).astype(float)
    else:
        conf = proba.max(axis=1)
        hit = (proba.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins, the first one also holds 0
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(hit[sel].mean() - conf[sel].mean())
    return float(ece)


def specificity(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """True-negative rate: of the positive class (binary) or macro-averaged (multiclass)."""
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    total = cm.sum()
    spec = []
    for k in range(n_classes):
        tp = cm[k, k]
        fp = cm[:, k].sum() - tp
        fn = cm[k, :].sum() - tp
        tn = total - tp - fp - fn
        spec.append(tn / (tn + fp) if tn + fp else np.nan)
    return float(spec[1]) if n_classes == 2 else float(np.nanmean(spec))


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """All classification metrics of one set of predictions.

    Parameters
    ----------
    y_true : int array (n,), class indices 0 .. n_classes - 1.
    proba : array (n, n_classes), rows summing to 1.

    Returns
    -------
    dict metric -> value; NaN where a metric is undefined (e.g. ROC AUC with one class).
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    n_classes = proba.shape[1]
    labels = np.arange(n_classes)
    y_pred = proba.argmax(axis=1)
    binary = n_classes == 2
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["accuracy"] = skm.accuracy_score(y_true, y_pred)
        out["balanced_accuracy"] = skm.balanced_accuracy_score(y_true, y_pred)
        present = np.unique(y_true)
        if len(present) < 2:
            out["roc_auc"] = np.nan
        elif binary:
            out["roc_auc"] = skm.roc_auc_score(y_true, proba[:, 1])
        elif len(present) < n_classes:
            out["roc_auc"] = np.nan
        else:
            out["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr",
                                               average="macro", labels=labels)
        avg = "binary" if binary else "macro"
        if binary:
            out["f1"] = skm.f1_score(y_true, y_pred, labels=labels, zero_division=0)
        out["f1_macro"] = skm.f1_score(y_true, y_pred, labels=labels, average="macro",
                                       zero_division=0)
        out["f1_weighted"] = skm.f1_score(y_true, y_pred, labels=labels, average="weighted",
                                          zero_division=0)
        out["precision"] = skm.precision_score(y_true, y_pred, labels=labels, average=avg,
                                               zero_division=0)
        out["recall"] = skm.recall_score(y_true, y_pred, labels=labels, average=avg,
                                         zero_division=0)
        out["specificity"] = specificity(y_true, y_pred, n_classes)
    onehot = np.eye(n_classes)[y_true]
    if binary:
        out["brier"] = float(np.mean((proba[:, 1] - onehot[:, 1]) ** 2))
    else:
        out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    out["ece"] = expected_calibration_error(y_true, proba)
    return {k: float(v) for k, v in out.items()}


def c_index(event: np.ndarray, time: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of a risk score (higher = earlier event), as computed by
    scikit-survival's ``concordance_index_censored``.

    Parameters
    ----------
    event : bool array (n,), True where the event was observed.
    time : float array (n,), event or censoring time.
    risk : float array (n,), predicted risk.
    """
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(np.asarray(event, dtype=bool),
                                            np.asarray(time, dtype=float),
                                            np.asarray(risk, dtype=float))[0])
