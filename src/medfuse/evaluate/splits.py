"""Cross-validation splits, computed once per study and shared by every strategy."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from medfuse.data.multimodal import DataValidationError


@dataclass(frozen=True)
class Split:
    """One train/test split of the training subjects (positions into the data).

    Parameters
    ----------
    repeat, fold : int
        Which repetition and which fold of it.
    train, test : ndarray of int
        Subject positions.
    name : str
        ``site=<site>`` for leave-site-out, else empty (the ``label`` property then reads
        ``r{repeat}f{fold}``).
    """

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"r{self.repeat}f{self.fold}"

    def digest(self) -> str:
        """A short hash of the train and test positions (for cache keys)."""
        h = hashlib.sha256()
        h.update(np.asarray(self.train, dtype=np.int64).tobytes())
        h.update(b"|")
        h.update(np.asarray(self.test, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


def make_splits(y, *, folds: int = 5, repeats: int = 3, seed: int = 0,
                scheme: str = "stratified", groups=None, sites=None) -> list[Split]:
    """The list of splits every strategy is evaluated on.

    Parameters
    ----------
    y : array-like of shape (n,)
        Class labels (survival: event indicators).
    folds, repeats : int
        k of k-fold and the number of repetitions (each with a different shuffle,
        ``random_state = seed + repeat``).
    seed : int
        Seed of the first repetition.
    scheme : {"stratified", "grouped", "leave-site-out"}
        ``stratified``: repeated stratified k-fold. ``grouped``: stratified group k-fold,
        no group (patient) in two folds of a repetition. ``leave-site-out``: one fold per
        site, a single repetition.
    groups, sites : array-like of shape (n,), optional
        The group (patient) and the site of every subject, required by the grouped and
        leave-site-out schemes.

    Returns
    -------
    list of Split, ordered by repeat then fold.
    """
    y = np.asarray(y)
    n = len(y)
    if pd.isna(y).any():
        raise DataValidationError(
            f"The outcome has missing values ({int(pd.isna(y).sum())} subject(s)); drop those "
            "subjects first, or let run_benchmark do it: unlabelled='drop' leaves them out, "
            "unlabelled='pretrain' also lets the strategies that learn from unlabelled "
            "subjects use them (unlabelled: drop | pretrain in a study file).")
    _, counts = np.unique(y, return_counts=True)
    splits: list[Split] = []
    if scheme == "leave-site-out":
        sites = _every_subject(sites, "site", "leave-site-out")
        if len(np.unique(sites)) < 2:
            raise DataValidationError("leave-site-out needs at least two sites.")
        for f, (tr, te) in enumerate(LeaveOneGroupOut().split(np.zeros(n), y, sites)):
            splits.append(Split(0, f, tr, te, name=f"site={sites[te][0]}"))
        return splits
    if folds > counts.min():
        raise DataValidationError(
            f"cv.folds = {folds} but the smallest class has {counts.min()} subject(s); use at "
            "most that many folds.")
    for r in range(repeats):
        if scheme == "grouped":
            groups = _every_subject(groups, "group", "grouped CV")
            if len(np.unique(groups)) < folds:
                raise DataValidationError(
                    f"cv.folds = {folds} but there are only {len(np.unique(groups))} groups.")
            cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
            it = cv.split(np.zeros(n), y, groups)
        elif scheme == "stratified":
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
            it = cv.split(np.zeros(n), y)
        else:
            raise ValueError(f"Unknown CV scheme {scheme!r}.")
        for f, (tr, te) in enumerate(it):
            splits.append(Split(r, f, np.sort(tr), np.sort(te)))
    return splits


def _every_subject(values, what: str, scheme: str) -> np.ndarray:
    """The per-subject ``what`` (site or group) as an array; refuses a missing one."""
    if values is None:
        raise DataValidationError(f"{scheme} needs the {what} of every subject.")
    values = np.asarray(values)
    if pd.isna(values).any():
        raise DataValidationError(
            f"{int(pd.isna(values).sum())} subject(s) have no {what}; {scheme} needs every "
            f"subject's {what}.")
    return values


def missing_from_training(labels, splits: list[Split]) -> dict:
    """Labels (batches) with held-out subjects in some split but no subject in its training
    part: label -> the labels of those splits, in split order.

    Parameters
    ----------
    labels : array-like (n_subjects,), e.g. each subject's batch (missing values ignored).
    splits : the CV splits.
    """
    labels = np.asarray(labels, dtype=object)
    out: dict = {}
    for split in splits:
        trained = {v for v in labels[split.train] if not pd.isna(v)}
        for v in pd.unique(labels[split.test]):
            if not pd.isna(v) and v not in trained:
                out.setdefault(v, []).append(split.label)
    return out
