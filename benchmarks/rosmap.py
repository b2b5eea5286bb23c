"""ROSMAP benchmark (MOGONET layout, fixed train/test split): every registered fusion
strategy, test ACC / F1 / AUC averaged over seeds, next to published results.

Hyperparameters are chosen by each strategy's inner cross-validation on the training
subjects only; the seed changes the inner-CV splits (and any other randomness).

    python benchmarks/rosmap.py [--data DIR] [--seeds 20] [--jobs 2] [--strategies a,b]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from threadpoolctl import threadpool_limits

from medfuse.data import load_mogonet
from medfuse.fusion import make, strategy_names

#: Published test results on this split (ACC, F1, AUC), as reported in the cited papers;
#: NOT produced by this script.
PUBLISHED = pd.DataFrame(
    [("XGBoost on concatenated views (MOGONET paper)", .760, .772, .837),
     ("block sPLS-DA / DIABLO (MOGONET paper)", .753, .764, .838),
     ("MOGONET (Wang et al., Nat Commun 2021)", .815, .821, .874),
     ("Multimodal Dynamics (Han et al., CVPR 2022)", .842, .846, .912),
     ("GCFANet (Inf Fusion 2024)", .863, .883, .915),
     ("ACML (dynamic alignment and calibration, 2025)", .882, .876, .924)],
    columns=["method", "ACC", "F1", "AUC"]).set_index("method")


def default_data_dir() -> Path:
    repo = Path(__file__).resolve().parents[1]
    for cand in (repo / ".." / "shared" / "data" / "rosmap",
                 repo / ".." / ".." / "shared" / "data" / "rosmap"):
        if cand.exists():
            return cand.resolve()
    return (repo / ".." / "shared" / "data" / "rosmap").resolve()


def run_one(name: str, seed: int, train, test) -> dict:
    """Fit one strategy with one seed; test metrics and the fit time (s)."""
    with threadpool_limits(1):
        model = make(name, random_state=seed)
        t0 = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t0
        proba = model.predict_proba(test)
    y = test.y.to_numpy()
    pred = model.classes_[proba.argmax(axis=1)]
    return {"strategy": name, "seed": seed, "accuracy": accuracy_score(y, pred),
            "f1": f1_score(y, pred), "roc_auc": roc_auc_score(y, proba[:, 1]),
            "fit_s": fit_s}


def summarize(runs: pd.DataFrame, header: str) -> pd.DataFrame:
    """Print mean ± sd over seeds per strategy next to the published table; returns the
    results in the long schema (strategy, metric, split, mean, sd, n)."""
    names = list(dict.fromkeys(runs["strategy"]))
    grouped = runs.groupby("strategy", sort=False)
    mean, sd, n = grouped.mean(numeric_only=True), grouped.std(numeric_only=True), grouped.size()
    table = pd.DataFrame({
        col: [f"{mean.loc[s, key]:.3f} ± {sd.loc[s, key]:.3f}" for s in names]
        for col, key in (("ACC", "accuracy"), ("F1", "f1"), ("AUC", "roc_auc"))},
        index=pd.Index(names, name="strategy"))
    table["fit s"] = [f"{mean.loc[s, 'fit_s']:.2f}" for s in names]
    table["seeds"] = [int(n[s]) for s in names]
    print(header)
    print(table.to_markdown() if _has_tabulate() else table.to_string())
    print("\nPublished results on the same split (from the papers, not run here):")
    print(PUBLISHED.to_markdown(floatfmt=".3f") if _has_tabulate()
          else PUBLISHED.to_string(float_format="%.3f"))
    return pd.DataFrame([{"strategy": s, "metric": key, "split": "test",
                          "mean": mean.loc[s, key], "sd": sd.loc[s, key], "n": int(n[s])}
                         for s in names for key in ("accuracy", "f1", "roc_auc")])


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with the MOGONET files")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--strategies", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--out", type=Path, default=None,
                    help="write results.csv (strategy, metric, split, mean, sd, n) here")
    ap.add_argument("--runs", type=Path, default=None,
                    help="write every (strategy, seed) result here as it arrives")
    ap.add_argument("--from-runs", type=Path, default=None,
                    help="only summarise a runs file written by --runs (no fitting)")
    args = ap.parse_args(argv)
    if args.from_runs is not None:
        runs = pd.read_csv(args.from_runs)
        long = summarize(runs, f"ROSMAP fixed split, from {args.from_runs.name}; "
                               "mean ± sd over seeds")
        if args.out is not None:
            long.to_csv(args.out, index=False)
        return runs
    path = args.data or default_data_dir()
    if not path.exists():
        raise SystemExit(f"No ROSMAP data at {path}; pass --data.")
    train, test = load_mogonet(path)
    names = (args.strategies.split(",") if args.strategies
             else strategy_names(train.modality_names))
    tasks = [(n, s) for s in range(args.seeds) for n in names]
    t0 = time.perf_counter()
    rows = []
    results = Parallel(n_jobs=args.jobs, return_as="generator")(
        delayed(run_one)(n, s, train, test) for n, s in tasks)
    for row in results:
        rows.append(row)
        if args.runs is not None:
            pd.DataFrame(rows).to_csv(args.runs, index=False)
    wall = time.perf_counter() - t0
    runs = pd.DataFrame(rows)
    long = summarize(runs, f"ROSMAP fixed split: {len(train)} train / {len(test)} test "
                           f"subjects; {args.seeds} seeds; mean ± sd over seeds; wall "
                           f"{wall:.0f} s with {args.jobs} jobs")
    if args.out is not None:
        long.to_csv(args.out, index=False)
    return runs


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
