"""Greedy ensemble selection over out-of-fold probabilities (Caruana et al., ICML 2004,
"Ensemble selection from libraries of models"): members are added one at a time, with
replacement, each round taking the member whose addition gives the best score of the
averaged probabilities; the ensemble kept is the best of the rounds.

Rules, so that a selection can be reproduced by hand:

- the score is a metric of the averaged probabilities on the subjects with a label
  (greater is better; a loss enters negated);
- ties between candidates within :data:`TIE` are broken by the lower log loss, then by the
  earlier member in the library's order;
- the ensemble kept is the round with the best score (ties: lower log loss, then the
  earlier, smaller ensemble), so adding members never makes it worse on these predictions;
- a member's weight is how often it was added over the rounds kept, divided by that number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, balanced_accuracy_score

#: Score differences at most this large count as ties.
TIE = 1e-12
#: Rounds of selection by default (AutoGluon's weighted ensemble uses 25 as well).
DEFAULT_ROUNDS = 25
#: Probabilities are clipped at this in log losses.
_EPS = 1e-15


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-probability of the true classes (y: (n,) indices, proba: (n, K))."""
    p = np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)
    return float(-np.mean(np.log(p)))


def metric_scorer(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``score(y, proba)`` (greater is better) for a metric name: ``roc_auc`` (binary, or
    one-vs-rest macro), ``accuracy``, ``balanced_accuracy``, ``log_loss`` and ``brier``
    (negated).

    Parameters
    ----------
    metric : {"roc_auc", "accuracy", "balanced_accuracy", "log_loss", "brier"}
        The metric name.

    Returns
    -------
    callable (y, proba) -> float
        ``y`` (n,) class indices, ``proba`` (n, K) class probabilities.

    Raises
    ------
    ValueError
        For any other metric name.
    """
    def auc(y, p):
        if p.shape[1] == 2:
            return _auc(y == 1, p[:, 1])
        return float(np.mean([_auc(y == k, p[:, k]) for k in range(p.shape[1])]))

    def brier(y, p):
        return -float(np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1)))

    scorers = {"roc_auc": auc, "log_loss": lambda y, p: -log_loss(y, p),
               "accuracy": lambda y, p: float(accuracy_score(y, p.argmax(axis=1))),
               "balanced_accuracy": lambda y, p: float(balanced_accuracy_score(
                   y, p.argmax(axis=1))),
               "brier": brier}
    if metric not in scorers:
        raise ValueError(f"metric {metric!r} is not one the ensemble can select by; choose "
                         f"from {', '.join(scorers)}.")
    return scorers[metric]


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney; ties count one half); NaN
    with one class only."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass
class Selection:
    """The outcome of :func:`greedy_selection`.

    Parameters
    ----------
    weights : ndarray (M,)
        Weight of each library member (summing to 1).
    picks : list of int
        The member added in each round, in order.
    scores : list of float
        The ensemble's score after each round.
    losses : list of float
        Its log loss after each round.
    kept : int
        How many rounds the kept ensemble has.
    """

    weights: np.ndarray
    picks: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    kept: int = 0


def _better(score: float, loss: float, best_score: float, best_loss: float) -> bool:
    if score > best_score + TIE:
        return True
    return abs(score - best_score) <= TIE and loss < best_loss - TIE


def greedy_selection(oof: Sequence[np.ndarray], y: np.ndarray,
                     score: Callable[[np.ndarray, np.ndarray], float],
                     rounds: int = DEFAULT_ROUNDS) -> Selection:
    """Greedy forward selection with replacement (see the module docstring).

    Parameters
    ----------
    oof : sequence of M arrays (n, K)
        Each member's out-of-fold class probabilities; a NaN row (a subject the member could
        not score) leaves the member out of that subject's average.
    y : ndarray (n,)
        Class indices.
    score : callable (y, proba) -> float
        Greater is better.
    rounds : int
        Members added (with replacement).

    Returns
    -------
    Selection
    """
    stack = np.stack([np.asarray(p, dtype=float) for p in oof])      # M x n x K
    have = ~np.isnan(stack).any(axis=2)                                 # M x n
    values = np.nan_to_num(stack)
    n_members = len(stack)
    total = np.zeros(stack.shape[1:])
    count = np.zeros(stack.shape[1])
    picks, scores, losses = [], [], []
    for _ in range(int(rounds)):
        best = None
        for m in range(n_members):
            c = count + have[m]
            avg = (total + values[m]) / np.maximum(c, 1)[:, None]
            rows = c > 0
            s, loss = score(y[rows], avg[rows]), log_loss(y[rows], avg[rows])
            if not np.isfinite(s):
                continue
            if best is None or _better(s, loss, best[1], best[2]):
                best = (m, s, loss)
        if best is None:
            break
        m, s, loss = best
        total, count = total + values[m], count + have[m]
        picks.append(m)
        scores.append(s)
        losses.append(loss)
    if not picks:
        raise ValueError("no member gives a finite score on these predictions")
    kept = 0
    for r in range(1, len(picks)):
        if _better(scores[r], losses[r], scores[kept], losses[kept]):
            kept = r
    kept += 1
    weights = np.bincount(picks[:kept], minlength=n_members) / kept
    return Selection(weights, picks, scores, losses, kept)


def combine(probas: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted average of members' (n, K) probabilities; per subject, over the members that
    scored it (NaN rows left out, weights renormalised); NaN where none did.

    Parameters
    ----------
    probas : sequence of M arrays (n, K)
        The members' class probabilities; a NaN row is a subject the member did not score.
    weights : ndarray (M,)
        Non-negative member weights (need not sum to 1).

    Returns
    -------
    ndarray (n, K)
    """
    stack = np.stack([np.asarray(p, dtype=float) for p in probas])
    have = ~np.isnan(stack).any(axis=2)
    w = have * np.asarray(weights, dtype=float)[:, None]
    total = w.sum(axis=0)
    out = np.einsum("mn,mnk->nk", w, np.nan_to_num(stack))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = out / total[:, None]
    out[total <= 0] = np.nan
    return out


