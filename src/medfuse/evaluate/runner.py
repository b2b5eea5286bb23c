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
import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

import medfuse
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.cache import (
    CACHE_FORMAT,
    data_fingerprint,
    digest,
    params_repr,
    write_cached,
)
from medfuse.evaluate.coverage import conformal_outputs, held_patterns
from medfuse.evaluate.interrupt import BenchmarkInterrupted, signal_of, signals_stop
from medfuse.evaluate.outcomes import from_cache, record
from medfuse.evaluate.records import BenchmarkResult, FoldResult
from medfuse.evaluate.robustness import modality_subsets, predict_subsets, subset_key
from medfuse.evaluate.splits import Split, make_splits
from medfuse.evaluate.workers import FitPool, InProcess, n_workers


# ---------------------------------------------------------------------- strategies
def resolve_strategies(data: MultiModalData, names: str | Sequence[str] = "all",
                       exclude: Sequence[str] = (), params: Mapping[str, dict] | None = None,
                       task: str = "classification",
                       representations: Mapping | None = None) -> dict[str, object]:
    """Unfitted estimators by name from the registry.

    Parameters
    ----------
    data : MultiModalData
        The study's data (its kinds decide which strategies ``"all"`` holds).
    names : str or sequence of str
        ``"all"`` (every registered strategy of the ``task`` that accepts every modality's
        kind, per-modality names such as ``unimodal:<m>`` expanded for each modality) or a
        list of names.
    exclude : sequence of str
        Names to leave out.
    params : mapping of str to dict, optional
        Strategy name -> constructor arguments.
    task : {"classification", "survival"}
    representations : mapping, optional
        Modality -> representation; every strategy is wrapped so that these
        modalities are turned into feature blocks inside its fit (their kind is then the
        representation's output kind when choosing strategies).

    Returns
    -------
    dict of str to estimator
        Name -> unfitted strategy, in the order chosen.
    """
    from medfuse.fusion.factory import make
    from medfuse.fusion.registry import info, strategy_names
    from medfuse.represent import make_representation

    params = dict(params or {})
    representations = dict(representations or {})
    kinds = dict(data.kinds)
    for m, spec in representations.items():
        kinds[m] = str(getattr(make_representation(spec), "output_kind", "continuous"))
    if names == "all":
        chosen = []
        for n in strategy_names(data.modality_names, task=task):
            tags = info(n)
            if tags.per_modality:
                ok = tags.accepts(kinds[n.split(":", 1)[1]])
            else:
                ok = all(tags.accepts(k) for k in kinds.values())
            if ok:
                chosen.append(n)
    else:
        chosen = list(names)
    chosen = [n for n in chosen if n not in set(exclude)]
    if not chosen:
        raise DataValidationError(
            "No fusion strategy to run: none is registered for these modality kinds "
            f"({', '.join(sorted(set(kinds.values())))}), or all were excluded.")
    out = {}
    for n in chosen:
        if ":" in n and n.split(":", 1)[1] not in data.modality_names:
            raise DataValidationError(f"strategies: {n!r} names a modality the data does not "
                                      f"have ({', '.join(data.modality_names)}).")
        est = make(n, **params.get(n, {}), representations=representations)
        if info(n).task != task:
            raise DataValidationError(f"strategies: {n!r} is a {info(n).task} strategy; this "
                                      f"is a {task} study.")
        out[n] = est
    return out



# ---------------------------------------------------------------------- one task
def extract_weights(model) -> dict[str, dict[str, float]]:
    """Per-modality weights a fitted strategy exposes (``modality_weights_``,
    ``kernel_weights_``, ``attention_weights_``/``attention_`` averaged over subjects); a
    wrapped strategy's are those of the strategy it wraps."""
    from medfuse.fusion.wrappers import final_estimator

    model = final_estimator(model)
    out = {}
    mods = list(getattr(model, "modalities_", []))
    for attr in ("modality_weights_", "kernel_weights_", "attention_weights_", "attention_"):
        w = getattr(model, attr, None)
        if w is None:
            continue
        try:
            if isinstance(w, pd.Series):
                vals = {str(k): float(v) for k, v in w.items()}
            elif isinstance(w, pd.DataFrame):
                vals = {str(k): float(v) for k, v in w.mean(axis=0).items()}
            elif isinstance(w, Mapping):
                vals = {str(k): float(np.mean(v)) for k, v in w.items()}
            else:
                arr = np.asarray(w, dtype=float)
                if arr.ndim == 0 or arr.shape[-1] != len(mods):
                    continue
                arr = arr.reshape(-1, len(mods)).mean(axis=0)
                vals = dict(zip(mods, map(float, arr), strict=True))
        except (TypeError, ValueError):
            continue
        if vals and all(np.isfinite(list(vals.values()))):
            out[attr.rstrip("_")] = vals
    return out


