"""ComBat-seq with empirical Bayes shrinkage: medfuse against R's ``sva::ComBat_seq(shrink=TRUE)``
on the same simulated counts (wall time, and how many cells differ).

The Monte Carlo integration costs genes^2 x samples in both, so the default problem is
modest; ``--subset`` also times the random gene subset (R's ``gene.subset.n``), whose draws
differ between the two and so are not compared cell by cell.

    python benchmarks/combat_seq_shrink.py [--genes 1000] [--samples 48] [--batches 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from medfuse.preprocess import ComBatSeq

R_SCRIPT = r"""
suppressPackageStartupMessages(library(sva))
a <- commandArgs(TRUE); d <- a[1]; G <- as.integer(a[2]); n <- as.integer(a[3])
C <- matrix(readBin(file.path(d, "counts.bin"), "double", G * n), G, n)
b <- readLines(file.path(d, "batch.txt"))
q <- function(e) { invisible(capture.output(r <- suppressMessages(e))); r }
t <- system.time(S <- q(ComBat_seq(C, b, shrink = TRUE)))[["elapsed"]]
writeBin(as.vector(S), file.path(d, "r_shrink.bin")); cat("shrink", t, "\n")
t <- system.time(q(ComBat_seq(C, b, shrink = TRUE, gene.subset.n = 100)))[["elapsed"]]
cat("subset", t, "\n")
"""


def simulate(genes: int, samples: int, batches: int, seed: int = 0):
    """NB counts (samples x genes) with per-batch mean factors and dispersions."""
    rng = np.random.default_rng(seed)
    batch = np.repeat([f"b{i + 1}" for i in range(batches)], -(-samples // batches))[:samples]
    codes = np.unique(batch, return_inverse=True)[1]
    mean = np.exp(rng.normal(3.5, 1.5, genes))
    factor = np.exp(rng.normal(0.0, 0.4, (batches, genes)))
    size = 1.0 / np.linspace(0.05, 0.3, batches)[codes]
    mu = mean[None, :] * factor[codes]
    counts = rng.negative_binomial(size[:, None], size[:, None] / (size[:, None] + mu))
    return counts.astype(float), batch


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--batches", type=int, default=3)
    args = ap.parse_args(argv)
    counts, batch = simulate(args.genes, args.samples, args.batches)

    t0 = time.perf_counter()
    ours = ComBatSeq(shrink=True).fit_transform(counts, batch=batch)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ComBatSeq(shrink=True, gene_subset=100, random_state=0).fit_transform(counts, batch=batch)
    subset_s = time.perf_counter() - t0
    print(f"{args.genes} genes x {args.samples} samples, {args.batches} batches")
    print(f"medfuse shrink: {ours_s:.2f} s; with 100-gene subset: {subset_s:.2f} s")
    if shutil.which("Rscript") is None:
        print("Rscript not found: no R comparison")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        counts.tofile(folder / "counts.bin")          # samples-major = R's genes x samples
        (folder / "batch.txt").write_text("\n".join(batch) + "\n")
        (folder / "bench.R").write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(folder / "bench.R"), tmp, str(args.genes),
                              str(args.samples)], capture_output=True, text=True, check=True)
        times = dict((line.split()[0], float(line.split()[1]))
                     for line in res.stdout.splitlines() if len(line.split()) == 2)
        theirs = np.fromfile(folder / "r_shrink.bin").reshape(args.samples, args.genes)
    differ = int((theirs != ours).sum())
    print(f"R sva shrink: {times['shrink']:.2f} s ({times['shrink'] / ours_s:.1f}x medfuse); "
          f"with 100-gene subset: {times['subset']:.2f} s "
          f"({times['subset'] / subset_s:.1f}x medfuse)")
    print(f"cells that differ from R: {differ} of {theirs.size}")


if __name__ == "__main__":
    main()
