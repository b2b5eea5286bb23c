"""One benchmark task, a (strategy, split) fit and its held-out predictions, as it runs
in a worker process; each task is keyed by everything that determines its result (the
cache key)."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

import medfuse
from medfuse.data.multimodal import MultiModalData
from medfuse.evaluate.cache import CACHE_FORMAT, data_fingerprint, digest, params_repr, write_cached
from medfuse.evaluate.coverage import conformal_outputs, held_patterns
from medfuse.evaluate.records import FoldResult
from medfuse.evaluate.robustness import predict_subsets, subset_key
from medfuse.evaluate.splits import Split
from medfuse.evaluate.unlabelled import with_pool


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


def has_seed(est) -> bool:
    return "random_state" in est.get_params(deep=False)


def seeded(est, seed: int | None):
    est = clone(est)
    if seed is not None and has_seed(est):
        est.set_params(random_state=seed)
    return est


@dataclass
class Task:
    strategy: str
    estimator: object
    kind: str
    split: Split | None
    seed: int | None
    key: str
    pretrain: bool = False   # the unlabelled subjects join its training subjects


def class_index(model, classes: np.ndarray) -> np.ndarray:
    return np.searchsorted(classes, model.classes_)


def run_task(task: Task, data: MultiModalData, y: np.ndarray, classes: np.ndarray,
              subsets: list[tuple[str, ...]], test_data: MultiModalData | None,
              cache_dir: Path | None, unlabelled: MultiModalData | None = None
              ) -> FoldResult:
    from medfuse.fusion.survival import survival_target

    survival = classes is None  # y is then the structured (event, time) array
    if task.kind in ("cv", "inner"):
        train, held = data[task.split.train], data[task.split.test]
        y_train, y_held = y[task.split.train], y[task.split.test]
    else:
        train, held = data, test_data
        y_train = y
        y_held = (survival_target(test_data) if survival
                  else np.searchsorted(classes, np.asarray(test_data.y)))
    labels = y_train if survival else classes[y_train]
    if task.pretrain:
        train, labels = with_pool(train, labels, unlabelled)
    model = clone(task.estimator)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(train, labels)
    seconds = time.perf_counter() - t0
    names = held.modality_names
    use = subsets if task.kind == "cv" else [tuple(names)]
    conformal = {}
    if survival:
        proba = predict_subsets(model, held, use, 1, np.array([0]))
        times = [float(t) for t in y_held["time"]]
        y_held = y_held["event"]
    else:
        proba = predict_subsets(model, held, use, len(classes), class_index(model, classes))
        conformal = conformal_outputs(model, held, use, len(classes),
                                      class_index(model, classes))
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


def cache_expectations(task: Task, data: MultiModalData, test: MultiModalData | None,
                        classes: np.ndarray | None,
                        subsets: list[tuple[str, ...]], n_unlabelled: int = 0) -> dict:
    """What the cached result of ``task`` must hold (see
    :func:`medfuse.evaluate.cache.cache_problem`); ``n_unlabelled`` subjects join the
    training subjects of a ``pretrain`` task."""
    held = data.subjects[task.split.test] if task.split is not None else test.subjects
    full = subset_key(data.modality_names)
    return {
        "strategy": task.strategy, "kind": task.kind,
        "split": task.split.label if task.split is not None else f"seed{task.seed}",
        "repeat": int(task.split.repeat) if task.split is not None else 0,
        "fold": int(task.split.fold) if task.split is not None else int(task.seed or 0),
        "seed": None if task.seed is None else int(task.seed), "full_key": full,
        "n_train": (len(task.split.train) if task.split is not None else len(data))
        + (n_unlabelled if task.pretrain else 0),
        "subjects": [str(s) for s in held],
        "keys": {subset_key(s) for s in subsets} if task.kind == "cv" else {full},
        "n_cols": 1 if classes is None else len(classes), "survival": classes is None,
    }


def run_task_safely(task: Task, *args):
    """Run one task with one BLAS/OpenMP/torch thread (as the ROSMAP script does): parallelism
    comes from ``jobs``, numbers do not depend on it, and a busy machine is not
    oversubscribed."""
    from threadpoolctl import threadpool_limits

    previous = torch_threads(1)
    try:
        with threadpool_limits(limits=1):
            return task.key, run_task(task, *args), None
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
        return task.key, None, f"{type(err).__name__}: {err}"
    finally:
        torch_threads(previous)


def torch_threads(n: int | None) -> int | None:
    """Set torch's intra-op threads (if torch is loaded); returns the previous number."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or n is None:
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def make_tasks(strategies: Mapping[str, object], data: MultiModalData,
           test: MultiModalData | None, splits: Sequence[Split],
           subsets: list[tuple[str, ...]], seed: int, seeds: int, survival: bool,
           inner: Sequence[Split] = (), unlabelled: MultiModalData | None = None,
           learners: Collection[str] = ()) -> list[Task]:
    """One task per (strategy, CV split), per (strategy, inner split) (``inner``: the pair
    splits of :mod:`medfuse.evaluate.ensemble`, predicted with every modality only) and per
    (strategy, test seed), each with the cache key of everything that determines its
    result. The tasks of the strategies in ``learners`` add the ``unlabelled`` subjects to
    their training subjects (``pretrain``); their keys hold those subjects' fingerprint."""
    fingerprint = data_fingerprint(data)
    pool_fp = data_fingerprint(unlabelled) if unlabelled is not None else None
    test_fp = data_fingerprint(test) if test is not None else ""
    subsets_repr = json.dumps([list(s) for s in subsets])
    tasks: list[Task] = []
    for name, est in strategies.items():
        base = [CACHE_FORMAT, medfuse.__version__, fingerprint, name, type(est).__name__,
                params_repr(est)] + (["survival"] if survival else [])
        pretrain = pool_fp is not None and name in learners
        if pretrain:
            base += ["unlabelled", pool_fp]
        stochastic = has_seed(est)
        for sp in splits:
            s = seed + sp.repeat
            key = digest([*base, "cv", sp.digest(), s if stochastic else None, subsets_repr])
            tasks.append(Task(name, seeded(est, s), "cv", sp, s if stochastic else None,
                              key, pretrain))
        for sp in inner:
            s = seed + sp.repeat
            key = digest([*base, "inner", sp.digest(), s if stochastic else None])
            tasks.append(Task(name, seeded(est, s), "inner", sp, s if stochastic else None,
                              key, pretrain))
        if test is not None:
            for s in (range(seeds) if stochastic else [None]):
                key = digest([*base, "test", test_fp, s])
                tasks.append(Task(name, seeded(est, s), "test", None, s, key, pretrain))
    return tasks
