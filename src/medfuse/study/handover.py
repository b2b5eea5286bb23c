"""What a study hands over (``select:``): the ensemble of its strategies, the strategy the
one-standard-error rule picks, or a named strategy; decided from the benchmark's
out-of-fold predictions, before the chosen model is refitted on every training subject."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sklearn.base import clone

from medfuse.data.multimodal import DataValidationError
from medfuse.evaluate.ensemble import ENSEMBLE, RULES, SELECT_BEST
from medfuse.fusion.ensemble_selection import prior_words


class SelectError(DataValidationError):
    """``select:`` cannot be honoured (the message says why and what to do)."""


@dataclass
class Handover:
    """The model a study hands over, before its refit.

    Parameters
    ----------
    name : str
        What the model is called in the manifest and the report (``ensemble``, or a
        strategy's name).
    estimator : estimator
        Unfitted.
    rule : str
        The ``select:`` rule that chose it.
    notes : list of str
        What was decided and why, for the log and the report.
    details : dict
        The ensemble's weights and prior, or the one-standard-error table.
    """

    name: str
    estimator: object
    rule: str
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def check_select(select: str, names: list[str]) -> None:
    """Refuse, before any fit, a ``select:`` that names no rule and no benchmarked
    strategy.

    Parameters
    ----------
    select : str
        The ``select:`` value: a rule of :data:`RULES` or a strategy name.
    names : list of str
        The benchmarked strategies.

    Raises
    ------
    SelectError
        When ``select`` is neither.
    """
    if select in RULES or select in names:
        return
    raise SelectError(f"select: {select!r} is neither a rule ({', '.join(RULES)}) nor one of "
                      f"the benchmarked strategies ({', '.join(names)}).")


def choose(select: str, result, estimators: Mapping[str, object], seed: int,
           log: Callable[[str], None] = lambda _: None) -> Handover | None:
    """The unfitted model ``select`` hands over, from the benchmark ``result``.

    ``ensemble`` with fewer than two strategies that produced out-of-fold predictions falls
    back to the best-ranked strategy, saying so; a named strategy that failed in every fit
    is refused.

    Parameters
    ----------
    select : str
        ``ensemble``, ``best`` or a strategy name.
    result : BenchmarkResult
        The benchmark; its ``settings["handed_over"]`` holds the ensemble's weights and
        prior and the one-standard-error choice.
    estimators : mapping of str to estimator
        The benchmarked strategies, unfitted.
    seed : int
        The ensemble's ``random_state``.
    log : callable
        Receives the notes as they are decided.

    Returns
    -------
    Handover or None
        None when no strategy produced predictions.
    """
    chosen = result.settings.get("handed_over") or {}
    ranked = [s for s in result.ranking("cv").index if s in estimators] or [
        s for s in result.ranking("test").index if s in estimators]
    if select not in RULES:
        if select not in result.strategies:
            raise SelectError(
                f"select: {select!r} failed in every fit, so there is no model of it to hand "
                f"over ({result.errors.get(select, 'no predictions')}); choose another "
                "strategy or a rule (ensemble, best) and rerun with --resume: the finished "
                "fits are reused.")
        return Handover(select, estimators[select], select, [f"handed over {select} "
                                                             "(select: names it)"])
    if select == "best":
        name = chosen.get("select_best") or (ranked[0] if ranked else None)
        if name is None:
            return None
        note = (f"handed over {name}: the simplest strategy within one standard error of "
                "the best CV score" if chosen.get("select_best") else
                f"handed over {name}: the best CV score (too few CV folds for the "
                "one-standard-error rule)")
        log(note)
        return Handover(name, estimators[name], "best", [note],
                        {"select_table": chosen.get("select_table", [])})
    weights = {n: w for n, w in (chosen.get("weights") or {}).items() if n in estimators}
    if not weights:
        if not ranked:
            return None
        note = (f"select: ensemble needs out-of-fold predictions of at least two strategies; "
                f"{len(ranked)} produced them, so the best-ranked one, {ranked[0]}, is "
                "handed over")
        log(f"[yellow]warning:[/yellow] {note}")
        return Handover(ranked[0], estimators[ranked[0]], "ensemble", [note])
    estimator = ensemble_estimator(estimators, weights, chosen.get("prior", "fitted"), seed)
    note = ("handed over the ensemble: " + ", ".join(
        f"{n} {w:.2f}" for n, w in sorted(weights.items(), key=lambda kv: -kv[1]))
        + f"; class weighting {prior_words(chosen.get('prior', 'fitted'))}")
    log(note)
    return Handover(ENSEMBLE, estimator, "ensemble", [note],
                    {"weights": weights, "prior": chosen.get("prior"),
                     "prior_scores": chosen.get("prior_scores", {})})


def ensemble_estimator(estimators: Mapping[str, object], weights: Mapping[str, float],
                       prior: str, seed: int):
    """The unfitted :class:`~medfuse.fusion.ensemble.EnsembleSelection` of the weighted
    strategies; when the strategies are wrapped by the conformal wrapper, the ensemble of the
    strategies they wrap, in one such wrapper (its calibration then covers the ensemble).

    Parameters
    ----------
    estimators : mapping of str to estimator
        The benchmarked strategies, unfitted; the first member decides whether they are
        wrapped.
    weights : mapping of str to float
        Strategy -> ensemble weight; its keys are the members.
    prior : str
        The ensemble's ``prior``: ``"fitted"`` or ``"training"`` (see
        :func:`~medfuse.fusion.ensemble_selection.choose_prior`).
    seed : int
        The ensemble's ``random_state``.

    Returns
    -------
    EnsembleSelection or ConformalClassifier
        Unfitted.
    """
    from medfuse.fusion.conformal import ConformalClassifier
    from medfuse.fusion.ensemble import EnsembleSelection

    members = {n: estimators[n] for n in weights}
    wrapper = next(iter(members.values()))
    conformal = isinstance(wrapper, ConformalClassifier)
    if conformal:
        members = {n: est.get_params(deep=False)["estimator"] for n, est in members.items()}
    ensemble = EnsembleSelection(members=members, weights=dict(weights), prior=prior,
                                 random_state=seed)
    return clone(wrapper).set_params(estimator=ensemble) if conformal else ensemble


__all__ = ["RULES", "SELECT_BEST", "Handover", "SelectError", "check_select", "choose",
           "ensemble_estimator"]
