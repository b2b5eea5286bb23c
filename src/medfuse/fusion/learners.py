"""The learners of the classical strategies, by name: the default logistic regression and
two tree ensembles, and what each needs from the blocks it is given.

=====================  ===========================================  ========  ===========
name                   estimator                                    scaled    NaN rows
=====================  ===========================================  ========  ===========
``logistic``           L2 logistic regression, strength by inner    yes       imputed
                       CV (:func:`~medfuse.fusion.classifiers.
                       default_classifier`)
``gradient-boosting``  scikit-learn ``HistGradientBoostingClassifier``  no    native
                       with its defaults (100 boosting iterations,
                       learning rate 0.1, 31 leaves) but
                       :func:`min_leaf` subjects per leaf
``random-forest``      scikit-learn ``RandomForestClassifier``,     no        native
                       500 trees, its defaults otherwise
=====================  ===========================================  ========  ===========

Trees split on thresholds, so any per-feature monotone rescaling fitted on the training
subjects (a z-score) changes none of their predictions: they see the blocks unscaled, and
an absent block as missing values, which both ensembles route at every split.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from medfuse.fusion._class_weight import sklearn_class_weight

#: Learner names, the default first.
LEARNERS = ("logistic", "gradient-boosting", "random-forest")
#: The learners that are tree ensembles (unscaled blocks, missing values handled natively).
TREE_LEARNERS = ("gradient-boosting", "random-forest")
#: Short suffixes of the registered tree variants (``early-gb``, ``late-mean-rf``, ...).
SUFFIXES = {"gradient-boosting": "gb", "random-forest": "rf"}
#: Trees of the random forest.
FOREST_TREES = 500
#: scikit-learn's default smallest leaf of gradient boosting (subjects), kept from ten
#: times as many training subjects.
BOOSTING_LEAF = 20


def min_leaf(n_subjects: int) -> int:
    """Smallest leaf of gradient boosting for ``n_subjects`` training subjects:
    scikit-learn's 20 from 200 subjects, a tenth of them below (at least 2); with 20 per
    leaf, a tree on 48 subjects could split once at most and learns next to nothing.

    Parameters
    ----------
    n_subjects : int
        Training subjects.

    Returns
    -------
    int
        ``min_samples_leaf``: ``n_subjects // 10``, between 2 and :data:`BOOSTING_LEAF`.
    """
    return int(min(BOOSTING_LEAF, max(2, n_subjects // 10)))


def check_learner(learner, modalities=None, per_modality: bool = True,
                  base_estimator=None) -> None:
    """Raise ``ValueError`` naming the problem if ``learner`` is not a learner name (or,
    with ``per_modality``, a dict modality -> name whose keys are among ``modalities``), or
    if both ``learner`` and ``base_estimator`` choose the classifier of a modality.

    Parameters
    ----------
    learner : str or dict modality -> str
        A name of :data:`LEARNERS`, or one per modality (``logistic`` where a dict has none).
    modalities : sequence of str, optional
        The data's modalities; when given, a dict's keys must be among them.
    per_modality : bool
        Whether a dict is allowed (False where one model sees every block).
    base_estimator : classifier or dict modality -> classifier, optional
        The user's classifier, or one per modality; unless ``learner`` is ``"logistic"``,
        it may not cover a modality that ``learner`` also covers.

    Raises
    ------
    ValueError
        With what is wrong and the allowed names.
    """
    if base_estimator is not None and learner != LEARNERS[0]:
        covered = (set(base_estimator) if isinstance(base_estimator, Mapping)
                   else set(modalities or ()) | {None})
        named = (set(learner) if isinstance(learner, Mapping) else set(modalities or ())
                 | {None})
        both = sorted(str(m) for m in covered & named if m is not None) or ["every block"]
        if covered & named:
            raise ValueError(f"base_estimator and learner both choose the classifier of "
                             f"{', '.join(both)}; give one of them.")
    if isinstance(learner, Mapping):
        if not per_modality:
            raise ValueError("learner must be one name here (one model sees every block), "
                             f"not a dict; choose from {', '.join(LEARNERS)}.")
        unknown = [m for m in learner if modalities is not None and m not in modalities]
        if unknown:
            raise ValueError(f"learner names modalities the data does not have: {unknown} "
                             f"(modalities: {list(modalities)}).")
        for m, name in learner.items():
            if name not in LEARNERS:
                raise ValueError(f"learner for {m!r} is {name!r}; choose from "
                                 f"{', '.join(LEARNERS)}.")
        return
    if learner not in LEARNERS:
        raise ValueError(f"learner is {learner!r}; choose from {', '.join(LEARNERS)}.")


def learner_for(learner, modality: str | None) -> str:
    """The learner name of ``modality`` (a dict's entry, ``logistic`` where it has none).

    Parameters
    ----------
    learner : str or dict modality -> str
        One learner name, or one per modality.
    modality : str or None
        The modality asked about.

    Returns
    -------
    str
    """
    if isinstance(learner, Mapping):
        return str(learner.get(modality, LEARNERS[0]))
    return str(learner)


def is_tree(learner, modality: str | None = None) -> bool:
    """Whether ``modality``'s learner is a tree ensemble.

    Parameters
    ----------
    learner : str or dict modality -> str
        One learner name, or one per modality.
    modality : str, optional
        The modality asked about.

    Returns
    -------
    bool
        True when its learner is one of :data:`TREE_LEARNERS`.
    """
    return learner_for(learner, modality) in TREE_LEARNERS


def default_is_tree(base_estimator, learner, modality: str | None = None) -> bool:
    """Whether ``modality`` gets a tree learner of medfuse's (no estimator of the user's
    covers it and its learner is a tree)."""
    if isinstance(base_estimator, Mapping):
        base_estimator = base_estimator.get(modality)
    return base_estimator is None and is_tree(learner, modality)


def tree_estimator(name: str, random_state=None, weights: np.ndarray | None = None,
                   y: np.ndarray | None = None):
    """An unfitted tree ensemble for learner ``name`` (one of :data:`TREE_LEARNERS`).

    Parameters
    ----------
    name : {"gradient-boosting", "random-forest"}
        The learner.
    random_state : int, optional
        The estimator's seed.
    weights : ndarray (K,), optional
        Per-class weights (see :mod:`medfuse.fusion._class_weight`).
    y : ndarray (n,), optional
        The class indices it will be fitted on.

    Returns
    -------
    HistGradientBoostingClassifier or RandomForestClassifier
        Unfitted: gradient boosting with :func:`min_leaf` of ``len(y)`` subjects per leaf
        (:data:`BOOSTING_LEAF` without ``y``), or a forest of :data:`FOREST_TREES` trees.
    """
    if name not in TREE_LEARNERS:
        raise ValueError(f"{name!r} is not a tree learner ({', '.join(TREE_LEARNERS)}).")
    class_weight = sklearn_class_weight(weights, y)
    if name == "gradient-boosting":
        leaf = BOOSTING_LEAF if y is None else min_leaf(len(y))
        return HistGradientBoostingClassifier(random_state=random_state,
                                              class_weight=class_weight,
                                              min_samples_leaf=leaf)
    return RandomForestClassifier(n_estimators=FOREST_TREES, random_state=random_state,
                                  class_weight=class_weight, n_jobs=1)
