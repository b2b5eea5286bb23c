"""Tune the neural strategies on the ROSMAP training subjects, then score them on the test set.

For each strategy, every candidate setting is scored by stratified 5-fold cross-validated AUC
on the 245 training subjects only; the best one is refitted on all training subjects with
several seeds and scored on the 106 test subjects (ACC / F1 / AUC, mean and sd over seeds),
with the wall time per fit.

Usage: python benchmarks/neural_tuning.py [DATA_DIR] [--seeds N] [--strategies a,b]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from medfuse.data import load_mogonet
from medfuse.fusion import make

GRID = {
    "default": {},
    "latent16": {"latent_dim": 16},
    "latent32": {"latent_dim": 32},
    "mlp": {"hidden": (64,), "head_hidden": 32, "dropout": 0.3},
    "slow": {"lr": 3e-4, "patience": 40},
    "fast": {"lr": 1e-3, "patience": 20},
    "no-reconstruction": {"reconstruction": 0.0},
}


def cv_auc(name: str, params: dict, data, seed: int = 0) -> float:
    y = data.y.to_numpy()
    aucs = []
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    for tr, va in folds.split(np.zeros(len(y)), y):
        est = make(name, random_state=seed, **params).fit(data[tr])
        aucs.append(roc_auc_score(y[va], est.predict_proba(data[va])[:, 1]))
    return float(np.mean(aucs))


def main() -> None:
    default_dir = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "rosmap"
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(default_dir))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--strategies", default="intermediate,attention,cross-attention")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = load_mogonet(args.data)
    y_te = test.y.to_numpy()
    for name in args.strategies.split(","):
        scores = {k: cv_auc(name, p, train) for k, p in GRID.items()}
        best = max(scores, key=scores.get)
        print(f"{name}: inner 5-fold CV AUC " +
              ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + f" -> {best}", flush=True)
        rows = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            est = make(name, random_state=seed, **GRID[best]).fit(train)
            elapsed = time.perf_counter() - t0
            p = est.predict_proba(test)[:, 1]
            rows.append([accuracy_score(y_te, p > 0.5), f1_score(y_te, p > 0.5),
                         roc_auc_score(y_te, p), elapsed])
        r = np.array(rows)
        m, s = r.mean(axis=0), r.std(axis=0, ddof=1)
        print(f"{name} [{best}] test over {args.seeds} seeds: ACC {m[0]:.3f}±{s[0]:.3f} "
              f"F1 {m[1]:.3f}±{s[1]:.3f} AUC {m[2]:.3f}±{s[2]:.3f}; {m[3]:.1f} s per fit",
              flush=True)


if __name__ == "__main__":
    main()
