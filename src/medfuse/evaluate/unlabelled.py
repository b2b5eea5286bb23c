"""Subjects without an outcome in a benchmark (``run_benchmark(unlabelled=...)``, a study
file's ``unlabelled:``).

They are never scored: the splits, the scores, robustness and the derived strategies see the
labelled subjects only, as if the others had been dropped. With ``"pretrain"`` every fit of
a strategy that learns from unlabelled subjects (its ``_uses_unlabelled()`` hook, checked on
the unfitted estimator through its wrappers) gets them on top of its training subjects, with
outcome None; the other strategies never see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.data.validation import preview

#: The values of ``unlabelled`` (besides None: refuse subjects without an outcome).
MODES = ("drop", "pretrain")


@dataclass
class UnlabelledPlan:
    """How a benchmark treats its subjects without an outcome.

    Parameters
    ----------
    mode : {"drop", "pretrain"} or None
        As given.
    labelled : MultiModalData
        The subjects with an outcome (scored, split, ranked).
    pool : MultiModalData or None
        The subjects without one, added to the fits of the strategies in ``users``
        (``"pretrain"`` with at least one such subject; else None).
    users : list of str
        The strategies that learn from them (``"pretrain"``).
    others : list of str
        The strategies that cannot (``"pretrain"``).
    """

    mode: str | None
    labelled: MultiModalData
    pool: MultiModalData | None = None
    users: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)

    @property
    def n_unlabelled(self) -> int:
        """Subjects without an outcome (0 when there is no pool)."""
        return 0 if self.pool is None else len(self.pool)

    def settings(self, n_missing: int) -> dict | None:
        """``settings["unlabelled"]`` of the result (None when ``mode`` is None): the
        mode, the number of subjects without an outcome and, for ``"pretrain"`` with some,
        the strategies that learned from them and those that cannot."""
        if self.mode is None:
            return None
        out: dict = {"mode": self.mode, "n": int(n_missing)}
        if self.mode == "pretrain" and n_missing:
            out.update(used_by=list(self.users), cannot_use=list(self.others))
        return out


def uses_unlabelled(estimator) -> bool:
    """Whether an unfitted strategy learns from subjects without an outcome (its
    ``_uses_unlabelled()`` hook; wrappers forward it).

    Parameters
    ----------
    estimator : estimator
        The unfitted strategy.

    Returns
    -------
    bool
    """
    hook = getattr(estimator, "_uses_unlabelled", None)
    return bool(hook()) if callable(hook) else False


def missing_outcome(data: MultiModalData) -> np.ndarray:
    """Boolean mask of the subjects whose outcome is missing (all False without one)."""
    if data.outcome is None:
        return np.zeros(len(data), dtype=bool)
    return np.asarray(pd.isna(data.y), dtype=bool)


def split_unlabelled(data: MultiModalData) -> tuple[MultiModalData, MultiModalData | None]:
    """The subjects with an outcome and those without one (None when every subject has one).

    A numeric outcome that is float only because of the missing values (``0.0``, ``1.0``)
    gets back its integers in the labelled part.

    Parameters
    ----------
    data : MultiModalData
        Subjects with an outcome column.

    Returns
    -------
    (MultiModalData, MultiModalData or None)
        The labelled subjects, and the unlabelled ones, each in the data's order.
    """
    missing = missing_outcome(data)
    if not missing.any():
        return data, None
    labelled = data[np.flatnonzero(~missing)]
    y = labelled.y
    if pd.api.types.is_float_dtype(y) and bool((y == np.round(y)).all()):
        obs = labelled.obs.copy()
        obs[labelled.outcome] = y.astype(np.int64)
        labelled = labelled.with_obs(obs)
    return labelled, data[np.flatnonzero(missing)]


def plan_unlabelled(data: MultiModalData, mode: str | None, strategies: Mapping[str, object],
                    task: str = "classification") -> UnlabelledPlan:
    """Check ``unlabelled`` against the data and say which strategies get the pool.

    Parameters
    ----------
    data : MultiModalData
        The benchmark's training subjects.
    mode : {"drop", "pretrain"} or None
        None refuses subjects without an outcome.
    strategies : mapping of str to estimator
        The unfitted strategies by name.
    task : {"classification", "survival"}
        ``unlabelled`` is for classification.

    Returns
    -------
    UnlabelledPlan

    Raises
    ------
    ValueError
        An unknown mode, or a mode with a survival task.
    DataValidationError
        Subjects without an outcome and ``mode`` None (the message names both modes).
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"unlabelled must be None, 'drop' or 'pretrain'; got {mode!r}")
    if task == "survival":
        if mode is not None:
            raise DataValidationError(
                "unlabelled= is for classification: a survival study needs the time and the "
                "event of every subject (leave out the subjects without them).")
        return UnlabelledPlan(None, data)
    missing = missing_outcome(data)
    if missing.any() and mode is None:
        raise DataValidationError(missing_message(data, missing))
    labelled, pool = split_unlabelled(data)
    if mode != "pretrain":
        return UnlabelledPlan(mode, labelled)
    users = [n for n, est in strategies.items() if uses_unlabelled(est)]
    others = [n for n in strategies if n not in users]
    return UnlabelledPlan(mode, labelled, pool if users else None, users, others)


