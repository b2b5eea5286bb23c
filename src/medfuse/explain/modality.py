"""Modality attribution: Shapley values whose players are whole modalities.

Two questions, one function (:func:`modality_shapley`):

- *Which modality drove this subject's prediction?* (default). The value of a coalition of
  modalities ``S`` for subject ``i`` is the fitted model's ``predict_proba`` when the subject
  has only the modalities in ``S``; the strategy's own missing-modality rule decides what that
  means (the other modalities are hidden with ``MultiModalData.with_available``, the data are
  never altered). The empty coalition cannot be predicted (a strategy needs at least one
  modality), so its value is defined as the *training class frequencies* (``base_values``):
  the prediction of a model that knows nothing about the subject. Shapley efficiency then
  reads ``values.sum(axis=1) + base_values == model.predict_proba(data)``. A subject's players
  are only the modalities it has; the ones it lacks get exactly 0. A modality the model
  ignores gets ~0 when the model's prediction from uninformative modalities alone is close to
  the training frequencies (e.g. an unpenalised intercept); otherwise the gap between the two
  is shared among the modalities (``base_values="mean"`` is the alternative reference).
- *How much does each modality add to the cohort's performance?* (``refit=True``). The value
  of ``S`` is a metric on evaluation data of the strategy refitted (``sklearn.base.clone``) on
  the training data restricted to ``S``; the empty coalition scores the class-frequency
  prediction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.base import is_survival, model_outputs

MAX_EXACT = 8


@dataclass
class ModalityAttribution:
    """Per-subject Shapley values of modalities for a fitted model's class probabilities
    (or, for a survival model, its risk score: one "class" named ``"risk"``).

    Parameters
    ----------
    values : ndarray of shape (n_subjects, n_modalities, n_classes)
        Shapley value of each modality for each class probability (probability units; risk
        units for a survival model).
    base_values : ndarray of shape (n_classes,)
        Value of the empty coalition (see :func:`modality_shapley`).
    prediction : ndarray of shape (n_subjects, n_classes)
        ``model.predict_proba(data)`` (survival: ``model.predict(data)`` as one column);
        equals ``values.sum(axis=1) + base_values``.
    subjects : Index
        The explained subjects' IDs.
    modalities : list of str
        The model's modalities, in order.
    classes : ndarray of shape (n_classes,)
        The model's classes (``["risk"]`` for a survival model).
    available : ndarray of bool, shape (n_subjects, n_modalities)
        Which modalities each subject has (the players of its game).
    method : str
        ``"exact"`` (all coalitions) or ``"permutation"`` (sampled orderings).
    """

    values: np.ndarray
    base_values: np.ndarray
    prediction: np.ndarray
    subjects: pd.Index
    modalities: list[str]
    classes: np.ndarray
    available: np.ndarray
    method: str

    def _class_index(self, class_) -> int:
        if class_ is None and len(self.classes) == 1:
            return 0
        if class_ is None:
            if len(self.classes) != 2:
                raise ValueError(f"With {len(self.classes)} classes, name one: "
                                 f"class_= one of {list(self.classes)}.")
            return 1
        hits = np.flatnonzero(self.classes == class_)
        if not len(hits):
            raise ValueError(f"Unknown class {class_!r}; classes are {list(self.classes)}.")
        return int(hits[0])

    def frame(self, class_=None) -> pd.DataFrame:
        """Subjects x modalities Shapley values for one class (default: the positive, i.e.
        second, class of a binary model)."""
        k = self._class_index(class_)
        return pd.DataFrame(self.values[:, :, k], index=self.subjects,
                            columns=pd.Index(self.modalities, name="modality"))

    def mean_abs(self, class_=None) -> pd.Series:
        """Mean absolute Shapley value per modality over all subjects (subjects lacking a modality
        count as 0), sorted from most to least important."""
        return self.frame(class_).abs().mean().sort_values(ascending=False)

    def per_prediction(self) -> pd.DataFrame:
        """One row per subject, the attribution of the probability it was given: binary
        models explain the second class, multiclass models each subject's predicted class.

        Columns ``explained_class``, ``shapley_base`` and ``shapley_<modality>``; per row,
        ``shapley_base`` plus the modality columns equals the predicted probability of
        ``explained_class`` (0 for modalities the subject lacks).
        """
        n = len(self.subjects)
        if len(self.classes) <= 2:
            k = np.full(n, len(self.classes) - 1, dtype=int)
        else:
            k = np.argmax(self.prediction, axis=1)
        out = pd.DataFrame({"explained_class": self.classes[k],
                            "shapley_base": self.base_values[k]}, index=self.subjects)
        for j, m in enumerate(self.modalities):
            out[f"shapley_{m}"] = self.values[np.arange(n), j, k]
        return out

    def tidy(self) -> pd.DataFrame:
        """Long table: subject, modality, class, value, available."""
        n, m, k = self.values.shape
        return pd.DataFrame({
            "subject": np.repeat(np.asarray(self.subjects), m * k),
            "modality": np.tile(np.repeat(self.modalities, k), n),
            "class": np.tile(self.classes, n * m),
            "value": self.values.reshape(-1),
            "available": np.repeat(self.available.reshape(-1), k),
        })


@dataclass
class ModalityPerformanceShapley:
    """Shapley values of modalities for a cohort-level performance metric.

    Parameters
    ----------
    values : Series
        Modality -> Shapley value in metric units;
        ``values.sum() + base_value == full_score``.
    base_value : float
        Metric of the class-frequency prediction (the empty coalition).
    full_score : float
        Metric of the strategy refitted on all the modalities.
    coalition_scores : Series
        Metric of every coalition, indexed by ``"a+b"`` labels (``"(none)"`` for the empty one).
    scoring : str
        The metric's name (or the scoring function's).
    """

    values: pd.Series
    base_value: float
    full_score: float
    coalition_scores: pd.Series
    scoring: str


def modality_shapley(
    model,
    data: MultiModalData,
    *,
    base_values: str | Sequence[float] = "prior",
    max_exact: int = MAX_EXACT,
    n_permutations: int = 64,
    random_state: int | None = 0,
    refit: bool = False,
    train: MultiModalData | None = None,
    y_train=None,
    scoring: str | Callable = "roc_auc",
):
    """Shapley values of modalities, per subject or (``refit=True``) for cohort performance.

    Parameters
    ----------
    model : fitted FusionClassifier or FusionSurvival
        Any strategy; refitted clones are used when ``refit=True`` (then ``model`` may be
        unfitted). A survival model's risk score (``predict``) is explained as one output
        named ``"risk"`` (per-subject attributions only, not ``refit=True``).
    data : MultiModalData
        Subjects to explain (``refit=False``) or evaluation subjects with an outcome
        (``refit=True``).
    base_values : "prior", "mean" or array (n_classes,)
        Value of the empty coalition. ``"prior"`` (default): the training class frequencies
        stored by the strategy (``class_prior_``), the prediction of a model that knows
        nothing; ``"mean"``: the model's mean predicted probabilities over ``data``
        (SHAP's convention, ``E[f(X)]``). Survival models store no prior: their base value
        is the mean risk over ``data`` in both cases.
    max_exact : int
        Up to this many modalities, all ``2^M - 1`` coalitions are predicted (one
        ``predict_proba`` call per coalition, on the subjects that have it). Above, sampled
        orderings are used.
    n_permutations : int
        Orderings sampled when ``M > max_exact`` (in antithetic pairs; costs
        ``n_permutations * M`` calls). Efficiency still holds exactly per subject.
    random_state : int, optional
        Seed of the sampled orderings.
    refit : bool
        Cohort-level contribution to performance: refit ``clone(model)`` on ``train``
        restricted to each of the ``2^M - 1`` coalitions (``M`` = modalities of ``train``)
        and score it on ``data``. Cost: ``2^M - 1`` fits plus as many predictions; e.g. 7
        fits for 3 modalities, 255 for 8. Evaluation subjects that have none of a coalition's
        modalities get the training class frequencies, so every coalition is scored on the
        same subjects. A coalition the strategy cannot be fitted on (``unimodal:<m>``
        without ``m``) is scored as the class-frequency prediction, with a warning.
    train : MultiModalData, optional
        Training data for ``refit=True``.
    y_train : array-like, optional
        Their outcome (default: ``train.y``).
    scoring : str or callable
        For ``refit=True``: ``"roc_auc"`` (one-vs-rest macro for multiclass), ``"accuracy"``,
        ``"balanced_accuracy"``, ``"neg_log_loss"``, ``"neg_brier"``; or
        ``f(y_true, proba, classes) -> float``.

    Returns
    -------
    ModalityAttribution or ModalityPerformanceShapley (``refit=True``).

    Examples
    --------
    >>> att = modality_shapley(model, test)                     # doctest: +SKIP
    >>> att.frame().head(); att.mean_abs()                      # doctest: +SKIP
    """
    if refit and is_survival(model):
        raise ValueError("refit=True scores class probabilities; for a survival model use "
                         "the per-subject attribution (refit=False).")
    if refit:
        if train is None:
            raise ValueError("refit=True needs the training data: train=...")
        return _performance_shapley(model, train, y_train, data, scoring)
    check_is_fitted(model, "modalities_")
    if not _handles_missing(model):
        raise ValueError(
            f"{type(model).__name__} is registered as not handling missing modalities, so it "
            "cannot predict with a modality hidden; use refit=True (refit per coalition).")
    aligned = model.align(data)
    avail = aligned.available.to_numpy()
    m = avail.shape[1]
    prediction = model_outputs(model, aligned)
    base = _base_values(model, base_values, prediction)
    if m <= max_exact:
        values, method = _exact(model, aligned, avail, base, prediction), "exact"
    else:
        values = _sampled(model, aligned, avail, base, prediction, n_permutations,
                          random_state)
        method = "permutation"
    return ModalityAttribution(values=values, base_values=base, prediction=prediction,
                               subjects=aligned.subjects, modalities=list(model.modalities_),
                               classes=_output_names(model), available=avail,
                               method=method)


# ---------------------------------------------------------------------- per-subject games
def _handles_missing(model) -> bool:
    """The registry's handles_missing tag of the model's class (True if unregistered)."""
    from medfuse.fusion.registry import info, strategy_names

    for name in strategy_names():
        tags = info(name)
        if tags.cls is type(model):
            return tags.handles_missing
    return True


def _output_names(model) -> np.ndarray:
    return np.array(["risk"]) if is_survival(model) else np.asarray(model.classes_)


def _base_values(model, how, prediction: np.ndarray) -> np.ndarray:
    k = prediction.shape[1]
    if isinstance(how, str):
        if how == "prior" and is_survival(model):
            return prediction.mean(axis=0)
        if how == "prior":
            prior = getattr(model, "class_prior_", None)
            if prior is None:
                warnings.warn(f"{type(model).__name__} stores no class_prior_; using the mean "
                              "prediction as base value.", stacklevel=3)
                return prediction.mean(axis=0)
            return np.asarray(prior, dtype=float)
        if how == "mean":
            return prediction.mean(axis=0)
        raise ValueError(f"base_values must be 'prior', 'mean' or an array, got {how!r}.")
    base = np.asarray(how, dtype=float)
    if base.shape != (k,):
        raise ValueError(f"base_values must have one value per class ({k}), got {base.shape}.")
    return base


def _coalition_values(model, data: MultiModalData, avail: np.ndarray, coalition: np.ndarray,
                      rows: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """predict_proba of subjects ``rows`` when they have only ``avail & coalition``.

    Subjects for whom the coalition holds all their modalities get ``prediction`` itself,
    so that efficiency is exact even for float32 models whose outputs depend on the batch
    they are computed in.
    """
    sub = data[rows]
    out = model_outputs(model, sub.with_available(avail[rows] & coalition))
    whole = (~avail[rows] | coalition).all(axis=1)
    out[whole] = prediction[rows[whole]]
    return out


def _exact(model, data, avail, base, prediction) -> np.ndarray:
    k = prediction.shape[1]
    n, m = avail.shape
    bits = 1 << np.arange(m)
    members = (np.arange(1 << m)[:, None] & bits) > 0          # coalition x modality
    # value[i, S] for every coalition S contained in subject i's modalities
    value = np.full((n, 1 << m, k), np.nan)
    value[:, 0] = base
    for s in range(1, 1 << m):
        rows = np.flatnonzero((avail | ~members[s]).all(axis=1))
        if len(rows):
            value[rows, s] = _coalition_values(model, data, avail, members[s], rows,
                                                prediction)
    size = members.sum(axis=1)
    n_players = avail.sum(axis=1)
    fact = np.array([math.factorial(i) for i in range(m + 1)], dtype=float)
    phi = np.zeros((n, m, k))
    for s in range(1 << m):
        inside = (avail | ~members[s]).all(axis=1)           # S subset of subject's players
        for j in range(m):
            if members[s, j]:
                continue
            rows = inside & avail[:, j]
            if not rows.any():
                continue
            a = n_players[rows]
            w = fact[size[s]] * fact[a - size[s] - 1] / fact[a]
            gain = value[rows, s | (1 << j)] - value[rows, s]
            phi[rows, j] += w[:, None] * gain
    return phi


def _sampled(model, data, avail, base, prediction, n_permutations,
             random_state) -> np.ndarray:
    k = prediction.shape[1]
    n, m = avail.shape
    rng = np.random.default_rng(random_state)
    n_pairs = max(1, (n_permutations + 1) // 2)
    phi = np.zeros((n, m, k))
    orders = []
    for _ in range(n_pairs):
        p = rng.permutation(m)
        orders += [p, p[::-1]]
    for order in orders:
        previous = np.tile(base, (n, 1))
        coalition = np.zeros(m, dtype=bool)
        for j in order:
            coalition[j] = True
            rows = np.flatnonzero(avail[:, j])      # only they see a change
            current = previous.copy()
            if len(rows):
                current[rows] = _coalition_values(model, data, avail, coalition, rows,
                                                  prediction)
            phi[:, j] += current - previous
            previous = current
    return phi / len(orders)


# ---------------------------------------------------------------------- performance game
def _score(scoring, y_true, proba: np.ndarray, classes: np.ndarray) -> float:
    if callable(scoring):
        return float(scoring(y_true, proba, classes))
    y_index = np.searchsorted(classes, y_true)
    if scoring == "roc_auc":
        if len(classes) == 2:
            return float(roc_auc_score(y_index, proba[:, 1]))
        return float(roc_auc_score(y_index, proba, multi_class="ovr",
                                   labels=np.arange(len(classes))))
    pred = np.argmax(proba, axis=1)
    if scoring == "accuracy":
        return float(accuracy_score(y_index, pred))
    if scoring == "balanced_accuracy":
        return float(balanced_accuracy_score(y_index, pred))
    if scoring == "neg_log_loss":
        return -float(log_loss(y_index, proba, labels=np.arange(len(classes))))
    if scoring == "neg_brier":
        if len(classes) == 2:
            return -float(brier_score_loss(y_index, proba[:, 1]))
        onehot = np.eye(len(classes))[y_index]
        return -float(((proba - onehot) ** 2).sum(axis=1).mean())
    raise ValueError(f"Unknown scoring {scoring!r}; use roc_auc, accuracy, "
                     "balanced_accuracy, neg_log_loss, neg_brier or a callable.")


def _performance_shapley(model, train: MultiModalData, y_train, test: MultiModalData,
                         scoring) -> ModalityPerformanceShapley:
    from medfuse.fusion.base import check_target

    names = list(train.modality_names)
    m = len(names)
    y_tr = check_target(train, y_train)
    y_te = check_target(test, None)
    classes = np.unique(y_tr)
    prior = np.array([(y_tr == c).mean() for c in classes])
    test_avail = test.available.reindex(columns=names, fill_value=False).to_numpy()
    value = np.empty(1 << m)
    value[0] = _score(scoring, y_te, np.tile(prior, (len(test), 1)), classes)
    labels = ["(none)"]
    unusable: list[str] = []
    for s in range(1, 1 << m):
        chosen = [names[j] for j in range(m) if s >> j & 1]
        labels.append("+".join(chosen))
        proba = np.tile(prior, (len(test), 1))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*were excluded.*")
            tr = train.select(chosen)
            try:
                fitted = clone(model).fit(tr, pd.Series(y_tr, index=train.subjects)
                                          .reindex(tr.subjects).to_numpy())
            except DataValidationError:
                # the strategy cannot be fitted on these modalities (e.g. unimodal:<m>
                # without m): it learns nothing from them, so it predicts the prior
                unusable.append(labels[-1])
                fitted = None
            rows = np.flatnonzero(test_avail[:, [names.index(c) for c in chosen]].any(axis=1))
            if fitted is not None and len(rows):
                part = np.asarray(fitted.predict_proba(test[rows].select(chosen)))
                proba[rows] = _match_classes(part, fitted.classes_, classes)
        value[s] = _score(scoring, y_te, proba, classes)
    if unusable:
        warnings.warn(f"{type(model).__name__} could not be fitted on coalition(s) "
                      f"{unusable}; they were scored as the class-frequency prediction.",
                      stacklevel=3)
    fact = [math.factorial(i) for i in range(m + 1)]
    phi = np.zeros(m)
    for s in range(1 << m):
        size = bin(s).count("1")
        for j in range(m):
            if not s >> j & 1:
                phi[j] += fact[size] * fact[m - size - 1] / fact[m] * (value[s | 1 << j]
                                                                       - value[s])
    name = scoring if isinstance(scoring, str) else getattr(scoring, "__name__", "custom")
    return ModalityPerformanceShapley(
        values=pd.Series(phi, index=pd.Index(names, name="modality"), name=name),
        base_value=float(value[0]), full_score=float(value[-1]),
        coalition_scores=pd.Series(value, index=pd.Index(labels, name="coalition"), name=name),
        scoring=name)


def _match_classes(proba: np.ndarray, fitted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (for ``fitted`` classes) placed under ``classes``."""
    out = np.zeros((len(proba), len(classes)))
    out[:, np.searchsorted(classes, fitted)] = proba
    return out
