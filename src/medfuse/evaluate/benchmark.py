"""The leakage-free benchmark: every strategy, refitted inside every fold, on shared splits.

Each (strategy, split) task clones the unfitted strategy, fits the clone on the training
positions of the split only (so preprocessing, harmonization, imputation, model selection
and fusion never see the held-out subjects), and stores its held-out probabilities for the
full set and for every availability subset (missing-modality robustness). Finished tasks are
cached as JSON under ``<out>/cache`` so that an interrupted run resumes without refitting.

Test split (an external test set): each strategy is refitted on all training subjects and
scored on the test subjects; a stochastic strategy (one with a ``random_state`` parameter)
is refitted with seeds ``0 .. seeds - 1`` and its metrics averaged over seeds.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

import medfuse
from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.evaluate.compare import compare_strategies
from medfuse.evaluate.metrics import (
    classification_metrics,
    greater_is_better,
    survival_metrics,
)
from medfuse.evaluate.robustness import modality_subsets, predict_subsets, subset_key
from medfuse.evaluate.splits import Split, make_splits

CACHE_FORMAT = 1


# ---------------------------------------------------------------------- records
@dataclass
class FoldResult:
    """Held-out predictions of one fitted strategy (one CV split or one test-set seed).

    ``proba`` maps an availability key (``"mrna+mirna"``) to an (n_subjects, n_classes) list
    of probabilities, NaN rows for subjects that could not be scored from those modalities;
    the full set of modalities is the key ``full_key``. Survival studies store the risk
    score as one column, the event indicator in ``y`` and the event/censoring time in
    ``time``.
    """

    strategy: str
    split: str
    kind: str  # "cv" or "test"
    repeat: int
    fold: int
    seed: int | None
    subjects: list[str]
    y: list[int]
    full_key: str
    proba: dict[str, list]
    n_train: int
    fit_seconds: float
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    time: list[float] = field(default_factory=list)

    def probabilities(self, key: str | None = None) -> np.ndarray:
        return np.asarray(self.proba[key or self.full_key], dtype=float)


@dataclass
class BenchmarkResult:
    """Everything a benchmark produced; tables are built from the stored predictions."""

    strategies: list[str]
    classes: list
    modalities: list[str]
    splits: list[Split]
    folds: list[FoldResult]
    primary_metric: str
    settings: dict
    errors: dict[str, str] = field(default_factory=dict)
    task: str = "classification"
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    # -------------------------------------------------------------- per-split scores
    def split_scores(self, kind: str = "cv", key: str | None = None) -> pd.DataFrame:
        """Long table ``strategy, split, metric, value`` (one row per strategy x split x
        metric), from the held-out predictions with the modalities of ``key`` available."""
        if (kind, key) not in self._memo:
            self._memo[(kind, key)] = self._split_scores(kind, key)
        return self._memo[(kind, key)].copy()

    def _split_scores(self, kind: str, key: str | None) -> pd.DataFrame:
        rows = []
        for fr in self.folds:
            if fr.kind != kind:
                continue
            k = key or fr.full_key
            if k not in fr.proba:
                continue
            proba = fr.probabilities(k)
            ok = ~np.isnan(proba).any(axis=1)
            if not ok.any():
                continue
            y = np.asarray(fr.y)[ok]
            if self.task == "survival":
                values = survival_metrics(y, np.asarray(fr.time, dtype=float)[ok],
                                          proba[ok, 0])
            else:
                values = classification_metrics(y, proba[ok])
            for metric, value in values.items():
                rows.append({"strategy": fr.strategy, "split": fr.split, "metric": metric,
                             "value": value})
        return pd.DataFrame(rows, columns=["strategy", "split", "metric", "value"])

    def results(self) -> pd.DataFrame:
        """``strategy, metric, split, mean, sd, n``: CV metrics over folds x repeats and test
        metrics over seeds."""
        frames = []
        for kind in ("cv", "test"):
            s = self.split_scores(kind)
            if s.empty:
                continue
            g = s.groupby(["strategy", "metric"], sort=False)["value"]
            agg = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1),
                                "n": g.count()}).reset_index()
            agg.insert(2, "split", kind)
            frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=["strategy", "metric", "split", "mean", "sd", "n"])
        out = pd.concat(frames, ignore_index=True)
        order = {s: i for i, s in enumerate(self.strategies)}
        out["_o"] = out["strategy"].map(order)
        return out.sort_values(["split", "_o"], kind="stable").drop(columns="_o").reset_index(
            drop=True)

    def ranking(self, split: str = "cv") -> pd.Series:
        """Mean primary metric per strategy, best first."""
        res = self.results()
        sel = res[(res["split"] == split) & (res["metric"] == self.primary_metric)]
        means = sel.set_index("strategy")["mean"].dropna()
        return means.sort_values(ascending=not greater_is_better(self.primary_metric))

    @property
    def best(self) -> str | None:
        r = self.ranking("cv")
        if r.empty:
            r = self.ranking("test")
        return None if r.empty else str(r.index[0])

    def robustness(self) -> pd.DataFrame:
        """``strategy, available, metric, mean, sd`` over CV splits, for every availability
        subset scored."""
        keys = []
        for fr in self.folds:
            if fr.kind == "cv":
                keys.extend(k for k in fr.proba if k not in keys)
        frames = []
        for k in keys:
            s = self.split_scores("cv", key=k)
            if s.empty:
                continue
            g = s.groupby(["strategy", "metric"], sort=False)["value"]
            agg = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
            agg.insert(1, "available", k)
            frames.append(agg)
        if not frames:
            return pd.DataFrame(columns=["strategy", "available", "metric", "mean", "sd"])
        return pd.concat(frames, ignore_index=True)

    def comparison(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Corrected resampled t-tests of every strategy against the best and the best
        unimodal baseline, on the shared CV splits (see :mod:`medfuse.evaluate.compare`)."""
        scores = self.split_scores("cv")
        sizes = pd.DataFrame({"n_train": [len(s.train) for s in self.splits],
                              "n_test": [len(s.test) for s in self.splits]},
                             index=[s.label for s in self.splits])
        metrics = list(metrics or [self.primary_metric])
        frames = [compare_strategies(scores, m, sizes) for m in metrics]
        frames = [f for f in frames if not f.empty]
        return (pd.concat(frames, ignore_index=True) if frames else
                pd.DataFrame(columns=["strategy", "reference", "reference_strategy", "metric",
                                      "mean_diff", "t", "p_value", "n"]))

    def fold_weights(self) -> pd.DataFrame:
        """Per-modality weights of every CV fit, for strategies that expose them:
        ``strategy, source, split, modality, value``."""
        rows = [{"strategy": fr.strategy, "source": source, "split": fr.split, "modality": m,
                 "value": v}
                for fr in self.folds if fr.kind == "cv"
                for source, w in fr.weights.items() for m, v in w.items()]
        return pd.DataFrame(rows, columns=["strategy", "source", "split", "modality", "value"])

    def modality_weights(self) -> pd.DataFrame:
        """Mean per-modality weights over CV fits, for strategies that expose them:
        ``strategy, source, modality, mean, sd``."""
        df = self.fold_weights()
        if df.empty:
            return pd.DataFrame(columns=["strategy", "source", "modality", "mean", "sd"])
        g = df.groupby(["strategy", "source", "modality"], sort=False)["value"]
        return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``results.csv``, ``robustness.csv`` and ``comparison.csv`` under ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"results": out / "results.csv", "robustness": out / "robustness.csv",
                 "comparison": out / "comparison.csv"}
        self.results().to_csv(paths["results"], index=False)
        self.robustness().to_csv(paths["robustness"], index=False)
        self.comparison().to_csv(paths["comparison"], index=False)
        return paths


