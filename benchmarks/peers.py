"""medfuse against its peers, side by side: the same splits, the same machine, the same run.

Every contender (medfuse's strategies, the strategy medfuse's own benchmark selects by inner
CV, plain scikit-learn baselines, mvlearn, fusilli, mixOmics DIABLO through R) is fitted on
exactly the same training subjects and scored on exactly the same test subjects:

- ROSMAP (MOGONET layout, 3 omics blocks): the fixed train/test split, once per seed (the
  seed changes inner-CV splits and any other randomness);
- GSE7390 (shipped with medfuse: 76-probe expression + clinical): stratified k-fold CV, one
  repetition per seed, the same folds for every tool.

Printed: one markdown table of ACC, F1 and AUC (macro-F1 and one-vs-rest AUC if an outcome
has more than two classes), mean ± sd over seeds (a seed's value is the mean over its
folds), the number of fits whose test predictions are one class only, and the seconds spent
per model; then the wall time of the whole comparison per tool and the time ratios. Every
fit's result goes to ``runs.csv`` in ``--out``. A peer that is not installed is skipped with
a message, so the script runs wherever medfuse does.

    python benchmarks/peers.py [--seeds 3] [--folds 3] [--jobs 2] [--quick]
                               [--tools medfuse,selected,sklearn,mvlearn,fusilli,mixomics]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosmap import default_data_dir

#: Tools in the order they run (cheap first, so that a stopped run has the most rows).
TOOLS = ("sklearn", "mvlearn", "mixomics", "medfuse", "selected", "fusilli")


# ------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class PeerDataset:
    """One cohort as every tool sees it.

    ``data`` is what medfuse fits on; ``views`` holds the same subjects (same order) as
    numeric matrices for the peers (categorical clinical columns one-hot encoded, no
    statistic fitted on any subject); ``y`` holds class indices into ``classes``.
    """

    name: str
    data: object
    views: dict[str, np.ndarray]
    y: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def numeric_view(block: pd.DataFrame) -> np.ndarray:
    """A modality block as floats: categorical columns become 0/1 indicators (a missing
    category is all zeros), numeric columns are kept as they are."""
    categorical = [c for c in block.columns
                   if not pd.api.types.is_numeric_dtype(block[c])]
    frame = pd.get_dummies(block, columns=categorical, dtype=float) if categorical else block
    return frame.to_numpy(float)


def make_dataset(name: str, data) -> PeerDataset:
    """A :class:`PeerDataset` from a MultiModalData with an outcome."""
    labels = data.y.to_numpy()
    classes, y = np.unique(labels, return_inverse=True)
    views = {m: numeric_view(data.block(m)) for m in data.modality_names}
    return PeerDataset(name, data, views, y.astype(int), classes)


def rosmap_dataset(path: Path) -> tuple[PeerDataset, np.ndarray]:
    """ROSMAP's training and test subjects stacked (training first) and the positions of
    the test subjects."""
    from medfuse.data import MultiModalData, load_mogonet

    train, test = load_mogonet(path)
    both = MultiModalData.concat([train, test])
    return make_dataset("ROSMAP", both), np.arange(len(train), len(both))


def gse7390_dataset() -> PeerDataset:
    """GSE7390 with the 5-year metastasis outcome (censored-before-5-years subjects out)."""
    from medfuse.data import load_gse7390

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_dataset("GSE7390", load_gse7390())


# ---------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class Split:
    """One train/test partition of a dataset, shared by every tool."""

    dataset: str
    seed: int
    fold: int
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)


def fixed_splits(dataset: str, n: int, test: np.ndarray, seeds: Sequence[int]) -> list[Split]:
    """The same fixed test subjects once per seed."""
    test = np.sort(np.asarray(test))
    train = np.setdiff1d(np.arange(n), test)
    return [Split(dataset, s, 0, train, test) for s in seeds]


def cv_splits(dataset: str, y: np.ndarray, folds: int, seeds: Sequence[int]) -> list[Split]:
    """Stratified ``folds``-fold CV, one repetition per seed (the seed shuffles)."""
    out = []
    for s in seeds:
        cv = StratifiedKFold(folds, shuffle=True, random_state=s)
        for k, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y)):
            out.append(Split(dataset, s, k, tr, te))
    return out


# ------------------------------------------------------------------------ contenders
#: fit_predict(dataset, split, seed) -> class probabilities of the test subjects,
#: shape (len(split.test), n_classes), columns in the order of ``dataset.classes``.
FitPredict = Callable[[PeerDataset, Split, int], np.ndarray]


@dataclass(frozen=True)
class Contender:
    """One model of one tool; ``datasets`` limits it to some datasets (None: all)."""

    tool: str
    model: str
    fit_predict: FitPredict
    datasets: tuple[str, ...] | None = None

    def applies_to(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


# --------------------------------------------------------------------------- scoring
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


def best_row(runs: pd.DataFrame, dataset: str, metric: str, tools: Sequence[str]
             ) -> tuple[str, float, float] | None:
    """The best (tool/model, mean ``metric`` over seeds, mean seconds of one fit) on
    ``dataset`` among ``tools``, leaving out models with a constant-prediction fit there
    (a constant majority vote can have the best accuracy on an unbalanced outcome)."""
    seeds = per_seed(runs)
    sub = seeds[(seeds["dataset"] == dataset) & seeds["tool"].isin(tools)]
    grouped = sub.groupby(["tool", "model"])
    means = grouped[metric].mean()[grouped["constant"].sum() == 0].dropna()
    if means.empty:
        return None
    tool, model = means.idxmax()
    mask = (runs["tool"] == tool) & (runs["model"] == model) & (runs["dataset"] == dataset)
    spent = float(runs.loc[mask, "seconds"].mean())
    return f"{tool}/{model}", float(means.max()), spent


# ------------------------------------------------------------------------------ main
def machine() -> str:
    """CPU model, logical cores and the load when the run starts."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical cores, load {load:.1f} at start, "
            f"Python {platform.python_version()}")


def versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("medfuse", "scikit-learn", "torch", "fusilli", "mvlearn"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            if pkg == "medfuse":
                import medfuse
                out.append(f"medfuse {medfuse.__version__}")
    return ", ".join(out)


def main(argv=None) -> pd.DataFrame:
    import peer_tools

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rosmap", type=Path, default=None, help="folder with the MOGONET files")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed .. first-seed + seeds - 1 (to add seeds to a run)")
    ap.add_argument("--folds", type=int, default=3, help="CV folds on GSE7390")
    ap.add_argument("--select-folds", type=int, default=3,
                    help="inner CV folds of medfuse's strategy selection")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--datasets", default="ROSMAP,GSE7390")
    ap.add_argument("--quick", action="store_true",
                    help="1 seed, 2 folds, fusilli capped at 20 epochs (a smoke run)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/peers-<date>)")
    ap.add_argument("--from-runs", type=Path, nargs="+", default=None,
                    help="only rebuild the table from the runs.csv and walls.csv in these "
                         "folders (no fitting)")
    args = ap.parse_args(argv)
    if args.from_runs is not None:
        return rebuild(args.from_runs)
    if args.quick:
        args.seeds, args.folds, args.select_folds = 1, 2, 2
    np.seterr(all="ignore")
    started = datetime.datetime.now(datetime.UTC)
    out = args.out or (Path(__file__).resolve().parent / "results"
                       / f"peers-{started:%Y-%m-%d}")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    datasets, splits = [], []
    if "ROSMAP" in wanted:
        path = args.rosmap or default_data_dir()
        if path.exists():
            ros, test = rosmap_dataset(path)
            datasets.append(ros)
            splits += fixed_splits("ROSMAP", len(ros), test, seeds)
        else:
            print(f"skip ROSMAP: no data at {path} (pass --rosmap)")
    if "GSE7390" in wanted:
        gse = gse7390_dataset()
        datasets.append(gse)
        splits += cv_splits("GSE7390", gse.y, args.folds, seeds)
    ros = [s for s in splits if s.dataset == "ROSMAP"][:1]
    settings = (f"seeds {seeds}"
                + (f"; ROSMAP fixed split ({len(ros[0].train)} train / {len(ros[0].test)} "
                   "test subjects)" if ros else "")
                + f"; GSE7390 stratified {args.folds}-fold CV per seed; medfuse selection: "
                f"run_benchmark over every strategy, {args.select_folds}-fold inner CV on the "
                f"training subjects, ranked by ROC AUC; jobs {args.jobs}"
                + ("; --quick (fusilli capped at 20 epochs)" if args.quick else ""))
    print(f"Settings: {settings}")
    print(f"Machine: {machine()}")
    print(f"Versions: {versions()}\n")

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    rows, walls = [], {}
    for tool in tools:
        contenders, notes = peer_tools.contenders(tool, datasets, quick=args.quick,
                                                  select_folds=args.select_folds)
        for note in notes:
            print(f"[{tool}] {note}")
        if not contenders:
            continue
        got, wall = run_tool(contenders, datasets, splits, jobs=args.jobs)
        walls[tool] = wall
        rows += got
        failed = {(r["model"], r["dataset"], r["error"]) for r in got if r["error"]}
        for model, ds, err in sorted(failed):
            print(f"[{tool}] {model} failed on {ds}: {err[:160]}")
        print(f"[{tool}] {len(got)} fits in {wall:.0f} s", flush=True)
        pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)
        pd.Series(walls, name="wall_s").rename_axis("tool").to_csv(out / "walls.csv")
    if not rows:
        raise SystemExit("nothing ran")
    runs = pd.DataFrame(rows)
    runs.to_csv(out / "runs.csv", index=False)
    per_seed(runs).to_csv(out / "per_seed.csv", index=False)
    table = summary_table(runs, [d.name for d in datasets])
    table.to_csv(out / "table.csv", index=False)
    report = report_text(runs, table, walls, [d.name for d in datasets], settings, started)
    (out / "table.md").write_text(report + "\n")
    print(report)
    return runs


