"""A strategy whose missing modalities are filled in first, inside every fit.

:func:`with_imputation` wraps any strategy so that ``fit`` first fits one imputer per named
modality (:mod:`medfuse.preprocess.impute`) on the training subjects, fills the modality in
for the training subjects that lack it, and fits the strategy on the completed data; at
prediction the fitted imputers fill new subjects' missing modalities (from whatever other
modalities each subject has) before the strategy predicts. Inside a benchmark the wrapper is
refitted in every fold, so the imputers never see a test subject.

Multiple imputation (``n_imputations = m > 1``): imputation ``i`` fits its imputers on a
bootstrap sample of the training subjects, fills in with a draw of residual noise (seed
``i``), and fits its own copy of the strategy; a prediction is the mean of the ``m`` copies'
probabilities (risk scores for survival), each on its own draw of the new subjects' missing
values: Rubin's pooling for a predicted probability.

``delta`` (MNAR sensitivity): the filled-in values of the subjects *predicted* are moved by
``delta`` training standard deviations of each feature, while the model is fitted under MAR;
the training subjects' values are never shifted (see
:mod:`medfuse.evaluate.missingness.sensitivity`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import FusionClassifier, is_survival
from medfuse.fusion.survival import FusionSurvival
from medfuse.fusion.wrappers import StrategyWrapper
from medfuse.preprocess.impute import make_imputer


class _Imputed(StrategyWrapper):
    """What both tasks share: fitting the imputers and filling in."""

    def _check(self) -> None:
        if not self.impute:
            raise ValueError(f"{type(self).__name__} needs impute: a modality -> method map.")
        if int(self.n_imputations) < 1:
            raise ValueError(f"n_imputations must be at least 1, got {self.n_imputations}.")

    def _seeds(self) -> list[int]:
        rng = np.random.default_rng(self.random_state)
        return [int(s) for s in rng.integers(0, 2 ** 31 - 1, int(self.n_imputations))]

    def _fill(self, imputers, data: MultiModalData, draw: int | None,
              shift: float | None = None) -> MultiModalData:
        for imputer in imputers:
            if imputer.modality in data.modality_names:
                data = imputer.transform(data, draw=draw, shift=shift)
        return data

    def _fit_all(self, data: MultiModalData, fit_one) -> None:
        self._check()
        multiple = int(self.n_imputations) > 1
        self.seeds_ = self._seeds()
        self.imputers_, self.estimators_ = [], []
        for seed in self.seeds_:
            imputers = []
            for modality, method in self.impute.items():
                imputer = make_imputer(method, modality)
                imputer.set_params(bootstrap=multiple, random_state=seed)
                imputers.append(imputer.fit(data))
            completed = self._fill(imputers, data, seed if multiple else None)
            self.imputers_.append(imputers)
            self.estimators_.append(fit_one(completed))
        self.estimator_ = self.estimators_[0]

    def _completed(self, data: MultiModalData, i: int) -> MultiModalData:
        multiple = len(self.seeds_) > 1
        return self._fill(self.imputers_[i], data, self.seeds_[i] if multiple else None,
                          float(self.delta) if self.delta else None)

    def _inner_view(self, data: MultiModalData) -> tuple[object, MultiModalData]:
        return self.estimator_, self._completed(self.align(data), 0)


class ImputedClassifier(_Imputed, FusionClassifier):
    """A classification strategy fitted on data whose missing modalities are filled in.

    Parameters
    ----------
    estimator : FusionClassifier
        The unfitted strategy.
    impute : mapping of modality -> method
        A registered method name (``mean``, ``knn``, ``iterative``, ``cross-modal``,
        ``translator``), ``{"method": name, **params}`` or an unfitted imputer.
    n_imputations : int
        1: single imputation (the imputers' best guess); more: multiple imputation with
        pooled predictions (see the module docstring).
    random_state : int, RandomState or None
        Seeds the imputations and, when set, the strategy.
    delta : float
        MNAR delta applied to the subjects predicted (see the module docstring); 0: none.

    Attributes
    ----------
    imputers_ : list of list of fitted imputers
        One list per imputation.
    estimators_ : list of fitted strategies
        One per imputation; ``estimator_`` is the first.
    seeds_ : list of int
        The seed of each imputation.
    """

    def __init__(self, estimator=None, impute: Mapping | None = None, n_imputations: int = 1,
                 random_state=None, delta: float = 0.0) -> None:
        self.estimator = estimator
        self.impute = impute
        self.n_imputations = n_imputations
        self.random_state = random_state
        self.delta = delta

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        labelled = y >= 0
        target = np.full(len(y), None, dtype=object)
        target[labelled] = self.classes_[y[labelled]]
        self._fit_all(data, lambda completed: self._clone_inner().fit(completed, target))

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        out = np.zeros((len(data), len(self.classes_)))
        for i, estimator in enumerate(self.estimators_):
            proba = estimator.predict_proba(self._completed(data, i))
            out[:, np.searchsorted(self.classes_, estimator.classes_)] += proba
        return out / len(self.estimators_)


class ImputedSurvival(_Imputed, FusionSurvival):
    """A survival strategy fitted on data whose missing modalities are filled in
    (parameters as :class:`ImputedClassifier`; predictions are the mean risk score).

    Parameters
    ----------
    estimator : FusionSurvival
        The unfitted strategy.
    impute : mapping of modality -> method
        A registered method name (``mean``, ``knn``, ``iterative``, ``cross-modal``,
        ``translator``), ``{"method": name, **params}`` or an unfitted imputer.
    n_imputations : int
        1: single imputation (the imputers' best guess); more: multiple imputation with
        pooled predictions (see the module docstring).
    random_state : int, RandomState or None
        Seeds the imputations and, when set, the strategy.
    delta : float
        MNAR delta applied to the subjects predicted (see the module docstring); 0: none.

    Attributes
    ----------
    imputers_ : list of list of fitted imputers
        One list per imputation.
    estimators_ : list of fitted strategies
        One per imputation; ``estimator_`` is the first.
    seeds_ : list of int
        The seed of each imputation.
    """

    def __init__(self, estimator=None, impute: Mapping | None = None, n_imputations: int = 1,
                 random_state=None, delta: float = 0.0) -> None:
        self.estimator = estimator
        self.impute = impute
        self.n_imputations = n_imputations
        self.random_state = random_state
        self.delta = delta

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self._fit_all(data, lambda completed: self._clone_inner().fit(completed, y))

    def _predict(self, data: MultiModalData) -> np.ndarray:
        return np.mean([est.predict(self._completed(data, i))
                        for i, est in enumerate(self.estimators_)], axis=0)


def with_imputation(estimator, impute: Mapping, n_imputations: int = 1, random_state=None,
                    delta: float = 0.0):
    """Wrap ``estimator`` so that the named modalities are filled in first (see the module
    docstring); ``estimator`` itself when ``impute`` is empty.

    Parameters
    ----------
    estimator : FusionClassifier or FusionSurvival
        The unfitted strategy.
    impute : mapping of modality -> method
        A registered method name (``mean``, ``knn``, ``iterative``, ``cross-modal``,
        ``translator``), ``{"method": name, **params}`` or an unfitted imputer.
    n_imputations : int
        1: single imputation (the imputers' best guess); more: multiple imputation with
        pooled predictions (see the module docstring).
    random_state : int, RandomState or None
        Seeds the imputations and, when set, the strategy.
    delta : float
        MNAR delta applied to the subjects predicted (see the module docstring); 0: none.

    Returns
    -------
    ImputedClassifier, ImputedSurvival or estimator
        An :class:`ImputedSurvival` for a survival strategy, else an
        :class:`ImputedClassifier`; ``estimator`` unchanged when ``impute`` is empty.
    """
    if not impute:
        return estimator
    cls = ImputedSurvival if is_survival(estimator) else ImputedClassifier
    return cls(estimator=estimator, impute=dict(impute), n_imputations=n_imputations,
               random_state=random_state, delta=delta)


__all__ = ["ImputedClassifier", "ImputedSurvival", "with_imputation"]