# ---------------------------------------------------------------------- strategies
def resolve_strategies(data: MultiModalData, names: str | Sequence[str] = "all",
                       exclude: Sequence[str] = (), params: Mapping[str, dict] | None = None,
                       task: str = "classification") -> dict[str, object]:
    """Unfitted estimators by name from the registry (``"all"`` = every registered strategy
    of the ``task`` whose modality kinds fit the data, per-modality names such as
    ``unimodal:<m>`` expanded for each modality)."""
    from medfuse.fusion.registry import info, make, strategy_names

    params = dict(params or {})
    kinds = {str(k) for k in data.kinds.values()}
    if names == "all":
        chosen = []
        for n in strategy_names(data.modality_names, task=task):
            tags = info(n)
            if tags.per_modality:
                ok = str(data.kinds[n.split(":", 1)[1]]) in tags.kinds
            else:
                ok = kinds <= set(tags.kinds)
            if ok:
                chosen.append(n)
    else:
        chosen = list(names)
    chosen = [n for n in chosen if n not in set(exclude)]
    if not chosen:
        raise DataValidationError(
            "No fusion strategy to run: none is registered for these modality kinds "
            f"({', '.join(sorted(kinds))}), or all were excluded.")
    out = {}
    for n in chosen:
        if ":" in n and n.split(":", 1)[1] not in data.modality_names:
            raise DataValidationError(f"strategies: {n!r} names a modality the data does not "
                                      f"have ({', '.join(data.modality_names)}).")
        est = make(n, **params.get(n, {}))
        if info(n).task != task:
            raise DataValidationError(f"strategies: {n!r} is a {info(n).task} strategy; this "
                                      f"is a {task} study.")
        out[n] = est
    return out


