"""Incomplete cohorts: what each imputer and cross-modal strategy buys when modalities are
missing, against the strategies that cope without imputation.

Cohorts:

- ``sim-MCAR``, ``sim-MAR``, ``sim-MNAR``: the simulator (``make_cohort``; rna, imaging and
  clinical with effects 1.2, 1.0 and 0.8, their latent factors correlated 0.5, so each
  modality is partly predictable from the others), rna and imaging each missing for 30 %
  of the subjects, completely at random, by age (MAR) or by the modality's own latent
  value (MNAR, strength 2);
- ``rosmap``: ROSMAP's 245 training subjects with each omics block hidden completely at
  random from 30 % of them (every subject keeps at least one), 5-fold x 3 CV; and, with
  ``--test``, the fixed 106-subject test split (complete) predicted from every subset of the
  three blocks by models fitted on the incomplete training subjects.

For every strategy the robustness table gives the CV ROC AUC with all modalities the test
subjects have and with only a subset of them; printed: the all-modality AUC and the worst
subset's AUC (which subset), mean and sd over the CV splits.

Strategies: ``late-mean`` and ``intermediate`` (no imputation: late averages the modalities
a subject has, intermediate learns a missing embedding), an ``ensemble`` of late-mean,
early, early-gb and block-pls (the handed-over rule, with a library small enough to run
here); ``early`` on data completed by each imputer (mean, knn, iterative, cross-modal,
translator) and by multiple imputation (cross-modal, 5 draws, pooled); and the cross-modal
strategies (``contrastive``, ``distillation``, ``disentangle``, ``co-training``).

    python benchmarks/missing.py [--cohorts sim-MCAR,sim-MAR,sim-MNAR,rosmap] [--folds 5]
        [--repeats 3] [--test] [--jobs 2] [--strategies a,b]
        [--out benchmarks/results/missing-<date>]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

IMPUTERS = ("mean", "knn", "iterative", "cross-modal", "translator")
CROSS_MODAL = ("contrastive", "distillation", "disentangle", "co-training")


def simulated(mechanism: str, seed: int = 0, subjects: int = 400):
    """A simulated cohort with rna and imaging missing by ``mechanism``."""
    from medfuse.data import make_cohort

    return make_cohort(subjects, n_genes=100, effects={"rna": 1.2, "imaging": 1.0,
                                                       "clinical": 0.8},
                       missing={"rna": 0.3, "imaging": 0.3}, missing_mechanism=mechanism,
                       missing_strength=2.0, latent_correlation=0.5, random_state=seed)


def rosmap(seed: int = 0, rate: float = 0.3):
    """ROSMAP (training and test subjects), each training subject's blocks hidden at random
    with probability ``rate`` (at least one kept); the test subjects stay complete."""
    from medfuse.data import read_data

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from rosmap import default_data_dir

    data = read_data(default_data_dir())
    rng = np.random.default_rng(seed)
    train = (data.obs["split"] == "train").to_numpy()
    hide = rng.random((len(data), len(data.modality_names))) < rate
    hide[~train] = False
    full = hide.all(axis=1)
    hide[full, rng.integers(0, hide.shape[1], int(full.sum()))] = False
    available = pd.DataFrame(~hide, index=data.subjects, columns=data.modality_names)
    return data.with_available(available)


def library(modalities: list[str], seed: int, names: list[str] | None = None) -> dict:
    """The strategies compared (module docstring), by row name."""
    from medfuse.fusion import make, strategy_names
    from medfuse.fusion.imputed import with_imputation

    def imputed(strategy: str, method, n: int = 1):
        return with_imputation(make(strategy, random_state=seed),
                               {m: method for m in modalities}, n_imputations=n,
                               random_state=seed)

    out = {
        "late-mean": make("late-mean", random_state=seed),
        "intermediate": make("intermediate", random_state=seed),
        "ensemble": make("ensemble", members=["late-mean", "early", "early-gb", "block-pls"],
                         random_state=seed),
        "early (mean imputation by default)": make("early", random_state=seed),
    }
    for method in IMPUTERS:
        out[f"early + {method}"] = imputed("early", method)
    out["early + cross-modal x5 (pooled)"] = imputed("early", "cross-modal", 5)
    out["late-mean + cross-modal"] = imputed("late-mean", "cross-modal")
    registered = set(strategy_names())
    for name in CROSS_MODAL:
        if name in registered:
            out[name] = make(name, random_state=seed)
    if names:
        out = {k: v for k, v in out.items() if k in names}
    return out


def summarise(robust: pd.DataFrame, full_key: str) -> pd.DataFrame:
    """All-modality and worst-subset AUC per strategy from a robustness table."""
    auc = robust[robust["metric"] == "roc_auc"]
    rows = []
    for strategy, part in auc.groupby("strategy", sort=False):
        full = part[part["available"] == full_key].iloc[0]
        worst = part.loc[part["mean"].idxmin()]
        rows.append({"strategy": strategy, "all AUC": full["mean"], "all sd": full["sd"],
                     "worst AUC": worst["mean"], "worst sd": worst["sd"],
                     "worst subset": worst["available"]})
    return pd.DataFrame(rows).set_index("strategy")


def markdown(table: pd.DataFrame) -> str:
    """A table as Markdown, numbers to three decimals."""
    head = ["strategy", *table.columns]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in table.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        rows.append("| " + " | ".join([str(name), *cells]) + " |")
    return "\n".join(rows)


def test_split(data, strategies: dict) -> pd.DataFrame:
    """Fit on the training subjects; AUC on the test subjects from every subset."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    from medfuse.evaluate.robustness import modality_subsets, subset_key

    train = data[np.flatnonzero((data.obs["split"] == "train").to_numpy())]
    test = data[np.flatnonzero((data.obs["split"] == "test").to_numpy())]
    names = data.modality_names
    rows = []
    for label, strategy in strategies.items():
        model = clone(strategy).fit(train, train.y)
        scores = {}
        for subset in modality_subsets(names):
            hidden = test.hide([m for m in names if m not in subset])
            scores[subset_key(subset)] = roc_auc_score(test.y,
                                                       model.predict_proba(hidden)[:, 1])
        worst = min(scores, key=scores.get)
        rows.append({"strategy": label, "test all AUC": scores[subset_key(names)],
                     "test worst AUC": scores[worst], "test worst subset": worst})
        print(f"  test {label}: all {rows[-1]['test all AUC']:.3f}, worst "
              f"{scores[worst]:.3f} ({worst})", flush=True)
    return pd.DataFrame(rows).set_index("strategy")


