"""Small real fusion strategies used by the evaluation, report and CLI tests.

They follow the FusionClassifier contract so that the benchmark is tested without depending
on the strategies of medfuse.fusion.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
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
#: tag -> the fit count at which Flaky raises (a module switch, so that the strategy's
#: parameters, and hence its cache keys, stay the same across runs)
FAIL_AT: dict[str, int] = {}


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
        # pandas attributes, as real strategies have them (persistence must keep them)
        self.modality_weights_ = pd.Series(1.0 / len(self.modalities_), index=self.modalities_)
        self.coef_ = {m: pd.DataFrame(self.models_[m].coef_.T, columns=["coef"])
                      for m in self.modalities_}

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
        self.prior_ = np.bincount(y, minlength=len(self.classes_)) / len(y)
        self.transformers_ = {self.modality: t}
        self.models_ = {self.modality: LogisticRegression(C=self.C, max_iter=500).fit(
            x, y[has])}

    def _predict_proba(self, data):
        """Subjects without the modality get the training class frequencies."""
        j = self.modalities_.index(self.modality)
        has = data.available.to_numpy()[:, j]
        proba = np.tile(self.prior_, (len(data), 1))
        if has.any():
            block = data.block(self.modality)
            x = as_matrix(transform_block(self.transformers_[self.modality], block))
            proba[has] = self.models_[self.modality].predict_proba(x)
        return proba


class NearestCentroid(ClassifierMixin, BaseEstimator):
    """A classifier of this (plugin) package: each class's centroid, probabilities from the
    softmax of minus the squared distances (a custom base estimator for the trust tests)."""

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, X):
        d = ((np.asarray(X, float)[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        e = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)


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
    """Interrupts its fit when ``FIT_COUNTS[tag] == FAIL_AT[tag]`` (simulates a killed run)."""

    def __init__(self, C: float = 1.0, preprocessors=None, random_state=None,
                 tag: str = "flaky"):
        super().__init__(C=C, preprocessors=preprocessors, random_state=random_state, tag=tag)

    def _fit(self, data, y):
        if FIT_COUNTS[self.tag] == FAIL_AT.get(self.tag, -1):
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


def tiny_cohort(n: int = 60, seed: int = 0, missing: float = 0.0, prefix: str = "S"):
    """A small cohort with a known answer: modalities ``rna`` (10 features) and ``imaging``
    (8 features) each carry one latent factor that drives the outcome (log-odds 2.5 per sd
    each); ``clinical`` (age, sex) is pure noise. ``missing`` is the share of subjects
    without ``imaging`` (completely at random). IDs are ``{prefix}000`` ...
    """
    from medfuse.data import Modality, MultiModalData

    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    u = rng.normal(size=(n, 2))
    label = (rng.uniform(size=n) < 1 / (1 + np.exp(-2.5 * (u[:, 0] + u[:, 1])))).astype(int)
    rna = u[:, [0]] * rng.uniform(0.5, 1.0, 10) + rng.normal(scale=0.7, size=(n, 10))
    img = u[:, [1]] * rng.uniform(0.5, 1.0, 8) + rng.normal(scale=0.7, size=(n, 8))
    clinical = pd.DataFrame({"age": rng.normal(60, 10, n).round(),
                             "sex": pd.Categorical(rng.choice(["f", "m"], n))}, index=ids)
    has_img = rng.uniform(size=n) >= missing
    blocks = {
        "rna": pd.DataFrame(rna, index=ids, columns=[f"g{k}" for k in range(10)]),
        "imaging": pd.DataFrame(img, index=ids, columns=[f"r{k}" for k in range(8)]
                                ).loc[has_img],
        "clinical": clinical,
    }
    obs = pd.DataFrame({"label": label, "site": rng.choice(["A", "B", "C"], n)}, index=ids)
    return MultiModalData(blocks, obs=obs, outcome="label",
                          modalities={"rna": "continuous", "imaging": "continuous",
                                      "clinical": Modality("clinical")})


class TinyNet(FusionClassifier):
    """A linear torch model on the concatenated continuous modalities (missing ones as zeros),
    following the neural persistence contract: all torch modules in ``module_``, and
    ``_build_module()`` rebuilds the untrained architecture from fitted attributes."""

    def __init__(self, epochs: int = 50, random_state: int = 0):
        self.epochs = epochs
        self.random_state = random_state

    def _matrix(self, data):
        parts = []
        avail = data.available
        for m in self.inputs_:
            x = data.block(m, available_only=False).to_numpy(dtype=float)
            x = (x - self.mean_[m]) / self.scale_[m]
            x[~avail[m].to_numpy()] = 0.0
            parts.append(x)
        return np.hstack(parts)

    def _build_module(self):
        import torch

        return torch.nn.Sequential(torch.nn.Linear(self.n_inputs_, 4), torch.nn.Tanh(),
                                   torch.nn.Linear(4, len(self.classes_)))

    def _fit(self, data, y):
        import torch

        self.inputs_ = [m for m in self.modalities_ if self.modality_kinds_[m] == "continuous"]
        self.mean_ = {m: data.block(m).mean().to_numpy() for m in self.inputs_}
        self.scale_ = {m: data.block(m).std().to_numpy() + 1e-9 for m in self.inputs_}
        x = torch.tensor(self._matrix(data), dtype=torch.float32)
        self.n_inputs_ = x.shape[1]
        torch.manual_seed(self.random_state)
        self.module_ = self._build_module()
        opt = torch.optim.Adam(self.module_.parameters(), lr=0.05)
        target = torch.tensor(y)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.module_(x), target)
            loss.backward()
            opt.step()
        self.module_.eval()

    def _predict_proba(self, data):
        import torch

        with torch.no_grad():
            logits = self.module_(torch.tensor(self._matrix(data), dtype=torch.float32))
        return torch.softmax(logits, dim=1).numpy().astype(float)
