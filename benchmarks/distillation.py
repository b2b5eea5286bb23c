"""Distillation to a weaker modality: the share of the gap between the all-modality teacher
and the modality's unimodal baseline that the ``distillation`` student recovers when only
that modality is present at test time,

    share = (AUC_student - AUC_unimodal) / (AUC_teacher_all - AUC_unimodal).

The student and the teacher come from one ``distillation`` fit on the training subjects (all
modalities, all labelled); test subjects are scored with every modality (the teacher) and
with every other modality hidden (the modality's student). Two unimodal baselines, fitted on
the modality alone: ``unimodal:<m>`` (the registered per-modality classifier) and
``intermediate`` (the network the student is, trained on the labels only). Also shown: the
teacher itself with the other modalities hidden (it was trained with modality dropout).

Data: the simulator (``make_cohort``: rna with log-odds 1.5 per sd of its latent factor,
imaging with 0.5, nothing else, no interaction; 600 subjects, a stratified 60/40 split per
seed); the same with three quarters of the training subjects' outcomes removed
(``sim-semi``: teacher and baselines learn from the labelled quarter, the students from every
training subject); and, when the folder exists, ROSMAP (``../shared/data/rosmap``, its fixed
245/106 split). On the simulator the "oracle" columns rank the test subjects by the true
linear predictor (all) and by the modality's true latent factor (only m): no model of that
modality alone can do better than the latter, which caps the share at
``(oracle_m - AUC_unimodal) / (AUC_teacher_all - AUC_unimodal)``. Seeds change the simulated
cohort and split and every model's seed. Mean and sd over seeds; shares per seed.

    python benchmarks/distillation.py [--seeds 0,1,2] [--n-ensemble 3]
        [--temperature 2] [--alpha 0.5] [--datasets sim,sim-semi,rosmap]
        [--out benchmarks/results/distillation-<date>.txt]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ROSMAP = REPO.parent / "shared" / "data" / "rosmap"
#: the simulator's modalities and their effects (log-odds per sd of the latent factor)
SIM_EFFECTS = {"rna": 1.5, "imaging": 0.5}
#: share of the training outcomes kept in ``sim-semi``
SEMI_LABELLED = 0.25


#: correlation of the simulated modalities' latent factors (``--latent-correlation``)
LATENT_CORRELATION = {"value": 0.0}


def simulated(seed: int):
    """(train, test, true latent factors of the test subjects) of one seed."""
    from sklearn.model_selection import train_test_split

    from medfuse.data import make_cohort

    data = make_cohort(600, effects={**SIM_EFFECTS, "clinical": 0.0}, interaction=0.0,
                       n_genes=100, n_imaging=40,
                       latent_correlation=LATENT_CORRELATION["value"], random_state=seed)
    latent = data.uns["truth"]["latent"]
    data = data.select(list(SIM_EFFECTS))
    tr, te = train_test_split(np.arange(len(data)), test_size=0.4,
                              stratify=data.y.to_numpy(), random_state=seed)
    test = data[np.sort(te)]
    return data[np.sort(tr)], test, latent.loc[test.subjects]


def rosmap():
    """(train, test, None) of ROSMAP's fixed split."""
    from medfuse.data import read_data

    data = read_data(ROSMAP)
    split = data.obs["split"].to_numpy()
    return data[split == "train"], data[split == "test"], None


def outcomes(train, dataset: str, seed: int) -> np.ndarray:
    """The training outcome; in ``sim-semi`` all but a stratified quarter removed (NaN)."""
    from sklearn.model_selection import train_test_split

    y = train.y.to_numpy().astype(float)
    if dataset != "sim-semi":
        return y
    keep, _ = train_test_split(np.arange(len(y)), train_size=SEMI_LABELLED, stratify=y,
                               random_state=seed)
    out = np.full(len(y), np.nan)
    out[keep] = y[keep]
    return out


