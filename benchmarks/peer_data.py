"""The data of ``peers.py``: its two cohorts, the shared splits and the contender type (what
every tool's builder in ``peer_tools.py`` returns)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))


# ------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class PeerDataset:
    """One cohort as every tool sees it.

    ``data`` is what medfuse fits on; ``views`` holds the same subjects (same order) as
    numeric matrices for the peers (categorical clinical columns one-hot encoded, no
    statistic fitted on any subject); ``y`` holds class indices into ``classes``.
    """

    name: str
    data: object
    views: dict[str, np.ndarray]
    y: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def numeric_view(block: pd.DataFrame) -> np.ndarray:
    """A modality block as floats: categorical columns become 0/1 indicators (a missing
    category is all zeros), numeric columns are kept as they are."""
    categorical = [c for c in block.columns
                   if not pd.api.types.is_numeric_dtype(block[c])]
    frame = pd.get_dummies(block, columns=categorical, dtype=float) if categorical else block
    return frame.to_numpy(float)


def make_dataset(name: str, data) -> PeerDataset:
    """A :class:`PeerDataset` from a MultiModalData with an outcome."""
    labels = data.y.to_numpy()
    classes, y = np.unique(labels, return_inverse=True)
    views = {m: numeric_view(data.block(m)) for m in data.modality_names}
    return PeerDataset(name, data, views, y.astype(int), classes)


def rosmap_dataset(path: Path) -> tuple[PeerDataset, np.ndarray]:
    """ROSMAP's training and test subjects stacked (training first) and the positions of
    the test subjects."""
    from medfuse.data import MultiModalData, load_mogonet

    train, test = load_mogonet(path)
    both = MultiModalData.concat([train, test])
    return make_dataset("ROSMAP", both), np.arange(len(train), len(both))


def gse7390_dataset() -> PeerDataset:
    """GSE7390 with the 5-year metastasis outcome (censored-before-5-years subjects out)."""
    from medfuse.data import load_gse7390

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_dataset("GSE7390", load_gse7390())


# ---------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class Split:
    """One train/test partition of a dataset, shared by every tool."""

    dataset: str
    seed: int
    fold: int
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)


def fixed_splits(dataset: str, n: int, test: np.ndarray, seeds: Sequence[int]) -> list[Split]:
    """The same fixed test subjects once per seed."""
    test = np.sort(np.asarray(test))
    train = np.setdiff1d(np.arange(n), test)
    return [Split(dataset, s, 0, train, test) for s in seeds]


def cv_splits(dataset: str, y: np.ndarray, folds: int, seeds: Sequence[int]) -> list[Split]:
    """Stratified ``folds``-fold CV, one repetition per seed (the seed shuffles)."""
    out = []
    for s in seeds:
        cv = StratifiedKFold(folds, shuffle=True, random_state=s)
        for k, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y)):
            out.append(Split(dataset, s, k, tr, te))
    return out


# ------------------------------------------------------------------------ contenders
#: fit_predict(dataset, split, seed) -> class probabilities of the test subjects,
#: shape (len(split.test), n_classes), columns in the order of ``dataset.classes``.
FitPredict = Callable[[PeerDataset, Split, int], np.ndarray]


def scaled_views(ds: PeerDataset, split: Split) -> tuple[list, list]:
    """Each view z-scored by a scaler fitted on the training subjects of ``split``:
    (training views, test views)."""
    train, test = [], []
    for view in ds.views.values():
        scaler = StandardScaler().fit(view[split.train])
        train.append(scaler.transform(view[split.train]))
        test.append(scaler.transform(view[split.test]))
    return train, test


@dataclass(frozen=True)
class Contender:
    """One model of one tool; ``datasets`` limits it to some datasets (None: all)."""

    tool: str
    model: str
    fit_predict: FitPredict
    datasets: tuple[str, ...] | None = None

    def applies_to(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


# --------------------------------------------------------------------------- scoring
