"""Scoring ``peers.py``'s fits: metrics per fit, the run of one tool over the shared splits,
the summary table and the rows it is compared on."""

from __future__ import annotations

import os
import time
import traceback
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from peer_data import Contender, PeerDataset, Split
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def score_fit(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict:
    """ACC, F1 (macro over classes when there are more than two), AUC (one-vs-rest macro
    when more than two) and whether the predicted labels are all the same class."""
    proba = np.asarray(proba, float)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.shape != (len(y_true), n_classes):
        raise ValueError(f"probabilities of shape {proba.shape}; expected "
                         f"({len(y_true)}, {n_classes})")
    pred = proba.argmax(axis=1)
    binary = n_classes == 2
    if len(np.unique(y_true)) < 2:
        auc = float("nan")
    elif binary:
        auc = roc_auc_score(y_true, proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", labels=np.arange(n_classes))
    return {"accuracy": accuracy_score(y_true, pred),
            "f1": f1_score(y_true, pred, average="binary" if binary else "macro",
                           labels=None if binary else np.arange(n_classes), zero_division=0),
            "roc_auc": auc,
            "constant": bool(len(np.unique(pred)) == 1)}


def run_fit(contender: Contender, dataset: PeerDataset, split: Split) -> dict:
    """Fit and score one contender on one split; a failure is recorded, not raised."""
    row = {"tool": contender.tool, "model": contender.model, "dataset": dataset.name,
           "seed": split.seed, "fold": split.fold, "n_train": len(split.train),
           "n_test": len(split.test), "test_digest": split_digest(split.test)}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = contender.fit_predict(dataset, split, split.seed)
        note = ""
        if isinstance(out, tuple):
            out, note = out
        row.update(score_fit(dataset.y[split.test], out, len(dataset.classes)))
        row["note"] = note
        row["error"] = ""
    except Exception as exc:
        row.update({"accuracy": np.nan, "f1": np.nan, "roc_auc": np.nan, "constant": False,
                    "note": "", "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]})
        if os.environ.get("PEERS_TRACEBACK"):
            traceback.print_exc()
    row["seconds"] = time.perf_counter() - t0
    return row


def split_digest(index: np.ndarray) -> str:
    """A short fingerprint of a set of subject positions (to show that tools shared it)."""
    import hashlib

    return hashlib.sha1(np.sort(np.asarray(index, np.int64)).tobytes()).hexdigest()[:12]


def _limited(fn, *args):
    """``fn(*args)`` with one BLAS and one torch thread (workers must not oversubscribe)."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    with threadpool_limits(1):
        return fn(*args)


def run_tool(contenders: Sequence[Contender], datasets: Sequence[PeerDataset],
             splits: Sequence[Split], jobs: int = 1) -> tuple[list[dict], float]:
    """Every (contender, split) fit of one tool; its rows and the wall time in seconds."""
    by_name = {d.name: d for d in datasets}
    tasks = [(c, by_name[s.dataset], s) for c in contenders for s in splits
             if s.dataset in by_name and c.applies_to(s.dataset)]
    t0 = time.perf_counter()
    if jobs == 1 or len(tasks) <= 1:
        rows = [_limited(run_fit, *t) for t in tasks]
    else:
        rows = Parallel(n_jobs=jobs)(delayed(_limited)(run_fit, *t) for t in tasks)
    return list(rows), time.perf_counter() - t0


# ----------------------------------------------------------------------------- table
def per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over the folds of each seed; ``constant`` and ``failed`` count fits."""
    runs = runs.assign(failed=runs["error"].fillna("").astype(str) != "")
    keys = ["tool", "model", "dataset", "seed"]
    grouped = runs.groupby(keys, sort=False)
    out = grouped[["accuracy", "f1", "roc_auc"]].mean()
    out["constant"] = grouped["constant"].sum().astype(int)
    out["failed"] = grouped["failed"].sum().astype(int)
    out["fits"] = grouped.size()
    out["seconds"] = grouped["seconds"].sum()
    return out.reset_index()


def _cell(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "failed"
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.3f} ± {sd:.3f}"


def summary_table(runs: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """One row per (tool, model): ACC / F1 / AUC per dataset (mean ± sd over seeds),
    constant-prediction fits out of all fits, failed fits, and seconds of fitting."""
    seeds = per_seed(runs)
    rows = []
    for (tool, model), part in seeds.groupby(["tool", "model"], sort=False):
        row = {"tool": tool, "model": model}
        for name in datasets:
            sub = part[part["dataset"] == name]
            for col, key in (("ACC", "accuracy"), ("F1", "f1"), ("AUC", "roc_auc")):
                row[f"{name} {col}"] = _cell(sub[key]) if len(sub) else "-"
        row["constant fits"] = f"{int(part['constant'].sum())}/{int(part['fits'].sum())}"
        row["failed fits"] = int(part["failed"].sum())
        row["fit s"] = round(float(part["seconds"].sum()), 1)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table (no tabulate needed)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in frame.columns) + " |")
    return "\n".join(lines)


def constant_models(runs: pd.DataFrame) -> list[str]:
    """``tool/model on dataset`` for every model with at least one constant-prediction
    fit."""
    hit = runs[runs["constant"].astype(bool)]
    return sorted({f"{t}/{m} on {d}" for t, m, d in zip(hit["tool"], hit["model"],
                                                         hit["dataset"], strict=True)})


def shared_test_sets(runs: pd.DataFrame) -> bool:
    """Whether every tool saw the same test subjects on every (dataset, seed, fold)."""
    ok = runs[runs["error"].fillna("") == ""]
    return bool((ok.groupby(["dataset", "seed", "fold"])["test_digest"].nunique() <= 1).all())


def best_row(runs: pd.DataFrame, dataset: str, metric: str, tools: Sequence[str],
             constant: bool = False) -> tuple[str, float, float] | None:
    """The best (tool/model, mean ``metric`` over seeds, mean seconds of one fit) on
    ``dataset`` among ``tools``, leaving out models with a constant-prediction fit there
    (a constant majority vote can have the best accuracy on an unbalanced outcome) unless
    ``constant``."""
    seeds = per_seed(runs)
    sub = seeds[(seeds["dataset"] == dataset) & seeds["tool"].isin(tools)]
    grouped = sub.groupby(["tool", "model"])
    means = grouped[metric].mean()
    if not constant:
        means = means[grouped["constant"].sum() == 0]
    means = means.dropna()
    if means.empty:
        return None
    tool, model = means.idxmax()
    mask = (runs["tool"] == tool) & (runs["model"] == model) & (runs["dataset"] == dataset)
    spent = float(runs.loc[mask, "seconds"].mean())
    return f"{tool}/{model}", float(means.max()), spent


# ------------------------------------------------------------------------------ main
