"""A strategy that sees raw modalities through representations.

:func:`with_representations` wraps any strategy so that, inside ``fit``, the named raw
modalities (images, streams, sequences) are first turned into feature blocks by their
representations (:mod:`medfuse.represent`), fitted on the training subjects only; at
prediction the fitted representations are applied to the new subjects. The inner strategy
sees feature blocks and does not know where they came from. The wrapper is a composite
(:mod:`medfuse.fusion.wrappers`): nested ``estimator__`` parameters, its ``random_state``
forwarded to the strategy, the fitted strategy in ``estimator_``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import FusionClassifier, is_survival
from medfuse.fusion.survival import FusionSurvival
from medfuse.fusion.wrappers import StrategyWrapper
from medfuse.represent.step import RepresentationStep


class _Represented(StrategyWrapper):
    """What both tasks share: the representation step, fitted first."""

    def _fit_step(self, data: MultiModalData) -> MultiModalData:
        self.step_ = RepresentationStep(self.representations).fit(data)
        return self.step_.transform(data)

    def _inner_view(self, data: MultiModalData) -> tuple[object, MultiModalData]:
        return self.estimator_, self.step_.transform(self.align(data))


class RepresentedClassifier(_Represented, FusionClassifier):
    """A classification strategy fitted on represented modalities.

    Parameters
    ----------
    estimator : FusionClassifier
        The unfitted strategy.
    representations : mapping of modality -> representation
        See :class:`~medfuse.represent.RepresentationStep`.
    random_state : int, RandomState or None
        When set, given to the strategy (as its own ``random_state``), so that the wrapped
        strategy is seeded like the bare one.

    Attributes
    ----------
    step_ : fitted RepresentationStep
    estimator_ : the fitted strategy (on the feature blocks); its own fitted attributes,
        e.g. ``estimator_.modality_weights_``, explain it.
    """

    def __init__(self, estimator=None, representations: Mapping | None = None,
                 random_state=None) -> None:
        self.estimator = estimator
        self.representations = representations
        self.random_state = random_state

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        features = self._fit_step(data)
        labelled = y >= 0
        target = np.full(len(y), None, dtype=object)
        target[labelled] = self.classes_[y[labelled]]
        self.estimator_ = self._clone_inner().fit(features, target)

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        proba = self.estimator_.predict_proba(self.step_.transform(data))
        out = np.zeros((len(data), len(self.classes_)))
        out[:, np.searchsorted(self.classes_, self.estimator_.classes_)] = proba
        return out


class RepresentedSurvival(_Represented, FusionSurvival):
    """A survival strategy fitted on represented modalities (parameters as
    :class:`RepresentedClassifier`)."""

    def __init__(self, estimator=None, representations: Mapping | None = None,
                 random_state=None) -> None:
        self.estimator = estimator
        self.representations = representations
        self.random_state = random_state

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self.estimator_ = self._clone_inner().fit(self._fit_step(data), y)

    def _predict(self, data: MultiModalData) -> np.ndarray:
        return self.estimator_.predict(self.step_.transform(data))


def with_representations(estimator, representations: Mapping, random_state=None):
    """Wrap ``estimator`` so that the named modalities are represented first (see the module
    docstring).

    Parameters
    ----------
    estimator : FusionClassifier or FusionSurvival
        The unfitted strategy.
    representations : mapping
        Modality -> representation (a registered name, ``{"name": ..., "params": ...}`` or
        an unfitted transformer).
    random_state : int, RandomState or None
        The wrapper's seed, forwarded to the strategy when set.

    Returns
    -------
    estimator
        The wrapped strategy, or ``estimator`` itself when ``representations`` is empty.
    """
    if not representations:
        return estimator
    cls = RepresentedSurvival if is_survival(estimator) else RepresentedClassifier
    return cls(estimator=estimator, representations=dict(representations),
               random_state=random_state)
