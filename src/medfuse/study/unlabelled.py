"""A study's subjects without an outcome (the ``unlabelled:`` section): checked and announced
before anything is fitted, and added to the refit of the handed-over model when it learns
from them (see :mod:`medfuse.evaluate.unlabelled` for the benchmark)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.unlabelled import (
    missing_message,
    missing_outcome,
    split_unlabelled,
    unlabelled_learners,
    uses_unlabelled,
    with_pool,
)


@dataclass
class StudyUnlabelled:
    """What a study does with its subjects without an outcome.

    Parameters
    ----------
    labelled : MultiModalData
        The subjects with an outcome: split, scored and shown in the report.
    mode : {"drop", "pretrain"} or None
        What the benchmark is asked for (``"drop"`` when ``"pretrain"`` was asked but no
        strategy can learn from them).
    pool : MultiModalData or None
        The subjects without an outcome, when some strategy learns from them.
    requested : str or None
        The ``unlabelled:`` of the study.
    """

    labelled: MultiModalData
    mode: str | None
    pool: MultiModalData | None = None
    requested: str | None = None

    def refit_data(self, estimator) -> tuple[MultiModalData, np.ndarray | None]:
        """The subjects (and outcome, None: the data's) the handed-over model is refitted
        on: the labelled ones, with the pool when the model learns from it."""
        if self.pool is None or not uses_unlabelled(estimator):
            return self.labelled, None
        return with_pool(self.labelled, np.asarray(self.labelled.y), self.pool)

    def manifest(self, estimator) -> dict | None:
        """The saved model's ``unlabelled`` entry (None without ``unlabelled:``)."""
        if self.requested is None:
            return None
        used = self.pool is not None and uses_unlabelled(estimator)
        return {"mode": self.mode, "requested": self.requested,
                "n": 0 if self.pool is None else len(self.pool), "refitted_with": used}


def study_unlabelled(train: MultiModalData, mode: str | None,
                     estimators: Mapping[str, object], task: str = "classification",
                     log: Callable[[str], None] = lambda _: None) -> StudyUnlabelled:
    """Check a study's subjects without an outcome against ``unlabelled:`` and say, in one
    line, how many there are and which strategies learn from them.

    Parameters
    ----------
    train : MultiModalData
        The training subjects.
    mode : {"drop", "pretrain"} or None
        The study's ``unlabelled:``.
    estimators : mapping of str to estimator
        The study's strategies, unfitted.
    task : {"classification", "survival"}
        ``unlabelled:`` is for classification.
    log : callable
        Receives the line (a warning when ``"pretrain"`` finds no strategy to use them).

    Returns
    -------
    StudyUnlabelled

    Raises
    ------
    StudyError
        Subjects without an outcome and no ``unlabelled:`` (the message names both
        options), or ``unlabelled:`` with a survival study.
    """
    from medfuse.config import StudyError

    if task == "survival" or train.outcome is None:
        if mode is not None:
            raise StudyError("unlabelled: is for classification studies; a survival study "
                             "needs the time and event of every subject.")
        return StudyUnlabelled(train, None)
    missing = missing_outcome(train)
    n = int(missing.sum())
    if n and mode is None:
        raise StudyError(missing_message(train, missing,
                                         "add unlabelled: {} to the study file"))
    if mode is None:
        return StudyUnlabelled(train, None)
    labelled, pool = split_unlabelled(train)
    subjects = f"{n} subject{'s' if n != 1 else ''}"
    if not n:
        log(f"unlabelled: {mode}, but every subject has an outcome")
        return StudyUnlabelled(labelled, mode, None, mode)
    if mode == "drop":
        log(f"unlabelled: {subjects} without an outcome, left out (unlabelled: drop)")
        return StudyUnlabelled(labelled, "drop", None, mode)
    users = [name for name, est in estimators.items() if uses_unlabelled(est)]
    others = [name for name in estimators if name not in users]
    if not users:
        log(f"[yellow]warning:[/yellow] unlabelled: pretrain, but none of the study's "
            f"strategies ({', '.join(others)}) can learn from the {subjects} without an "
            f"outcome; strategies that can: {', '.join(unlabelled_learners())}. They are "
            "left out, as with unlabelled: drop.")
        return StudyUnlabelled(labelled, "drop", None, mode)
    log(f"unlabelled: {subjects} without an outcome, never scored; learning from them: "
        f"{', '.join(users)}; cannot: {', '.join(others) or 'none'}")
    return StudyUnlabelled(labelled, "pretrain", pool, mode)
