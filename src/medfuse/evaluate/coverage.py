"""Prediction sets, availability patterns and calibration in the benchmark's records.

Every held-out subject's availability pattern (the modalities it has, ``"mrna+mirna"``) is
kept with its predictions. For a strategy wrapped in
:class:`~medfuse.fusion.conformal.ConformalClassifier` the runner also keeps its prediction
sets and, when it recalibrates, the probabilities before recalibration, for the full set of
modalities and every availability subset scored. From them come:

- ``results.csv``: ``coverage`` (share of held-out subjects whose set holds their class)
  and ``set_size`` (mean number of classes in a set), over all held-out subjects and per
  availability pattern (``coverage[mrna+mirna]``, ``set_size[mrna+mirna]``), in the same
  ``strategy, metric, split, mean, sd, n`` schema as the other metrics (``n``: the splits in
  which the pattern had held-out subjects);
- ``robustness.csv``: ``coverage`` and ``set_size`` with modalities hidden;
- the report's per-pattern ECE (before and after recalibration), reliability diagrams and
  risk-coverage curves (:func:`pattern_calibration`, :func:`risk_coverage`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.evaluate.metrics import expected_calibration_error
from medfuse.evaluate.robustness import subset_key

COVERAGE, SET_SIZE = "coverage", "set_size"


def held_patterns(data: MultiModalData) -> list[str]:
    """Each subject's availability pattern.

    Parameters
    ----------
    data : MultiModalData
        The held-out subjects.

    Returns
    -------
    list of str
        The modalities each subject has, ``"+"``-joined in the data's modality order.
    """
    from medfuse.fusion.conformal import availability_patterns

    return availability_patterns(data, data.modality_names).tolist()


def pattern_metric(metric: str, pattern: str) -> str:
    """The name of a per-pattern metric.

    Parameters
    ----------
    metric : str
        ``coverage`` or ``set_size``.
    pattern : str
        The availability pattern.

    Returns
    -------
    str
        ``coverage[mrna+mirna]``.
    """
    return f"{metric}[{pattern}]"


def conformal_outputs(model, data: MultiModalData, subsets: Sequence[tuple[str, ...]],
                      n_classes: int, class_index: np.ndarray) -> dict:
    """What the runner keeps of a conformal strategy's held-out predictions.

    Parameters
    ----------
    model : ConformalClassifier or FusionClassifier
        The fitted fold model.
    data : MultiModalData
        The held-out subjects.
    subsets : sequence of tuple of str
        The availability subsets scored (each modality subset the robustness table uses).
    n_classes : int
        Classes of the study.
    class_index : ndarray of int
        The study's class index of each of the model's classes.

    Returns
    -------
    dict
        ``sets`` (key -> one row of 0/1 per subject, None for subjects that could not be
        scored from those modalities), ``uncalibrated`` (key -> probabilities before
        recalibration, NaN rows likewise; empty without recalibration) and ``alpha``; an
        empty dict for a strategy without prediction sets.
    """
    if not hasattr(model, "predict_set"):
        return {}
    recalibrated = getattr(model, "calibrator_", None) is not None
    sets, raw = {}, {}
    names = data.modality_names
    for subset in subsets:
        hidden = [n for n in names if n not in subset]
        view = data.hide(hidden) if hidden else data
        rows = np.flatnonzero(view.available.to_numpy().any(axis=1))
        key = subset_key(subset)
        set_rows: list = [None] * len(data)
        proba = np.full((len(data), n_classes), np.nan)
        if len(rows):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    chosen = model.predict_set(view[rows])
                    before = model.predict_proba_uncalibrated(view[rows]) if recalibrated \
                        else None
            except DataValidationError:
                chosen = None
            if chosen is not None:
                full = np.zeros((len(rows), n_classes), dtype=int)
                full[:, class_index] = chosen
                for i, r in zip(rows, full, strict=True):
                    set_rows[i] = r.tolist()
                if before is not None:
                    proba[rows[:, None], class_index[None, :]] = before
                    proba[rows] = np.nan_to_num(proba[rows])
        sets[key] = set_rows
        if recalibrated:
            raw[key] = proba.tolist()
    return {"sets": sets, "uncalibrated": raw, "alpha": float(model.alpha)}


def set_metrics(y: np.ndarray, rows: list, patterns: list[str] | None = None
                ) -> dict[str, float]:
    """Coverage and mean set size of prediction sets.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class indices.
    rows : list
        One row of 0/1 per subject and class, or None where the subject has no set.
    patterns : list of str, optional
        Each subject's availability pattern.

    Returns
    -------
    dict of str to float
        ``coverage`` and ``set_size`` of the subjects with a set and, with ``patterns``,
        the same per pattern (``coverage[<pattern>]``); empty when no subject has a set.
    """
    y = np.asarray(y)
    have = np.array([r is not None for r in rows], dtype=bool)
    if not have.any():
        return {}
    sets = np.array([r for r in rows if r is not None], dtype=bool)
    hit = sets[np.arange(len(sets)), y[have]]
    size = sets.sum(axis=1)
    out = {COVERAGE: float(hit.mean()), SET_SIZE: float(size.mean())}
    if patterns is not None:
        labels = np.asarray(patterns, dtype=object)[have]
        for p in dict.fromkeys(labels):
            sel = labels == p
            out[pattern_metric(COVERAGE, p)] = float(hit[sel].mean())
            out[pattern_metric(SET_SIZE, p)] = float(size[sel].mean())
    return out


def pooled_by_pattern(result, strategy: str, repeat: int = 0) -> pd.DataFrame:
    """Out-of-fold predictions of one CV repeat (every subject once).

    Parameters
    ----------
    result : BenchmarkResult
        The benchmark.
    strategy : str
        The strategy's name.
    repeat : int
        The CV repeat.

    Returns
    -------
    pandas.DataFrame
        One row per subject: ``pattern``, ``y``, ``proba`` (ndarray), ``uncalibrated``
        (ndarray or None) and ``set`` (ndarray of bool or None).
    """
    rows = []
    for fr in result.folds:
        if fr.kind != "cv" or fr.strategy != strategy or fr.repeat != repeat:
            continue
        proba = fr.probabilities()
        raw = fr.uncalibrated.get(fr.full_key)
        sets = fr.sets.get(fr.full_key)
        patterns = fr.patterns or [fr.full_key] * len(fr.subjects)
        for i, y in enumerate(fr.y):
            if np.isnan(proba[i]).any():
                continue
            rows.append({"pattern": patterns[i], "y": int(y), "proba": proba[i],
                         "uncalibrated": None if raw is None else np.asarray(raw[i], float),
                         "set": None if sets is None or sets[i] is None
                         else np.asarray(sets[i], dtype=bool)})
    return pd.DataFrame(rows, columns=["pattern", "y", "proba", "uncalibrated", "set"])


def pattern_calibration(result, strategy: str, repeat: int = 0) -> pd.DataFrame:
    """Calibration and prediction sets per availability pattern, out of fold.

    Parameters
    ----------
    result : BenchmarkResult
        The benchmark.
    strategy : str
        The strategy's name.
    repeat : int
        The CV repeat whose out-of-fold predictions are used.

    Returns
    -------
    pandas.DataFrame
        One row per pattern (decreasing size) after a row ``all`` over every subject:
        ``pattern``, ``n``, ``ece`` (of the probabilities the strategy reports),
        ``ece_before`` (before its recalibration; NaN without one), ``coverage`` and
        ``set_size`` (NaN without prediction sets).
    """
    pooled = pooled_by_pattern(result, strategy, repeat)
    if pooled.empty:
        return pd.DataFrame(columns=["pattern", "n", "ece", "ece_before", "coverage",
                                     "set_size"])
    groups = [("all", np.ones(len(pooled), dtype=bool))]
    counts = pooled["pattern"].value_counts()
    if len(counts) > 1:
        groups += [(p, (pooled["pattern"] == p).to_numpy()) for p in counts.index]
    out = []
    for name, sel in groups:
        part = pooled[sel]
        y = part["y"].to_numpy()
        row = {"pattern": name, "n": int(sel.sum()),
               "ece": expected_calibration_error(y, np.vstack(part["proba"])),
               "ece_before": np.nan, "coverage": np.nan, "set_size": np.nan}
        if part["uncalibrated"].notna().all():
            row["ece_before"] = expected_calibration_error(y, np.vstack(part["uncalibrated"]))
        if part["set"].notna().all():
            sets = np.vstack(part["set"])
            row["coverage"] = float(sets[np.arange(len(y)), y].mean())
            row["set_size"] = float(sets.sum(axis=1).mean())
        out.append(row)
    return pd.DataFrame(out)


def risk_coverage(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Risk-coverage curve of selective prediction by confidence.

    Subjects are sorted by their top class probability, most confident first; for the
    ``k`` most confident (``k = 1 .. n``) the coverage is ``k / n`` and the risk the error
    rate of their predicted class.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class indices.
    proba : ndarray, shape (n, n_classes)
        Class probabilities.

    Returns
    -------
    coverage, risk : ndarray, shape (n,)
        Share of subjects predicted, and the error rate among them.
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=float)
    order = np.argsort(-proba.max(axis=1), kind="stable")
    wrong = (proba.argmax(axis=1) != y)[order].astype(float)
    k = np.arange(1, len(y) + 1)
    return k / len(y), np.cumsum(wrong) / k


def abstention_point(y: np.ndarray, sets: np.ndarray) -> tuple[float, float]:
    """Selective prediction with conformal sets: predict only subjects whose set is a
    single class.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class indices.
    sets : ndarray of bool, shape (n, n_classes)
        Prediction sets.

    Returns
    -------
    share, error : float
        Share of subjects predicted, and the error rate among them (NaN when none).
    """
    y = np.asarray(y)
    single = sets.sum(axis=1) == 1
    if not single.any():
        return 0.0, float("nan")
    wrong = ~sets[single][np.arange(int(single.sum())), y[single]]
    return float(single.mean()), float(wrong.mean())
