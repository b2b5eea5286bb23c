"""Mondrian conformal prediction sets from stored calibration scores.

Each subject's prediction set is built from the nonconformity scores of the calibration
subjects in its Mondrian category (its availability pattern, its candidate class, or all of
them), with crepes computing the p-values; a category with too few calibration scores at a
given ``alpha`` falls back to the marginal scores with a :class:`ConformalFallbackWarning`.
:class:`MondrianSets` is the part of :class:`~medfuse.fusion.conformal.ConformalClassifier`
that turns its calibration rows into p-values, sets and tables; the helpers here are shared
with the benchmark's coverage tables.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import MultiModalData

MONDRIAN = ("pattern", "class", None)
#: the category of subjects whose sets use the marginal scores
MARGINAL = "marginal"


class ConformalFallbackWarning(UserWarning):
    """A pattern (or class) has too few calibration subjects for its own Mondrian category
    at this ``alpha``, or none; its sets use the marginal scores."""


def min_calibration_size(alpha: float) -> int:
    """The fewest scores a Mondrian category needs before a set can leave out a class.

    Parameters
    ----------
    alpha : float in (0, 1)
        The miscoverage.

    Returns
    -------
    int
        The smallest ``n`` whose smallest p-value ``1 / (n + 1)`` is below crepes' level
        ``1 - (1 - alpha)`` (``ceil(1 / alpha) - 1``, or one more when ``1 / alpha`` is a
        whole number that the level does not round below; see the module docstring).
    """
    check_alpha(alpha)
    threshold = 1.0 - (1.0 - alpha)  # the level crepes compares p-values with
    n = max(math.floor(1.0 / threshold) - 1, 0)
    while 1.0 / (n + 1) >= threshold:
        n += 1
    return n


def check_alpha(alpha, name: str = "alpha") -> float:
    """Check a miscoverage.

    Parameters
    ----------
    alpha : float
        The value to check.
    name : str
        Its name in the error message.

    Returns
    -------
    float
        ``alpha`` as a float in (0, 1); a ValueError saying what to give otherwise.
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1) (the miscoverage: 0.1 asks for sets "
                         f"that hold the true class 90% of the time), got {alpha!r}")
    return value


def availability_patterns(data: MultiModalData, modalities) -> np.ndarray:
    """Each subject's availability pattern.

    Parameters
    ----------
    data : MultiModalData
        The subjects.
    modalities : sequence of str
        The modalities that count (a modality the data lacks counts as missing).

    Returns
    -------
    ndarray of str, shape (n_subjects,)
        ``"+"``-joined names of the ``modalities`` each subject has, in that order.
    """
    avail = data.available
    mask = np.column_stack([avail[m].to_numpy() if m in avail.columns
                            else np.zeros(len(data), dtype=bool) for m in modalities])
    return np.array(["+".join(m for m, has in zip(modalities, row, strict=True) if has)
                     for row in mask], dtype=str)


