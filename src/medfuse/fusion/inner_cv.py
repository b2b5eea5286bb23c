"""Inner cross-validation folds that fit the training data they are given: as many folds as
asked, but never more than the smallest class has members (down to 2); below that there is
no inner CV, and the caller falls back to a fixed setting with :class:`SmallClassWarning`."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold

#: Fewest inner folds; a class with fewer training members leaves no inner CV.
MIN_INNER_FOLDS = 2


class SmallClassWarning(UserWarning):
    """A class has too few training subjects for inner cross-validation, so a setting that
    inner CV would have chosen is fixed instead."""


def inner_fold_count(y: np.ndarray, cv: int) -> int:
    """Folds for inner CV on class indices ``y`` (n,): ``min(cv, smallest present class)``,
    or 0 when that is below :data:`MIN_INNER_FOLDS` or fewer than two classes are present.

    Parameters
    ----------
    y : ndarray (n,)
        Class indices of the training subjects.
    cv : int
        Folds asked for.

    Returns
    -------
    int
        Inner folds; 0 for no inner CV.
    """
    counts = np.bincount(np.asarray(y, dtype=int))
    present = counts[counts > 0]
    if len(present) < 2:
        return 0
    k = int(min(int(cv), int(present.min())))
    return k if k >= MIN_INNER_FOLDS else 0


def inner_folds(y: np.ndarray, cv: int, random_state=None,
                fixed: str = "a fixed setting") -> StratifiedKFold | None:
    """Shuffled stratified folds for inner CV on ``y`` (see :func:`inner_fold_count`), or
    None with a :class:`SmallClassWarning` saying ``fixed`` is used instead.

    Parameters
    ----------
    y : ndarray (n,)
        Class indices of the training subjects.
    cv : int
        Folds asked for.
    random_state : int, optional
        Seed of the shuffle.
    fixed : str
        What the caller uses without inner CV (named in the warning).

    Returns
    -------
    StratifiedKFold or None
        Shuffled with ``random_state``; None when :func:`inner_fold_count` is 0.
    """
    k = inner_fold_count(y, cv)
    if k:
        return StratifiedKFold(k, shuffle=True, random_state=random_state)
    counts = np.bincount(np.asarray(y, dtype=int))
    smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 0
    warnings.warn(f"The smallest class has {smallest} training subject(s): too few for inner "
                  f"cross-validation, so {fixed} is used.", SmallClassWarning, stacklevel=3)
    return None
