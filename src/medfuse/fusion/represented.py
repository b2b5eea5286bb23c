"""A strategy that sees raw modalities through representations.

:func:`with_representations` wraps any strategy so that, inside ``fit``, the named raw
modalities (images, streams, sequences) are first turned into feature blocks by their
representations (:mod:`medfuse.represent`), fitted on the training subjects only; at
prediction the fitted representations are applied to the new subjects. The inner strategy
sees feature blocks and does not know where they came from; the wrapper is saved, explained
and benchmarked like the strategy itself (its fitted attributes, e.g. ``modality_weights_``,
are the inner strategy's).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.base import clone

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import FusionClassifier, is_survival
from medfuse.fusion.survival import FusionSurvival
from medfuse.represent.step import RepresentationStep


class _Delegate:
    """Fitted attributes the wrapper lacks are read from the inner fitted strategy."""

    def __getattr__(self, name: str):
        if name.endswith("_") and not name.startswith("__") and "estimator_" in self.__dict__:
            return getattr(self.__dict__["estimator_"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _fit_step(self, data: MultiModalData) -> MultiModalData:
        self.step_ = RepresentationStep(self.representations).fit(data)
        return self.step_.transform(data)


class RepresentedClassifier(_Delegate, FusionClassifier):
    """A classification strategy fitted on represented modalities.

    Parameters
    ----------
    estimator : FusionClassifier
        The unfitted strategy.
    representations : mapping of modality -> representation
        See :class:`~medfuse.represent.RepresentationStep`.

    Attributes
    ----------
    step_ : fitted RepresentationStep
    estimator_ : the fitted strategy (on the feature blocks)
    """

    def __init__(self, estimator=None, representations: Mapping | None = None) -> None:
        self.estimator = estimator
        self.representations = representations

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        features = self._fit_step(data)
        labelled = y >= 0
        target = np.full(len(y), None, dtype=object)
        target[labelled] = self.classes_[y[labelled]]
        self.estimator_ = clone(self.estimator).fit(features, target)

    def _uses_unlabelled(self) -> bool:
        return bool(getattr(self.estimator, "_uses_unlabelled", lambda: False)())

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        proba = self.estimator_.predict_proba(self.step_.transform(data))
        out = np.zeros((len(data), len(self.classes_)))
        out[:, np.searchsorted(self.classes_, self.estimator_.classes_)] = proba
        return out


class RepresentedSurvival(_Delegate, FusionSurvival):
    """A survival strategy fitted on represented modalities (parameters as
    :class:`RepresentedClassifier`)."""

    def __init__(self, estimator=None, representations: Mapping | None = None) -> None:
        self.estimator = estimator
        self.representations = representations

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self.estimator_ = clone(self.estimator).fit(self._fit_step(data), y)

    def _predict(self, data: MultiModalData) -> np.ndarray:
        return self.estimator_.predict(self.step_.transform(data))


def with_representations(estimator, representations: Mapping):
    """Wrap ``estimator`` so that the named modalities are represented first (see the module
    docstring).

    Parameters
    ----------
    estimator : FusionClassifier or FusionSurvival
        The unfitted strategy.
    representations : mapping
        Modality -> representation (a registered name, ``{"name": ..., "params": ...}`` or
        an unfitted transformer).

    Returns
    -------
    estimator
        The wrapped strategy, or ``estimator`` itself when ``representations`` is empty.
    """
    if not representations:
        return estimator
    cls = RepresentedSurvival if is_survival(estimator) else RepresentedClassifier
    return cls(estimator=estimator, representations=dict(representations))
