"""Fit time against block width on simulated wide cohorts, in three modes.

``--mode all`` (default): every registered strategy (classical and neural, with the
defaults a user gets; the survival strategies on a survival outcome of the same cohort)
fitted once per width, each fit in a fresh subprocess with one BLAS/torch thread and a time
limit, on 300 subjects and three continuous blocks of 1,000, 5,000 and 20,000 features
scaled by ``--scales`` (the growth exponent in the number of features is the slope of log
CPU time on log width over the scales), then three blocks of 20,000 (the target point).
Printed: CPU and wall seconds per fit, the exponent, and the targets as ratios (classical
fit at 3 x 20,000 over 30 s, neural over 60 s; exponent about 1 or less). ``--huge``
adds one continuous block of 450,000 features for the strategies listed there.

``--mode latent``: ``block-pls`` (dense and ``keep="cv"``) and ``cca`` against
scikit-learn's ``PLSCanonical`` and ``CCA`` on the same blocks (the peer measured in the
same run).

``--mode kidney``: a full benchmark of a kidney-cohort-sized study (about 110 subjects,
blocks of 3,000 / 3,900 / 220 features, ``strategies: all``, 5 folds) through the real
command line (``medfuse benchmark study.yaml``); prints its wall time against the
10-minute target.

    python benchmarks/wide.py [--mode all] [--scales 0.25 0.5 1] [--huge]
        [--strategies early,late-mean] [--time-limit 600] [--csv out.csv]
    python benchmarks/wide.py --mode latent --threads 1 --clock cpu
    python benchmarks/wide.py --mode kidney [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scale import run_limited  # a sibling script
from sklearn.cross_decomposition import CCA, PLSCanonical
from threadpoolctl import threadpool_limits

from medfuse.data import MultiModalData
from medfuse.fusion import make
from medfuse.fusion.cca import CCABlocks
from medfuse.fusion.latent import PLSCanonicalBlocks

WIDTHS = (1_000, 5_000, 20_000)
STRATEGIES = {"block-pls": {}, "block-pls keep=cv": {"keep": "cv"}, "cca": {}}


def simulate(n: int, widths, seed: int = 0) -> MultiModalData:
    """Binary outcome from one factor that also drives the first 20 features per block."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * u))).astype(int)
    ids = [f"S{i:04d}" for i in range(n)]
    blocks = {}
    for j, p in enumerate(widths):
        X = rng.normal(size=(n, p)).astype(float)
        X[:, :20] += 0.8 * u[:, None]
        blocks[f"block{j}"] = pd.DataFrame(X, index=ids, columns=[f"b{j}_{k}" for k in range(p)])
    return MultiModalData(blocks, obs=pd.DataFrame({"y": y}, index=ids), outcome="y",
                          modalities={m: "continuous" for m in blocks})


def seconds(estimator, *args, repeat: int = 1, clock: str = "wall") -> float:
    """Best time of ``estimator.fit(*args)`` over ``repeat`` runs: CPU seconds of this
    process (all its threads) with ``clock="cpu"``, else wall seconds."""
    clock = time.process_time if clock == "cpu" else time.perf_counter
    best = np.inf
    for _ in range(repeat):
        t0 = clock()
        estimator.fit(*args)
        best = min(best, clock() - t0)
    return best


def strategy_times(data: MultiModalData, repeat: int, clock: str) -> dict[str, float]:
    return {label: seconds(make(label.split()[0], random_state=0, **params), data,
                           repeat=repeat, clock=clock)
            for label, params in STRATEGIES.items()}


def peer_times(X: np.ndarray, Y: np.ndarray, repeat: int, clock: str) -> dict[str, float]:
    """Two blocks, two components: medfuse and scikit-learn."""
    models = {"PLSCanonicalBlocks": PLSCanonicalBlocks(2),
              "sklearn PLSCanonical": PLSCanonical(2),
              "CCABlocks(shrinkage=0.5)": CCABlocks(2, shrinkage=0.5),
              "sklearn CCA": CCA(2)}
    return {label: seconds(model, X, Y, repeat=repeat, clock=clock)
            for label, model in models.items()}