class MondrianSets:
    """Prediction sets, p-values and set tables of a fitted conformal wrapper (see the module
    docstring). The wrapper holds ``calibration_scores_``, ``calibration_labels_``,
    ``calibration_patterns_``, ``calibration_natural_``, ``calibration_folds_``,
    ``patterns_``, ``mondrian``, ``alpha``, ``classes_``, ``modalities_`` and gives the
    fold models' probabilities with ``_raw(data)``."""

    def calibration_counts(self) -> pd.Series:
        """Calibration rows per pattern (augmented ones included), and ``marginal``: the
        calibration subjects scored with their own modalities."""
        check_is_fitted(self, "calibration_scores_")
        counts = pd.Series(self.calibration_patterns_.tolist(), dtype=object).value_counts()
        counts = counts.reindex(self.patterns_).fillna(0).astype(int)
        counts[MARGINAL] = int(self.calibration_natural_.sum())
        return counts

    def _warn_small_categories(self, alpha: float, patterns=None, context: str = "predict"
                               ) -> None:
        """One :class:`ConformalFallbackWarning` naming the patterns (or classes) whose
        sets use the marginal scores at ``alpha``."""
        need = min_calibration_size(alpha)
        if self.mondrian == "class":
            counts = np.bincount(self.calibration_labels_[self.calibration_natural_],
                                 minlength=len(self.classes_))
            small = [f"class {self.classes_[k]!r} ({counts[k]})" for k in range(len(counts))
                     if counts[k] < need]
            what = "class"
        elif self.mondrian == "pattern":
            counts = self.calibration_counts()
            seen = self.patterns_ if patterns is None else list(dict.fromkeys(patterns))
            small = [f"{str(p)!r} ({int(counts.get(p, 0))})" for p in seen
                     if counts.get(p, 0) < need]
            what = "pattern"
        else:
            return
        if small:
            warnings.warn(
                f"{len(small)} {what}(s) have fewer calibration subjects than the "
                f"{need} a Mondrian category needs at alpha={alpha:g} (a set can leave out "
                f"a class only when 1 / (n + 1) < alpha): {', '.join(small)}. Their "
                f"subjects get sets from the marginal scores of all "
                f"{int(self.calibration_natural_.sum())} calibration subjects (coverage "
                f"then holds on average, not for the {what} itself)"
                + (" when predicting" if context == "predict" else "")
                + (". More calibration subjects (calibration_fraction, or "
                   "pattern_augment=True) give them their own category."
                   if what == "pattern" else "."),
                ConformalFallbackWarning, stacklevel=3)

    # ------------------------------------------------------------------ predict

    def predict_set(self, data: MultiModalData, alpha: float | None = None) -> np.ndarray:
        """Prediction sets: bool array (n_subjects, n_classes), True for the classes in each
        subject's set (columns in ``classes_`` order).

        Parameters
        ----------
        data : MultiModalData
        alpha : float in (0, 1), optional
            Miscoverage (default: the ``alpha`` the model was built with).
        """
        return self._sets(self.align(data), alpha)[0]

    def predict_p_values(self, data: MultiModalData) -> np.ndarray:
        """Conformal p-values (n_subjects, n_classes): a class is in the set at level
        ``alpha`` when its p-value is at least ``alpha``. Categories are chosen at the
        model's ``alpha``."""
        return self._p_values(self.align(data), check_alpha(self.alpha))[0]

    def set_table(self, data: MultiModalData, alpha: float | None = None) -> pd.DataFrame:
        """Prediction sets as a table indexed by subject: ``in_set_<class>`` (bool),
        ``set_size`` and ``category`` (the Mondrian category whose scores were used: the
        pattern, the class-conditional ``class``, or ``marginal``)."""
        aligned = self.align(data)
        sets, categories = self._sets(aligned, alpha)
        table = pd.DataFrame({f"in_set_{c}": sets[:, k] for k, c in enumerate(self.classes_)},
                             index=aligned.subjects)
        table["set_size"] = sets.sum(axis=1)
        table["category"] = categories
        return table

    def _sets(self, data: MultiModalData, alpha: float | None) -> tuple[np.ndarray,
                                                                          np.ndarray]:
        check_is_fitted(self, "calibration_scores_")
        alpha = check_alpha(self.alpha if alpha is None else alpha)
        p, categories = self._p_values(data, alpha)
        return p >= 1.0 - (1.0 - alpha), categories  # crepes' rule at confidence 1 - alpha

    def _p_values(self, data: MultiModalData, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """p-values pooled over the fitted models (one for ``split``: then exactly crepes'
        p-values), and each subject's category name."""
        from crepes import ConformalClassifier as Crepes

        patterns = availability_patterns(data, self.modalities_)
        categories, plan = self._plan(patterns, alpha)
        n, k = len(data), len(self.classes_)
        count, total = np.zeros((n, k)), np.zeros((n, k))
        for f, raw in enumerate(self._raw(data)):
            test = 1.0 - raw
            in_fold = self.calibration_folds_ == f
            for columns, subjects, cal_rows, cal_bins, test_bins in plan:
                rows = in_fold & cal_rows
                scores = self.calibration_scores_[rows]
                bins = None if cal_bins is None else cal_bins[rows]
                cc = Crepes().fit(scores, bins=bins)
                p = cc.predict_p(test[subjects][:, columns], bins=test_bins, smoothing=False)
                if bins is None:
                    size = np.full(len(p), float(len(scores)))
                else:
                    sizes = pd.Series(bins).value_counts()
                    size = sizes.reindex(test_bins).fillna(0).to_numpy(dtype=float)
                if p.ndim == 2:
                    size = size[:, None]
                idx = np.flatnonzero(subjects)
                count[idx, columns] += np.rint(p * (size + 1.0) - 1.0)
                total[idx, columns] += size
        return (count + 1.0) / (total + 1.0), categories

    def _plan(self, patterns: np.ndarray, alpha: float) -> tuple[np.ndarray, list]:
        """Each subject's category name, and the crepes calls that give the p-values:
        ``(class columns, test subjects, calibration rows, calibration bins or None, test
        bins or None)``."""
        need = min_calibration_size(alpha)
        n = len(patterns)
        everyone = np.ones(n, dtype=bool)
        natural = self.calibration_natural_
        if self.mondrian == "pattern":
            counts = self.calibration_counts()
            own = np.array([p in self.patterns_ and counts[p] >= need for p in patterns],
                           dtype=bool)
            self._warn_small_categories(alpha, patterns[~own])
            plan = []
            if own.any():
                plan.append((slice(None), own, np.ones(len(natural), dtype=bool),
                             self.calibration_patterns_, patterns[own]))
            if (~own).any():
                plan.append((slice(None), ~own, natural, None, None))
            return np.where(own, patterns, MARGINAL), plan
        if self.mondrian == "class":
            self._warn_small_categories(alpha)
            counts = np.bincount(self.calibration_labels_[natural], minlength=len(self.classes_))
            plan = [(c, everyone, natural, self.calibration_labels_, np.full(n, c))
                    if counts[c] >= need else (c, everyone, natural, None, None)
                    for c in range(len(self.classes_))]
            return np.full(n, "class"), plan
        return np.full(n, MARGINAL), [(slice(None), everyone, natural, None, None)]
