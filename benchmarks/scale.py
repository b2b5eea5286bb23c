"""How the classical strategies scale in the number of subjects: fit time and peak memory
of one fit per (strategy, size), each in a fresh subprocess, on simulated cohorts with
blocks of 500 (RNA-seq counts), 100 (imaging) and 20 (noise) features plus the 6-column
clinical table (``make_cohort``).

Printed per strategy: wall and CPU seconds and peak memory added by the fit at each size,
and the growth exponents (log-log slopes between consecutive sizes) of time (CPU seconds
with one thread, so that a shared machine does not skew them; else wall) and memory. The
target is at most ``n log n`` (slope 1.10 from 10^4 to 10^5 subjects); slopes above
``n log n`` + 0.15 are marked ``>nlogn``. Above ``--max-exact`` subjects, a fit whose peak
memory reaches ``8 n^2`` bytes (one float64 n x n matrix) is marked ``n x n``, when that is
at least 512 MiB (a smaller n x n matrix is no larger than the data and the copies a linear
fit makes). Fits past ``--time-limit`` CPU seconds are stopped and reported as such; their
larger sizes are skipped.

Peak memory is the process's peak resident set during the fit minus its resident set just
before (Linux: the peak is reset after the cohort is simulated), or, with ``--tracemalloc``,
the peak of Python and numpy allocations during the fit (slower).

    python benchmarks/scale.py [--sizes 1000,10000,100000] [--strategies mkl,early,...]
        [--time-limit 1800] [--threads 1] [--seed 0] [--tracemalloc] [--csv out.csv]

A strategy may carry parameters: ``mkl@approximation=exact@n_components=500`` (Python
literals, else strings).

How a whole study (reading, every fit, the handed-over ensemble, the report) grows, alone
and on a Dask cluster: ``benchmarks/scale_out.py``.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time

#: Below this many bytes, one n x n float64 matrix is no larger than the data and the copies
#: a linear fit makes, so the n x n check is left out.
NN_FLOOR = 512 * 2**20
CLASSICAL = ("mkl", "early", "late-mean", "late-weighted", "late-vote", "stacking",
             "block-pls", "cca", "additive", "unimodal:rna", "unimodal:imaging",
             "unimodal:clinical", "unimodal:noise1")


def simulate(n: int, seed: int):
    from medfuse.data.simulate import make_cohort

    return make_cohort(n, n_genes=500, n_imaging=100, n_noise_modalities=1,
                       n_noise_features=20, random_state=seed)


def parse_strategy(spec: str) -> tuple[str, dict]:
    name, *parts = spec.split("@")
    params = {}
    for part in parts:
        key, value = part.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return name, params


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def worker(spec: str, n: int, seed: int, use_tracemalloc: bool) -> dict:
    """One fit in this process; returns seconds and peak bytes added by the fit."""
    import gc
    import resource

    from medfuse.fusion import make

    data = simulate(n, seed)
    name, params = parse_strategy(spec)
    model = make(name, random_state=seed, **params)
    gc.collect()
    try:  # hand freed heap pages back, so that the fit's peak is not hidden by them
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    rss_before = _status_kib("VmRSS")
    reset = False
    try:  # reset the peak resident set (VmHWM) so that it covers the fit only
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        pass
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(data)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if use_tracemalloc:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        hwm = _status_kib("VmHWM") if reset else None
        if hwm is None:  # not Linux: the lifetime peak (includes the simulation)
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = max(hwm - (rss_before or 0), 0) * 1024
    out = {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": int(peak)}
    for attr in ("approximation_", "approximation_error_"):
        if hasattr(model, attr):
            value = getattr(model, attr)
            out[attr] = value if isinstance(value, str) else value.round(4).to_dict()
    return out


#: The wall-clock backstop of a fit, in multiples of its CPU-time limit (a shared machine
#: may give a one-thread fit a fraction of a core).
WALL_FACTOR = 6


def cpu_limit(seconds: float):
    """A ``preexec_fn`` that stops the child after ``seconds`` of CPU time (SIGXCPU), so the
    limit holds whatever else the machine runs."""
    import resource

    def limit() -> None:
        soft = max(int(seconds), 1)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))

    return limit


def run_limited(cmd: list[str], env: dict, time_limit: float, tail_chars: int = 120) -> dict:
    """Run a worker command within ``time_limit`` CPU seconds (``WALL_FACTOR`` times that of
    wall time as a backstop); its last stdout line is a JSON record. Returns the record with
    ``status: ok``, or the status of a timeout or a failure (the last line of its output, cut
    to ``tail_chars``)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=WALL_FACTOR * time_limit,
                              preexec_fn=cpu_limit(time_limit))
    except subprocess.TimeoutExpired:
        return {"status": f"timeout>{WALL_FACTOR * time_limit:g}s wall"}
    if done.returncode == -signal.SIGXCPU:
        return {"status": f"timeout>{time_limit:g} CPU-s"}
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return {"status": f"failed ({done.returncode}): {tail[0][:tail_chars]}"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def run_one(spec: str, n: int, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", spec, str(n), "--seed", str(args.seed)]
    if args.tracemalloc:
        cmd.append("--tracemalloc")
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    return run_limited(cmd, env, args.time_limit)


def slope(a: float, b: float, na: int, nb: int) -> float:
    return math.log(b / a) / math.log(nb / na) if a > 0 and b > 0 else float("nan")


def nlogn_slope(na: int, nb: int) -> float:
    return slope(na * math.log(na), nb * math.log(nb), na, nb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--strategies", default=",".join(CLASSICAL))
    parser.add_argument("--time-limit", type=float, default=1800.0,
                        help="CPU seconds per fit (simulation included); the wall-clock "
                             "backstop is WALL_FACTOR times that")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads per fit (more than the free cores skews timings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-exact", type=int, default=2000,
                        help="size above which an n x n allocation is flagged")
    parser.add_argument("--skip-over", type=float, default=None,
                        help="skip a larger size whose time, predicted from the sizes "
                             "measured (exponent at least 1), is over this many seconds")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("STRATEGY", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.seed,
                                args.tracemalloc)))
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    # with one thread, CPU seconds are the fit's own work, whatever else the machine runs
    clock = "cpu_seconds" if args.threads == 1 else "seconds"
    rows = []
    for spec in args.strategies.split(","):
        results = {}
        for n in sizes:
            res = run_one(spec, n, args)
            results[n] = res
            flag = ""
            if (res["status"] == "ok" and n > args.max_exact
                    and res["peak_bytes"] >= max(8 * n * n, NN_FLOOR)):
                flag = "  n x n"
            shown = (f"{res['seconds']:9.1f} s (cpu {res['cpu_seconds']:8.1f} s) "
                     f"{res['peak_bytes'] / 2**20:9.0f} MiB{flag}"
                     if res["status"] == "ok" else res["status"])
            extra = res.get("approximation_error_")
            print(f"{spec:28s} n={n:>7d}  {shown}"
                  + (f"  [{res.get('approximation_')} error {extra}]" if extra else ""),
                  flush=True)
            rows.append({"strategy": spec, "n": n, **{k: v for k, v in res.items()
                                                      if not isinstance(v, dict)}})
            if res["status"] != "ok":
                break
            later = [m for m in sizes if m > n]
            if later and args.skip_over:
                done_ok = [m for m in sizes if results.get(m, {}).get("status") == "ok"]
                growth = (max(1.0, slope(results[done_ok[-2]][clock], res[clock],
                                         done_ok[-2], n)) if len(done_ok) >= 2 else 1.1)
                predicted = res[clock] * (later[0] / n) ** growth
                if predicted > args.skip_over:
                    print(f"{spec:28s} n={later[0]:>7d}  skipped: {predicted:,.0f} "
                          f"{clock.replace('_', ' ')} predicted from n={n} (exponent "
                          f"{growth:.2f}) is over --skip-over {args.skip_over:g}", flush=True)
                    break
        ok = [n for n in sizes if results.get(n, {}).get("status") == "ok"]
        for na, nb in itertools.pairwise(ok):
            ts = slope(results[na][clock], results[nb][clock], na, nb)
            ms = slope(results[na]["peak_bytes"], results[nb]["peak_bytes"], na, nb)
            target = nlogn_slope(na, nb)
            marks = [" >nlogn" if s > target + 0.15 else "" for s in (ts, ms)]
            print(f"{spec:28s} {na}->{nb}: {clock.replace('_', ' ')} exponent "
                  f"{ts:.2f}{marks[0]}, "
                  f"memory exponent {ms:.2f}{marks[1]} (n log n: {target:.2f})", flush=True)
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
