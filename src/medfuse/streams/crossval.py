"""Leakage-free cross-validation of detection designs: folds split by subject (every night
of a subject on the same side), never by time point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from medfuse.streams.data import StreamSet
from medfuse.streams.designs import make_detector
from medfuse.streams.detect import night_of, span
from medfuse.streams.events import score_nights

#: The columns of the per-fold table.
METRICS = ("nights", "events", "within_budget", "sensitivity", "missed", "median", "p90",
           "false_alarms", "false_alarms_per_night", "time_in_alarm")


def subject_folds(nights: Sequence[str], has_event: Sequence[bool], groups=None,
                  folds: int = 3, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Train and test nights of each fold, split by subject and stratified by whether a
    night has an event.

    Parameters
    ----------
    nights : sequence of str, length N
        The nights.
    has_event : sequence of bool, length N
        Whether each night has an event.
    groups : Series or mapping, optional
        Night -> subject; by default every night is its own subject.
    folds : int
        Number of folds.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    list of tuple of list of str
        ``(train nights, test nights)`` per fold; no subject is on both sides.
    """
    nights = list(nights)
    subjects = np.array([groups[n] if groups is not None else n for n in nights])
    split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    for train, test in split.split(np.zeros(len(nights)), np.asarray(has_event, int),
                                   subjects):
        if set(subjects[train]) & set(subjects[test]):  # pragma: no cover - a guard
            raise RuntimeError("A subject fell on both sides of a fold.")
        out.append(([nights[i] for i in train], [nights[i] for i in test]))
    return out


def cross_validate_detection(streams: StreamSet, events: pd.DataFrame,
                             designs: Sequence[str] = ("early", "fast-only", "slow-only",
                                                       "hybrid"),
                             folds: int = 3, seed: int = 0, groups=None,
                             **params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each design on the training subjects' nights of each fold and score its alarms
    on the test subjects' nights at event level.

    Parameters
    ----------
    streams : StreamSet
        Every night's streams.
    events : DataFrame
        Indexed by night, columns ``onset`` and ``end`` in seconds (NaN: no event).
    designs : sequence of str
        Design names (:data:`~medfuse.streams.designs.DESIGNS`).
    folds : int
        Number of folds.
    seed : int
        Seed of the folds and of the fits.
    groups : Series or mapping, optional
        Night -> subject (default: every night its own subject).
    **params
        Detector parameters, e.g. ``budget=60``.

    Returns
    -------
    table : DataFrame
        One row per fold and design: ``fold``, ``design`` and :data:`METRICS` (latencies
        in seconds, time in alarm a fraction).
    latencies : DataFrame
        One row per test event: ``fold``, ``design``, ``night``, ``onset``, ``latency``
        (seconds, NaN: missed).
    """
    nights = list(streams.nights)
    has = [bool(events.loc[events.index == n, "onset"].notna().any()) for n in nights]
    budget = params.get("budget", 60.0)
    rows, per_event = [], []
    for fold, (train, test) in enumerate(subject_folds(nights, has, groups, folds, seed)):
        spans = {n: span(night_of(streams, n)) for n in test}
        for design in designs:
            model = make_detector(design, random_state=seed, **params)
            model.fit(streams, events, train)
            alarms = {n: model.alarms(streams, n) for n in test}
            found, summary = score_nights(alarms, events.loc[events.index.isin(test)],
                                          spans, budget, early=model.early)
            rows.append({"fold": fold, "design": design, **{m: summary[m] for m in METRICS}})
            per_event.append(found.assign(fold=fold, design=design))
    latencies = pd.concat(per_event, ignore_index=True)[["fold", "design", "night", "onset",
                                                         "latency"]]
    return pd.DataFrame(rows), latencies