def figure(folders: list[Path], path: Path) -> Path:
    """All-modality and worst-subset CV AUC of every strategy, one panel per cohort, from
    the ``<cohort>.csv`` tables of ``folders`` (later folders add strategies)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cohorts = ["sim-MCAR", "sim-MAR", "sim-MNAR", "rosmap"]
    tables = {}
    for cohort in cohorts:
        parts = [pd.read_csv(f / f"{cohort}.csv", index_col=0) for f in folders
                 if (f / f"{cohort}.csv").exists()]
        if parts:
            table = pd.concat(parts)
            tables[cohort] = table[~table.index.duplicated(keep="first")]
    names = list(dict.fromkeys(n for t in tables.values() for n in t.index))
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables) + 2.6, 0.32 * len(names)
                                                       + 1.6), sharey=True,
                             constrained_layout=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(names))
    for ax, (cohort, table) in zip(axes, tables.items(), strict=True):
        table = table.reindex(names)
        ax.barh(y + 0.2, table["all AUC"], height=0.4, color="#3b6ea8",
                label="all modalities")
        ax.barh(y - 0.2, table["worst AUC"], height=0.4, color="#d9893b",
                label="worst subset")
        ax.set_xlim(0.6, 0.9)
        ax.set_title(cohort)
        ax.set_xlabel("CV ROC AUC")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohorts", default="sim-MCAR,sim-MAR,sim-MNAR,rosmap")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--test", action="store_true", help="also the ROSMAP test split")
    parser.add_argument("--strategies", default="")
    parser.add_argument("--out", default=f"benchmarks/results/missing-{datetime.date.today()}")
    parser.add_argument("--figure", nargs="*", default=None, metavar="FOLDER",
                        help="only draw the figure from these result folders into --out")
    args = parser.parse_args(argv)
    if args.figure is not None:
        print(figure([Path(f) for f in args.figure], Path(args.out)))
        return

    from medfuse.evaluate import run_benchmark

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [s for s in args.strategies.split(",") if s] or None
    lines = [f"benchmarks/missing.py, {datetime.datetime.now():%Y-%m-%d %H:%M}; "
             f"{args.folds}-fold x {args.repeats} CV, seed {args.seed}, jobs {args.jobs}"]
    for cohort in [c for c in args.cohorts.split(",") if c]:
        data = rosmap(args.seed) if cohort == "rosmap" else simulated(cohort[4:], args.seed)
        train = data[np.flatnonzero((data.obs["split"] == "train").to_numpy())] \
            if "split" in data.obs.columns else data
        imputable = [m for m in train.modality_names
                     if not train.available[m].all() and train.kinds[m] != "clinical"]
        strategies = library(imputable, args.seed, names)
        started = time.perf_counter()
        result = run_benchmark(train, strategies, folds=args.folds, repeats=args.repeats,
                               seed=args.seed, robustness=True, jobs=args.jobs,
                               progress=False)
        robust = result.robustness()
        robust.to_csv(out / f"{cohort}-robustness.csv", index=False)
        table = summarise(robust, "+".join(train.modality_names))
        if cohort == "rosmap" and args.test:
            table = table.join(test_split(data, strategies))
        table.to_csv(out / f"{cohort}.csv")
        missing = ", ".join(f"{m} {1 - train.available[m].mean():.0%}"
                            for m in train.modality_names)
        lines += ["", f"## {cohort}: {len(train)} subjects, missing {missing}; "
                      f"{time.perf_counter() - started:.0f} s", "",
                  markdown(table)]
        print("\n".join(lines[-3:]), flush=True)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"written: {out / 'summary.md'}")


if __name__ == "__main__":
    main()
