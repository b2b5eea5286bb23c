"""The leakage-free benchmark runner: every strategy, refitted inside every fold, on shared
splits.

Each (strategy, split) task clones the unfitted strategy, fits the clone on the training
positions of the split only (so preprocessing, harmonization, representations, imputation,
model selection and fusion never see the held-out subjects), and stores its held-out
probabilities for the full set and for every availability subset (missing-modality
robustness). Finished tasks are cached (:mod:`medfuse.evaluate.cache`) so that an
interrupted run resumes without refitting; the results are a
:class:`~medfuse.evaluate.records.BenchmarkResult`.

With a time budget, or more than one job, the tasks run in worker processes that can be
killed (:mod:`medfuse.evaluate.workers`): a fit over budget is stopped and its strategy left
out (:mod:`medfuse.evaluate.budget`), and SIGINT or SIGTERM stop the workers and raise
:class:`~medfuse.evaluate.interrupt.BenchmarkInterrupted` with the finished fits cached
(:mod:`medfuse.evaluate.interrupt`).

Test split (an external test set): each strategy is refitted on all training subjects and
scored on the test subjects; a stochastic strategy (one with a ``random_state`` parameter)
is refitted with seeds ``0 .. seeds - 1`` and its metrics averaged over seeds.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.cache import check_cache_folder, data_fingerprint
from medfuse.evaluate.ensemble import DERIVED, derive, pair_splits
from medfuse.evaluate.interrupt import BenchmarkInterrupted, signal_of, signals_stop
from medfuse.evaluate.outcomes import from_cache, record
from medfuse.evaluate.records import BenchmarkResult, FoldResult
from medfuse.evaluate.robustness import modality_subsets
from medfuse.evaluate.splits import Split, make_splits
from medfuse.evaluate.strategies import resolve_strategies
from medfuse.evaluate.tasks import (
    cache_expectations,
    extract_weights,
    make_tasks,
    run_task_safely,
    seeded,
    torch_threads,
)
from medfuse.evaluate.unlabelled import missing_outcome, plan_unlabelled
from medfuse.evaluate.workers import FitPool, InProcess, n_workers
from medfuse.files import confined_folder
from medfuse.fusion.ensemble_selection import DEFAULT_ROUNDS


# ---------------------------------------------------------------------- the benchmark
def run_benchmark(
    data: MultiModalData,
    strategies: Mapping[str, object] | Sequence[str] | str = "all",
    *,
    test: MultiModalData | None = None,
    splits: Sequence[Split] | None = None,
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    scheme: str = "stratified",
    groups: str | None = None,
    sites: str | None = None,
    seeds: int = 5,
    primary_metric: str | None = None,
    robustness: bool = True,
    out: str | Path | None = None,
    resume: bool = False,
    jobs: int = 1,
    progress: bool = False,
    settings: Mapping | None = None,
    task: str = "classification",
    budget: float | None = None,
    retry_failed: bool = False,
    ensemble: bool = False,
    inner_repeats: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    unlabelled: str | None = None,
    scheduler: str | None = None,
) -> BenchmarkResult:
    """Evaluate fusion strategies with a leakage-free protocol.

    Parameters
    ----------
    data : MultiModalData
        Training subjects, with an outcome (missing for some subjects: see
        ``unlabelled``).
    strategies : mapping, sequence of str or "all"
        Name -> unfitted estimator, a list of registry names, or ``"all"``.
    test : MultiModalData, optional
        External test subjects (same modalities).
    splits : sequence of Split, optional
        The CV splits; computed once from ``folds, repeats, seed, scheme`` when omitted
        (every strategy is scored on the same splits). Positions into the labelled
        subjects when some have no outcome.
    folds, repeats, seed : int
        k of k-fold, its repetitions and the seed of the first (see :func:`make_splits`).
    scheme : {"stratified", "grouped", "leave-site-out"}
    groups, sites : str, optional
        obs columns with the group (patient) and the site, for the grouped and
        leave-site-out schemes.
    seeds : int
        Seeds ``0 .. seeds - 1`` of the test-split refits of stochastic strategies.
    primary_metric : str, optional
        The metric that ranks strategies (``ranking``, ``best``, ``comparison``); default
        ``"roc_auc"`` for classification and ``"c_index"`` for survival. A metric of the
        other task is refused.
    robustness : bool
        Also score every availability subset of modalities (see
        :mod:`medfuse.evaluate.robustness`).
    out : str or Path, optional
        Folder for the cache (``out/cache``); None disables caching.
    resume : bool
        Reuse cached (strategy, split) results from an earlier run with the same data,
        strategy parameters and splits; fits recorded over budget are not tried again
        unless the budget is now larger or ``retry_failed``.
    jobs : int
        Worker processes; each task is one (strategy, split) fit. A negative number
        counts back from the number of CPUs (-1: all).
    progress : bool
        Show a rich progress bar.
    settings : mapping, optional
        Study settings recorded in the result's ``settings``.
    task : {"classification", "survival"}
        Survival data need ``event`` and ``time``
        columns in ``obs`` (and no outcome); the splits are stratified on the event
        indicator and the metrics are ``c_index`` and ``td_auc`` of the predicted risk.
    budget : float, optional
        Seconds one fit (with its held-out predictions) may take; None (the default
        here): no limit. With a budget the fits run in worker processes (with ``jobs=1``
        too: one process, reused from fit to fit); a fit over budget is killed and its
        strategy is left out with a message in ``errors``, while the other strategies go
        on. Study files and :func:`medfuse.study.run_study` default to
        :data:`~medfuse.evaluate.budget.DEFAULT_BUDGET` (30 minutes). Without a budget and
        with ``jobs=1`` the fits run in this process.
    retry_failed : bool
        With ``resume``, try again fits recorded over budget.
    ensemble : bool
        Also measure what a study can hand over, as the strategies ``ensemble`` (greedy
        ensemble selection over the others' out-of-fold probabilities) and ``select-best``
        (the simplest strategy within one standard error of the best), both decided inside
        every outer fold from inner predictions of its training subjects only (see
        :mod:`medfuse.evaluate.ensemble`; classification with 3 or more folds). The
        choices made on all CV predictions go to ``settings["handed_over"]``.
    inner_repeats : int
        CV repetitions that get inner predictions (``ensemble``): ``k(k - 1) / 2`` extra
        fits per strategy each.
    rounds : int
        Rounds of greedy ensemble selection.
    unlabelled : {None, "drop", "pretrain"}
        Subjects of ``data`` without an outcome (classification only; see
        :mod:`medfuse.evaluate.unlabelled`). None refuses them. ``"drop"`` leaves them out.
        ``"pretrain"`` scores the labelled subjects only, as ``"drop"`` does (splits, CV and
        test scores, robustness, ``ensemble`` and ``select-best``), and adds the unlabelled
        ones, with outcome None, to the training subjects of every fit (CV, inner and
        test-split refits) of each strategy whose ``_uses_unlabelled()`` is true (so its
        ``n_train`` counts them); the other strategies never see them. Only those
        strategies' cache keys depend on the unlabelled subjects.
    scheduler : str, optional
        Run the fits on a Dask cluster (:mod:`medfuse.evaluate.cluster`): the address of a
        running scheduler (``tcp://host:8786``) or ``"local"`` (a ``LocalCluster`` of
        ``jobs`` worker processes, started and closed by the run). The data are scattered
        to the workers once; the cache, ``resume``, the budget and interruption work as
        without it, and the results are the same to the last bit.

    Returns
    -------
    BenchmarkResult
        ``settings`` also holds ``fits`` (the number of fits), ``reused`` (how many
        came from the cache) and, with ``unlabelled``, ``unlabelled``: ``mode``, ``n``
        (subjects without an outcome) and, for ``"pretrain"``, ``used_by`` and
        ``cannot_use`` (strategy names).

    Raises
    ------
    BenchmarkInterrupted
        on SIGINT (Ctrl-C) or SIGTERM: the worker processes are killed and the finished
        fits stay cached; ``resume=True`` continues.
    DataValidationError
        Subjects without an outcome and ``unlabelled`` None (the message names both
        options), ``unlabelled`` with a survival task, or test subjects without an outcome.
    """
    from medfuse.fusion.survival import survival_target

    survival = task == "survival"
    primary_metric = check_primary_metric(primary_metric, task)
    if task not in ("classification", "survival"):
        raise ValueError(f"Unknown task {task!r}; use 'classification' or 'survival'.")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds (or None); got {budget}")
    if data.outcome is None and not survival:
        raise DataValidationError("The benchmark data needs an outcome (outcome=...).")
    if isinstance(strategies, str) or (isinstance(strategies, Sequence)
                                       and not isinstance(strategies, Mapping)):
        strategies = resolve_strategies(data, strategies, task=task)
    strategies = dict(strategies)
    n_missing = 0 if survival else int(missing_outcome(data).sum())
    plan = plan_unlabelled(data, unlabelled, strategies, task)
    data = plan.labelled
    if survival:
        y_surv = survival_target(data)
        if test is not None:
            survival_target(test)
        y_raw = y_surv["event"].astype(int)
        classes = None
    else:
        y_raw = np.asarray(data.y)
    if survival:
        pass  # no classes
    elif test is not None:
        if test.outcome is None:
            raise DataValidationError("The test data needs an outcome.")
        if missing_outcome(test).any():
            raise DataValidationError(
                f"{int(missing_outcome(test).sum())} test subject(s) have no outcome; every "
                "test subject is scored (unlabelled subjects belong to the training data).")
        classes = np.unique(np.concatenate([y_raw, np.asarray(test.y)]))
        unseen = set(np.unique(np.asarray(test.y))) - set(np.unique(y_raw))
        if unseen:
            raise DataValidationError(f"The test outcome has classes {sorted(unseen)} absent "
                                      "from the training subjects.")
    else:
        classes = np.unique(y_raw)
    y = y_surv if survival else np.searchsorted(classes, y_raw)
    if splits is None:
        splits = make_splits(
            y_raw, folds=folds, repeats=repeats, seed=seed, scheme=scheme,
            groups=data.obs[groups].to_numpy() if groups else None,
            sites=data.obs[sites].to_numpy() if sites else None)
    splits = list(splits)
    subsets = (modality_subsets(data.modality_names) if robustness
               else [tuple(data.modality_names)])

    inner = pair_splits(splits, inner_repeats) if ensemble and not survival else []
    tasks = make_tasks(strategies, data, test, splits, subsets, seed, seeds, survival,
                       inner=inner, unlabelled=plan.pool, learners=plan.users)
    cache_dir = None
    if out is not None:
        cache_dir = confined_folder(out, "cache")
        check_cache_folder(cache_dir)
    done: dict[str, FoldResult] = {}
    errors: dict[str, str] = {}
    if resume and cache_dir is not None:
        done, errors = from_cache(
            tasks, cache_dir, budget, retry_failed,
            expected=lambda t: cache_expectations(t, data, test, classes, subsets,
                                                  plan.n_unlabelled))
    reused = len(done)
    todo = [t for t in tasks if t.key not in done and t.strategy not in errors]
    pool = _pool(scheduler, jobs, budget, len(todo),
                 (data, y, classes, subsets, test, cache_dir, plan.pool))
    left_out = len(tasks) - reused - len(todo)  # strategies failed in an earlier run
    with signals_stop(), _progress(progress, len(tasks), reused, left_out) as advance:
        try:
            with pool:
                for outcome in pool.run(todo, skip=lambda t: t.strategy in errors):
                    record(outcome, done, errors, cache_dir, budget,
                           write=not getattr(pool, "writes_cache", True))
                    advance()
        except KeyboardInterrupt as stop:
            finished = len(done) + sum(
                cache_dir is not None and (cache_dir / f"{t.key}.json").exists()
                for t in todo if t.key not in done)
            raise BenchmarkInterrupted(signal_of(stop), finished, len(tasks),
                                       cache_dir is not None) from None
    failed = set(errors)
    folds_out = [done[t.key] for t in tasks if t.key in done and t.strategy not in failed]
    names = [s for s in strategies if s not in failed]
    settings = dict(settings or {})
    if ensemble and not survival:
        derived, chosen = derive(folds_out, splits, inner,
                                 {s: strategies[s] for s in names}, list(data.subjects), y,
                                 classes, primary_metric, rounds)
        folds_out += derived
        names += [d for d in DERIVED if any(fr.strategy == d for fr in derived)]
        settings["handed_over"] = chosen
    settings.update({"folds": folds, "repeats": repeats, "seed": seed, "scheme": scheme,
                     "seeds": seeds, "primary_metric": primary_metric, "jobs": jobs,
                     "n_splits": len(splits), "robustness": robustness, "task": task,
                     "budget": budget, "fits": len(tasks), "reused": reused,
                     "scheduler": scheduler})
    if plan.mode is not None:
        settings["unlabelled"] = plan.settings(n_missing)
    return BenchmarkResult(
        strategies=names,
        classes=["risk"] if survival else list(classes),
        modalities=list(data.modality_names), splits=splits, folds=folds_out,
        primary_metric=primary_metric, settings=settings, errors=errors, task=task)


def _pool(scheduler: str | None, jobs: int, budget: float | None, n_tasks: int,
          shared: tuple):
    """Where the fits run: a Dask cluster (``scheduler``; the runner writes the cache, the
    workers may not see this file system), worker processes (a budget or several jobs) or
    this process."""
    if scheduler is not None:
        from medfuse.evaluate.cluster import DaskPool

        return DaskPool(run_task_safely, (*shared[:5], None, *shared[6:]), scheduler,
                        budget, workers=n_workers(jobs))
    if budget is None and n_workers(jobs) == 1:
        return InProcess(run_task_safely, shared)
    return FitPool(run_task_safely, shared, min(n_workers(jobs), n_tasks), budget)


@contextlib.contextmanager
def _progress(show: bool, total: int, reused: int, left_out: int = 0
              ) -> Iterator[Callable[[], None]]:
    """A rich progress bar over ``total`` fits, ``reused`` of them from the cache and
    ``left_out`` not run (their strategy failed before); yields the function that marks one
    more fit done (a no-op when ``show`` is False)."""
    if not show:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    label = f"fitting ({reused} reused from the cache)" if reused else "fitting"
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as bar:
        job = bar.add_task(label, total=total, completed=reused + left_out)
        yield lambda: bar.advance(job)


def refit_best(data: MultiModalData, estimator, seed: int = 0, y=None):
    """The chosen strategy refitted on all training subjects (one BLAS and torch thread,
    user warnings silenced).

    Parameters
    ----------
    data : MultiModalData
        All training subjects.
    estimator : estimator
        The unfitted strategy (cloned, not changed).
    seed : int
        ``random_state`` of a stochastic strategy.
    y : array-like, optional
        The outcome (default: ``data``'s); None marks a subject without one, for a strategy
        that learns from unlabelled subjects.

    Returns
    -------
    estimator
        The fitted clone.
    """
    from threadpoolctl import threadpool_limits

    model = seeded(estimator, seed)
    previous = torch_threads(1)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", category=UserWarning)
            return model.fit(data) if y is None else model.fit(data, y)
    finally:
        torch_threads(previous)


__all__ = ["DEFAULT_BUDGET", "BenchmarkInterrupted", "BenchmarkResult", "FoldResult",
           "data_fingerprint", "extract_weights", "refit_best", "resolve_strategies",
           "run_benchmark"]


def check_primary_metric(metric: str | None, task: str) -> str:
    """The metric that ranks strategies: the task's default when None; a metric that is not
    one of the task's is refused, naming the valid ones."""
    from medfuse.evaluate.metrics import metric_names

    valid = metric_names("survival" if task == "survival" else "classification")
    if metric is None:
        return valid[valid.index("c_index")] if task == "survival" else "roc_auc"
    if metric not in valid:
        raise DataValidationError(f"primary_metric {metric!r} is not a metric of a {task} "
                                  f"study; choose one of {', '.join(valid)}.")
    return metric
