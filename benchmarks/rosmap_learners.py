"""Which per-modality learner should late fusion use on ROSMAP? Repeated stratified CV on
the 245 TRAINING subjects only (the fixed test split is never read).

Each candidate is fitted per modality inside every outer fold (its own inner CV where it
has hyperparameters); the modality probabilities are averaged (late-mean). Printed: mean
ACC / F1 / AUC over the outer folds, for each candidate and each pair of candidates whose
probabilities are averaged too.

    python benchmarks/rosmap_learners.py [--data DIR] [--folds 5] [--repeats 4] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosmap import default_data_dir

#: Inverse L2 strengths searched by the logistic candidates.
CS = list(np.logspace(-4, 2, 13))


def scaled(estimator):
    """``estimator`` after a z-score of every feature."""
    return make_pipeline(StandardScaler(), estimator)


def candidates(seed: int) -> dict:
    """Unfitted per-modality learners; ``seed`` fixes their inner-CV splits."""
    inner = StratifiedKFold(5, shuffle=True, random_state=seed)
    return {
        "logistic-l2": scaled(LogisticRegressionCV(Cs=CS, cv=inner, scoring="neg_log_loss",
                                                   max_iter=5000)),
        "logistic-l1": scaled(LogisticRegressionCV(Cs=list(np.logspace(-3, 1, 9)), cv=inner,
                                                   l1_ratios=(1.0,), solver="liblinear",
                                                   scoring="neg_log_loss", max_iter=5000)),
        "top50-logistic": scaled(make_pipeline(
            SelectKBest(f_classif, k=50),
            LogisticRegressionCV(Cs=CS, cv=inner, scoring="neg_log_loss", max_iter=5000))),
        "shrunk-lda": scaled(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")),
        "rbf-svm": scaled(GridSearchCV(SVC(probability=True, random_state=seed),
                                       {"C": [0.1, 1.0, 10.0]}, cv=inner,
                                       scoring="neg_log_loss")),
        "extra-trees": ExtraTreesClassifier(500, random_state=seed),
        "knn-15": scaled(KNeighborsClassifier(15, weights="distance")),
        "logistic-C0.01": scaled(LogisticRegression(C=0.01, max_iter=5000)),
    }


def load_training(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The three training blocks (subjects x 200) and the labels, MOGONET layout."""
    blocks = [pd.read_csv(path / f"{i}_tr.csv", header=None).to_numpy(float)
              for i in (1, 2, 3)]
    y = pd.read_csv(path / "labels_tr.csv", header=None).to_numpy().ravel().astype(int)
    return blocks, y


def run_fold(fold: int, train: np.ndarray, test: np.ndarray, blocks, y) -> dict:
    """Held-out late-mean probabilities of every candidate on one outer fold."""
    out = {}
    with threadpool_limits(1):
        for name, estimator in candidates(fold).items():
            probs = [clone(estimator).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
                     for X in blocks]
            out[name] = np.mean(probs, axis=0)
    return {"fold": fold, "test": test, "proba": out}


def score(folds: list[dict], y: np.ndarray, names: tuple[str, ...]) -> dict:
    """Mean metrics over folds of the average of the named candidates' probabilities."""
    rows = []
    for f in folds:
        p = np.mean([f["proba"][n] for n in names], axis=0)
        yt = y[f["test"]]
        rows.append((accuracy_score(yt, p > 0.5), f1_score(yt, p > 0.5), roc_auc_score(yt, p)))
    acc, f1, auc = np.mean(rows, axis=0)
    return {"late-mean of": " + ".join(names), "ACC": acc, "F1": f1, "AUC": auc}


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    blocks, y = load_training(args.data or default_data_dir())
    splits = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats,
                                     random_state=0).split(blocks[0], y)
    t0 = time.perf_counter()
    folds = Parallel(n_jobs=args.jobs)(delayed(run_fold)(k, tr, te, blocks, y)
                                       for k, (tr, te) in enumerate(splits))
    names = list(folds[0]["proba"])
    table = pd.DataFrame([score(folds, y, (n,)) for n in names]
                         + [score(folds, y, pair) for pair in itertools.combinations(names, 2)])
    table = table.sort_values("ACC", ascending=False).reset_index(drop=True)
    print(f"ROSMAP training subjects ({len(y)}), {args.folds}-fold x {args.repeats} CV, "
          f"wall {time.perf_counter() - t0:.0f} s; mean over folds")
    print(table.to_string(float_format="%.3f"))
    return table


if __name__ == "__main__":
    main()
