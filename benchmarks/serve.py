"""Latency and throughput of ``medfuse serve`` on loopback, for single-subject predictions.

Usage: ``python benchmarks/serve.py [--requests 400] [--seconds 20] [--concurrency 1,8,32]
[--workers 1,2] [--model NAME=DIR ...] [--keep DIR]``

Without ``--model``, two models are made in a temporary folder (or ``--keep DIR``, reused
when already there):

- ``late-mean``: fitted on a simulated cohort (300 subjects: 200 RNA-seq counts, 60
  radiomics-like features, 6 clinical columns) and saved with ``save_model``;
- ``ensemble``: what the main job hands over with ``select: ensemble``: ``medfuse
  benchmark`` on the embedded GSE7390 cohort (76 expression features + 4 clinical columns)
  with the strategies of ``demo --quick``, 3 folds, 1 repeat; its ``out/model`` folder.

Each model is served by ``medfuse serve`` (a subprocess on a free loopback port, rate limit
off; once per ``--workers`` setting); client threads (one keep-alive ``httpx`` connection
each) post single-subject ``/predict`` requests, cycling over held-out subjects, at each
concurrency until ``--requests`` are answered or ``--seconds`` have passed. Client and
server share the machine's cores, so the latencies include the client's own work. Printed:
p50, p95 and p99 latency, throughput and the ratio of p95 to the goal (50 ms at concurrency
8), with the load average before and after.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 50.0
GOAL_CONCURRENCY = 8
QUICK = ("unimodal", "early", "late-mean", "late-weighted")


def _late_mean(folder: Path) -> tuple[Path, list[dict]]:
    from medfuse.data import make_cohort
    from medfuse.fusion import make
    from medfuse.persist import save_model

    data = make_cohort(300, random_state=0)
    model_dir = folder / "late-mean"
    if not (model_dir / "manifest.json").exists():
        save_model(make("late-mean", random_state=0).fit(data[:250]), model_dir,
                   strategy="late-mean")
    return model_dir, [_subject(data, s) for s in data.subjects[250:]]


def _ensemble(folder: Path) -> tuple[Path, list[dict]]:
    import yaml

    from medfuse.data import load_gse7390, write_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_gse7390()
    model_dir = folder / "ensemble-out" / "model"
    if not (model_dir / "manifest.json").exists():
        write_folder(data, folder / "gse7390")
        study = {"name": "serve-benchmark", "format": "folder", "path": "gse7390",
                 "outcome": data.outcome, "strategies": "all", "select": "ensemble",
                 "cv": {"folds": 3, "repeats": 1, "seed": 0}, "robustness": False}
        from medfuse.evaluate.runner import resolve_strategies

        study["strategies"] = [n for n in resolve_strategies(data, "all")
                               if n.split(":")[0] in QUICK]
        (folder / "study.yaml").write_text(yaml.safe_dump(study))
        print(f"running medfuse benchmark (select: ensemble, {len(study['strategies'])} "
              "strategies, 3 folds) for the handed-over model ...", flush=True)
        subprocess.run([sys.executable, "-m", "medfuse.cli", "benchmark",
                        str(folder / "study.yaml"), "--out", str(folder / "ensemble-out"),
                        "--no-explain", "--jobs", "1"], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return model_dir, [_subject(data, s) for s in data.subjects[:50]]


def _subject(data, subject) -> dict:
    modalities = {}
    for m in data.modality_names:
        if data.available.loc[subject, m]:
            row = data.block(m).loc[subject]
            modalities[m] = {str(k): (None if _missing(v) else v.item() if hasattr(v, "item")
                                      else v) for k, v in row.items()}
    return {"id": str(subject), "modalities": modalities}


def _missing(value) -> bool:
    return isinstance(value, float) and value != value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """``medfuse serve`` on a free loopback port, rate limit off."""

    def __init__(self, model_dir: Path, folder: Path, token: str, name: str,
                 workers: int) -> None:
        import httpx

        token_file = folder / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.log = open(folder / f"serve-{name}-{workers}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "medfuse.cli", "serve", str(model_dir), "--port",
             self.url.rsplit(":", 1)[1], "--token-file", str(token_file), "--rate-limit",
             "0", "--workers", str(workers)], cwd=REPO, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"medfuse serve ended; see {self.log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("medfuse serve did not answer within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def measure(url: str, token: str, bodies: list[bytes], concurrency: int, requests: int,
            seconds: float) -> dict:
    """Post ``bodies`` (cycling) from ``concurrency`` threads; latencies in ms."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[int] = []
    counter = itertools.count()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            while True:
                k = next(counter)
                if k >= requests or time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                response = c.post("/predict", content=bodies[k % len(bodies)])
                elapsed = 1000 * (time.perf_counter() - start)
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"concurrency": concurrency, "requests": len(latencies), "failed": len(failures),
            "p50": p50, "p95": p95, "p99": p99, "per_second": len(latencies) / wall}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400,
                        help="requests per concurrency level (default 400)")
    parser.add_argument("--seconds", type=float, default=20,
                        help="the most seconds per concurrency level (default 20)")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", default="1,2", help="worker processes of the service, "
                        "one run per value (default 1,2)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                        help="serve this model folder instead of the two made here; the "
                             "requests are subjects of the embedded GSE7390 cohort, so the "
                             "model must read expression and/or clinical (e.g. "
                             "demo-out/model); repeatable")
    parser.add_argument("--keep", type=Path, default=None,
                        help="make (or reuse) the models in this folder")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, levels, worker_counts, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
            run(args, levels, worker_counts, Path(tmp))


