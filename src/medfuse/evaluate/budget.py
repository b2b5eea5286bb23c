"""The time budget of one benchmark fit, and the markers that remember fits over budget.

A (strategy, split) fit that runs longer than its budget is stopped (its worker process is
killed, see :mod:`medfuse.evaluate.workers`) and recorded as failed. So that ``--resume``
does not spend the budget again on a fit that is known to exceed it, the failure is kept
next to the cached results as ``<key>.failed.json`` (plain JSON: strategy, split, budget,
message). A rerun with a larger budget, or with ``retry_failed``, tries the fit again; a
fit that later succeeds removes its marker.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from medfuse.files import read_json, remove_file, write_file

#: Seconds one (strategy, split) fit may take, with its held-out predictions, by default.
DEFAULT_BUDGET = 1800.0

_SUFFIX = ".failed.json"


@dataclass(frozen=True)
class OverBudget:
    """A fit stopped because it ran past its budget.

    Attributes
    ----------
    strategy : the strategy's name.
    split : where it was fitted (``"split r0f1"``, ``"the test-set refit (seed 0)"``).
    budget : the budget it exceeded, in seconds.
    message : the message shown in the results.
    """

    strategy: str
    split: str
    budget: float
    message: str


def over_budget(strategy: str, where: str, budget: float) -> OverBudget:
    """The failure record of a fit of ``strategy`` at ``where`` that exceeded ``budget``
    seconds, with the message that says what to do about it."""
    message = (f"{strategy}: fit on {where} exceeded the {budget:g} s budget; raise budget: "
               "in the study file (or --budget) or exclude the strategy")
    return OverBudget(strategy, where, float(budget), message)


def write_over_budget(folder: Path, key: str, record: OverBudget) -> Path:
    """Store the marker of the fit with cache key ``key`` atomically (write, then rename)."""
    return write_file(folder / f"{key}{_SUFFIX}", json.dumps(asdict(record)))


def read_over_budget(folder: Path, key: str) -> OverBudget | None:
    """The marker of the fit with cache key ``key``, or None when there is none or it is not
    a valid marker (a warning names the file; the fit is then retried)."""
    path = folder / f"{key}{_SUFFIX}"
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        raw = read_json(path, follow_links=False)
        names = {f.name for f in fields(OverBudget)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise ValueError("unexpected fields")
        if not all(isinstance(raw[k], str) for k in ("strategy", "split", "message")):
            raise ValueError("strategy, split and message must be text")
        budget = raw["budget"]
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not (
                math.isfinite(budget) and budget > 0):
            raise ValueError("the budget must be a positive number of seconds")
        return OverBudget(raw["strategy"], raw["split"], float(budget), raw["message"])
    except (OSError, ValueError) as err:
        warnings.warn(f"Ignoring the failure marker {path.name} ({err}); the fit is retried.",
                      stacklevel=2)
        return None


def clear_over_budget(folder: Path, key: str) -> None:
    """Remove the marker of the fit with cache key ``key`` (after it succeeded)."""
    remove_file(folder / f"{key}{_SUFFIX}")


def should_retry(record: OverBudget, budget: float | None, retry_failed: bool) -> bool:
    """Whether a fit recorded over budget is tried again: when asked to, or when the budget
    is now larger than the one it exceeded (or unlimited, ``budget=None``)."""
    return retry_failed or budget is None or budget > record.budget