def rebuild(folders: Sequence[Path]) -> pd.DataFrame:
    """Print the report of earlier (possibly stopped) runs from their CSV files; with
    several folders their runs are put together (a tool's seeds may come from several
    runs: its wall times add up; a fit in two folders counts once, from the later)."""
    runs, walls = [], {}
    for folder in folders:
        runs.append(pd.read_csv(folder / "runs.csv"))
        for tool, wall in pd.read_csv(folder / "walls.csv", index_col=0)["wall_s"].items():
            walls[tool] = walls.get(tool, 0.0) + float(wall)
    runs = pd.concat(runs, ignore_index=True).drop_duplicates(
        ["tool", "model", "dataset", "seed", "fold"], keep="last")
    runs[["error", "note"]] = runs[["error", "note"]].fillna("")
    names = list(dict.fromkeys(runs["dataset"]))
    started = datetime.datetime.fromtimestamp((folders[0] / "runs.csv").stat().st_mtime,
                                              datetime.UTC)
    print(report_text(runs, summary_table(runs, names), walls, names,
                      "rebuilt from " + ", ".join(f"{f.name}/runs.csv" for f in folders),
                      started, machine_line="as printed in each run's output"))
    return runs


def splits_done(runs: pd.DataFrame, tool: str) -> int:
    """How many (dataset, seed, fold) splits ``tool`` ran."""
    return len(runs.loc[runs["tool"] == tool, ["dataset", "seed", "fold"]].drop_duplicates())


def report_text(runs: pd.DataFrame, table: pd.DataFrame, walls: dict[str, float],
                datasets: Sequence[str], settings: str, started,
                machine_line: str | None = None) -> str:
    """The markdown table, the per-tool wall times, and medfuse's selection against the
    best peer."""
    lines = [f"Peers side by side, {started:%Y-%m-%d %H:%M} UTC. {settings}.",
             f"Machine: {machine_line or machine()}.", "", markdown(table), ""]
    lines.append("Wall time of the whole comparison per tool (all its splits): "
                 + ", ".join(f"{t} {w:.0f} s ({splits_done(runs, t)} splits)"
                             for t, w in walls.items()) + ".")
    lines.append(f"Every tool saw the same test subjects on every split: "
                 f"{'yes' if shared_test_sets(runs) else 'NO'}.")
    const = constant_models(runs)
    lines.append(f"Models with constant test predictions in at least one fit: {len(const)}"
                 + (f" ({'; '.join(const)})" if const else "") + ".")
    sel = runs[runs["tool"] == "selected"]
    if not sel.empty:
        picks = sel.groupby("dataset")["note"].agg(lambda v: ", ".join(
            f"{k} x{n}" for k, n in pd.Series(v).value_counts().items()))
        lines.append("Strategies medfuse selected: "
                     + "; ".join(f"{d}: {p}" for d, p in picks.items()) + ".")
        peers = [t for t in walls if t not in ("medfuse", "selected")]
        for name in datasets:
            for metric, label in (("accuracy", "ACC"), ("f1", "F1"), ("roc_auc", "AUC")):
                mine = best_row(runs, name, metric, ["selected"])
                best = best_row(runs, name, metric, peers)
                if not (mine and best):
                    continue
                verdict = "a peer wins" if best[1] > mine[1] else "medfuse's selection wins"
                lines.append(
                    f"{name} {label}: medfuse's selection {mine[1]:.3f} vs best non-constant "
                    f"peer {best[0]} {best[1]:.3f}: ratio {mine[1] / best[1]:.3f} ({verdict}); "
                    f"seconds per fit {mine[2]:.1f} vs {best[2]:.1f}: ratio "
                    f"{mine[2] / best[2]:.1f}.")
        if "selected" in walls:
            mine = walls["selected"] / max(splits_done(runs, "selected"), 1)
            for t in peers:
                theirs = walls[t] / max(splits_done(runs, t), 1)
                lines.append(f"Wall time per split, selected/{t}: {mine / theirs:.2f} "
                             f"({mine:.1f} s vs {theirs:.1f} s).")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