# ---------------------------------------------------------------------- fingerprints
def data_fingerprint(data: MultiModalData) -> str:
    """A hash of the subjects, blocks, availability and obs (for cache keys)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, data.subjects)).encode())
    for name in data.modality_names:
        h.update(name.encode())
        h.update(str(data.kinds[name]).encode())
        block = data.block(name, available_only=False)
        if isinstance(block, pd.DataFrame):
            h.update("\x1f".join(map(str, block.columns)).encode())
            h.update(pd.util.hash_pandas_object(block, index=True).to_numpy().tobytes())
        else:
            h.update(np.ascontiguousarray(np.nan_to_num(block)).tobytes())
    h.update(data.available.to_numpy().tobytes())
    if data.obs.shape[1]:
        h.update(pd.util.hash_pandas_object(data.obs.astype(str), index=True)
                 .to_numpy().tobytes())
    h.update(str(data.outcome).encode())
    return h.hexdigest()


def _params_repr(est) -> str:
    return json.dumps({k: repr(v) for k, v in sorted(est.get_params(deep=False).items())})


def _has_seed(est) -> bool:
    return "random_state" in est.get_params(deep=False)


def _seeded(est, seed: int | None):
    est = clone(est)
    if seed is not None and _has_seed(est):
        est.set_params(random_state=seed)
    return est


def extract_weights(model) -> dict[str, dict[str, float]]:
    """Per-modality weights a fitted strategy exposes (``modality_weights_``,
    ``kernel_weights_``, ``attention_weights_``/``attention_`` averaged over subjects)."""
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


# ---------------------------------------------------------------------- one task
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
    if survival:
        proba = predict_subsets(model, held, use, 1, np.array([0]))
        times = [float(t) for t in y_held["time"]]
        y_held = y_held["event"]
    else:
        proba = predict_subsets(model, held, use, len(classes), _class_index(model, classes))
        times = []
    result = FoldResult(
        strategy=task.strategy,
        split=task.split.label if task.split is not None else f"seed{task.seed}",
        kind=task.kind, repeat=task.split.repeat if task.split is not None else 0,
        fold=task.split.fold if task.split is not None else int(task.seed or 0),
        seed=task.seed, subjects=[str(s) for s in held.subjects],
        y=[int(v) for v in y_held], full_key=subset_key(names),
        proba={k: v.tolist() for k, v in proba.items()}, n_train=len(train),
        fit_seconds=seconds, weights=extract_weights(model), time=times)
    if cache_dir is not None:
        path = cache_dir / f"{task.key}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(result)))
        tmp.replace(path)
    return result


def _cache_expectations(task: _Task, data: MultiModalData, test: MultiModalData | None,
                        classes: np.ndarray | None,
                        subsets: list[tuple[str, ...]]) -> dict:
    """What the cached result of ``task`` must hold (see :func:`_cache_problem`)."""
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


def _numbers(values, allow_nan: bool = False) -> bool:
    """All are int/float (not bool), finite, or NaN when ``allow_nan``."""
    return all(isinstance(v, int | float) and not isinstance(v, bool)
               and (np.isfinite(v) or (allow_nan and np.isnan(v))) for v in values)


def _cache_problem(entry, expected: dict) -> str | None:
    """Why a cached entry does not fit its task (None when it does): a strict schema of
    :class:`FoldResult` with the task's split, subjects, classes and availability subsets."""
    names = {f.name for f in fields(FoldResult)}
    if not isinstance(entry, dict) or set(entry) != names:
        return "its fields are not those of a FoldResult"
    for key in ("strategy", "kind", "split", "repeat", "fold", "seed", "full_key", "n_train"):
        if entry[key] != expected[key] or type(entry[key]) is not type(expected[key]):
            return f"{key} is {entry[key]!r}, expected {expected[key]!r}"
    n, k = len(expected["subjects"]), expected["n_cols"]
    if entry["subjects"] != expected["subjects"]:
        return "its subjects are not the held-out subjects of the split"
    y = entry["y"]
    if not (isinstance(y, list) and len(y) == n and all(
            type(v) is int and 0 <= v < (2 if expected["survival"] else k) for v in y)):
        return f"y is not {n} class indices"
    times = entry["time"]
    if not isinstance(times, list) or len(times) != (n if expected["survival"] else 0) or not (
            _numbers(times) and all(t >= 0 for t in times)):
        return "time does not hold one finite, non-negative time per subject"
    proba = entry["proba"]
    if not isinstance(proba, dict) or set(proba) != expected["keys"]:
        return "its availability subsets are not those of the task"
    for key, rows in proba.items():
        if not (isinstance(rows, list) and len(rows) == n and all(
                isinstance(r, list) and len(r) == k and _numbers(r, allow_nan=True)
                and (np.isnan(r).all() or np.isfinite(r).all()) for r in rows)):
            return f"proba[{key!r}] is not {n} rows of {k} finite numbers (or NaN rows)"
        if not expected["survival"] and any(not 0 <= v <= 1 for r in rows for v in r
                                            if np.isfinite(v)):
            return f"proba[{key!r}] holds values outside [0, 1]"
    weights = entry["weights"]
    if not isinstance(weights, dict) or not all(
            isinstance(w, dict) and all(isinstance(m, str) for m in w) and _numbers(w.values())
            for w in weights.values()):
        return "weights are not finite numbers per modality"
    if not (_numbers([entry["fit_seconds"]]) and entry["fit_seconds"] >= 0):
        return "fit_seconds is not a finite, non-negative number"
    return None