def _has_seed(est) -> bool:
    return "random_state" in est.get_params(deep=False)


def _seeded(est, seed: int | None):
    est = clone(est)
    if seed is not None and _has_seed(est):
        est.set_params(random_state=seed)
    return est


@dataclass
class _Task:
    strategy: str
    estimator: object
    kind: str
    split: Split | None
    seed: int | None
    key: str


def _class_index(model, classes: np.ndarray) -> np.ndarray:
    return np.searchsorted(classes, model.classes_)


def _run_task(task: _Task, data: MultiModalData, y: np.ndarray, classes: np.ndarray,
              subsets: list[tuple[str, ...]], test_data: MultiModalData | None,
              cache_dir: Path | None) -> FoldResult:
    from medfuse.fusion.survival import survival_target

    survival = classes is None  # y is then the structured (event, time) array
    if task.kind == "cv":
        train, held = data[task.split.train], data[task.split.test]
        y_train, y_held = y[task.split.train], y[task.split.test]
    else:
        train, held = data, test_data
        y_train = y
        y_held = (survival_target(test_data) if survival
                  else np.searchsorted(classes, np.asarray(test_data.y)))
    model = clone(task.estimator)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(train, y_train if survival else classes[y_train])
    seconds = time.perf_counter() - t0
    names = held.modality_names
    use = subsets if task.kind == "cv" else [tuple(names)]
    conformal = {}
    if survival:
        proba = predict_subsets(model, held, use, 1, np.array([0]))
        times = [float(t) for t in y_held["time"]]
        y_held = y_held["event"]
    else:
        proba = predict_subsets(model, held, use, len(classes), _class_index(model, classes))
        conformal = conformal_outputs(model, held, use, len(classes),
                                      _class_index(model, classes))
        times = []
    result = FoldResult(
        strategy=task.strategy,
        split=task.split.label if task.split is not None else f"seed{task.seed}",
        kind=task.kind, repeat=task.split.repeat if task.split is not None else 0,
        fold=task.split.fold if task.split is not None else int(task.seed or 0),
        seed=task.seed, subjects=[str(s) for s in held.subjects],
        y=[int(v) for v in y_held], full_key=subset_key(names),
        proba={k: v.tolist() for k, v in proba.items()}, n_train=len(train),
        fit_seconds=seconds, weights=extract_weights(model), time=times,
        patterns=held_patterns(held), **conformal)
    if cache_dir is not None:
        write_cached(cache_dir, task.key, result)
    return result


