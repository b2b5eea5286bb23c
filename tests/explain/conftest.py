"""Small real strategies and cohorts with known answers for the explanation tests.

The strategies here follow the FusionClassifier contract exactly like the library's own:
``MeanLate`` averages per-modality logistic probabilities over the modalities a subject has;
``ImputedEarly`` concatenates z-scored blocks with zeros for a missing modality; ``TinyNet``
is a neural strategy (``module_``, ``_torch_inputs``) with per-modality linear encoders whose
logits are averaged over the available modalities.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from medfuse.data import make_cohort
from medfuse.fusion import FusionClassifier, make, strategy_names
from medfuse.preprocess.blocks import (
    as_matrix,
    fit_transform_block,
    resolve_preprocessor,
    transform_block,
)


def _fit_blocks(model, data):
    model.pre_ = {}
    rows = {}
    for m in model.modalities_:
        model.pre_[m] = resolve_preprocessor(None, m, data.modalities[m])
        rows[m] = np.flatnonzero(data.available[m].to_numpy())
        fit_transform_block(model.pre_[m], data.block(m))
    return rows


def _matrix(model, data, m, rows):
    block = data.block(m, available_only=False).iloc[rows]
    return as_matrix(transform_block(model.pre_[m], block))


class MeanLate(FusionClassifier):
    """Mean of per-modality logistic probabilities over the modalities a subject has."""

    def __init__(self, C: float = 0.05) -> None:
        self.C = C

    def _fit(self, data, y):
        rows = _fit_blocks(self, data)
        self.lr_ = {m: LogisticRegression(C=self.C).fit(_matrix(self, data, m, r), y[r])
                    for m, r in rows.items()}

    def _predict_proba(self, data):
        avail = data.available.to_numpy()
        total = np.zeros((len(data), len(self.classes_)))
        for j, m in enumerate(self.modalities_):
            rows = np.flatnonzero(avail[:, j])
            if len(rows):
                total[rows] += self.lr_[m].predict_proba(_matrix(self, data, m, rows))
        return total / avail.sum(axis=1, keepdims=True)


class ImputedEarly(FusionClassifier):
    """L1 logistic regression on concatenated z-scored blocks; a missing block is all zeros."""

    def __init__(self, C: float = 0.05) -> None:
        self.C = C

    def _design(self, data):
        avail = data.available.to_numpy()
        parts = []
        for j, m in enumerate(self.modalities_):
            X = np.zeros((len(data), self.widths_[m]))
            rows = np.flatnonzero(avail[:, j])
            if len(rows):
                X[rows] = _matrix(self, data, m, rows)
            parts.append(X)
        return np.hstack(parts)

    def _fit(self, data, y):
        rows = _fit_blocks(self, data)
        self.widths_ = {m: _matrix(self, data, m, r[:1]).shape[1] for m, r in rows.items()}
        self.lr_ = LogisticRegression(C=self.C, l1_ratio=1.0, solver="saga", max_iter=5000).fit(
            self._design(data), y)

    def _predict_proba(self, data):
        return self.lr_.predict_proba(self._design(data))


class _MaskedMeanNet(torch.nn.Module):
    def __init__(self, widths: list[int], n_out: int) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(w, n_out) for w in widths)

    def forward(self, inputs, mask):
        logits = torch.stack([h(x) for h, x in zip(self.heads, inputs, strict=True)], dim=1)
        w = mask.float().unsqueeze(-1)
        return (logits * w).sum(dim=1) / w.sum(dim=1)


class TinyNet(FusionClassifier):
    """Per-modality linear heads, logits averaged over available modalities (torch)."""

    def __init__(self, epochs: int = 150, lr: float = 0.05, random_state: int = 0) -> None:
        self.epochs = epochs
        self.lr = lr
        self.random_state = random_state

    def _torch_inputs(self, data):
        avail = data.available.to_numpy()
        xs = []
        for j, m in enumerate(self.modalities_):
            X = np.zeros((len(data), self.widths_[m]))
            rows = np.flatnonzero(avail[:, j])
            if len(rows):
                X[rows] = _matrix(self, data, m, rows)
            xs.append(torch.tensor(X, dtype=torch.float32))
        return xs, torch.tensor(avail)

    def _fit(self, data, y):
        torch.manual_seed(self.random_state)
        rows = _fit_blocks(self, data)
        self.widths_ = {m: _matrix(self, data, m, r[:1]).shape[1] for m, r in rows.items()}
        self.module_ = _MaskedMeanNet(list(self.widths_.values()), len(self.classes_))
        xs, mask = self._torch_inputs(data)
        target = torch.tensor(y)
        opt = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=1e-2)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.module_(xs, mask), target)
            loss.backward()
            opt.step()

    def _predict_proba(self, data):
        xs, mask = self._torch_inputs(data)
        with torch.no_grad():
            return torch.softmax(self.module_(xs, mask), dim=1).double().numpy()


LOCAL = {"test:mean-late": MeanLate, "test:imputed-early": ImputedEarly,
         "test:tiny-net": TinyNet}


@pytest.fixture(scope="session")
def rna_cohort():
    """Signal in rna only (log-odds 2 per SD), a pure-noise modality, some missingness."""
    return make_cohort(180, effects={"rna": 2.0, "imaging": 0.0, "clinical": 0.0},
                       interaction=0.0, n_genes=30, n_informative_genes=6, n_imaging=12,
                       n_informative_imaging=3, n_noise_modalities=1, n_noise_features=8,
                       missing={"imaging": 0.25, "rna": 0.15}, random_state=1)


@pytest.fixture(scope="session")
def split(rna_cohort):
    return rna_cohort[:130], rna_cohort[130:]


@pytest.fixture(scope="session")
def fitted_local(split):
    train, _ = split
    return {name: cls().fit(train) for name, cls in LOCAL.items()}


# Quick settings, applied where a strategy has the parameter: few epochs, one network, one
# torch thread for neural strategies (enough to learn a strong single-modality signal), a
# plain logistic regression instead of inner-CV tuned ones (where the learner is logistic),
# 3 inner folds, and an ensemble of two members (one of them a tree learner).
FAST = {"random_state": 0, "epochs": 60, "max_epochs": 60, "n_epochs": 60, "refit": False,
        "n_ensemble": 1, "n_threads": 1, "cv": 3,
        "base_estimator": LogisticRegression(C=0.1, max_iter=1000)}


@pytest.fixture(scope="session")
def fitted_registered(split):
    """Every registered strategy fitted on the training split (unimodal only for rna)."""
    train, _ = split
    names = [n for n in strategy_names(train.modality_names)
             if ":" not in n or n.endswith(":rna")]
    out = {}
    for name in names:
        model = make(name)
        params = model.get_params(deep=False)
        fast = {k: v for k, v in FAST.items() if k in params}
        if params.get("learner", "logistic") != "logistic":
            fast.pop("base_estimator", None)
        if name == "ensemble":
            fast["members"] = ["late-mean", "early-gb"]
        model.set_params(**fast)
        out[name] = model.fit(train)
    return out
