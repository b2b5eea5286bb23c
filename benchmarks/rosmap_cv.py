"""ROSMAP repeated-CV yardstick: every strategy evaluated by repeated stratified k-fold
cross-validation on all 351 subjects (the fixed train and test splits joined).

This is the yardstick for design decisions: it never looks at the fixed test split on its
own, and averaging over many folds makes it steadier than one 106-subject test set.
Each fold's strategy is fitted (with its own inner CV) on the other folds only.

    python benchmarks/rosmap_cv.py [--data DIR] [--folds 5] [--repeats 3] [--jobs 2]
                                   [--strategies a,b] [--train-only] [--runs FILE]

``--train-only`` uses the 245 training subjects only (no test subject is seen at all).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from threadpoolctl import threadpool_limits

from medfuse.data import MultiModalData, load_mogonet
from medfuse.fusion import make, strategy_names

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosmap import default_data_dir


def run_fold(name: str, fold: int, data: MultiModalData, tr: np.ndarray, te: np.ndarray,
             params: dict) -> dict:
    """Fit one strategy on one outer-training fold; metrics on the held-out fold."""
    with threadpool_limits(1):
        model = make(name, random_state=fold, **params)
        t0 = time.process_time()
        model.fit(data[tr])
        cpu = time.process_time() - t0
        proba = model.predict_proba(data[te])
    y = data.y.to_numpy()[te]
    pred = model.classes_[proba.argmax(axis=1)]
    return {"strategy": name, "fold": fold, "accuracy": accuracy_score(y, pred),
            "f1": f1_score(y, pred), "roc_auc": roc_auc_score(y, proba[:, 1]),
            "log_loss": -float(np.mean(np.log(np.clip(
                proba[np.arange(len(y)), np.searchsorted(model.classes_, y)], 1e-15, 1)))),
            "fit_cpu_s": cpu}


def summarize(runs: pd.DataFrame, header: str) -> pd.DataFrame:
    """mean ± sd over folds per strategy (printed); returns the means."""
    names = list(dict.fromkeys(runs["strategy"]))
    g = runs.groupby("strategy", sort=False)
    mean, sd = g.mean(numeric_only=True), g.std(numeric_only=True)
    table = pd.DataFrame({
        col: [f"{mean.loc[s, key]:.3f} ± {sd.loc[s, key]:.3f}" for s in names]
        for col, key in (("ACC", "accuracy"), ("F1", "f1"), ("AUC", "roc_auc"),
                         ("log loss", "log_loss"))}, index=pd.Index(names, name="strategy"))
    table["fit CPU s"] = [f"{mean.loc[s, 'fit_cpu_s']:.1f}" for s in names]
    table["folds"] = [int(g.size()[s]) for s in names]
    print(header)
    print(table.to_string())
    return mean.loc[names]


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with the MOGONET files")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="seed of the outer splits")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--strategies", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--params", default=None,
                    help="extra constructor parameters as key=value;... (python literals)")
    ap.add_argument("--train-only", action="store_true",
                    help="use the 245 training subjects only")
    ap.add_argument("--runs", type=Path, default=None, help="write per-fold results here")
    ap.add_argument("--from-runs", type=Path, default=None,
                    help="only summarise a runs file written by --runs")
    args = ap.parse_args(argv)
    if args.from_runs is not None:
        runs = pd.read_csv(args.from_runs)
        summarize(runs, f"ROSMAP repeated CV, from {args.from_runs.name}")
        return runs
    path = args.data or default_data_dir()
    if not path.exists():
        raise SystemExit(f"No ROSMAP data at {path}; pass --data.")
    train, test = load_mogonet(path)
    data = train if args.train_only else MultiModalData.concat([train, test])
    params = _parse_params(args.params)
    names = (args.strategies.split(",") if args.strategies
             else strategy_names(data.modality_names))
    splitter = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats,
                                       random_state=args.seed)
    splits = list(splitter.split(np.zeros(len(data)), data.y.to_numpy()))
    tasks = [(n, f, tr, te) for f, (tr, te) in enumerate(splits) for n in names]
    t0 = time.perf_counter()
    rows = []
    for row in Parallel(n_jobs=args.jobs, return_as="generator")(
            delayed(run_fold)(n, f, data, tr, te, params) for n, f, tr, te in tasks):
        rows.append(row)
        if args.runs is not None:
            pd.DataFrame(rows).to_csv(args.runs, index=False)
    runs = pd.DataFrame(rows)
    summarize(runs, f"ROSMAP repeated stratified CV on {len(data)} subjects: {args.folds}-fold "
                    f"x {args.repeats}; mean ± sd over folds; wall "
                    f"{time.perf_counter() - t0:.0f} s with {args.jobs} jobs"
                    + (f"; params {params}" if params else ""))
    return runs


def _parse_params(text: str | None) -> dict:
    import ast
    out = {}
    for item in filter(None, (text or "").split(";")):
        key, value = item.split("=", 1)
        out[key.strip()] = ast.literal_eval(value.strip())
    return out


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