def _load_cached(path: Path, expected: dict) -> FoldResult | None:
    """The cached result at ``path``, or None when it is unreadable or does not fit its task
    (:func:`_cache_problem`): a warning names the file and the entry is recomputed."""
    entry = None
    try:
        if path.resolve().parent != path.parent.resolve():
            problem = "it links outside the cache folder"
        else:
            entry = json.loads(path.read_text())
            problem = _cache_problem(entry, expected)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        problem = f"it cannot be read ({err})"
    if problem is not None:
        warnings.warn(f"Ignoring the cached result {path}: {problem}; it is recomputed.",
                      UserWarning, stacklevel=2)
        return None
    return FoldResult(**entry)


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
    primary_metric: str = "roc_auc",
    robustness: bool = True,
    out: str | Path | None = None,
    resume: bool = False,
    jobs: int = 1,
    progress: bool = False,
    settings: Mapping | None = None,
    task: str = "classification",
) -> BenchmarkResult:
    """Evaluate fusion strategies with a leakage-free protocol.

    Parameters
    ----------
    data : training subjects, with an outcome.
    strategies : dict name -> unfitted estimator, a list of registry names, or ``"all"``.
    test : optional external test subjects (same modalities).
    splits : the CV splits; computed once from ``folds, repeats, seed, scheme`` when omitted
        (every strategy is scored on the same splits).
    groups, sites : obs columns with the group (patient) and the site, for the grouped and
        leave-site-out schemes.
    seeds : seeds of the test-split refits of stochastic strategies.
    robustness : also score every availability subset of modalities (see
        :mod:`medfuse.evaluate.robustness`).
    out : folder for the cache (``out/cache``); None disables caching.
    resume : reuse cached (strategy, split) results from an earlier run with the same data,
        strategy parameters and splits.
    jobs : parallel workers (joblib); each task is one (strategy, split) fit.
    progress : show a rich progress bar.
    task : ``"classification"`` or ``"survival"``. Survival data need ``event`` and ``time``
        columns in ``obs`` (and no outcome); the splits are stratified on the event
        indicator and the metrics are ``c_index`` and ``td_auc`` of the predicted risk.

    Returns
    -------
    BenchmarkResult
    """
    from joblib import Parallel, delayed

    from medfuse.fusion.survival import survival_target

    survival = task == "survival"
    if task not in ("classification", "survival"):
        raise ValueError(f"Unknown task {task!r}; use 'classification' or 'survival'.")
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

    fingerprint = data_fingerprint(data)
    test_fp = data_fingerprint(test) if test is not None else ""
    subsets_repr = json.dumps([list(s) for s in subsets])
    tasks: list[_Task] = []
    for name, est in strategies.items():
        base = [CACHE_FORMAT, medfuse.__version__, fingerprint, name, type(est).__name__,
                _params_repr(est)] + (["survival"] if survival else [])
        for sp in splits:
            s = seed + sp.repeat
            e = _seeded(est, s)
            key = _digest([*base, "cv", sp.digest(), s if _has_seed(est) else None,
                           subsets_repr])
            tasks.append(_Task(name, e, "cv", sp, s if _has_seed(est) else None, key))
        if test is not None:
            for s in (range(seeds) if _has_seed(est) else [None]):
                key = _digest([*base, "test", test_fp, s])
                tasks.append(_Task(name, _seeded(est, s), "test", None, s, key))

    cache_dir = None
    if out is not None:
        cache_dir = Path(out) / "cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, FoldResult] = {}
    if resume and cache_dir is not None:
        for t in tasks:
            p = cache_dir / f"{t.key}.json"
            if p.exists():
                fr = _load_cached(p, _cache_expectations(t, data, test, classes, subsets))
                if fr is not None:
                    done[t.key] = fr
    todo = [t for t in tasks if t.key not in done]

    errors: dict[str, str] = {}
    bar = _progress(progress, len(tasks), len(done))
    with bar as p:
        job = p.add_task("fitting", total=len(tasks), completed=len(done)) if p else None
        runner = Parallel(n_jobs=jobs, return_as="generator_unordered")
        calls = (delayed(_safe_run)(t, data, y, classes, subsets, test, cache_dir) for t in todo)
        for key, fr, err in runner(calls):
            if fr is not None:
                done[key] = fr
            else:
                errors.setdefault(next(t.strategy for t in todo if t.key == key), err)
            if p:
                p.advance(job)
    failed = set(errors)
    folds_out = [done[t.key] for t in tasks if t.key in done and t.strategy not in failed]
    settings = dict(settings or {})
    settings.update({"folds": folds, "repeats": repeats, "seed": seed, "scheme": scheme,
                     "seeds": seeds, "primary_metric": primary_metric, "jobs": jobs,
                     "n_splits": len(splits), "robustness": robustness, "task": task})
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


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(show: bool, total: int, done: int):
    if not show:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), transient=False)


def refit_best(data: MultiModalData, estimator, seed: int = 0):
    """The chosen strategy refitted on all training subjects."""
    from threadpoolctl import threadpool_limits

    model = _seeded(estimator, seed)
    previous = _torch_threads(1)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", category=UserWarning)
            return model.fit(data)
    finally:
        _torch_threads(previous)


__all__ = ["BenchmarkResult", "FoldResult", "data_fingerprint", "extract_weights",
           "refit_best", "resolve_strategies", "run_benchmark"]
