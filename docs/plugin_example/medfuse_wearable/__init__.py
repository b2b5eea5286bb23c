"""A medfuse plugin written against the public extension points only.

- ``wearable``: a modality kind read from long tables (``subject, time, channel, value``),
  one irregular multichannel series per subject; it claims such ``.csv`` files by their
  header, ahead of the built-in ``continuous`` kind.
- ``wearable-summary``: a representation, per channel the median, the interquartile range
  and the mean absolute change per unit of time.
- ``info-nce``: a label-free loss term aligning the latents of a subject's modalities.
- ``late-median``: a strategy, the median of per-modality probabilities over the modalities
  each subject has.

Run ``medfuse.testing``'s checks on each before publishing (see ``tests`` in the guide).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from torch.nn import functional as F

from medfuse.data import RaggedBlock
from medfuse.data.kinds import register_kind
from medfuse.data.kinds.timeseries import TimeseriesKind
from medfuse.data.tables import header_names
from medfuse.fusion import FusionClassifier, register
from medfuse.fusion.blocks import block_preprocessor
from medfuse.fusion.neural.objectives import LossTerm, register_loss_term
from medfuse.preprocess import fit_transform_block, transform_block
from medfuse.represent import Representation, register_representation

LONG = ["subject", "time", "channel", "value"]


class WearableKind(TimeseriesKind):
    """Multichannel sensor streams given as long tables (one row per sample and channel)."""

    name = "wearable"
    suffixes = (".csv",)
    priority = 10  # ahead of the built-in table kinds, for the files whose header is LONG

    def claims(self, path):
        return path.suffix == ".csv" and header_names(path)[:4] == LONG

    def read(self, path):
        table = pd.read_csv(path, dtype={"subject": str})
        ids, values, times = [], [], []
        for subject, rows in table.groupby("subject", sort=False):
            wide = rows.pivot(index="time", columns="channel", values="value").sort_index()
            ids.append(subject)
            values.append(wide.to_numpy().T)
            times.append(wide.index.to_numpy(dtype=float))
        return RaggedBlock(ids, values, {"timestamps": times})

    def write(self, block, ids, folder, name, fmt):
        rows = []
        for subject, series, t in zip(block.ids, block.values, block.field("timestamps"),
                                      strict=True):
            for c, channel in enumerate(series):
                rows.append(pd.DataFrame({"subject": subject, "time": t,
                                          "channel": f"c{c}", "value": channel}))
        pd.concat(rows).to_csv(folder / f"{name}.csv", index=False)
        return f"{name}.csv"


register_kind(WearableKind)


class WearableSummary(Representation):
    """Per channel: median, interquartile range and mean absolute change per unit time."""

    def fit(self, X, y=None):
        self.n_channels_ = X.values[0].shape[0]
        self.feature_names_out_ = [f"c{c}_{s}" for c in range(self.n_channels_)
                                   for s in ("median", "iqr", "change")]
        return self

    def transform(self, X):
        rows = []
        for series, t in zip(X.values, X.field("timestamps"), strict=True):
            q1, median, q3 = np.percentile(series, [25, 50, 75], axis=1)
            change = np.abs(np.diff(series, axis=1)).sum(axis=1) / (t[-1] - t[0])
            rows.append(np.column_stack([median, q3 - q1, change]).ravel())
        return pd.DataFrame(rows, index=X.ids, columns=self.feature_names_out_)


register_representation("wearable-summary", WearableSummary, kinds=("wearable", "timeseries"))


@register_loss_term("info-nce")
class InfoNCE(LossTerm):
    """Symmetric InfoNCE between the latents of every pair of modalities, over the subjects
    of a mini-batch that have both (cosine similarity over ``temperature``).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    temperature : float
        Softmax temperature.
    """

    supervised = False

    def __init__(self, weight: float = 1.0, temperature: float = 0.1) -> None:
        self.weight = weight
        self.temperature = temperature

    def __call__(self, out, batch, extra=None):
        z = F.normalize(out["latents"], dim=-1)  # (n, M, d)
        total, pairs = z.sum() * 0.0, 0
        for a in range(z.shape[1]):
            for b in range(a + 1, z.shape[1]):
                rows = torch.nonzero(batch.mask[:, a] & batch.mask[:, b], as_tuple=True)[0]
                if len(rows) < 2:
                    continue
                logits = z[rows, a] @ z[rows, b].T / self.temperature
                target = torch.arange(len(rows))
                total = total + (F.cross_entropy(logits, target)
                                 + F.cross_entropy(logits.T, target)) / 2
                pairs += 1
        return total / max(pairs, 1)


@register("late-median", family="late", needs=("features",))
class LateMedian(FusionClassifier):
    """Late fusion by the median of per-modality logistic probabilities over the modalities
    a subject has (each modality as its kind makes it a feature matrix).

    Parameters
    ----------
    C : float
        Inverse L2 strength of each modality's logistic regression.
    random_state : int or None
        Seed of the solver (kept so that the benchmark can seed every strategy alike).
    """

    def __init__(self, C: float = 1.0, random_state=None) -> None:
        self.C = C
        self.random_state = random_state

    def _fit(self, data, y):
        self.steps_, self.models_ = {}, {}
        for m in self.modalities_:
            rows = data.available[m].to_numpy()
            step = block_preprocessor(None, m, data.modalities[m])
            x = np.asarray(fit_transform_block(step, data.block(m)), dtype=float)
            self.steps_[m] = step
            self.models_[m] = LogisticRegression(C=self.C, random_state=self.random_state
                                                 ).fit(x, y[rows])

    def _predict_proba(self, data):
        out = np.full((len(data), len(self.modalities_), len(self.classes_)), np.nan)
        for j, m in enumerate(self.modalities_):
            rows = data.available[m].to_numpy()
            if rows.any():
                x = np.asarray(transform_block(self.steps_[m], data.block(m)), dtype=float)
                out[rows, j] = self.models_[m].predict_proba(x)
        proba = np.nanmedian(out, axis=1)
        return proba / proba.sum(axis=1, keepdims=True)


__all__ = ["InfoNCE", "LateMedian", "WearableKind", "WearableSummary"]
