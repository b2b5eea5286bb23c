"""The ``cv:`` section: the cross-validation protocol."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medfuse.config.refs import _Strict


class CVSpec(_Strict):
    """Cross-validation protocol.

    Parameters
    ----------
    folds : int
        k of k-fold (at least 2).
    repeats : int
        Repetitions of k-fold, each with its own shuffle (at least 1).
    seed : int
        Seed of the first repetition (repetition ``r`` uses ``seed + r``).
    scheme : {"auto", "stratified", "grouped", "leave-site-out"}
        ``auto``: grouped k-fold when the study has ``groups``, else repeated stratified
        k-fold; ``grouped`` needs ``groups``; ``leave-site-out`` (one fold per value of the
        ``batch`` column) needs ``batch``.
    """

    folds: int = Field(5, ge=2)
    repeats: int = Field(3, ge=1)
    seed: int = 0
    scheme: Literal["auto", "stratified", "grouped", "leave-site-out"] = "auto"
