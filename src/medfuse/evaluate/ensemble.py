"""What the benchmark hands over, measured like any strategy: the ``ensemble`` of the
benchmarked strategies and the strategy ``select-best`` chooses, both decided inside each
outer fold from that fold's training subjects only.

Inner predictions without refitting the benchmark inside every fold: within one CV
repetition the outer test folds are disjoint, so for every pair of folds ``{a, b}`` one fit
on the subjects outside both (kind ``"inner"``) predicts both; for outer split ``a`` the
fits ``{a, b}`` (every ``b`` other than ``a``) then give out-of-fold predictions of all its
training subjects from models that never saw fold ``a``. That is ``k(k - 1) / 2`` extra fits
per strategy and repetition (``inner_repeats`` repetitions: 1 by default), instead of ``k``
inner fits per outer split. Each outer split's ensemble weights and selected strategy are
chosen on these, then applied to the strategies' own held-out predictions of that split (for
every availability subset, so the robustness table has them too). The test set gets the
weights and the choice made on all the CV out-of-fold predictions, which is also what the
handed-over model is built from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from medfuse.evaluate.metrics import classification_metrics, greater_is_better
from medfuse.evaluate.records import FoldResult
from medfuse.evaluate.splits import Split
from medfuse.fusion._class_weight import strategy_class_weights
from medfuse.fusion.ensemble_selection import (
    DEFAULT_ROUNDS,
    choose_prior,
    combine,
    greedy_selection,
    metric_scorer,
    to_training_prior,
)

#: The derived strategies' names in results, reports and study files.
ENSEMBLE = "ensemble"
SELECT_BEST = "select-best"
DERIVED = (ENSEMBLE, SELECT_BEST)
#: The rules of a study's ``select:`` besides a strategy's name.
RULES = ("ensemble", "best")
#: Strategy families from simplest to most complex: the one-standard-error rule takes the
#: simplest strategy whose inner score is within one standard error of the best.
FAMILY_ORDER = ("unimodal", "late", "early", "interpretable", "latent", "kernel", "neural")


def pair_splits(splits: Sequence[Split], repeats: int = 1) -> list[Split]:
    """The inner splits of the first ``repeats`` repetitions: for each pair of outer folds
    ``a < b``, train on the subjects outside both, predict both (label ``r0f1+f3``). A
    repetition whose test folds overlap, or with fewer than 3 folds, has none.

    Parameters
    ----------
    splits : sequence of Split
        The outer CV splits (positions into the training subjects).
    repeats : int
        How many repetitions get pair splits (the first ones, in ``repeat`` order).

    Returns
    -------
    list of Split
        ``k(k - 1) / 2`` per repetition of ``k`` folds, with ``fold`` -1: trained on the
        subjects outside both folds, tested on the subjects of both.
    """
    out = []
    by_repeat = _by_repeat(splits)
    for r in sorted(by_repeat)[:max(int(repeats), 0)]:
        folds = by_repeat[r]
        if len(folds) < 3 or not _disjoint(folds):
            continue
        everyone = np.union1d(np.asarray(folds[0].train), np.asarray(folds[0].test))
        for i, a in enumerate(folds):
            for b in folds[i + 1:]:
                held = np.union1d(a.test, b.test)
                out.append(Split(r, -1, np.setdiff1d(everyone, held), held,
                                 name=f"{a.label}+{_fold_part(b)}"))
    return out


def _by_repeat(splits: Sequence[Split]) -> dict[int, list[Split]]:
    """The splits of each CV repetition, in their order."""
    out: dict[int, list[Split]] = {}
    for sp in splits:
        out.setdefault(sp.repeat, []).append(sp)
    return out


def _disjoint(splits: Sequence[Split]) -> bool:
    """Whether the test folds of ``splits`` share no subject (one out-of-fold matrix)."""
    tests = np.concatenate([np.asarray(sp.test) for sp in splits])
    return len(np.unique(tests)) == len(tests)


def _fold_part(sp: Split) -> str:
    return f"f{sp.fold}" if not sp.name else sp.name


def complexity(name: str) -> tuple[int, int, int]:
    """Sort key of the one-standard-error rule: the family's place in
    :data:`FAMILY_ORDER`, then logistic before tree learners, then the order of
    registration (``late-mean`` before ``late-weighted`` before ``stacking``).

    Parameters
    ----------
    name : str
        A registered strategy name (``name:<modality>`` for per-modality strategies).

    Returns
    -------
    (int, int, int)
        The family's rank, 1 for a tree learner (``-gb``, ``-rf``) else 0, and the place in
        registration order; smaller is simpler, unknown families and names sort last.
    """
    from medfuse.fusion.registry import info, strategy_names

    family = info(name).family
    rank = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
    base = name.split(":")[0]
    tree = base.endswith(("-gb", "-rf"))
    registered = [n.split(":")[0] for n in strategy_names(["m"])]
    return rank, int(tree), registered.index(base) if base in registered else len(registered)


def scorer(metric: str):
    """``score(y, proba)``, greater is better, for a classification metric name."""
    try:
        return metric_scorer(metric)
    except ValueError:
        sign = 1.0 if greater_is_better(metric) else -1.0
        return lambda y, p: sign * classification_metrics(y, p)[metric]


def one_se_choice(scores: Mapping[str, Sequence[float]], order: Sequence[str]
                  ) -> tuple[str, pd.DataFrame]:
    """The simplest strategy whose mean score is within one standard error of the best
    mean (ties: higher mean, then ``order``).

    Parameters
    ----------
    scores : mapping of str to sequence of float
        Strategy -> its scores on the inner folds (greater is better).
    order : sequence of str
        The strategies in the study's order.

    Returns
    -------
    (name, table)
        The choice, and ``strategy, mean, se, within, complexity`` per strategy.
    """
    rows = []
    for name in order:
        if name not in scores:
            continue
        v = np.asarray([s for s in scores[name] if np.isfinite(s)], dtype=float)
        if not len(v):
            continue
        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
        rows.append({"strategy": name, "mean": float(v.mean()), "se": se})
    if not rows:
        raise ValueError("no strategy has an inner score")
    table = pd.DataFrame(rows)
    top = table.loc[table["mean"].idxmax()]
    table["within"] = table["mean"] >= top["mean"] - top["se"]
    table["complexity"] = [complexity(n) for n in table["strategy"]]
    table["order"] = range(len(table))
    pick = table[table["within"]].sort_values(
        ["complexity", "mean", "order"], ascending=[True, False, True], kind="stable")
    return str(pick["strategy"].iloc[0]), table.drop(columns="order")


class _Predictions:
    """The stored held-out predictions of the benchmark by (strategy, kind, split label)."""

    def __init__(self, folds: Sequence[FoldResult]) -> None:
        self.by = {(fr.strategy, fr.kind, fr.split): fr for fr in folds}

    def get(self, strategy: str, kind: str, label: str) -> FoldResult | None:
        return self.by.get((strategy, kind, label))


def derive(folds: Sequence[FoldResult], splits: Sequence[Split], inner: Sequence[Split],
           strategies: Mapping[str, object], subjects: Sequence[str], y: np.ndarray,
           classes: np.ndarray, metric: str, rounds: int = DEFAULT_ROUNDS
           ) -> tuple[list[FoldResult], dict]:
    """The ``ensemble`` and ``select-best`` held-out predictions of every outer split that
    has inner predictions, and of the test fits; with what was chosen where.

    Parameters
    ----------
    folds : sequence of FoldResult
        The benchmark's fits (kinds ``cv``, ``inner`` and ``test``).
    splits, inner : sequence of Split
        The outer CV splits and the pair splits (:func:`pair_splits`).
    strategies : mapping of str to estimator
        The benchmarked strategies that produced predictions (the library).
    subjects : sequence of str
        The training subjects' IDs, in position order.
    y : ndarray (n,)
        Their class indices.
    classes : ndarray (K,)
        The class labels, in the order of the probability columns.
    metric : str
        The primary metric.
    rounds : int
        Rounds of greedy selection.

    Returns
    -------
    (list of FoldResult, dict)
        The derived fits, and ``settings["handed_over"]``: the weights, prior and choice
        built from every CV out-of-fold prediction, and per outer split what was chosen.
    """
    preds = _Predictions(folds)
    names = [n for n in strategies if any(
        preds.get(n, "cv", sp.label) is not None for sp in splits)]
    score = scorer(metric)
    position = {s: i for i, s in enumerate(subjects)}
    out: list[FoldResult] = []
    per_split: dict[str, dict] = {}
    by_repeat = _by_repeat(splits)
    pairs = {sp.name: sp for sp in inner}
    for sp in splits:
        oof, fold_rows = _inner_oof(preds, names, sp, by_repeat[sp.repeat], pairs, position,
                                    len(classes))
        usable = [n for n in names if n in oof and preds.get(n, "cv", sp.label) is not None]
        if len(usable) < 2:
            continue
        rows = np.asarray(sp.train)
        y_in = y[rows]
        members = [oof[n][rows] for n in usable]
        chosen = greedy_selection(members, y_in, score, rounds)
        weights = dict(zip(usable, chosen.weights.tolist(), strict=True))
        shift = {n: strategy_class_weights(strategies[n], classes, y_in) for n in usable}
        prior, _ = choose_prior(
            combine(members, chosen.weights),
            combine([to_training_prior(oof[n][rows], shift[n]) for n in usable],
                    chosen.weights), y_in, score, ranking=metric == "roc_auc")
        inner_scores = {n: [score(y[r], oof[n][r]) for r in fold_rows] for n in usable}
        pick, _ = one_se_choice(inner_scores, usable)
        out.append(_combined(ENSEMBLE, [preds.get(n, "cv", sp.label) for n in usable],
                             chosen.weights, prior, [shift[n] for n in usable]))
        out.append(_relabelled(SELECT_BEST, preds.get(pick, "cv", sp.label)))
        per_split[sp.label] = {"weights": _nonzero(weights), "prior": prior,
                               "select_best": pick}
    handed = handed_over(folds, splits, names, strategies, y, classes, metric, rounds)
    if handed is not None:
        out += _test_fits(preds, folds, handed, strategies, y, classes)
    settings = {"per_split": per_split, **(handed or {})}
    return out, settings


def _inner_oof(preds: _Predictions, names, sp: Split, repeat_splits, pairs, position,
               n_classes: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Per strategy, an (n, K) array with the inner out-of-fold predictions of the training
    subjects of outer split ``sp`` (NaN elsewhere), and the rows of each inner fold."""
    n = len(position)
    oof: dict[str, np.ndarray] = {}
    fold_rows = []
    for other in repeat_splits:
        if other.label == sp.label:
            continue
        first, second = sorted([sp, other], key=lambda s: s.fold)
        pair = pairs.get(f"{first.label}+{_fold_part(second)}")
        if pair is None:
            return {}, []
        rows = np.asarray(other.test)
        fold_rows.append(rows)
        for name in names:
            fr = preds.get(name, "inner", pair.label)
            if fr is None:
                continue          # its rows stay NaN: left out by the filter below
            arr = oof.setdefault(name, np.full((n, n_classes), np.nan))
            proba = fr.probabilities()
            where = {position[s]: i for i, s in enumerate(fr.subjects)}
            arr[rows] = proba[[where[r] for r in rows]]
    complete = {k: v for k, v in oof.items()
                if not np.isnan(v[np.asarray(sp.train)]).all(axis=1).any()}
    return complete, fold_rows