def to_training_prior(proba: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """Probabilities of a model fitted with per-class weights ``w`` (K,) moved to the
    training prevalence: ``p_k / w_k``, renormalised (weighting class k by ``w_k`` multiplies
    its prior odds by ``w_k``; ``balanced`` weights make the implied prior uniform).

    Parameters
    ----------
    proba : ndarray (n, K)
        Class probabilities of the weighted model.
    class_weights : ndarray (K,)
        The positive per-class weights ``w`` it was fitted with.

    Returns
    -------
    ndarray (n, K)
        Rows sum to 1 (NaN rows stay NaN).
    """
    shifted = np.asarray(proba, dtype=float) / np.asarray(class_weights, dtype=float)
    return shifted / shifted.sum(axis=1, keepdims=True)


def choose_prior(proba_fitted: np.ndarray, proba_training: np.ndarray, y: np.ndarray,
                 score: Callable[[np.ndarray, np.ndarray], float], ranking: bool
                 ) -> tuple[str, dict[str, dict[str, float]]]:
    """``"fitted"`` (the members' class weighting, balanced by default) or ``"training"``
    (moved to the training prevalence), chosen on out-of-fold predictions: by the primary
    metric, or by log loss when the metric ranks (``ranking``: the AUC barely moves when the
    prior moves, while the decision threshold, hence accuracy and F1, does); ties keep
    ``"fitted"``. Also returns both candidates' score and log loss.

    Parameters
    ----------
    proba_fitted : ndarray (n, K)
        Out-of-fold probabilities as fitted; its NaN rows are left out of both scores.
    proba_training : ndarray (n, K)
        The same moved to the training prevalence (:func:`to_training_prior`).
    y : ndarray (n,)
        Class indices.
    score : callable (y, proba) -> float
        The primary metric, greater is better.
    ranking : bool
        Whether the metric only ranks (choose by log loss then).

    Returns
    -------
    (str, dict)
        ``"fitted"`` or ``"training"``, and per candidate ``{"score": ..., "log_loss": ...}``.
    """
    rows = ~np.isnan(proba_fitted).any(axis=1)
    table = {name: {"score": score(y[rows], p[rows]), "log_loss": log_loss(y[rows], p[rows])}
             for name, p in (("fitted", proba_fitted), ("training", proba_training))}
    if ranking:
        pick = ("training" if table["training"]["log_loss"] < table["fitted"]["log_loss"]
                - TIE else "fitted")
    else:
        pick = ("training" if table["training"]["score"] > table["fitted"]["score"] + TIE
                else "fitted")
    return pick, table


def prior_words(prior: str | None) -> str:
    """How a class-weighting choice of :func:`choose_prior` reads in logs and reports."""
    return ("moved to the training prevalence" if prior == "training"
            else "as fitted (balanced classes by default)")