def slope(p, t) -> float:
    """Growth exponent: least-squares slope of log time on log width."""
    return float(np.polyfit(np.log(p), np.log(t), 1)[0])


def latent_main(args) -> None:
    """``--mode latent``: the latent strategies and their scikit-learn peers."""
    rows = []
    with threadpool_limits(args.threads):
        for s in args.scales:
            widths = [max(round(w * s), 1) for w in WIDTHS]
            data = simulate(args.n, widths)
            row = {"scale": s, "features": sum(widths),
                   **strategy_times(data, args.repeat, args.clock),
                   **peer_times(data.block("block2").to_numpy(),
                                data.block("block0").to_numpy(), args.repeat, args.clock)}
            rows.append(row)
            print(pd.Series(row).to_string(float_format=lambda v: f"{v:.3f}"), flush=True)
        table = pd.DataFrame(rows).set_index("scale")
        if args.wide:
            wide = strategy_times(simulate(args.n, [WIDTHS[-1]] * 3), args.repeat, args.clock)
    print(f"\n{args.n} subjects, {args.threads} thread(s); {args.clock} seconds per fit:")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    p = table["features"].to_numpy(dtype=float)
    print("\ngrowth exponent in the number of features (log-log slope over the scales):")
    for col in table.columns.drop("features"):
        print(f"  {col:26s} {slope(p, table[col].to_numpy()):.2f}")
    print("\nratios to the scikit-learn peer (two blocks, same widths):")
    ratio = pd.DataFrame({
        "PLSCanonicalBlocks / PLSCanonical":
            table["PLSCanonicalBlocks"] / table["sklearn PLSCanonical"],
        "CCABlocks / CCA": table["CCABlocks(shrinkage=0.5)"] / table["sklearn CCA"]})
    print(ratio.to_string(float_format=lambda v: f"{v:.2f}"))
    if args.wide:
        print(f"\n3 x {WIDTHS[-1]:,} features, {args.clock} seconds per fit "
              "(target < 30 s on 2 cores):")
        for label, t in wide.items():
            print(f"  {label:26s} {t:.1f}")



# ---------------------------------------------------------------------- --mode all
#: Target seconds per fit at 3 x 20,000 features, by family.
TARGET_CLASSICAL, TARGET_NEURAL = 30.0, 60.0
#: Strategies fitted on the 450,000-feature block with ``--huge``.
HUGE = ("late-mean", "early", "block-pls", "unimodal:block0", "late-weighted", "stacking",
        "additive", "cca", "mkl")


def survival_cohort(n: int, widths, seed: int = 0) -> MultiModalData:
    """The same blocks with a survival outcome: hazard exp(u), 30% censored at random."""
    data = simulate(n, widths, seed)
    rng = np.random.default_rng(seed + 1)
    u = data.block("block0").to_numpy()[:, :20].mean(axis=1)
    time_ = rng.exponential(np.exp(-u / max(u.std(), 1e-12)))
    event = rng.random(n) >= 0.3
    obs = pd.DataFrame({"time": time_, "event": event}, index=data.subjects)
    return MultiModalData({m: data.block(m) for m in data.modality_names}, obs=obs,
                          modalities={m: "continuous" for m in data.modality_names})


def strategy_names() -> list[str]:
    """Every registered strategy; ``unimodal`` and ``unimodal-cox`` on the widest block."""
    from medfuse.fusion.registry import available

    table = available()
    return [f"{name}:block2" if name in ("unimodal", "unimodal-cox") else name
            for name in table.index]


def family(name: str) -> str:
    from medfuse.fusion.registry import available

    return str(available().loc[name.split(":")[0], "family"])


def fit_worker(name: str, widths: list[int], n: int, seed: int) -> dict:
    """One fit in this process (one thread); CPU and wall seconds."""
    import warnings

    import torch

    torch.set_num_threads(1)
    survival = family(name) == "survival"
    data = (survival_cohort if survival else simulate)(n, widths, seed)
    if name.endswith(":block2") and len(widths) < 3:
        name = name.replace(":block2", f":block{len(widths) - 1}")
    model = make(name)
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        cpu, wall = time.process_time(), time.perf_counter()
        model.fit(data)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu": cpu, "wall": wall}


