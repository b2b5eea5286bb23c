"""Cross-validated comparison of neural settings on ROSMAP without touching the test split.

Scores each setting by stratified K-fold CV on the 245 training subjects (``--pool train``)
or by repeated stratified K-fold on all 351 subjects, train and test joined
(``--pool all``); prints mean ACC / F1 / AUC over folds and the CPU time per fit.

    python benchmarks/neural_cv.py --strategy intermediate --settings '{"base": {}}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from rosmap import default_data_dir
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from medfuse.data import MultiModalData, load_mogonet
from medfuse.fusion import make


def cv_scores(name: str, params: dict, data, folds: int, repeats: int, seed: int
              ) -> np.ndarray:
    """(n_folds * repeats, 4) array of ACC, F1, AUC, CPU seconds per fit."""
    y = data.y.to_numpy()
    rows = []
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for k, (tr, va) in enumerate(cv.split(np.zeros(len(y)), y)):
        t0 = time.process_time()
        est = make(name, random_state=seed + k, **params).fit(data[tr])
        cpu = time.process_time() - t0
        p = est.predict_proba(data[va])[:, 1]
        rows.append([accuracy_score(y[va], p > 0.5), f1_score(y[va], p > 0.5),
                     roc_auc_score(y[va], p), cpu])
    return np.array(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategy", default="intermediate")
    ap.add_argument("--settings", required=True, help="JSON: label -> parameter dict")
    ap.add_argument("--pool", choices=("train", "all"), default="train")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = load_mogonet(default_data_dir())
    data = train if args.pool == "train" else MultiModalData.concat([train, test])
    for label, params in json.loads(args.settings).items():
        r = cv_scores(args.strategy, params, data, args.folds, args.repeats, args.seed)
        m = r.mean(axis=0)
        se = r.std(axis=0, ddof=1) / np.sqrt(len(r))
        print(f"{args.strategy} {label} [{args.pool} {args.folds}x{args.repeats}] "
              f"ACC {m[0]:.3f} F1 {m[1]:.3f} AUC {m[2]:.3f}±{se[2]:.3f} "
              f"cpu {m[3]:.1f} s/fit", flush=True)


if __name__ == "__main__":
    main()
