"""How the main job grows with the cohort, on this machine and on a 2-worker Dask cluster.

A synthetic cohort of ``n`` subjects with three modalities (``expression`` 2,000,
``methylation`` 500 and ``clinical`` 50 features; 10 % of subjects lack methylation) is
written to Parquet in row groups of 10,000 subjects, generated one group at a time, and
read back by the study in row groups (:func:`medfuse.data.tables.read_parquet`). The outcome
is binary, driven by one latent factor that 20 features of each modality carry.

For each size, ``medfuse benchmark`` runs the study (5-fold CV, strategies ``late-mean``
and ``early``, ``select: ensemble``, so the handed-over ensemble and ``select-best`` are
measured too, with their inner fits), without the interpretation section, as a separate
process: once on its own (``--jobs 1``) and once with ``--cluster local --jobs 2`` (a
``LocalCluster`` of two single-threaded workers). Printed per run: wall seconds and the peak
resident memory of the whole process tree (the command and every worker; sampled every
0.2 s); then the log-log growth slopes between sizes and the cluster's speed-up.

    python benchmarks/scale_out.py [--sizes 1000,10000,100000] [--modes local,cluster]
        [--folder scale-out] [--csv out.csv]

On a real cluster: start ``dask scheduler`` on one machine and ``dask worker
tcp://SCHEDULER:8786 --nthreads 1`` on each worker machine (every one with the same medfuse
installed), then run ``medfuse benchmark STUDY --scheduler tcp://SCHEDULER:8786``. Only the
client reads the files and writes the cache; the workers receive the data once.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

BLOCKS = {"expression": 2000, "methylation": 500, "clinical": 50}
INFORMATIVE = 20
MISSING = {"methylation": 0.10}
GROUP_ROWS = 10_000


def write_cohort(folder: Path, n: int, seed: int = 0) -> Path:
    """Write the cohort's Parquet files and its study file; returns the study file."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    study = folder / "study.yaml"
    if study.exists():
        return study
    rng = np.random.default_rng(seed)
    writers = {}
    labels = []
    for start in range(0, n, GROUP_ROWS):
        rows = min(GROUP_ROWS, n - start)
        ids = np.array([f"S{i:06d}" for i in range(start, start + rows)], dtype=object)
        latent = rng.normal(size=rows)
        y = (latent + rng.normal(scale=1.0, size=rows) > 0).astype(int)
        labels.append(pd.DataFrame({"subject": ids, "label": y}))
        for name, p in BLOCKS.items():
            x = rng.normal(size=(rows, p))
            x[:, :INFORMATIVE] += 0.35 * latent[:, None]
            keep = rng.random(rows) >= MISSING.get(name, 0.0)
            columns = {"subject": pa.array(ids[keep])}
            columns.update({f"{name}_{j}": pa.array(x[keep, j]) for j in range(p)})
            table = pa.table(columns)
            if name not in writers:
                writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writers[name].write_table(table, row_group_size=GROUP_ROWS)
    for writer in writers.values():
        writer.close()
    pd.concat(labels).to_csv(folder / "labels.csv", index=False)
    spec = {"name": f"scale-{n}", "outcome": {"file": "labels.csv", "column": "label"},
            "modalities": {m: {"file": f"{m}.parquet", "kind": "continuous"} for m in BLOCKS},
            "strategies": ["late-mean", "early"], "select": "ensemble",
            "cv": {"folds": 5, "repeats": 1, "seed": seed}, "seeds": 1, "budget": None}
    study.write_text(yaml.safe_dump(spec, sort_keys=False))
    return study


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run(study: Path, out: Path, mode: str) -> dict:
    """One ``medfuse benchmark`` run: wall seconds and peak memory of its process tree."""
    command = [sys.executable, "-m", "medfuse.cli", "benchmark", str(study), "--out", str(out),
               "--no-explain"]
    command += ["--cluster", "local", "--jobs", "2"] if mode == "cluster" else ["--jobs", "1"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "COLUMNS": "160"})
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    output = proc.communicate()[0]
    seconds = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    auc = next((line.split() for line in output.splitlines()
                if "ensemble" in line and "│" in line), None)
    return {"seconds": seconds, "peak_bytes": peak[0], "ensemble_row": " ".join(auc or [])}


def slope(a: float, b: float, na: int, nb: int) -> float:
    return math.log(b / a) / math.log(nb / na)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--modes", default="local,cluster")
    parser.add_argument("--folder", default="scale-out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    root = Path(args.folder)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    modes = args.modes.split(",")
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        study = write_cohort(root / f"n{n}", n, args.seed)
        print(f"n={n:>7d}  cohort written in {time.perf_counter() - t0:.1f} s", flush=True)
        for mode in modes:
            res = run(study, root / f"n{n}" / f"out-{mode}", mode)
            rows.append({"n": n, "mode": mode, **res})
            print(f"n={n:>7d}  {mode:8s} {res['seconds']:9.1f} s  "
                  f"{res['peak_bytes'] / 2**20:9.0f} MiB  | {res['ensemble_row']}", flush=True)
    print()
    for mode in modes:
        got = [r for r in rows if r["mode"] == mode]
        for a, b in itertools.pairwise(got):
            print(f"{mode:8s} {a['n']}->{b['n']}: time exponent "
                  f"{slope(a['seconds'], b['seconds'], a['n'], b['n']):.2f}, memory exponent "
                  f"{slope(a['peak_bytes'], b['peak_bytes'], a['n'], b['n']):.2f}")
    if {"local", "cluster"} <= set(modes):
        for n in sizes:
            pair = {r["mode"]: r for r in rows if r["n"] == n}
            if len(pair) == 2:
                speed = pair["local"]["seconds"] / pair["cluster"]["seconds"]
                memory = pair["cluster"]["peak_bytes"] / pair["local"]["peak_bytes"]
                print(f"n={n:>7d}  cluster speed-up {speed:.2f}x, memory {memory:.2f}x")
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
