"""Classification and survival metrics computed from predicted probabilities.

Notes
-----
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

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

ECE_BINS = 10


@dataclass(frozen=True)
class Metric:
    """One metric of the registry: its task, direction, short label and whether the report's
    tables show it.

    Parameters
    ----------
    name : str
        The metric's name in study files, tables and the command line.
    task : {"classification", "survival"}
    greater_is_better : bool
        Direction of the metric.
    label : str
        Short label in tables.
    in_report : bool
        Whether the report's tables show it.
    """

    name: str
    task: str
    greater_is_better: bool
    label: str
    in_report: bool = True


#: The one metric registry, in the order the report shows them.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("roc_auc", "classification", True, "AUC"),
    Metric("accuracy", "classification", True, "acc"),
    Metric("balanced_accuracy", "classification", True, "bal. acc"),
    Metric("f1", "classification", True, "F1"),
    Metric("f1_macro", "classification", True, "macro-F1"),
    Metric("f1_weighted", "classification", True, "weighted F1", in_report=False),
    Metric("precision", "classification", True, "precision"),
    Metric("recall", "classification", True, "recall"),
    Metric("specificity", "classification", True, "specificity"),
    Metric("brier", "classification", False, "Brier"),
    Metric("ece", "classification", False, "ECE"),
    Metric("c_index", "survival", True, "C-index"),
    Metric("td_auc", "survival", True, "td-AUC"),
)}


def metric_names(task: str | None = None) -> tuple[str, ...]:
    """Registered metric names.

    Parameters
    ----------
    task : {"classification", "survival"}, optional
        Only the metrics of this task (default: all).

    Returns
    -------
    tuple of str
        In registry order (the order of the report's tables).
    """
    return tuple(n for n, m in METRICS.items() if task is None or m.task == task)


def greater_is_better(metric: str) -> bool:
    """Whether a higher value of ``metric`` is better (unknown names: True)."""
    return METRICS[metric].greater_is_better if metric in METRICS else True


def metric_label(metric: str) -> str:
    """Short label of a metric for tables (its name when unknown)."""
    return METRICS[metric].label if metric in METRICS else metric


CLASSIFICATION_METRICS = metric_names("classification")
SURVIVAL_METRICS = metric_names("survival")


def confidence_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, hit and equal-width bin of every subject (the binning of the ECE and of
    reliability diagrams).

    Parameters
    ----------
    y_true : ndarray of int, shape (n,)
        Class indices ``0 .. n_classes - 1``.
    proba : ndarray, shape (n, n_classes)
        Predicted class probabilities.
    n_bins : int
        Equal-width bins on [0, 1], right-closed (the first also holds 0).

    Returns
    -------
    conf, hit, which : ndarray, shape (n,)
        Binary: P(class 1) and whether the class is 1; more classes: the top probability
        and whether the top class is right; and the bin index ``0 .. n_bins - 1``.
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
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    return conf, hit, which


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray,
                               n_bins: int = ECE_BINS) -> float:
    """ECE of class probabilities (see the module docstring for the binning).

    Parameters
    ----------
    y_true : ndarray of int, shape (n,)
        Class indices ``0 .. n_classes - 1``.
    proba : ndarray, shape (n, n_classes)
        Predicted class probabilities.
    n_bins : int
        Equal-width bins on [0, 1].

    Returns
    -------
    float
        ``sum_b n_b / n * |acc_b - conf_b|``.
    """
    conf, hit, which = confidence_bins(y_true, proba, n_bins)
    ece = 0.0
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(hit[sel].mean() - conf[sel].mean())
    return float(ece)


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes
                       ).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def specificity(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """True-negative rate: of the positive class (binary) or macro-averaged (multiclass)."""
    cm = _confusion(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int), n_classes)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    spec = np.where(tn + fp > 0, _ratio(tn, tn + fp), np.nan)
    return float(spec[1]) if n_classes == 2 else float(np.nanmean(spec))


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank formula (ties count one half); NaN with one class."""
    positive = np.asarray(positive, dtype=bool)
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """All classification metrics of one set of predictions (closed forms from the confusion
    matrix; they agree with scikit-learn's, see the tests).

    Parameters
    ----------
    y_true : ndarray of int, shape (n,)
        Class indices ``0 .. n_classes - 1``.
    proba : ndarray, shape (n, n_classes)
        Predicted probabilities, rows summing to 1.

    Returns
    -------
    dict of str to float
        Metric -> value; NaN where a metric is undefined (e.g. ROC AUC with one class).
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    n_classes = proba.shape[1]
    y_pred = proba.argmax(axis=1)
    binary = n_classes == 2
    cm = _confusion(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    out: dict[str, float] = {
        "accuracy": tp.sum() / len(y_true),
        "balanced_accuracy": float(np.mean(recall[support > 0])),
    }
    if binary:
        out["roc_auc"] = binary_auc(y_true == 1, proba[:, 1])
    elif (support > 0).all():
        out["roc_auc"] = float(np.mean([binary_auc(y_true == k, proba[:, k])
                                        for k in range(n_classes)]))
    else:
        out["roc_auc"] = np.nan
    if binary:
        out["f1"] = f1[1]
    out["f1_macro"] = float(f1.mean())
    out["f1_weighted"] = float((f1 * support).sum() / support.sum())
    out["precision"] = precision[1] if binary else float(precision.mean())
    out["recall"] = recall[1] if binary else float(recall.mean())
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
    event : ndarray of bool, shape (n,)
        True where the event was observed.
    time : ndarray of float, shape (n,)
        Event or censoring time.
    risk : ndarray of float, shape (n,)
        Predicted risk.

    Returns
    -------
    float
        The share of comparable pairs ordered correctly by the risk (ties count half).
    """
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(np.asarray(event, dtype=bool),
                                            np.asarray(time, dtype=float),
                                            np.asarray(risk, dtype=float))[0])



def td_auc(event: np.ndarray, time: np.ndarray, risk: np.ndarray,
           at: float | None = None) -> float:
    """Cumulative/dynamic AUC of a risk score at time ``at`` (default: the median observed
    time of these subjects), scikit-survival's ``cumulative_dynamic_auc``. The censoring
    distribution of the inverse-probability weights is estimated on the same subjects (the
    held-out fold). NaN when undefined (no case or no control at ``at``)."""
    from sksurv.metrics import cumulative_dynamic_auc

    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    at = float(np.median(time)) if at is None else float(at)
    cases = (time <= at) & event
    if not cases.any() or not (time > at).any():
        return float("nan")
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    try:
        auc, _ = cumulative_dynamic_auc(y, y, np.asarray(risk, dtype=float), [at])
    except ValueError:
        return float("nan")
    return float(auc[0])


def survival_metrics(event: np.ndarray, time: np.ndarray, risk: np.ndarray
                     ) -> dict[str, float]:
    """``c_index`` (Harrell's) and ``td_auc`` (at the median observed time) of a risk score;
    NaN where undefined (e.g. no event among these subjects)."""
    try:
        c = c_index(event, time, risk)
    except (ValueError, ZeroDivisionError):
        c = float("nan")
    return {"c_index": c, "td_auc": td_auc(event, time, risk)}