def run(args, levels: list[int], worker_counts: list[int], folder: Path) -> None:
    """Make or read the models in ``folder``, serve each and print the table."""
    if args.model:
        from medfuse.data import load_gse7390

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_gse7390()
        subjects = [_subject(data, s) for s in data.subjects[:50]]
        models = {name: (Path(d), subjects) for name, d in
                  (item.split("=", 1) for item in args.model)}
    else:
        models = {"late-mean": _late_mean(folder), "ensemble": _ensemble(folder)}
    token = secrets.token_urlsafe(32)
    load_before = os.getloadavg()
    print(f"# python benchmarks/serve.py --requests {args.requests} --seconds {args.seconds} "
          f"--concurrency {args.concurrency} --workers {args.workers}")
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, load average before "
          f"{load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min)")
    header = (f"{'model':<10} {'strategy':<10} {'workers':>7} {'conc':>4} {'requests':>8} "
              f"{'failed':>6} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>7} {'p95/goal':>8}")
    print(header)
    print("-" * len(header))
    summary = {}
    for name, (model_dir, subjects) in models.items():
        strategy = json.loads((model_dir / "manifest.json").read_text())["strategy"]
        bodies = [json.dumps({"subjects": [s]}).encode() for s in subjects]
        for workers in worker_counts:
            server = _Server(model_dir, folder, token, name, workers)
            try:
                measure(server.url, token, bodies, max(levels), 20 * workers, 60)  # warm-up
                for c in levels:
                    row = measure(server.url, token, bodies, c, args.requests, args.seconds)
                    summary[(name, workers, c)] = row
                    print(f"{name:<10} {strategy[:10]:<10} {workers:>7} {c:>4} "
                          f"{row['requests']:>8} {row['failed']:>6} {row['p50']:>7.1f} "
                          f"{row['p95']:>7.1f} {row['p99']:>7.1f} {row['per_second']:>7.1f} "
                          f"{row['p95'] / GOAL_MS:>8.2f}", flush=True)
            finally:
                server.stop()
    load_after = os.getloadavg()
    print(f"# goal: p95 < {GOAL_MS:g} ms at concurrency {GOAL_CONCURRENCY}; load average "
          f"after {load_after[0]:.2f} (1 min)")
    for (name, workers, c), row in summary.items():
        if c == GOAL_CONCURRENCY:
            verdict = "meets" if row["p95"] < GOAL_MS else "misses"
            print(f"# {name}, {workers} worker(s): p95 {row['p95']:.1f} ms at concurrency {c} "
                  f"= {row['p95'] / GOAL_MS:.2f} x the goal ({verdict} it)")


if __name__ == "__main__":
    main()
