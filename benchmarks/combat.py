"""Speed, memory and agreement of medfuse's ComBat and ComBat-seq against peers and R.

Usage: ``python benchmarks/combat.py`` (needs the ``bench`` extra: neuroCombat, inmoose;
R with sva is used when ``Rscript`` is on the PATH).

Every method runs in a fresh subprocess on the same data (saved once as .npy), which reports
its wall time and its peak resident memory above the memory held after loading the data.
neuroCombat's non-parametric prior costs O(G^2 n) and takes tens of minutes on 20,000
features, so it is timed on a subset of features and extrapolated quadratically (printed as
such). R's non-parametric ComBat is likewise compared on a feature subset.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"


# ------------------------------------------------------------------------------- data
def make_data(folder: Path, n_features: int, n_samples: int, n_batches: int,
              seq_genes: int, seq_samples: int, seed: int = 0) -> None:
    """Normal features with feature-specific batch location/scale, and NB counts."""
    rng = np.random.default_rng(seed)
    batch = np.repeat(np.arange(n_batches), -(-n_samples // n_batches))[:n_samples]
    loc = rng.normal(0, 0.5, size=(n_batches, n_features))
    scale = np.exp(rng.normal(0, 0.3, size=(n_batches, n_features)))
    X = rng.normal(5.0, 1.0, size=(n_samples, n_features))
    X = (X - 5.0) * scale[batch] + 5.0 + loc[batch]
    np.save(folder / "X.npy", X)
    np.save(folder / "batch.npy", np.array([f"b{b}" for b in batch]))

    sbatch = np.repeat(np.arange(n_batches), -(-seq_samples // n_batches))[:seq_samples]
    mu = np.exp(rng.normal(3.0, 1.5, size=seq_genes))
    effect = np.exp(rng.normal(0, 0.4, size=(n_batches, seq_genes)))
    disp = np.array([0.05, 0.1, 0.2, 0.3] * n_batches)[:n_batches]
    m = mu * effect[sbatch]
    size = 1.0 / disp[sbatch][:, None]
    counts = rng.negative_binomial(size, size / (size + m)).astype(float)
    np.save(folder / "counts.npy", counts)
    np.save(folder / "sbatch.npy", np.array([f"b{b}" for b in sbatch]))


# ----------------------------------------------------------------------------- workers
def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker(name: str, folder: Path, subset: int) -> dict:
    """Run one method; return wall time (s) and peak extra memory (MiB)."""
    import pandas as pd

    sys.path.insert(0, str(SRC))
    X = np.load(folder / "X.npy")
    batch = np.load(folder / "batch.npy")
    counts = np.load(folder / "counts.npy")
    sbatch = np.load(folder / "sbatch.npy")
    if name.endswith("_subset"):
        X = np.ascontiguousarray(X[:, :subset])
    if name.startswith("medfuse_combat"):
        from medfuse.preprocess import ComBat

        model = ComBat(parametric="nonparam" not in name, n_jobs=-1)

        def run():
            return model.fit_transform(X, batch=batch)
    elif name.startswith("neuro_combat"):
        from neuroCombat import neuroCombat

        covars = pd.DataFrame({"batch": batch})

        def run():
            return neuroCombat(dat=X.T, covars=covars, batch_col="batch",
                               parametric="nonparam" not in name)["data"].T
    elif name == "medfuse_seq":
        from medfuse.preprocess import ComBatSeq

        def run():
            return ComBatSeq(n_jobs=-1).fit_transform(counts, batch=sbatch)
    elif name == "inmoose_seq":
        from inmoose.pycombat import pycombat_seq

        def run():
            return np.asarray(pycombat_seq(counts.T, sbatch)).T
    else:
        raise ValueError(f"unknown worker {name}")
    base = _rss_kb()                    # imports done and data loaded: time the call only
    start, cpu = time.perf_counter(), time.process_time()
    out = run()
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - start
    peak = (_rss_kb() - base) / 1024
    np.save(folder / f"out_{name}.npy", np.asarray(out, dtype=float))
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak}


def run_worker(name: str, folder: Path, subset: int) -> dict:
    cmd = [sys.executable, str(HERE), "--worker", name, "--folder", str(folder),
           "--np-subset", str(subset)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- R
R_SCRIPT = r"""
suppressPackageStartupMessages(library(sva))
args <- commandArgs(TRUE); d <- args[1]; G <- as.integer(args[2]); n <- as.integer(args[3])
S <- as.integer(args[4]); gs <- as.integer(args[5]); ns <- as.integer(args[6])
rd <- function(f, nr, nc) matrix(readBin(file.path(d, f), "double", nr * nc), nr, nc)
X <- rd("X.bin", G, n); b <- readLines(file.path(d, "batch.txt"))
q <- function(e) { invisible(capture.output(r <- suppressMessages(e))); r }
t <- system.time(P <- q(ComBat(X, b)))[["elapsed"]]
writeBin(as.vector(P), file.path(d, "r_param.bin")); cat("r_param", t, "\n")
t <- system.time(N <- q(ComBat(X[1:S, ], b, par.prior = FALSE)))[["elapsed"]]
writeBin(as.vector(N), file.path(d, "r_nonparam.bin")); cat("r_nonparam_subset", t, "\n")
C <- rd("counts.bin", gs, ns); sb <- readLines(file.path(d, "sbatch.txt"))
t <- system.time(Q <- q(ComBat_seq(C, sb)))[["elapsed"]]
writeBin(as.vector(Q), file.path(d, "r_seq.bin")); cat("r_seq", t, "\n")
"""


def run_r(folder: Path, subset: int) -> dict:
    X = np.load(folder / "X.npy")
    counts = np.load(folder / "counts.npy")
    X.tofile(folder / "X.bin")                       # samples-major = R's features x samples
    counts.tofile(folder / "counts.bin")
    (folder / "batch.txt").write_text("\n".join(np.load(folder / "batch.npy")) + "\n")
    (folder / "sbatch.txt").write_text("\n".join(np.load(folder / "sbatch.npy")) + "\n")
    script = folder / "bench.R"
    script.write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(script), str(folder), str(X.shape[1]), str(X.shape[0]),
                          str(subset), str(counts.shape[1]), str(counts.shape[0])],
                         capture_output=True, text=True, check=False)
    times = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            times[parts[0]] = float(parts[1])
    if res.returncode != 0:
        times["error"] = res.stderr.strip().splitlines()[-1]
    return times


def r_matrix(folder: Path, name: str, n_rows: int) -> np.ndarray:
    return np.fromfile(folder / name).reshape(n_rows, -1)


# --------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--seq-genes", type=int, default=20_000)
    parser.add_argument("--seq-samples", type=int, default=200)
    parser.add_argument("--np-subset", type=int, default=1_000,
                        help="features for neuroCombat's and R's non-parametric ComBat")
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.folder), args.np_subset)))
        return

    folder = Path(tempfile.mkdtemp(prefix="combat_bench_"))
    try:
        make_data(folder, args.features, args.samples, args.batches, args.seq_genes,
                  args.seq_samples)
        G, S = args.features, args.np_subset
        print(f"ComBat: {G} features x {args.samples} samples x {args.batches} batches; "
              f"ComBat-seq: {args.seq_genes} genes x {args.seq_samples} samples; "
              f"{os.cpu_count()} CPU cores (medfuse uses threads on all of them)\n")
        names = ["medfuse_combat_param", "neuro_combat_param", "medfuse_combat_nonparam",
                 "neuro_combat_nonparam_subset", "medfuse_combat_nonparam_subset",
                 "medfuse_seq", "inmoose_seq"]
        res = {}
        for name in names:
            res[name] = run_worker(name, folder, S)
            print(f"  ran {name:32s} {res[name]}", flush=True)
        r_times = {}
        if not args.no_r and shutil.which("Rscript"):
            r_times = run_r(folder, S)
            print(f"  ran R sva {r_times}", flush=True)

        def sec(name):
            return res[name].get("seconds", float("nan"))

        def cpu(name):
            return res[name].get("cpu_seconds", float("nan"))

        neuro_np_full = sec("neuro_combat_nonparam_subset") * (G / S) ** 2
        scale = (G / S) ** 2
        rows = [
            ("ComBat parametric", "medfuse", "medfuse_combat_param", 1.0),
            ("ComBat parametric", "neuroCombat", "neuro_combat_param", 1.0),
            ("ComBat non-parametric", "medfuse", "medfuse_combat_nonparam", 1.0),
            ("ComBat non-parametric", f"neuroCombat (extrapolated from {S} features)",
             "neuro_combat_nonparam_subset", scale),
            ("ComBat-seq", "medfuse", "medfuse_seq", 1.0),
            ("ComBat-seq", "inmoose", "inmoose_seq", 1.0),
        ]
        print(f"\n{'task':26s} {'implementation':42s} {'wall s':>9s} {'CPU s':>9s} "
              f"{'peak MiB':>9s}")
        for task, impl, key, factor in rows:
            peak = res[key].get("peak_mib", float("nan"))
            print(f"{task:26s} {impl:42s} {sec(key) * factor:9.2f} {cpu(key) * factor:9.2f} "
                  f"{peak:9.0f}")
        for key, label in (("r_param", "ComBat parametric"),
                           ("r_nonparam_subset", f"ComBat non-param {S} f."),
                           ("r_seq", "ComBat-seq")):
            if key in r_times:
                print(f"{label:26s} {'R sva (elapsed)':42s} {r_times[key]:9.2f} {'-':>9s} "
                      f"{'-':>9s}")
        print("\nspeed-ups of medfuse (wall; CPU in brackets):")
        def ratio(peer, ours, factor=1.0):
            return (f"{sec(peer) * factor / sec(ours):7.1f}x "
                    f"({cpu(peer) * factor / cpu(ours):.1f}x)")

        print(f"  parametric vs neuroCombat:      "
              f"{ratio('neuro_combat_param', 'medfuse_combat_param')}")
        print(f"  non-parametric vs neuroCombat:  "
              f"{ratio('neuro_combat_nonparam_subset', 'medfuse_combat_nonparam', scale)}"
              f"  [neuroCombat extrapolated as t({S}) * ({G}/{S})^2 = "
              f"{neuro_np_full / 60:.1f} min]")
        print(f"  ComBat-seq vs inmoose:          {ratio('inmoose_seq', 'medfuse_seq')}")

        print("\nagreement:")
        X = np.load(folder / "X.npy")
        ours_p = np.load(folder / "out_medfuse_combat_param.npy")
        ours_np_sub = np.load(folder / "out_medfuse_combat_nonparam_subset.npy")
        neuro_p = np.load(folder / "out_neuro_combat_param.npy")
        print(f"  max |medfuse - neuroCombat| parametric:        "
              f"{np.abs(ours_p - neuro_p).max():.2e}")
        full_np = np.load(folder / "out_medfuse_combat_nonparam.npy")
        neuro_np = np.load(folder / "out_neuro_combat_nonparam_subset.npy")
        print(f"  max |medfuse - neuroCombat| non-param ({S} f.):  "
              f"{np.abs(ours_np_sub - neuro_np).max():.2e}")
        if "r_param" in r_times:
            r_p = r_matrix(folder, "r_param.bin", X.shape[0])
            r_np = r_matrix(folder, "r_nonparam.bin", X.shape[0])
            print(f"  max |medfuse - R sva| parametric:              "
                  f"{np.abs(ours_p - r_p).max():.2e}")
            print(f"  max |medfuse - R sva| non-param ({S} f.):      "
                  f"{np.abs(ours_np_sub - r_np).max():.2e}")
        if "r_seq" in r_times:
            counts = np.load(folder / "counts.npy")
            r_s = r_matrix(folder, "r_seq.bin", counts.shape[0])
            ours_s = np.load(folder / "out_medfuse_seq.npy")
            print(f"  ComBat-seq cells differing from R sva:         "
                  f"{int((ours_s != r_s).sum())} of {r_s.size}")
        inm = np.load(folder / "out_inmoose_seq.npy")
        ours_s = np.load(folder / "out_medfuse_seq.npy")
        print(f"  ComBat-seq cells differing from inmoose:       "
              f"{int((ours_s != inm).sum())} of {inm.size}")
        print(f"  (full non-parametric medfuse output has {np.isnan(full_np).sum()} NaN)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
