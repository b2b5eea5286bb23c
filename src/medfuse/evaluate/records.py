"""What a benchmark produced: held-out predictions of every fit, and the tables computed
from them (metrics, robustness, comparisons, modality weights)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse.evaluate.compare import compare_strategies
from medfuse.evaluate.coverage import set_metrics
from medfuse.evaluate.metrics import (
    classification_metrics,
    greater_is_better,
    survival_metrics,
)
from medfuse.evaluate.splits import Split


@dataclass
class FoldResult:
    """Held-out predictions of one fitted strategy (one CV split or one test-set seed).

    ``proba`` maps an availability key (``"mrna+mirna"``) to an (n_subjects, n_classes) list
    of probabilities, NaN rows for subjects that could not be scored from those modalities;
    the full set of modalities is the key ``full_key``. Survival studies store the risk
    score as one column, the event indicator in ``y`` and the event/censoring time in
    ``time``.

    Parameters
    ----------
    strategy : str
        The strategy's name.
    split : str
        The split's label (``r0f1``, ``site=a``) or the test-set refit's.
    kind : {"cv", "test"}
    repeat, fold : int
        The CV repetition and fold (0 for the test split).
    seed : int or None
        The seed of a test-set refit of a stochastic strategy.
    subjects : list of str
        The held-out subjects, in row order.
    y : list of int
        Their class indices (survival: event indicators).
    full_key : str
        The availability key of all the modalities.
    proba : dict of str to list
        Availability key -> (n_subjects, n_classes) probabilities.
    n_train : int
        Training subjects of the fit.
    fit_seconds : float
        Time of the fit with its predictions.
    weights : dict of str to dict of str to float
        Per-modality weights the fitted strategy exposes, by source.
    time : list of float
        Survival studies: event or censoring times of the held-out subjects.
    patterns : list of str
        Each held-out subject's availability pattern (``"rna+imaging"``).
    sets : dict of str to list
        A conformal strategy's prediction sets: availability key -> one 0/1 row per
        subject (None where the subject could not be scored); empty otherwise.
    uncalibrated : dict of str to list
        A recalibrating conformal strategy's probabilities before recalibration, keyed like
        ``proba``; empty otherwise.
    alpha : float or None
        The conformal strategy's miscoverage (see :mod:`medfuse.evaluate.coverage`).
    """

    strategy: str
    split: str
    kind: str  # "cv" or "test"
    repeat: int
    fold: int
    seed: int | None
    subjects: list[str]
    y: list[int]
    full_key: str
    proba: dict[str, list]
    n_train: int
    fit_seconds: float
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    time: list[float] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    sets: dict[str, list] = field(default_factory=dict)
    uncalibrated: dict[str, list] = field(default_factory=dict)
    alpha: float | None = None

    def probabilities(self, key: str | None = None) -> np.ndarray:
        return np.asarray(self.proba[key or self.full_key], dtype=float)


@dataclass
class BenchmarkResult:
    """Everything a benchmark produced; tables are built from the stored predictions.

    Parameters
    ----------
    strategies : list of str
        The strategies benchmarked.
    classes : list
        The outcome's classes (``["risk"]`` for survival).
    modalities : list of str
        The training modalities.
    splits : list of Split
        The CV splits every strategy was scored on.
    folds : list of FoldResult
        The held-out predictions of every fit.
    primary_metric : str
        The metric that ranks strategies.
    settings : dict
        The benchmark's settings (folds, repeats, seeds, fits, reused, ...).
    errors : dict of str to str
        Strategy -> why it failed and was left out.
    task : {"classification", "survival"}
    _memo : dict
        Tables computed so far (internal; leave empty).
    """

    strategies: list[str]
    classes: list
    modalities: list[str]
    splits: list[Split]
    folds: list[FoldResult]
    primary_metric: str
    settings: dict
    errors: dict[str, str] = field(default_factory=dict)
    task: str = "classification"
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    # -------------------------------------------------------------- per-split scores
    def split_scores(self, kind: str = "cv", key: str | None = None) -> pd.DataFrame:
        """Long table ``strategy, split, metric, value`` (one row per strategy x split x
        metric), from the held-out predictions with the modalities of ``key`` available."""
        if (kind, key) not in self._memo:
            self._memo[(kind, key)] = self._split_scores(kind, key)
        return self._memo[(kind, key)].copy()

    def _split_scores(self, kind: str, key: str | None) -> pd.DataFrame:
        rows = []
        for fr in self.folds:
            if fr.kind != kind:
                continue
            k = key or fr.full_key
            if k not in fr.proba:
                continue
            proba = fr.probabilities(k)
            ok = ~np.isnan(proba).any(axis=1)
            if not ok.any():
                continue
            y = np.asarray(fr.y)[ok]
            if self.task == "survival":
                values = survival_metrics(y, np.asarray(fr.time, dtype=float)[ok],
                                          proba[ok, 0])
            else:
                values = classification_metrics(y, proba[ok])
                if k in fr.sets:  # conformal sets: coverage, and per pattern on all subjects
                    values.update(set_metrics(fr.y, fr.sets[k], fr.patterns if key is None
                                              and fr.patterns else None))
            for metric, value in values.items():
                rows.append({"strategy": fr.strategy, "split": fr.split, "metric": metric,
                             "value": value})
        return pd.DataFrame(rows, columns=["strategy", "split", "metric", "value"])

    def results(self) -> pd.DataFrame:
        """``strategy, metric, split, mean, sd, n``: CV metrics over folds x repeats and test
        metrics over seeds."""
        frames = []
        for kind in ("cv", "test"):
            s = self.split_scores(kind)
            if s.empty:
                continue
            g = s.groupby(["strategy", "metric"], sort=False)["value"]
            agg = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1),
                                "n": g.count()}).reset_index()
            agg.insert(2, "split", kind)
            frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=["strategy", "metric", "split", "mean", "sd", "n"])
        out = pd.concat(frames, ignore_index=True)
        order = {s: i for i, s in enumerate(self.strategies)}
        out["_o"] = out["strategy"].map(order)
        return out.sort_values(["split", "_o"], kind="stable").drop(columns="_o").reset_index(
            drop=True)

    def deterministic_strategies(self, atol: float = 1e-12) -> list[str]:
        """Strategies whose test-set results do not depend on the seed.

        A strategy without ``random_state`` is refitted once (its test fit has ``seed``
        None); one with ``random_state`` is refitted with every seed, and counts as
        deterministic when all of them gave the same predictions (to ``atol``) for every
        test subject. For these, a mean ± sd over seeds would show a meaningless sd of 0.

        Returns
        -------
        list of str, in the order of ``strategies`` (empty without a test set).
        """
        fits: dict[str, list[FoldResult]] = {}
        for fr in self.folds:
            if fr.kind == "test":
                fits.setdefault(fr.strategy, []).append(fr)
        out = []
        for s in self.strategies:
            runs = fits.get(s, [])
            if not runs:
                continue
            if all(fr.seed is None for fr in runs):
                out.append(s)
                continue
            first = runs[0]
            same = all(fr.subjects == first.subjects and set(fr.proba) == set(first.proba)
                       and all(np.allclose(fr.probabilities(k), first.probabilities(k),
                                           rtol=0.0, atol=atol, equal_nan=True)
                               for k in first.proba)
                       for fr in runs[1:])
            if same:
                out.append(s)
        return out

    def ranking(self, split: str = "cv") -> pd.Series:
        """Mean primary metric per strategy, best first."""
        res = self.results()
        sel = res[(res["split"] == split) & (res["metric"] == self.primary_metric)]
        means = sel.set_index("strategy")["mean"].dropna()
        return means.sort_values(ascending=not greater_is_better(self.primary_metric))

    @property
    def best(self) -> str | None:
        r = self.ranking("cv")
        if r.empty:
            r = self.ranking("test")
        return None if r.empty else str(r.index[0])

    def robustness(self) -> pd.DataFrame:
        """``strategy, available, metric, mean, sd`` over CV splits, for every availability
        subset scored."""
        keys = []
        for fr in self.folds:
            if fr.kind == "cv":
                keys.extend(k for k in fr.proba if k not in keys)
        frames = []
        for k in keys:
            s = self.split_scores("cv", key=k)
            if s.empty:
                continue
            g = s.groupby(["strategy", "metric"], sort=False)["value"]
            agg = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
            agg.insert(1, "available", k)
            frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=["strategy", "available", "metric", "mean", "sd"])
        return pd.concat(frames, ignore_index=True)

    def comparison(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Corrected resampled t-tests of every strategy against the best and the best
        unimodal baseline, on the shared CV splits (see :mod:`medfuse.evaluate.compare`)."""
        scores = self.split_scores("cv")
        sizes = pd.DataFrame({"n_train": [len(s.train) for s in self.splits],
                              "n_test": [len(s.test) for s in self.splits]},
                             index=[s.label for s in self.splits])
        metrics = list(metrics or [self.primary_metric])
        frames = [compare_strategies(scores, m, sizes) for m in metrics]
        frames = [f for f in frames if not f.empty]
        return (pd.concat(frames, ignore_index=True) if frames else
                pd.DataFrame(columns=["strategy", "reference", "reference_strategy", "metric",
                                      "mean_diff", "t", "p_value", "n"]))

    def fold_weights(self) -> pd.DataFrame:
        """Per-modality weights of every CV fit, for strategies that expose them:
        ``strategy, source, split, modality, value``."""
        rows = [{"strategy": fr.strategy, "source": source, "split": fr.split, "modality": m,
                 "value": v}
                for fr in self.folds if fr.kind == "cv"
                for source, w in fr.weights.items() for m, v in w.items()]
        return pd.DataFrame(rows, columns=["strategy", "source", "split", "modality", "value"])

    def modality_weights(self) -> pd.DataFrame:
        """Mean per-modality weights over CV fits, for strategies that expose them:
        ``strategy, source, modality, mean, sd``."""
        df = self.fold_weights()
        if df.empty:
            return pd.DataFrame(columns=["strategy", "source", "modality", "mean", "sd"])
        g = df.groupby(["strategy", "source", "modality"], sort=False)["value"]
        return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()

    def write(self, out: str | Path, raw: bool = False) -> dict[str, Path]:
        """Write ``results.csv``, ``robustness.csv`` and ``comparison.csv`` under ``out``
        (never through a link; text cells escaped for spreadsheets unless ``raw``, see
        :func:`medfuse.files.csv_text`)."""
        from medfuse.files import confined_folder, csv_text, write_file

        out = confined_folder(out)
        tables = {"results": self.results(), "robustness": self.robustness(),
                  "comparison": self.comparison()}
        paths = {}
        for name, table in tables.items():
            paths[name] = write_file(out / f"{name}.csv", csv_text(table, raw, index=False))
        return paths
