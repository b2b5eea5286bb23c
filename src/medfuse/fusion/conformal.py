"""Conformal prediction sets and recalibrated probabilities around any classification strategy.

:class:`ConformalClassifier` wraps a strategy the way :mod:`medfuse.fusion.represented` does:
inside ``fit`` it holds out calibration subjects from the training subjects it is given
(so inside the benchmark, from each fold's training part, never its held-out part), fits the
strategy on the rest, and keeps the nonconformity scores of the calibration subjects. At
prediction it gives class probabilities (recalibrated when ``calibration`` is set) and
prediction sets that contain the true class with probability at least ``1 - alpha``.

Scores and sets
    The nonconformity score of a subject and a class is ``1 - p`` (the hinge score), with
    ``p`` the strategy's own probability of that class. p-values and sets come from
    ``crepes`` (``ConformalClassifier``, non-smoothed p-values, so sets are deterministic): a
    class is in the set when its p-value is at least ``alpha``. The scores use the strategy's
    probabilities, not the recalibrated ones, because a map fitted on the calibration
    subjects would make their scores no longer exchangeable with a new subject's; the
    coverage guarantee is then exact (split conformal), whichever recalibration is chosen.

Mondrian categories (``mondrian``)
    ``"pattern"``: one category per availability pattern, the set of the model's modalities a
    subject has (``"mrna+mirna"``), so that coverage holds for the subjects with each
    pattern, not only on average. ``"class"``: class-conditional (coverage within each true
    class). None: marginal coverage only. With ``n`` scores in a category, a class can be
    left out of a set only when its smallest p-value ``1 / (n + 1)`` is below the level
    crepes compares p-values with (``1 - (1 - alpha)``, which is ``alpha`` up to rounding),
    so ``n >= ceil(1 / alpha) - 1``, or one more when ``1 / alpha`` is a whole number and the
    level rounds down to it: :func:`min_calibration_size` gives the number (``alpha = 0.1``:
    10; 0.05: 19; 0.2: 5). A
    pattern (or class) with fewer calibration subjects, or a pattern no calibration subject
    had, uses the marginal scores of all calibration subjects instead, with a
    :class:`ConformalFallbackWarning` naming it: its subjects then have the marginal
    guarantee (on average over patterns), not a per-pattern one.

Calibrating patterns that are rare in training (``pattern_augment=True``)
    Each calibration subject is also scored with modalities hidden, once for every pattern
    that is a proper subset of its own (a subject with every modality serves every
    pattern), and those scores join the pattern's category and its recalibration map. This
    is what answers "how sure is the model for a patient without MRI" when every training
    subject had MRI. Caveat: a subject whose modality is hidden is exchangeable with one
    whose modality is really missing only when the modality is missing at random; when
    missingness depends on the patient (sicker patients skip the scan), the augmented
    scores describe subjects like the training ones with the scan removed, and coverage
    for the real missing-scan patients is not guaranteed.

Methods (``method``)
    ``"split"``: a share ``calibration_fraction`` of the labelled training subjects,
    stratified by class and pattern, calibrates; the strategy is fitted on the rest.
    ``"cross"``: cross-conformal prediction with ``n_folds`` folds: the strategy is fitted
    once per fold without it, every labelled training subject is scored by the model that
    did not see it, and a new subject's p-value pools the counts of each fold's scores
    against that fold's model (probabilities: the mean of the fold models). It uses every
    subject for both fitting and calibrating at ``n_folds`` times the cost; its guarantee is
    approximate (at worst ``1 - 2 alpha``, about ``1 - alpha`` in practice).

Recalibration (``calibration``)
    A map of :mod:`medfuse.fusion.calibration` (Platt, isotonic, temperature, Venn-Abers) is
    fitted on the calibration subjects' probabilities; with ``per_pattern_calibration`` one
    map per pattern with at least ``min_pattern_calibration`` calibration subjects (augmented
    ones included), the pooled map for other patterns.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.base import FusionClassifier, is_survival
from medfuse.fusion.calibration import CALIBRATIONS, make_calibrator
from medfuse.fusion.mondrian import (
    MARGINAL,
    MONDRIAN,
    ConformalFallbackWarning,
    MondrianSets,
    availability_patterns,
    check_alpha,
    min_calibration_size,
)
from medfuse.fusion.wrappers import StrategyWrapper

METHODS = ("split", "cross")
#: up to this many modalities every pattern is augmented; above, the full set, every set
#: without one modality, and the patterns the training subjects have
MAX_ALL_PATTERNS = 5


class ConformalClassifier(MondrianSets, StrategyWrapper, FusionClassifier):
    """A strategy with conformal prediction sets and (optionally) recalibrated probabilities.

    Parameters
    ----------
    estimator : FusionClassifier
        The unfitted strategy (any classification strategy; survival strategies predict a
        risk, not class probabilities, and are refused).
    alpha : float in (0, 1)
        Default miscoverage of :meth:`predict_set` (0.1: sets hold the true class for at
        least 90% of subjects).
    method : {"split", "cross"}
        See the module docstring.
    mondrian : {"pattern", "class", None}
        Mondrian categories: availability pattern, true class, or none (marginal).
    calibration_fraction : float in (0, 1)
        Share of the labelled training subjects held out to calibrate (``split``).
    calibration : {None, "platt", "isotonic", "temperature", "venn-abers"}
        Recalibration of :meth:`predict_proba`.
    pattern_augment : bool
        Also score calibration subjects with modalities hidden, for every pattern below
        their own (see the module docstring for the exchangeability caveat).
    n_folds : int
        Folds of ``cross``.
    per_pattern_calibration : bool
        One recalibration map per availability pattern with enough calibration subjects.
    min_pattern_calibration : int
        Calibration subjects (augmented ones included) a pattern needs for its own map.
    random_state : int, RandomState or None
        Seeds the calibration split (or folds); when set, the strategy's own
        ``random_state`` too (:meth:`_inner_seed`).

    Attributes
    ----------
    estimators_ : list of fitted strategies (one for ``split``, one per fold for ``cross``).
    estimator_ : the first of them (its fitted attributes, such as
        ``estimator_.modality_weights_``, explain the strategy).
    calibration_proba_ : ndarray (n_rows, n_classes), the strategy's probabilities of every
        calibration row (what the recalibration maps are fitted on).
    calibration_scores_ : ndarray (n_rows,), the nonconformity score ``1 - p`` of the true
        class of every calibration row (a calibration subject, or an augmented copy).
    calibration_labels_ : ndarray (n_rows,) of int, class indices.
    calibration_patterns_ : ndarray (n_rows,) of str, the pattern each row was scored with.
    calibration_natural_ : ndarray (n_rows,) of bool, rows scored with the subject's own
        modalities (the marginal scores).
    calibration_folds_ : ndarray (n_rows,) of int, the model that scored the row.
    calibrator_ : the pooled recalibration map (None without ``calibration``).
    calibrators_ : dict pattern -> map, for patterns with their own.
    patterns_ : list of str, the patterns with calibration rows, most modalities first.
    """

    def __init__(self, estimator=None, alpha: float = 0.1, method: str = "split",
                 mondrian: str | None = "pattern", calibration_fraction: float = 0.25,
                 calibration: str | None = None, pattern_augment: bool = False,
                 n_folds: int = 5, per_pattern_calibration: bool = True,
                 min_pattern_calibration: int = 50, random_state=None) -> None:
        self.estimator = estimator
        self.alpha = alpha
        self.method = method
        self.mondrian = mondrian
        self.calibration_fraction = calibration_fraction
        self.calibration = calibration
        self.pattern_augment = pattern_augment
        self.n_folds = n_folds
        self.per_pattern_calibration = per_pattern_calibration
        self.min_pattern_calibration = min_pattern_calibration
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        if self.estimator is None:
            raise ValueError("ConformalClassifier needs an estimator (a classification "
                             "strategy).")
        if is_survival(self.estimator):
            raise ValueError(
                f"{type(self.estimator).__name__} is a survival strategy: it predicts a "
                "risk, not class probabilities, so it has no conformal prediction sets or "
                "recalibration; use a classification strategy.")
        if not callable(getattr(self.estimator, "predict_proba", None)):
            raise ValueError(
                f"{type(self.estimator).__name__} has no predict_proba: conformal sets and "
                "recalibration need class probabilities; use a strategy that gives them.")
        check_alpha(self.alpha)
        if self.method not in METHODS:
            raise ValueError(f"method must be 'split' or 'cross', got {self.method!r}")
        if self.mondrian not in MONDRIAN:
            raise ValueError(f"mondrian must be 'pattern', 'class' or None, got "
                             f"{self.mondrian!r}")
        if self.calibration is not None and self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be None or one of {', '.join(CALIBRATIONS)}, "
                             f"got {self.calibration!r}")
        if not 0.0 < float(self.calibration_fraction) < 1.0:
            raise ValueError(f"calibration_fraction must be in (0, 1), got "
                             f"{self.calibration_fraction!r}")
        if int(self.n_folds) < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds!r}")

    def fit(self, data: MultiModalData, y=None) -> ConformalClassifier:
        """Hold out calibration subjects, fit the strategy on the others and keep the
        calibration scores (see the module docstring); ``y`` as in
        :meth:`FusionClassifier.fit`."""
        self._check_params()
        return super().fit(data, y)

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        rng = check_random_state(self.random_state)
        natural = availability_patterns(data, self.modalities_)
        self.patterns_ = self._augmented_patterns(natural)
        folds = self._folds(y, natural, rng)
        self.estimators_, parts = [], []
        for f, (train, cal) in enumerate(folds):
            model = self._fit_inner(data[train], y[train])
            self.estimators_.append(model)
            parts.append(self._calibration_rows(model, data[cal], y[cal], f))
        self.estimator_ = self.estimators_[0]
        proba = np.vstack([p["proba"] for p in parts])
        labels = np.concatenate([p["labels"] for p in parts])
        self.calibration_proba_ = proba
        self.calibration_scores_ = 1.0 - proba[np.arange(len(labels)), labels]
        self.calibration_labels_ = labels
        self.calibration_patterns_ = np.concatenate([p["patterns"] for p in parts])
        self.calibration_natural_ = np.concatenate([p["natural"] for p in parts])
        self.calibration_folds_ = np.concatenate([p["folds"] for p in parts])
        present = set(self.calibration_patterns_.tolist())
        self.patterns_ = [str(p) for p in self.patterns_ if p in present]
        self._fit_calibrators()
        self._warn_small_categories(self.alpha, context="fit")

    def _augmented_patterns(self, natural: np.ndarray) -> list[str]:
        """The patterns calibration rows are made for: the training subjects' own, and with
        ``pattern_augment`` every non-empty subset of the modalities (above
        :data:`MAX_ALL_PATTERNS` modalities: the full set and every set without one)."""
        mods = list(self.modalities_)
        out = set(natural) - {""}
        if self.pattern_augment:
            if len(mods) <= MAX_ALL_PATTERNS:
                out |= {"+".join(c) for k in range(1, len(mods) + 1)
                        for c in combinations(mods, k)}
            else:
                out |= {"+".join(mods)} | {"+".join(m for m in mods if m != d) for d in mods}
        return sorted(out, key=lambda p: (-len(p.split("+")), [mods.index(m)
                                                               for m in p.split("+")]))

    def _folds(self, y: np.ndarray, natural: np.ndarray, rng) -> list[tuple[np.ndarray,
                                                                              np.ndarray]]:
        """(training positions, calibration positions) per model. Unlabelled subjects are
        always in the training part."""
        labelled = np.flatnonzero(y >= 0)
        unlabelled = np.flatnonzero(y < 0)
        counts = np.bincount(y[labelled], minlength=len(self.classes_))
        if self.method == "cross":
            small = [self.classes_[k] for k in range(len(counts)) if counts[k] < self.n_folds]
            if small:
                raise DataValidationError(
                    f"Cross-conformal with {self.n_folds} folds needs at least {self.n_folds} "
                    f"training subjects of every class; class(es) {small} have fewer. Use "
                    "fewer n_folds or method='split'.")
            seed = int(rng.randint(np.iinfo(np.int32).max))
            cv = StratifiedKFold(int(self.n_folds), shuffle=True, random_state=seed)
            return [(np.sort(np.concatenate([labelled[tr], unlabelled])), labelled[te])
                    for tr, te in cv.split(labelled, y[labelled])]
        cal = []
        strata = pd.Series([f"{c}|{p}" for c, p in zip(y[labelled], natural[labelled],
                                                         strict=True)])
        for _, idx in strata.groupby(strata, sort=True).indices.items():
            take = round(float(self.calibration_fraction) * len(idx))
            cal.extend(labelled[rng.permutation(idx)[:take]])
        cal = np.sort(np.asarray(cal, dtype=int))
        train = np.setdiff1d(np.arange(len(y)), cal)
        left = np.bincount(y[train][y[train] >= 0], minlength=len(self.classes_))
        if len(cal) == 0 or (left > 0).sum() < 2:
            raise DataValidationError(
                f"{len(labelled)} labelled training subjects are too few to hold out a "
                f"calibration share of {self.calibration_fraction} and still fit the "
                "strategy on two classes.")
        return [(train, cal)]

    def _inner_seed(self) -> int:
        """The strategy's seed: the first draw of a generator seeded by ``random_state``
        (the same for every fold model)."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _fit_inner(self, data: MultiModalData, y: np.ndarray):
        model = self._clone_inner()
        target = np.full(len(y), None, dtype=object)
        target[y >= 0] = self.classes_[y[y >= 0]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConformalFallbackWarning)
            return model.fit(data, target)

    def _model_proba(self, model, data: MultiModalData) -> np.ndarray:
        try:
            proba = np.asarray(model.predict_proba(data), dtype=float)
        except NotImplementedError:
            raise ValueError(
                f"{type(model).__name__} gives no class probabilities (its predict_proba is "
                "not implemented): conformal sets and recalibration need them; use a "
                "strategy that gives them.") from None
        if proba.shape != (len(data), len(model.classes_)) or not (
                np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()):
            raise ValueError(
                f"{type(model).__name__} gave class probabilities that are not one row of "
                f"numbers in [0, 1] per subject and class (shape {proba.shape}); conformal "
                "sets need probabilities.")
        out = np.zeros((len(data), len(self.classes_)))
        out[:, np.searchsorted(self.classes_, model.classes_)] = proba
        return out

    def _calibration_rows(self, model, cal: MultiModalData, y: np.ndarray, fold: int) -> dict:
        """Probabilities of the calibration subjects with their own modalities, and with
        ``pattern_augment`` with modalities hidden for every smaller pattern."""
        natural = availability_patterns(cal, self.modalities_)
        probas, patterns = [self._model_proba(model, cal)], [natural]
        labels, flags = [y], [np.ones(len(y), dtype=bool)]
        if self.pattern_augment:
            mask = cal.available[self.modalities_].to_numpy()
            for pattern in self.patterns_:
                keep = np.isin(self.modalities_, pattern.split("+"))
                rows = np.flatnonzero(mask[:, keep].all(axis=1) & (mask & ~keep).any(axis=1))
                if not len(rows):
                    continue
                view = cal[rows].with_available(np.tile(keep, (len(rows), 1)))
                probas.append(self._model_proba(model, view))
                patterns.append(np.full(len(rows), pattern))
                labels.append(y[rows])
                flags.append(np.zeros(len(rows), dtype=bool))
        n = sum(len(v) for v in labels)
        return {"proba": np.vstack(probas), "patterns": np.concatenate(patterns).astype(str),
                "labels": np.concatenate(labels).astype(int),
                "natural": np.concatenate(flags), "folds": np.full(n, fold)}

    def recalibrate(self, calibration: str | None) -> ConformalClassifier:
        """Refit the recalibration maps with another method on the stored calibration
        rows (the strategy is not refitted; sets do not change); returns self."""
        check_is_fitted(self, "calibration_proba_")
        if calibration is not None and calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be None or one of {', '.join(CALIBRATIONS)}, "
                             f"got {calibration!r}")
        self.calibration = calibration
        self._fit_calibrators()
        return self

    def _fit_calibrators(self) -> None:
        proba, labels = self.calibration_proba_, self.calibration_labels_
        self.calibrator_, self.calibrators_ = None, {}
        if self.calibration is None:
            return
        nat = self.calibration_natural_
        self.calibrator_ = make_calibrator(self.calibration).fit(proba[nat], labels[nat])
        if not self.per_pattern_calibration:
            return
        for pattern in self.patterns_:
            rows = self.calibration_patterns_ == pattern
            if rows.sum() >= int(self.min_pattern_calibration):
                self.calibrators_[pattern] = make_calibrator(self.calibration).fit(
                    proba[rows], labels[rows])

    # ------------------------------------------------------------------ categories

    def _raw(self, data: MultiModalData) -> list[np.ndarray]:
        """Each fitted model's probabilities on aligned ``data``."""
        return [self._model_proba(m, data) for m in self.estimators_]

    def _recalibrate(self, proba: np.ndarray, patterns: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return proba
        out = self.calibrator_.transform(proba)
        for pattern, cal in self.calibrators_.items():
            rows = patterns == pattern
            if rows.any():
                out[rows] = cal.transform(proba[rows])
        return out

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        patterns = availability_patterns(data, self.modalities_)
        return np.mean([self._recalibrate(p, patterns) for p in self._raw(data)], axis=0)

    def predict_proba_uncalibrated(self, data: MultiModalData) -> np.ndarray:
        """The strategy's own probabilities (n, K), before recalibration (``cross``: the
        mean of the fold models)."""
        check_is_fitted(self, "estimators_")
        return np.mean(self._raw(self.align(data)), axis=0)


def with_conformal(estimator, settings) -> ConformalClassifier:
    """Wrap a strategy in a :class:`ConformalClassifier`.

    Parameters
    ----------
    estimator : FusionClassifier
        The unfitted classification strategy (a survival strategy is refused).
    settings : mapping or ConformalSpec
        The wrapper's parameters, or an object with ``model_dump()`` such as a study file's
        ``conformal:`` section.

    Returns
    -------
    ConformalClassifier
        Unfitted.
    """
    if is_survival(estimator):
        raise ValueError(f"{type(estimator).__name__} is a survival strategy: it predicts a "
                         "risk, not class probabilities, so it has no prediction sets.")
    params = settings.model_dump() if hasattr(settings, "model_dump") else dict(settings)
    return ConformalClassifier(estimator=estimator, **params)


__all__ = ["MARGINAL", "MONDRIAN", "ConformalClassifier", "ConformalFallbackWarning",
           "availability_patterns", "check_alpha", "min_calibration_size", "with_conformal"]
