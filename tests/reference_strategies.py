"""Small real fusion strategies used by the evaluation, report and CLI tests.

They follow the FusionClassifier contract so that the benchmark is tested without depending
on the strategies of medfuse.fusion.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression

from medfuse.fusion import FusionClassifier
from medfuse.fusion.registry import _REGISTRY, register
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)

#: fits per strategy name, counted in this process
FIT_COUNTS: Counter = Counter()
#: subject IDs each RecordingScaler was fitted on
FITTED_ON: list[set] = []


class MeanLogistic(FusionClassifier):
    """One logistic regression per modality; probabilities averaged over the modalities
    each subject has."""

    def __init__(self, C: float = 1.0, preprocessors=None, random_state=None, tag: str = "mean"):
        self.C = C
        self.preprocessors = preprocessors
        self.random_state = random_state
        self.tag = tag

    def _fit(self, data, y):
        FIT_COUNTS[self.tag] += 1
        self.transformers_, self.models_ = {}, {}
        pos = {s: i for i, s in enumerate(data.subjects)}
        for m in self.modalities_:
            block = data.block(m)
            rows = [pos[s] for s in block.index]
            t = resolve_preprocessor(self.preprocessors, m, data.modalities[m])
            x = as_matrix(fit_transform_block(t, block, data.obs.loc[block.index]))
            self.transformers_[m] = t
            self.models_[m] = LogisticRegression(C=self.C, max_iter=500,
                                                 random_state=self.random_state).fit(x, y[rows])
        self.modality_weights_ = np.full(len(self.modalities_), 1.0 / len(self.modalities_))

    def _predict_proba(self, data):
        total = np.zeros((len(data), len(self.classes_)))
        count = np.zeros(len(data))
        avail = data.available.to_numpy()
        for j, m in enumerate(self.modalities_):
            rows = np.flatnonzero(avail[:, j])
            if not len(rows):
                continue
            block = data.block(m)
            x = as_matrix(transform_block(self.transformers_[m], block,
                                          data.obs.loc[block.index]))
            total[rows] += self.models_[m].predict_proba(x)
            count[rows] += 1
        return total / count[:, None]


class OneModality(MeanLogistic):
    """MeanLogistic restricted to one modality (a unimodal baseline)."""

    def __init__(self, modality: str = "", C: float = 1.0, preprocessors=None,
                 random_state=None, tag: str = "uni"):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)
        self.modality = modality

    def _fit(self, data, y):
        keep = data.modality_names.index(self.modality)
        has = data.available.to_numpy()[:, keep]
        sub = data[np.flatnonzero(has)].select([self.modality])
        FIT_COUNTS[self.tag] += 1
        t = resolve_preprocessor(self.preprocessors, self.modality,
                                 data.modalities[self.modality])
        block = sub.block(self.modality)
        x = as_matrix(fit_transform_block(t, block, sub.obs))
        self.transformers_ = {self.modality: t}
        self.models_ = {self.modality: LogisticRegression(C=self.C, max_iter=500).fit(
            x, y[has])}

    def _predict_proba(self, data):
        j = self.modalities_.index(self.modality)
        has = data.available.to_numpy()[:, j]
        if not has.all():
            from medfuse.data import DataValidationError

            raise DataValidationError(f"{int((~has).sum())} subject(s) lack {self.modality!r}.")
        block = data.block(self.modality)
        x = as_matrix(transform_block(self.transformers_[self.modality], block))
        return self.models_[self.modality].predict_proba(x)


class RecordingScaler(TransformerMixin, BaseEstimator):
    """A z-scoring transformer that records the subjects it was fitted on."""

    def fit(self, X, y=None):
        FITTED_ON.append(set(map(str, X.index)))
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0, ddof=0).replace(0, 1.0)
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_


class Flaky(MeanLogistic):
    """Fails on its ``fail_at``-th fit (counted per process) to simulate a killed run."""

    def __init__(self, C: float = 1.0, preprocessors=None, random_state=None, tag: str = "flaky",
                 fail_at: int = -1):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)
        self.fail_at = fail_at

    def _fit(self, data, y):
        if FIT_COUNTS[self.tag] == self.fail_at:
            FIT_COUNTS[self.tag] += 1
            raise KeyboardInterrupt("simulated interruption")
        super()._fit(data, y)


@contextmanager
def registered():
    """Register the reference strategies (``unimodal`` and ``late-mean-ref``) for the
    duration of a test, restoring the registry afterwards."""
    saved = dict(_REGISTRY)
    _REGISTRY.pop("unimodal", None)
    register("unimodal", family="baseline", interpretable=True)(OneModality)
    register("late-mean-ref", family="late", interpretable=True)(MeanLogistic)
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


def tiny_cohort(n: int = 60, seed: int = 0, missing: float = 0.0):
    """A small two-modality cohort with a known signal in both modalities."""
    from medfuse.data import make_cohort

    kw = {"missing": {"imaging": missing}} if missing else {}
    return make_cohort(n, n_genes=30, n_informative_genes=5, n_imaging=12,
                       n_informative_imaging=4, random_state=seed, **kw)
