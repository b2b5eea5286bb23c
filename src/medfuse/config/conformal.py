"""The ``conformal:`` section: prediction sets and recalibration around every strategy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medfuse.config.refs import _Strict


class ConformalSpec(_Strict):
    """Conformal prediction sets and recalibration around every strategy, refitted in every
    fold (calibration subjects come from each fold's training part).

    Each setting is the parameter of the same name of
    :class:`medfuse.fusion.conformal.ConformalClassifier`.

    Parameters
    ----------
    alpha : float in (0, 1)
        Miscoverage: sets hold the true class for at least ``1 - alpha`` of subjects.
    method : {"split", "cross"}
        Split conformal (a calibration share of each training part) or cross-conformal.
    mondrian : {"pattern", "class"} or None
        Coverage per availability pattern, per true class, or marginal only.
    calibration_fraction : float in (0, 1)
        Share of the training subjects held out to calibrate (``split``).
    calibration : {"platt", "isotonic", "temperature", "venn-abers"} or None
        Recalibration of the probabilities, fitted on the calibration subjects.
    pattern_augment : bool
        Also score calibration subjects with modalities hidden, so that rare patterns get
        calibration scores (valid when modalities are missing at random).
    n_folds : int
        Folds of ``cross``.
    """

    alpha: float = Field(0.1, gt=0, lt=1)
    method: Literal["split", "cross"] = "split"
    mondrian: Literal["pattern", "class"] | None = "pattern"
    calibration_fraction: float = Field(0.25, gt=0, lt=1)
    calibration: Literal["platt", "isotonic", "temperature", "venn-abers"] | None = None
    pattern_augment: bool = False
    n_folds: int = Field(5, ge=2)