def _cache_expectations(task: _Task, data: MultiModalData, test: MultiModalData | None,
                        classes: np.ndarray | None,
                        subsets: list[tuple[str, ...]]) -> dict:
    """What the cached result of ``task`` must hold (see
    :func:`medfuse.evaluate.cache.cache_problem`)."""
    held = data.subjects[task.split.test] if task.kind == "cv" else test.subjects
    full = subset_key(data.modality_names)
    return {
        "strategy": task.strategy, "kind": task.kind,
        "split": task.split.label if task.split is not None else f"seed{task.seed}",
        "repeat": int(task.split.repeat) if task.split is not None else 0,
        "fold": int(task.split.fold) if task.split is not None else int(task.seed or 0),
        "seed": None if task.seed is None else int(task.seed), "full_key": full,
        "n_train": len(task.split.train) if task.kind == "cv" else len(data),
        "subjects": [str(s) for s in held],
        "keys": {subset_key(s) for s in subsets} if task.kind == "cv" else {full},
        "n_cols": 1 if classes is None else len(classes), "survival": classes is None,
    }


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
) -> BenchmarkResult:
    """Evaluate fusion strategies with a leakage-free protocol.

    Parameters
    ----------
    data : MultiModalData
        Training subjects, with an outcome.
    strategies : mapping, sequence of str or "all"
        Name -> unfitted estimator, a list of registry names, or ``"all"``.
    test : MultiModalData, optional
        External test subjects (same modalities).
    splits : sequence of Split, optional
        The CV splits; computed once from ``folds, repeats, seed, scheme`` when omitted
        (every strategy is scored on the same splits).
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

    Returns
    -------
    BenchmarkResult
        ``settings`` also holds ``fits`` (the number of fits) and ``reused`` (how many
        came from the cache).

    Raises
    ------
    BenchmarkInterrupted
        on SIGINT (Ctrl-C) or SIGTERM: the worker processes are killed and the finished
        fits stay cached; ``resume=True`` continues.
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

    tasks = _tasks(strategies, data, test, splits, subsets, seed, seeds, survival)
    cache_dir = None
    if out is not None:
        cache_dir = Path(out) / "cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, FoldResult] = {}
    errors: dict[str, str] = {}
    if resume and cache_dir is not None:
        done, errors = from_cache(
            tasks, cache_dir, budget, retry_failed,
            expected=lambda t: _cache_expectations(t, data, test, classes, subsets))
    reused = len(done)
    todo = [t for t in tasks if t.key not in done and t.strategy not in errors]
    shared = (data, y, classes, subsets, test, cache_dir)
    if budget is None and n_workers(jobs) == 1:
        pool = InProcess(_safe_run, shared)
    else:
        pool = FitPool(_safe_run, shared, min(n_workers(jobs), len(todo)), budget)
    left_out = len(tasks) - reused - len(todo)  # strategies failed in an earlier run
    with signals_stop(), _progress(progress, len(tasks), reused, left_out) as advance:
        try:
            with pool:
                for outcome in pool.run(todo, skip=lambda t: t.strategy in errors):
                    record(outcome, done, errors, cache_dir, budget)
                    advance()
        except KeyboardInterrupt as stop:
            finished = len(done) + sum(
                cache_dir is not None and (cache_dir / f"{t.key}.json").exists()
                for t in todo if t.key not in done)
            raise BenchmarkInterrupted(signal_of(stop), finished, len(tasks),
                                       cache_dir is not None) from None
    failed = set(errors)
    folds_out = [done[t.key] for t in tasks if t.key in done and t.strategy not in failed]
    settings = dict(settings or {})
    settings.update({"folds": folds, "repeats": repeats, "seed": seed, "scheme": scheme,
                     "seeds": seeds, "primary_metric": primary_metric, "jobs": jobs,
                     "n_splits": len(splits), "robustness": robustness, "task": task,
                     "budget": budget, "fits": len(tasks), "reused": reused})
    return BenchmarkResult(
        strategies=[s for s in strategies if s not in failed],
        classes=["risk"] if survival else list(classes),
        modalities=list(data.modality_names), splits=splits, folds=folds_out,
        primary_metric=primary_metric, settings=settings, errors=errors, task=task)


def _safe_run(task: _Task, *args):
    """Run one task with one BLAS/OpenMP/torch thread (as the ROSMAP script does): parallelism
    comes from ``jobs``, numbers do not depend on it, and a busy machine is not
    oversubscribed."""
    from threadpoolctl import threadpool_limits

    torch_threads = _torch_threads(1)
    try:
        with threadpool_limits(limits=1):
            return task.key, _run_task(task, *args), None
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
        return task.key, None, f"{type(err).__name__}: {err}"
    finally:
        _torch_threads(torch_threads)


def _torch_threads(n: int | None) -> int | None:
    """Set torch's intra-op threads (if torch is loaded); returns the previous number."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or n is None:
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def _tasks(strategies: Mapping[str, object], data: MultiModalData,
           test: MultiModalData | None, splits: Sequence[Split],
           subsets: list[tuple[str, ...]], seed: int, seeds: int, survival: bool
           ) -> list[_Task]:
    """One task per (strategy, CV split) and per (strategy, test seed), each with the cache
    key of everything that determines its result."""
    fingerprint = data_fingerprint(data)
    test_fp = data_fingerprint(test) if test is not None else ""
    subsets_repr = json.dumps([list(s) for s in subsets])
    tasks: list[_Task] = []
    for name, est in strategies.items():
        base = [CACHE_FORMAT, medfuse.__version__, fingerprint, name, type(est).__name__,
                params_repr(est)] + (["survival"] if survival else [])
        stochastic = _has_seed(est)
        for sp in splits:
            s = seed + sp.repeat
            key = digest([*base, "cv", sp.digest(), s if stochastic else None, subsets_repr])
            tasks.append(_Task(name, _seeded(est, s), "cv", sp, s if stochastic else None,
                               key))
        if test is not None:
            for s in (range(seeds) if stochastic else [None]):
                key = digest([*base, "test", test_fp, s])
                tasks.append(_Task(name, _seeded(est, s), "test", None, s, key))
    return tasks


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


def refit_best(data: MultiModalData, estimator, seed: int = 0):
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

    Returns
    -------
    estimator
        The fitted clone.
    """
    from threadpoolctl import threadpool_limits

    model = _seeded(estimator, seed)
    previous = _torch_threads(1)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", category=UserWarning)
            return model.fit(data)
    finally:
        _torch_threads(previous)


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
