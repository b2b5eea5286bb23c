"""Fit time of the latent strategies against block width on a simulated wide cohort.

300 subjects and three continuous blocks of 1,000, 5,000 and 20,000 features (scaled down
by ``--scales`` to measure growth), plus three blocks of 20,000 (``--wide``). A shared
factor drives the binary outcome and the first 20 features of every block. Per width it
times one fit (default settings, inner CV included) of ``block-pls`` (dense), ``block-pls``
with ``keep="cv"`` (sparse) and ``cca``, and, as the peer measured in the same run,
scikit-learn's ``PLSCanonical`` and ``CCA`` against medfuse's two-block
``PLSCanonicalBlocks`` and ``CCABlocks`` on the widest and the narrowest block (two
components). It prints the seconds per fit, the growth exponent in the number of features
(the slope of log time on log width) and the ratios to the peer.

    python benchmarks/wide.py                # 2 threads, scales 1/8 .. 1
    python benchmarks/wide.py --threads 1 --clock cpu   # steadier on a shared machine
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: CPU seconds of the process, steadier on a loaded machine")
    ap.add_argument("--no-wide", dest="wide", action="store_false",
                    help="skip the 3 x 20,000 point")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
