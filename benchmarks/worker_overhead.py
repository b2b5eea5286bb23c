"""What running the benchmark's fits in a worker process costs, against running them in
this process, on the quick demo (GSE7390, expression + clinical, 5 strategies, 3 folds).

Usage: ``python benchmarks/worker_overhead.py [--rounds 5] [--jobs 1]``

Each round runs the same benchmark twice with ``jobs`` workers, alternating the order: in
this process (``budget=None``, possible with one job only) and in worker processes with the
default budget (what ``medfuse demo --quick --jobs 1`` does). The worker run includes
starting the worker process, sending it the data and returning the held-out predictions.
Prints the medians of wall time and of CPU time (this process and its reaped worker
processes: on a busy machine wall time mostly says how long the worker waited for a core)
and their ratio; the per-fit overhead is the difference divided by the number of fits.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import warnings

from medfuse.data import load_gse7390
from medfuse.evaluate.budget import DEFAULT_BUDGET
from medfuse.evaluate.runner import resolve_strategies, run_benchmark

QUICK = ("unimodal", "early", "late-mean", "late-weighted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_gse7390()
    names = [n for n in resolve_strategies(data, "all") if n.split(":")[0] in QUICK]
    budgets = {"in process": None, "worker": DEFAULT_BUDGET}
    if args.jobs != 1:
        budgets.pop("in process")
        budgets["worker, no budget"] = None
    times: dict[str, list[float]] = {k: [] for k in budgets}
    cpu: dict[str, list[float]] = {k: [] for k in budgets}
    fits = 0
    for r in range(args.rounds):
        order = list(budgets) if r % 2 == 0 else list(reversed(budgets))
        for label in order:
            start, start_cpu = time.perf_counter(), _cpu_seconds()
            res = run_benchmark(data, names, folds=3, repeats=1, jobs=args.jobs,
                                budget=budgets[label])
            times[label].append(time.perf_counter() - start)
            cpu[label].append(_cpu_seconds() - start_cpu)
            fits = res.settings["fits"]
            assert not res.errors, res.errors
    print(f"{len(names)} strategies x 3 folds = {fits} fits, jobs={args.jobs}, "
          f"{args.rounds} rounds")
    for name, table in (("wall", times), ("CPU", cpu)):
        med = {k: statistics.median(v) for k, v in table.items()}
        for label, seconds in med.items():
            print(f"  {name:>4} {label:>18}: median {seconds:6.2f} s  (all: "
                  f"{', '.join(f'{t:.2f}' for t in table[label])})")
        if "in process" in med:
            extra = med["worker"] - med["in process"]
            print(f"  {name:>4} worker / in process = {med['worker'] / med['in process']:.2f};"
                  f" {extra:+.2f} s in all, {extra / fits:+.3f} s per fit")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