def run_fit(name: str, widths: list[int], args) -> dict:
    cmd = [sys.executable, __file__, "--fit-worker", name, ",".join(map(str, widths)),
           "--n", str(args.n)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return run_limited(cmd, env, args.time_limit, tail_chars=100)


def all_main(args) -> None:
    """``--mode all``: every strategy against width, and the 3 x 20,000 target."""
    names = args.strategies.split(",") if args.strategies else strategy_names()
    points = [("scale", s, [max(round(w * s), 1) for w in WIDTHS]) for s in args.scales]
    points.append(("3x20000", None, [WIDTHS[-1]] * 3))
    print(f"{args.n} subjects, one thread per fit, each fit in a fresh process "
          f"(limit {args.time_limit:g} s); blocks {WIDTHS} x scales {args.scales}, then "
          f"3 x {WIDTHS[-1]:,}", flush=True)
    rows = []
    for name in [] if args.huge_only else names:
        for label, scale, widths in points:
            res = run_fit(name, widths, args)
            row = {"strategy": name, "family": family(name), "point": label,
                   "scale": scale, "features": sum(widths), **res}
            rows.append(row)
            shown = (f"cpu {res['cpu']:8.2f} s  wall {res['wall']:8.2f} s"
                     if res["status"] == "ok" else res["status"])
            print(f"{name:18s} {label:8s} {sum(widths):>7,d} features  {shown}", flush=True)
            if res["status"] != "ok":
                break
    if args.huge or args.huge_only:
        for name in HUGE if args.strategies is None else names:
            if family(name) in ("neural", "survival"):
                continue
            res = run_fit(name, [450_000], args)
            rows.append({"strategy": name, "family": family(name), "point": "1x450000",
                         "scale": None, "features": 450_000, **res})
            shown = (f"cpu {res['cpu']:8.2f} s  wall {res['wall']:8.2f} s"
                     if res["status"] == "ok" else res["status"])
            print(f"{name:18s} 1x450000 {450_000:>7,d} features  {shown}", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    summary(table)


def summary(table: pd.DataFrame) -> None:
    ok = table[table["status"] == "ok"]
    print("\nsummary (CPU seconds, one thread; wall seconds in brackets):")
    header = (f"{'strategy':18s} {'family':13s} {'scales: cpu s':>28s}  {'exponent':>8s}  "
              f"{'3x20k cpu (wall)':>18s}  {'/target':>7s}  {'1x450k cpu':>10s}")
    print(header)
    for name, part in table.groupby("strategy", sort=False):
        fam = part["family"].iloc[0]
        scaled = ok[(ok["strategy"] == name) & (ok["point"] == "scale")]
        exponent = (slope(scaled["features"].to_numpy(float), scaled["cpu"].to_numpy())
                    if len(scaled) >= 2 else float("nan"))
        series = " ".join(f"{t:.2f}" for t in scaled["cpu"])
        wide = part[part["point"] == "3x20000"]
        if len(wide) and wide["status"].iloc[0] == "ok":
            target = TARGET_NEURAL if fam == "neural" else TARGET_CLASSICAL
            at = (f"{wide['cpu'].iloc[0]:.1f} ({wide['wall'].iloc[0]:.1f})",
                  f"{wide['cpu'].iloc[0] / target:.2f}")
        else:
            at = (wide["status"].iloc[0] if len(wide) else "not run", "")
        huge = part[part["point"] == "1x450000"]
        big = (f"{huge['cpu'].iloc[0]:.1f}" if len(huge) and huge["status"].iloc[0] == "ok"
               else (huge["status"].iloc[0][:10] if len(huge) else ""))
        print(f"{name:18s} {fam:13s} {series:>28s}  {exponent:8.2f}  {at[0]:>18s}  "
              f"{at[1]:>7s}  {big:>10s}")
    print(f"targets: a ratio (3x20k CPU seconds / target: {TARGET_CLASSICAL:g} s classical, "
          f"{TARGET_NEURAL:g} s neural) below 1, and an exponent about 1 or less.")


# ---------------------------------------------------------------------- --mode kidney
KIDNEY_WIDTHS = {"mrna": 3000, "methylation": 3900, "mirna": 220}


def kidney_main(args) -> None:
    """``--mode kidney``: a full ``strategies: all`` study through the command line."""
    import yaml

    n = args.kidney_n
    rng = np.random.default_rng(0)
    ids = [f"K{i:03d}" for i in range(n)]
    u = rng.normal(size=n)
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-2.5 * u)), "tumour", "normal")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mods = {}
        for m, p in KIDNEY_WIDTHS.items():
            X = rng.normal(size=(n, p))
            X[:, :15] += 0.7 * u[:, None]
            pd.DataFrame(X, index=pd.Index(ids, name="id"),
                         columns=[f"{m}_{k}" for k in range(p)]).to_csv(folder / f"{m}.csv")
            mods[m] = {"file": f"{m}.csv", "kind": "continuous"}
        pd.DataFrame({"label": label}, index=pd.Index(ids, name="id")).to_csv(
            folder / "labels.csv")
        study = {"name": "kidney-sized", "outcome": {"file": "labels.csv", "column": "label"},
                 "modalities": mods, "strategies": "all",
                 "cv": {"folds": 5, "repeats": 1, "seed": 0}}
        (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
        cmd = [sys.executable, "-m", "medfuse.cli", "benchmark", str(folder / "study.yaml"),
               "--out", str(folder / "out"), "--jobs", str(args.jobs)]
        print(f"{n} subjects, blocks {KIDNEY_WIDTHS}, strategies: all, 5 folds x 1 repeat, "
              f"--jobs {args.jobs}: {' '.join(cmd[1:3])} benchmark study.yaml", flush=True)
        import resource

        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            raise SystemExit(f"medfuse benchmark failed ({done.returncode})")
        results = pd.read_csv(folder / "out" / "results.csv")
        cv = results[(results["split"] == "cv") & (results["metric"] == "roc_auc")]
        print(cv[["strategy", "mean"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        failures = folder / "out" / "failures.csv"
        if failures.exists():
            print("failures:\n" + failures.read_text())
    print(f"\nwall time {wall:.1f} s for the whole study; target 600 s on 2 cores: ratio "
          f"{wall / 600:.2f}")
    print(f"CPU time of the command and its workers {cpu:.1f} s; spread over 2 cores "
          f"{cpu / 2:.1f} s (the wall time of an otherwise idle 2-core machine, at best): "
          f"ratio {cpu / 2 / 600:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("all", "latent", "kidney"), default="all")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--scales", type=float, nargs="*", default=None,
                    help="width scales (all: 0.25 0.5 1, none given: the 3 x 20,000 point "
                         "only; latent: 0.125 0.25 0.5 1)")
    ap.add_argument("--huge-only", action="store_true",
                    help="all mode: only the 450,000-feature block")
    ap.add_argument("--strategies", default=None, help="all mode: comma-separated names")
    ap.add_argument("--time-limit", type=float, default=600.0, help="all mode: CPU seconds per fit")
    ap.add_argument("--huge", action="store_true",
                    help="all mode: also one block of 450,000 features")
    ap.add_argument("--csv", default=None)
    ap.add_argument("--threads", type=int, default=2, help="latent mode: BLAS threads")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="latent mode; cpu: CPU seconds of the process")
    ap.add_argument("--no-wide", dest="wide", action="store_false",
                    help="latent mode: skip the 3 x 20,000 point")
    ap.add_argument("--kidney-n", type=int, default=110)
    ap.add_argument("--jobs", type=int, default=2, help="kidney mode: parallel fits")
    ap.add_argument("--fit-worker", nargs=2, metavar=("STRATEGY", "WIDTHS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fit_worker:
        name, widths = args.fit_worker
        print(json.dumps(fit_worker(name, [int(w) for w in widths.split(",")], args.n, 0)))
        return
    if args.mode == "latent":
        args.scales = args.scales or [0.125, 0.25, 0.5, 1.0]
        latent_main(args)
    elif args.mode == "kidney":
        kidney_main(args)
    else:
        args.scales = [0.25, 0.5, 1.0] if args.scales is None else args.scales
        all_main(args)


if __name__ == "__main__":
    main()
