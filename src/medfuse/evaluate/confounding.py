"""Batch-outcome confounding, measured on the training subjects of every fold.

When the batch (site, scanner, run) and the outcome go together, a model can learn the batch
instead of the outcome, and harmonization (ComBat) removes outcome signal together with the
batch effect. The association is Cramér's V of the batch x outcome contingency table,

    V = sqrt(phi2 / (min(r, c) - 1)),    phi2 = chi2 / n,

with ``chi2`` Pearson's statistic (no continuity correction), ``n`` subjects, ``r`` batches
and ``c`` classes: 0 when the class shares are the same in every batch, 1 when the batch
determines the class (or the class the batch). In small samples V is biased upwards (about
0.2 by chance alone for 3 batches and 40 subjects), so the thresholds apply to the
bias-corrected V of Bergsma (2013):

    phi2~ = max(0, phi2 - (r - 1)(c - 1) / (n - 1)),
    r~ = r - (r - 1)^2 / (n - 1),   c~ = c - (c - 1)^2 / (n - 1),
    V~ = sqrt(phi2~ / min(r~ - 1, c~ - 1)),

which is 0 on average without association and still 1 for two batches that each hold one
class.

Thresholds, on the median V~ over the folds (the folds' training parts overlap, and the
largest of them would often cross a threshold by chance): V~ >= :data:`MODERATE` (0.3, a
medium effect in Cohen's convention for a 2 x 2 table; two batches with 70/30 and 30/70 class
shares give V = 0.4) is worth a warning; V~ >= :data:`STRONG` (0.5, a large effect) is strong.
Perfect confounding in any fold (every batch holding a single class, or V = 1) with
harmonization and no protected covariates is an error: nothing can separate the batch effect
from the outcome then.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Cramér's V from which the association is reported as moderate
MODERATE = 0.3
#: Cramér's V from which the association is reported as strong
STRONG = 0.5


class ConfoundingError(ValueError):
    """Harmonization was requested although batch and outcome are perfectly confounded."""


def contingency(batch, y) -> pd.DataFrame:
    """Subjects per batch (rows) and class (columns); subjects without a batch or outcome
    are left out."""
    frame = pd.DataFrame({"batch": np.asarray(batch, dtype=object),
                          "y": np.asarray(y, dtype=object)}).dropna()
    return pd.crosstab(frame["batch"], frame["y"])


def cramers_v(table: pd.DataFrame | np.ndarray, corrected: bool = False) -> float:
    """Cramér's V of a contingency table, or with ``corrected`` Bergsma's bias-corrected V
    (see the module docstring); NaN with fewer than two batches or classes."""
    counts = np.asarray(table, dtype=float)
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    n = counts.sum()
    r, c = counts.shape if counts.ndim == 2 else (0, 0)
    if min(r, c) < 2 or n <= 1:
        return float("nan")
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n
    phi2 = float(((counts - expected) ** 2 / expected).sum()) / n
    if not corrected:
        return float(min(1.0, np.sqrt(phi2 / (min(r, c) - 1))))
    phi2 = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    scale = min(r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)) - 1
    return float(min(1.0, np.sqrt(phi2 / scale)))


def batch_outcome_association(batch, y, splits: Sequence | None = None) -> pd.DataFrame:
    """Cramér's V of batch and outcome on the training subjects of each split.

    Parameters
    ----------
    batch, y : array-like (n_subjects,)
        Batch label and outcome class of every subject.
    splits : sequence of :class:`~medfuse.evaluate.splits.Split`, optional
        Their ``train`` positions are used; None: one row for all subjects.

    Returns
    -------
    DataFrame, one row per split: ``split`` (label), ``n`` (subjects with a batch and an
    outcome), ``n_batches``, ``cramers_v`` (bias-corrected), ``cramers_v_uncorrected``,
    ``pure_batches`` (every batch holds a single class) and ``perfect`` (pure batches or
    uncorrected V = 1, with at least two batches).
    """
    batch = np.asarray(batch, dtype=object)
    y = np.asarray(y, dtype=object)
    parts = ([("all", np.arange(len(y)))] if splits is None
             else [(s.label, np.asarray(s.train)) for s in splits])
    rows = []
    for label, rows_ in parts:
        table = contingency(batch[rows_], y[rows_])
        raw = cramers_v(table)
        pure = bool(len(table) > 1 and ((table > 0).sum(axis=1) == 1).all())
        rows.append({"split": label, "n": int(table.to_numpy().sum()),
                     "n_batches": len(table), "cramers_v": cramers_v(table, corrected=True),
                     "cramers_v_uncorrected": raw, "pure_batches": pure,
                     "perfect": bool(len(table) > 1 and (pure or np.isclose(raw, 1.0)))})
    return pd.DataFrame(rows)


def strength(v: float) -> str:
    """``"perfect"``, ``"strong"``, ``"moderate"`` or ``"weak"`` (see the thresholds)."""
    if not np.isfinite(v) or v < MODERATE:
        return "weak"
    if np.isclose(v, 1.0):
        return "perfect"
    return "strong" if v >= STRONG else "moderate"


def confounding_verdict(table: pd.DataFrame, batch: str, outcome: str, *,
                        harmonizer: str | None = None, covariates: bool = False
                        ) -> tuple[str | None, str]:
    """What to say about a :func:`batch_outcome_association` table.

    Parameters
    ----------
    table : the per-fold association.
    batch, outcome : the column names, for the message.
    harmonizer : ``"ComBat"``/``"ComBat-seq"`` when harmonization is requested, else None.
    covariates : whether the harmonization protects covariates.

    Returns
    -------
    (level, message) with level ``"error"`` (perfect confounding in some fold,
    harmonization without covariates), ``"warning"`` (perfect confounding otherwise, or a
    median bias-corrected V >= MODERATE) or None (nothing to say; the message then
    describes the association).
    """
    v = table["cramers_v"].to_numpy(dtype=float)
    finite = v[np.isfinite(v)]
    n = len(table)
    if not len(finite):
        return None, f"batch {batch!r}: fewer than two batches in the training subjects."
    perfect = table["perfect"].to_numpy(dtype=bool)
    if perfect.any():
        raw = table.loc[perfect, "cramers_v_uncorrected"].to_numpy(dtype=float)
        shown = float(np.nanmax(raw)) if np.isfinite(raw).any() else 1.0
        how = ("every batch holds one class" if table.loc[perfect, "pure_batches"].all()
               else "each class lies in one batch")
        head = (f"batch {batch!r} is perfectly confounded with the outcome {outcome!r} in the "
                f"training subjects of {int(perfect.sum())} of {_folds(n)} (Cramér's V = "
                f"{shown:.2f}; {how}): ")
        if harmonizer is None:
            return "warning", head + "the scores cannot tell the outcome from the batch."
        if covariates:
            return "warning", head + (f"{harmonizer} keeps only the part of the outcome signal "
                                      "that the covariates (harmonize.covariates) explain.")
        return "error", head + (
            f"{harmonizer} would remove the outcome signal together with the batch effect. "
            "Add the outcome-related covariates (harmonize.covariates), do not harmonize "
            "(remove the harmonize section), or use a design where batches hold both classes.")
    level = strength(float(np.median(finite)))
    head = (f"batch {batch!r} is associated with the outcome {outcome!r} ({level}: "
            f"bias-corrected Cramér's V {_span(finite)} in the training subjects of the "
            f"{_folds(n)}; {MODERATE} = moderate, {STRONG} = strong): ")
    if level == "weak":
        return None, head + "no notable association."
    if harmonizer is None:
        return "warning", head + ("the scores may partly reflect the batch; check that batches "
                                  "hold both classes in similar shares.")
    if covariates:
        return "warning", head + (f"{harmonizer} protects only what the covariates "
                                  "(harmonize.covariates) explain of it.")
    return "warning", head + (f"{harmonizer} without outcome-related covariates "
                              "(harmonize.covariates) removes part of the outcome signal with "
                              "the batch effect.")


def association_line(table: pd.DataFrame, batch: str, outcome: str) -> str:
    """One sentence on a :func:`batch_outcome_association` table, for the report."""
    v = table["cramers_v"].to_numpy(dtype=float)
    finite = v[np.isfinite(v)]
    head = f"Batch {batch!r} and outcome {outcome!r}: "
    if not len(finite):
        return head + "fewer than two batches in the training subjects of every fold."
    if table["perfect"].all():
        raw = table["cramers_v_uncorrected"].to_numpy(dtype=float)
        return head + (f"Cramér's V {float(np.nanmax(raw)):.2f} in the training subjects of "
                       "every fold (perfect confounding).")
    level = strength(float(np.median(finite)))
    said = "no notable association" if level == "weak" else f"{level} association"
    return head + (f"bias-corrected Cramér's V {_span(finite)} in the training subjects of "
                   f"the {_folds(len(table))} ({said}; {MODERATE} = moderate, {STRONG} = "
                   "strong).")


def _folds(n: int) -> str:
    return f"{n} fold" + ("s" if n != 1 else "")


def _span(v: np.ndarray) -> str:
    """``= 0.40`` for one value (at two decimals), else ``0.36–0.46, median 0.41``."""
    lo, mid, hi = (f"{x:.2f}" for x in (v.min(), np.median(v), v.max()))
    return f"= {lo}" if lo == hi else f"{lo}\u2013{hi}, median {mid}"