def run_one(dataset: str, seed: int, n_ensemble: int, temperature: float = 2.0,
            alpha: float = 0.5) -> list[dict]:
    """AUCs of one seed: the teacher with all modalities, and per modality the student,
    the teacher with the others hidden and the two unimodal baselines."""
    import torch
    from sklearn.metrics import roc_auc_score

    from medfuse.fusion import make

    torch.set_num_threads(1)
    train, test, latent = rosmap() if dataset == "rosmap" else simulated(seed)
    y_train = outcomes(train, dataset, seed)
    labelled = ~np.isnan(y_train)
    y = test.y.to_numpy()
    neural = {"n_ensemble": n_ensemble, "n_threads": 1, "random_state": seed}
    t0 = time.perf_counter()
    model = make("distillation", temperature=temperature, alpha=alpha, **neural).fit(
        train, y_train)
    fit_s = time.perf_counter() - t0
    teacher_all = roc_auc_score(y, model.predict_proba(test)[:, 1])
    oracle_all = np.nan
    if latent is not None:
        oracle_all = roc_auc_score(y, sum(w * latent[m] for m, w in SIM_EFFECTS.items()))
    rows = []
    for weak in train.modality_names:
        view = test.hide([m for m in train.modality_names if m != weak])
        assert set(model.served_by(view)) == {weak}
        alone = test.select([weak])
        linear = make(f"unimodal:{weak}", random_state=seed).fit(train[labelled],
                                                                 y_train[labelled])
        network = make("intermediate", **neural).fit(train[labelled].select([weak]),
                                                     y_train[labelled])
        rows.append({
            "dataset": dataset, "seed": seed, "modality": weak, "teacher_all": teacher_all,
            "oracle_all": oracle_all,
            "oracle_m": np.nan if latent is None else roc_auc_score(y, latent[weak]),
            "student": roc_auc_score(y, model.predict_proba(view)[:, 1]),
            "teacher_hidden": roc_auc_score(y, model.teacher_.predict_proba(view)[:, 1]),
            "unimodal_linear": roc_auc_score(y, linear.predict_proba(alone)[:, 1]),
            "unimodal_network": roc_auc_score(y, network.predict_proba(alone)[:, 1]),
            "fit_s": fit_s})
    return rows


def shares(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-seed shares of the gap recovered, against each baseline."""
    out = runs.copy()
    for base in ("linear", "network"):
        u = out[f"unimodal_{base}"]
        out[f"share_{base}"] = (out["student"] - u) / (out["teacher_all"] - u)
    u = out["unimodal_linear"]
    out["share_cap_linear"] = (out["oracle_m"] - u) / (out["teacher_all"] - u)
    return out


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds per (dataset, modality)."""
    cols = ["teacher_all", "oracle_all", "student", "teacher_hidden", "unimodal_linear",
            "unimodal_network", "oracle_m", "share_linear", "share_network", "share_cap_linear"]
    grouped = runs.groupby(["dataset", "modality"], sort=False)
    mean, sd = grouped[cols].mean(), grouped[cols].std()
    table = pd.DataFrame({c: [f"{mean.loc[k, c]:.3f} ± {sd.loc[k, c]:.3f}" for k in mean.index]
                          for c in cols}, index=mean.index)
    table["seeds"] = grouped.size()
    return table.rename(columns={
        "teacher_all": "teacher (all)", "oracle_all": "oracle (all)",
        "student": "student (only m)", "oracle_m": "oracle (only m)",
        "teacher_hidden": "teacher (only m)", "unimodal_linear": "unimodal:m",
        "unimodal_network": "intermediate on m", "share_linear": "share vs unimodal:m",
        "share_network": "share vs intermediate on m",
        "share_cap_linear": "share cap vs unimodal:m"})


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--n-ensemble", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--datasets", default="sim,sim-semi,rosmap")
    ap.add_argument("--latent-correlation", type=float, default=0.0,
                    help="correlation of the simulated modalities' latent factors (0: "
                         "independent, so the weak modality says nothing about the other)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    LATENT_CORRELATION["value"] = args.latent_correlation
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = [d for d in args.datasets.split(",")
                if d != "rosmap" or (ROSMAP / "labels_tr.csv").exists()]
    rows, t0 = [], time.perf_counter()
    for dataset in datasets:
        for seed in seeds:
            rows += run_one(dataset, seed, args.n_ensemble, args.temperature, args.alpha)
            print(f"{dataset} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    runs = shares(pd.DataFrame(rows))
    table = summarize(runs)
    header = (f"distillation (T={args.temperature:g}, alpha={args.alpha:g}, cv=5 cross-fitted "
              f"soft targets, n_ensemble={args.n_ensemble}, simulated latent correlation "
              f"{args.latent_correlation:g}); test AUC, mean ± sd over seeds "
              f"{args.seeds}; "
              f"share = (AUC student - AUC unimodal) / (AUC teacher all - AUC unimodal); "
              f"wall {time.perf_counter() - t0:.0f} s on one CPU thread")
    text = "\n\n".join([header, table.T.to_string(),
                        "per seed:\n" + runs.round(3).to_string(index=False)])
    print(text)
    out = args.out or REPO / "benchmarks" / "results" / (
        f"distillation-{datetime.date.today().isoformat()}.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"\nwritten to {out}")
    return runs


if __name__ == "__main__":
    main()
