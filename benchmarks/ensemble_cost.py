"""What measuring the handed-over model costs, on the GSE7390 cohort shipped with medfuse.

Three runs of the same study (every strategy, the same splits, one worker, no cache):

1. the benchmark alone (``ensemble=False``);
2. the same benchmark with the ``ensemble`` and ``select-best`` rows measured honestly
   (``ensemble=True``: the pair-of-folds inner fits of :mod:`medfuse.evaluate.ensemble`);
3. what handing over the ensemble adds to run 1: its weights from the stored out-of-fold
   predictions and the refit of its members, against refitting the top-ranked strategy.

Printed: seconds and fits of each run, and the ratios.

    python benchmarks/ensemble_cost.py [--folds 5] [--repeats 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    from medfuse.data import load_gse7390
    from medfuse.evaluate.ensemble import handed_over
    from medfuse.evaluate.runner import refit_best, resolve_strategies, run_benchmark
    from medfuse.study.handover import ensemble_estimator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    data = load_gse7390()
    estimators = resolve_strategies(data, "all")
    runs = {}
    for label, ensemble in (("benchmark", False), ("benchmark + honest rows", True)):
        t0 = time.perf_counter()
        result = run_benchmark(data, estimators, folds=args.folds, repeats=args.repeats,
                               seed=args.seed, robustness=False, jobs=1, ensemble=ensemble)
        runs[label] = (time.perf_counter() - t0, result)
        print(f"{label}: {runs[label][0]:.1f} s, {result.settings['fits']} fits", flush=True)
    seconds, result = runs["benchmark"]
    y = np.searchsorted(np.asarray(result.classes), np.asarray(data.y))
    t0 = time.perf_counter()
    chosen = handed_over(result.folds, result.splits, result.strategies, estimators, y,
                         np.asarray(result.classes), result.primary_metric)
    model = ensemble_estimator(estimators, chosen["weights"], chosen["prior"], args.seed)
    refit_best(data, model, seed=args.seed)
    ensemble = time.perf_counter() - t0
    t0 = time.perf_counter()
    refit_best(data, estimators[result.best], seed=args.seed)
    single = time.perf_counter() - t0
    honest = runs["benchmark + honest rows"][0]
    print(f"ensemble weights {chosen['weights']}, prior {chosen['prior']}")
    print(f"honest ensemble and select-best rows: +{honest - seconds:.1f} s "
          f"({100 * (honest - seconds) / seconds:.0f} % over the benchmark)")
    print(f"handing over the ensemble: weights + refit of {len(chosen['weights'])} members "
          f"{ensemble:.1f} s vs refitting the top-ranked {result.best} {single:.1f} s: "
          f"+{ensemble - single:.1f} s ({100 * (ensemble - single) / seconds:.1f} % of the "
          "benchmark)")


if __name__ == "__main__":
    main()