def handed_over(folds: Sequence[FoldResult], splits: Sequence[Split], names: Sequence[str],
                strategies: Mapping[str, object], y: np.ndarray, classes: np.ndarray,
                metric: str, rounds: int = DEFAULT_ROUNDS) -> dict | None:
    """The ensemble weights, its prior and the one-standard-error choice built from every
    CV out-of-fold prediction (each repetition's out-of-fold predictions stacked), as plain
    values; None when fewer than two strategies have them.

    Parameters
    ----------
    folds : sequence of FoldResult
        The benchmark's fits; those of kind ``cv`` are used.
    splits : sequence of Split
        The outer CV splits; a repetition whose test folds overlap is left out.
    names : sequence of str
        The candidate strategies, in the study's order; one that lacks the ``cv``
        predictions of a split is dropped.
    strategies : mapping of str to estimator
        The benchmarked strategies, unfitted (for their class weights).
    y : ndarray (n,)
        The training subjects' class indices, in position order.
    classes : ndarray (K,)
        The class labels, in the order of the probability columns.
    metric : str
        The primary metric (greedy selection, prior and one-standard-error rule).
    rounds : int
        Rounds of greedy selection.

    Returns
    -------
    dict or None
        ``weights`` (strategy -> weight, nonzero only), ``prior`` (``"fitted"`` or
        ``"training"``), ``prior_scores``, ``rounds`` (``picks``, ``scores``, ``kept``),
        ``select_best`` and ``select_table`` (``strategy, mean, se, within`` per strategy).
    """
    preds = _Predictions(folds)
    score = scorer(metric)
    stacked: dict[str, list[np.ndarray]] = {}
    targets = []
    for mine in _by_repeat(splits).values():
        if not _disjoint(mine):
            continue   # overlapping test sets: no out-of-fold matrix
        targets.append(y[np.concatenate([np.asarray(sp.test) for sp in mine])])
        for n in names:
            rows = [preds.get(n, "cv", sp.label) for sp in mine]
            if all(fr is not None for fr in rows):
                stacked.setdefault(n, []).append(
                    np.vstack([fr.probabilities() for fr in rows]))
    # a strategy missing from any repetition is left out
    usable = [n for n in names if len(stacked.get(n, ())) == len(targets)]
    if len(usable) < 2 or not targets:
        return None
    y_all = np.concatenate(targets)
    members = [np.vstack(stacked[n]) for n in usable]
    chosen = greedy_selection(members, y_all, score, rounds)
    shift = {n: strategy_class_weights(strategies[n], classes, y) for n in usable}
    prior, scores = choose_prior(
        combine(members, chosen.weights),
        combine([to_training_prior(m, shift[n]) for m, n in zip(members, usable,
                                                               strict=True)],
                chosen.weights), y_all, score, ranking=metric == "roc_auc")
    fold_scores: dict[str, list[float]] = {}
    for fr in folds:
        if fr.kind == "cv" and fr.strategy in usable:
            proba = fr.probabilities()
            ok = ~np.isnan(proba).any(axis=1)
            fold_scores.setdefault(fr.strategy, []).append(
                score(np.asarray(fr.y)[ok], proba[ok]))
    pick, se_table = one_se_choice(fold_scores, usable)
    weights = dict(zip(usable, chosen.weights.tolist(), strict=True))
    table = {k: {m: float(x) for m, x in v.items()} for k, v in scores.items()}
    return {"weights": _nonzero(weights), "prior": prior, "prior_scores": table,
            "rounds": {"picks": [usable[i] for i in chosen.picks],
                       "scores": [float(s) for s in chosen.scores], "kept": int(chosen.kept)},
            "select_best": pick,
            "select_table": [{"strategy": str(r.strategy), "mean": float(r.mean),
                              "se": float(r.se), "within": bool(r.within)}
                             for r in se_table.itertuples()]}