def missing_message(data: MultiModalData, missing: np.ndarray,
                    option: str = "pass unlabelled={!r}") -> str:
    """Why subjects without an outcome are refused, and the two ways to keep going.

    Parameters
    ----------
    data : MultiModalData
        The subjects.
    missing : ndarray of bool
        Which have no outcome.
    option : str
        How to ask for a mode, ``{!r}`` or ``{}`` standing for it (``pass
        unlabelled={!r}``, ``add unlabelled: {} to the study file``).

    Returns
    -------
    str
    """
    n = int(missing.sum())
    return (f"The outcome {data.outcome!r} is missing for {n} of {len(data)} subject(s) "
            f"({preview(data.subjects[missing])}). To leave them out, "
            f"{option.format('drop')}; to leave them out of every split and score but add "
            "them to the training subjects of the strategies that learn from unlabelled "
            f"subjects, {option.format('pretrain')}.")


def with_pool(train: MultiModalData, labels: np.ndarray, pool: MultiModalData | None
              ) -> tuple[MultiModalData, np.ndarray]:
    """The training subjects of a fit, with the unlabelled ``pool`` after them.

    Parameters
    ----------
    train : MultiModalData
        The labelled training subjects.
    labels : ndarray (len(train),)
        Their outcome values (class labels).
    pool : MultiModalData or None
        The unlabelled subjects; None adds nothing.

    Returns
    -------
    (MultiModalData, ndarray)
        The subjects and their outcome: the labels, then None for the pool (object
        dtype); ``labels`` as given when ``pool`` is None.
    """
    if pool is None or not len(pool):
        return train, labels
    y = np.empty(len(train) + len(pool), dtype=object)
    y[:len(train)] = list(labels)
    y[len(train):] = None
    return MultiModalData.concat([train, pool]), y


def unlabelled_learners() -> list[str]:
    """The registered classification strategies that can learn from unlabelled subjects:
    their name, or ``name (pretrain_epochs > 0)`` when a pre-training stage must be asked
    for (for messages; strategies that cannot be built here are left out)."""
    from medfuse.fusion.factory import make
    from medfuse.fusion.registry import _REGISTRY

    out = []
    for name, tags in list(_REGISTRY.items()):
        if tags.task != "classification" or tags.per_modality or tags.family == "ensemble":
            continue
        try:  # a message must not fail on a strategy that cannot be imported here
            est = make(name)
            if uses_unlabelled(est):
                out.append(name)
            elif "pretrain_epochs" in est.get_params(deep=False) and uses_unlabelled(
                    est.set_params(pretrain_epochs=1)):
                out.append(f"{name} (pretrain_epochs > 0)")
        except Exception:
            continue
    return out
