"""Ensemble selection as a strategy: a weighted average of other strategies' probabilities,
the weights chosen greedily on out-of-fold predictions (see
:mod:`medfuse.fusion.ensemble_selection`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import strategy_class_weights
from medfuse.fusion.base import FusionClassifier
from medfuse.fusion.ensemble_selection import (
    DEFAULT_ROUNDS,
    choose_prior,
    combine,
    greedy_selection,
    metric_scorer,
    to_training_prior,
)
from medfuse.fusion.inner_cv import inner_folds
from medfuse.fusion.registry import register

#: Families left out of the default library (each member is fitted ``cv + 1`` times).
_NOT_IN_DEFAULT_LIBRARY = ("neural", "ensemble", "survival")
PRIORS = ("auto", "fitted", "training")


def default_library(data: MultiModalData) -> list[str]:
    """Every registered classification strategy that takes the data's kinds, but the neural
    ones (the default members of :class:`EnsembleSelection`).

    Parameters
    ----------
    data : MultiModalData
        Its modalities and their kinds decide which strategies apply.

    Returns
    -------
    list of str
        Strategy names in the order of :func:`~medfuse.fusion.registry.strategy_names`
        (per-modality ones as ``name:<modality>``).
    """
    from medfuse.fusion.registry import info, strategy_names

    names = []
    for n in strategy_names(data.modality_names):
        tags = info(n)
        if tags.family in _NOT_IN_DEFAULT_LIBRARY:
            continue
        kinds = ([data.kinds[n.split(":", 1)[1]]] if tags.per_modality
                 else list(data.kinds.values()))
        if all(tags.accepts(k) for k in kinds):
            names.append(n)
    return names


@register("ensemble", family="ensemble", needs=(),
          description="Greedy ensemble selection over other strategies' out-of-fold "
                      "probabilities (Caruana et al. 2004)")
class EnsembleSelection(FusionClassifier):
    """A weighted average of member strategies' class probabilities.

    Fitting (``weights=None``): the training subjects are split into ``cv`` stratified
    inner folds (fewer when a class is smaller, see :mod:`medfuse.fusion.inner_cv`); every
    member is fitted on each fold's complement and predicts the fold, and greedy forward
    selection with replacement over these out-of-fold probabilities (``rounds`` rounds,
    scored by ``metric``, ties by log loss then library order; see
    :mod:`medfuse.fusion.ensemble_selection`) gives the weights. The members with a weight
    are then refitted on all training subjects. Given ``weights`` (as the benchmark does,
    from the out-of-fold predictions it already holds), only those members are fitted.

    Every member predicts from any subset of its modalities, so the ensemble does too.

    Class weighting (``prior``): members are fitted with their own ``class_weight``
    (``"balanced"`` by default: probabilities calibrated to balanced classes). ``"training"``
    moves each member's probabilities to the training prevalence before averaging
    (:func:`~medfuse.fusion.ensemble_selection.to_training_prior`); ``"auto"`` chooses on the
    out-of-fold predictions (by ``metric``, or by log loss when ``metric`` is ``roc_auc``,
    which the prior hardly moves).

    Parameters
    ----------
    members : None, list of str or dict of str to estimator
        The library: strategy names (built with :func:`~medfuse.fusion.make`) or unfitted
        strategies by name. Default: :func:`default_library` (every classical strategy that
        takes the data's kinds).
    weights : dict of str to float, optional
        Fixed weights by member name (no inner CV; members without weight are not fitted).
    cv : int
        Inner folds of the out-of-fold predictions.
    rounds : int
        Rounds of greedy selection.
    metric : {"roc_auc", "accuracy", "balanced_accuracy", "log_loss", "brier"}
        What the selection maximises (losses negated).
    prior : {"auto", "fitted", "training"}
        See above; with fixed ``weights``, ``"auto"`` means ``"fitted"``.
    random_state : int, optional
        Seed of the inner folds, given to every member without one.

    Attributes
    ----------
    members_ : dict of str to fitted strategy, the members with a weight.
    weights_ : pandas Series, every library member's weight (summing to 1).
    selection_ : dict, the greedy rounds (``picks``, ``scores``, ``losses``, ``kept``);
        empty with fixed weights.
    prior_ : str, ``"fitted"`` or ``"training"``.
    prior_scores_ : dict, both priors' out-of-fold score and log loss (empty when fixed).
    member_weights_ : dict of str to ndarray (n_classes,), each member's class weights.
    """

    def __init__(self, members=None, weights=None, cv: int = 3,
                 rounds: int = DEFAULT_ROUNDS, metric: str = "roc_auc", prior: str = "auto",
                 random_state=None) -> None:
        self.members = members
        self.weights = weights
        self.cv = cv
        self.rounds = rounds
        self.metric = metric
        self.prior = prior
        self.random_state = random_state

    def _check_settings(self) -> None:
        """Refuse settings that cannot train, before any fit."""
        if self.prior not in PRIORS:
            raise ValueError(f"prior is {self.prior!r}; choose from {', '.join(PRIORS)}.")
        metric_scorer(self.metric)
        if int(self.rounds) < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}.")
        if self.weights is not None:
            bad = {k: v for k, v in dict(self.weights).items()
                   if not (np.isfinite(v) and v >= 0)}
            if bad or not sum(dict(self.weights).values()) > 0:
                raise ValueError(f"weights must be non-negative with a positive sum; got "
                                 f"{dict(self.weights)}.")

    def _library(self, data: MultiModalData) -> dict[str, object]:
        from medfuse.fusion.factory import make

        members = default_library(data) if self.members is None else self.members
        if isinstance(members, Mapping):
            library = {str(k): clone(v) for k, v in members.items()}
        else:
            library = {str(n): make(n) for n in members}
        if len(library) < 1:
            raise ValueError("the ensemble has no members.")
        for est in library.values():
            params = est.get_params(deep=False)
            if "random_state" in params and params["random_state"] is None:
                est.set_params(random_state=self.random_state)
        return library

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self._check_settings()
        library = self._library(data)
        names = list(library)
        labels = self.classes_[y]
        if self.weights is not None:
            unknown = sorted(set(self.weights) - set(names))
            if unknown:
                raise ValueError(f"weights name members the ensemble does not have: "
                                 f"{unknown} (members: {names}).")
            w = np.array([float(dict(self.weights).get(n, 0.0)) for n in names])
            self.weights_ = pd.Series(w / w.sum(), index=names, name="weight")
            self.selection_, self.prior_scores_ = {}, {}
            self.prior_ = "fitted" if self.prior == "auto" else self.prior
        else:
            self._select(data, y, library)
        self.members_ = {n: clone(library[n]).fit(data, labels)
                         for n in names if self.weights_[n] > 0}
        self.member_weights_ = {n: strategy_class_weights(m, self.classes_, y)
                                for n, m in self.members_.items()}

    def _select(self, data: MultiModalData, y: np.ndarray, library: dict) -> None:
        """Weights and prior from inner out-of-fold predictions."""
        n_classes = len(self.classes_)
        folds = inner_folds(y, self.cv, self.random_state,
                            fixed="equal weights over the members")
        names = list(library)
        if folds is None:
            self.weights_ = pd.Series(np.full(len(names), 1 / len(names)), index=names,
                                      name="weight")
            self.selection_, self.prior_scores_ = {}, {}
            self.prior_ = "fitted" if self.prior == "auto" else self.prior
            return
        oof = {n: np.full((len(y), n_classes), np.nan) for n in names}
        shifted = {n: np.full((len(y), n_classes), np.nan) for n in names}
        for tr, te in folds.split(np.zeros(len(y)), y):
            for n in names:
                model = clone(library[n]).fit(data[tr], self.classes_[y[tr]])
                cols = np.searchsorted(self.classes_, model.classes_)
                proba = np.zeros((len(te), n_classes))
                proba[:, cols] = model.predict_proba(data[te])
                oof[n][te] = proba
                shifted[n][te] = to_training_prior(
                    proba, strategy_class_weights(model, self.classes_, y[tr]))
        score = metric_scorer(self.metric)
        chosen = greedy_selection([oof[n] for n in names], y, score, self.rounds)
        self.weights_ = pd.Series(chosen.weights, index=names, name="weight")
        self.selection_ = {"picks": [names[i] for i in chosen.picks],
                           "scores": chosen.scores, "losses": chosen.losses,
                           "kept": chosen.kept}
        pick, table = choose_prior(combine([oof[n] for n in names], chosen.weights),
                                   combine([shifted[n] for n in names], chosen.weights),
                                   y, score, ranking=self.metric == "roc_auc")
        self.prior_ = pick if self.prior == "auto" else self.prior
        self.prior_scores_ = table

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        probas, weights = [], []
        for n, model in self.members_.items():
            cols = np.searchsorted(self.classes_, model.classes_)
            proba = np.zeros((len(data), len(self.classes_)))
            proba[:, cols] = model.predict_proba(data)
            if self.prior_ == "training":
                proba = to_training_prior(proba, self.member_weights_[n])
            probas.append(proba)
            weights.append(self.weights_[n])
        return combine(probas, np.asarray(weights))