def _nonzero(weights: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in weights.items() if v > 0}


def _test_fits(preds: _Predictions, folds, handed: dict, strategies, y, classes
               ) -> list[FoldResult]:
    """The derived strategies' test-set predictions (one per seed the members have)."""
    out = []
    weights = handed["weights"]
    shift = [strategy_class_weights(strategies[n], classes, y) for n in weights]
    seeds = sorted({fr.split for fr in folds if fr.kind == "test"
                    and fr.strategy in weights})
    for label in seeds:
        members = []
        for n in weights:
            fr = preds.get(n, "test", label) or preds.get(n, "test", "seedNone")
            if fr is None:
                break
            members.append(fr)
        else:
            out.append(_combined(ENSEMBLE, members, np.asarray(list(weights.values())),
                                 handed["prior"], shift, split=label))
    for fr in folds:
        if fr.kind == "test" and fr.strategy == handed["select_best"]:
            out.append(_relabelled(SELECT_BEST, fr))
    return out


def _combined(name: str, members: Sequence[FoldResult], weights: np.ndarray, prior: str,
              shift: Sequence[np.ndarray], split: str | None = None) -> FoldResult:
    """One derived fit: the members' held-out probabilities averaged with ``weights`` for
    every availability key they share (moved to the training prior when ``prior`` says)."""
    first = members[0]
    keys = [k for k in first.proba if all(k in m.proba for m in members)]
    proba = {}
    for k in keys:
        parts = [m.probabilities(k) for m in members]
        if prior == "training":
            parts = [to_training_prior(p, w) for p, w in zip(parts, shift, strict=True)]
        proba[k] = combine(parts, weights).tolist()
    return FoldResult(
        strategy=name, split=split or first.split, kind=first.kind, repeat=first.repeat,
        fold=first.fold, seed=first.seed, subjects=list(first.subjects), y=list(first.y),
        full_key=first.full_key, proba=proba, n_train=first.n_train,
        fit_seconds=float(sum(m.fit_seconds for m, w in zip(members, weights, strict=True)
                              if w > 0)),
        patterns=list(first.patterns))


def _relabelled(name: str, fr: FoldResult) -> FoldResult:
    """A copy of one fit under another strategy name."""
    return FoldResult(**{**fr.__dict__, "strategy": name})
