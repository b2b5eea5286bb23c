"""medfuse against its peers, side by side: the same splits, the same machine, the same run.

Every contender (medfuse's strategies, the strategy medfuse's own benchmark selects by inner
CV, plain scikit-learn baselines, mvlearn, fusilli, mixOmics DIABLO through R, AutoGluon) is
fitted on exactly the same training subjects and scored on exactly the same test subjects:

- ROSMAP (MOGONET layout, 3 omics blocks): the fixed train/test split, once per seed (the
  seed changes inner-CV splits and any other randomness);
- GSE7390 (shipped with medfuse: 76-probe expression + clinical): stratified k-fold CV, one
  repetition per seed, the same folds for every tool;
- on request (``--datasets``), two cohorts nobody tuned on, with the same CV as GSE7390:
  nutrimouse (40 mice, gene expression + hepatic fatty acids, 5 diets) and ALL (B-lineage
  acute lymphoblastic leukaemia, expression + clinical, BCR/ABL vs NEG); see
  ``peer_cohorts.py``.

Printed: one markdown table of ACC, F1 and AUC (macro-F1 and one-vs-rest AUC if an outcome
has more than two classes), mean ± sd over seeds (a seed's value is the mean over its
folds), the number of fits whose test predictions are one class only, and the seconds spent
per model; then the wall time of the whole comparison per tool and the time ratios. Every
fit's result goes to ``runs.csv`` in ``--out``. A peer that is not installed is skipped with
a message, so the script runs wherever medfuse does.

    python benchmarks/peers.py [--seeds 3] [--folds 3] [--jobs 2] [--quick]
        [--tools sklearn,mvlearn,mixomics,autogluon,medfuse,selected,fusilli]
        [--datasets ROSMAP,GSE7390,nutrimouse,ALL] [--autogluon-seconds 120]
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_cohorts import COHORTS, CohortUnavailable
from peer_data import (  # noqa: F401  (re-exported: the script's data and splits)
    Contender,
    PeerDataset,
    Split,
    cv_splits,
    fixed_splits,
    gse7390_dataset,
    make_dataset,
    numeric_view,
    rosmap_dataset,
)
from peer_scoring import (  # noqa: F401  (re-exported: scoring and the table)
    best_row,
    constant_models,
    markdown,
    per_seed,
    run_tool,
    score_fit,
    shared_test_sets,
    split_digest,
    summary_table,
)
from rosmap import default_data_dir

#: Tools in the order they run (cheap first, so that a stopped run has the most rows).
TOOLS = ("sklearn", "mvlearn", "mixomics", "autogluon", "medfuse", "selected", "fusilli")
def machine() -> str:
    """CPU model, logical cores and the load when the run starts."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical cores, load {load:.1f} at start, "
            f"Python {platform.python_version()}")


def versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("medfuse", "scikit-learn", "torch", "fusilli", "mvlearn",
                "autogluon.tabular"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            if pkg == "medfuse":
                import medfuse
                out.append(f"medfuse {medfuse.__version__}")
    return ", ".join(out)


def main(argv=None) -> pd.DataFrame:
    import peer_tools

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rosmap", type=Path, default=None, help="folder with the MOGONET files")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed .. first-seed + seeds - 1 (to add seeds to a run)")
    ap.add_argument("--folds", type=int, default=3, help="CV folds on GSE7390")
    ap.add_argument("--select-folds", type=int, default=5,
                    help="inner CV folds of medfuse's strategy selection (a study's default)")
    ap.add_argument("--select-repeats", type=int, default=3,
                    help="repetitions of that inner CV (a study's default)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--datasets", default="ROSMAP,GSE7390",
                    help="comma-separated, from ROSMAP, GSE7390, nutrimouse, ALL")
    ap.add_argument("--quick", action="store_true",
                    help="1 seed, 2 folds, fusilli capped at 20 epochs, AutoGluon 30 s per "
                         "fit (a smoke run)")
    ap.add_argument("--autogluon-seconds", type=float, default=None,
                    help="AutoGluon's time limit per fit, seconds (default 120, 30 with "
                         "--quick)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder (default benchmarks/results/peers-<date>)")
    ap.add_argument("--from-runs", type=Path, nargs="+", default=None,
                    help="only rebuild the table from the runs.csv and walls.csv in these "
                         "folders (no fitting)")
    args = ap.parse_args(argv)
    if args.from_runs is not None:
        return rebuild(args.from_runs)
    if args.quick:
        args.seeds, args.folds, args.select_folds, args.select_repeats = 1, 2, 2, 1
    if args.autogluon_seconds is None:
        args.autogluon_seconds = (peer_tools.AUTOGLUON_QUICK_SECONDS if args.quick
                                  else peer_tools.AUTOGLUON_SECONDS)
    np.seterr(all="ignore")
    started = datetime.datetime.now(datetime.UTC)
    out = args.out or (Path(__file__).resolve().parent / "results"
                       / f"peers-{started:%Y-%m-%d}")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [n for n in wanted if n not in ("ROSMAP", "GSE7390", *COHORTS)]
    if unknown:
        raise SystemExit(f"unknown dataset(s) {', '.join(unknown)}; choose from ROSMAP, "
                         f"GSE7390, {', '.join(COHORTS)}")
    datasets, splits = [], []
    if "ROSMAP" in wanted:
        path = args.rosmap or default_data_dir()
        if path.exists():
            ros, test = rosmap_dataset(path)
            datasets.append(ros)
            splits += fixed_splits("ROSMAP", len(ros), test, seeds)
        else:
            print(f"skip ROSMAP: no data at {path} (pass --rosmap)")
    if "GSE7390" in wanted:
        gse = gse7390_dataset()
        datasets.append(gse)
        splits += cv_splits("GSE7390", gse.y, args.folds, seeds)
    for name in (n for n in wanted if n in COHORTS):
        try:
            cohort = COHORTS[name]()
        except CohortUnavailable as exc:
            print(f"skip {name}: {exc}")
            continue
        datasets.append(cohort)
        splits += cv_splits(name, cohort.y, args.folds, seeds)
    ros = [s for s in splits if s.dataset == "ROSMAP"][:1]
    cv_names = [d.name for d in datasets if d.name != "ROSMAP"]
    settings = (f"seeds {seeds}"
                + (f"; ROSMAP fixed split ({len(ros[0].train)} train / {len(ros[0].test)} "
                   "test subjects)" if ros else "")
                + (f"; {', '.join(cv_names)}: stratified {args.folds}-fold CV per seed"
                   if cv_names else "")
                + "; medfuse selection: "
                f"run_benchmark over every strategy, {args.select_folds}-fold inner CV x "
                f"{args.select_repeats} on the training subjects, ranked by ROC AUC; "
                f"jobs {args.jobs}"
                + ("; --quick (fusilli capped at 20 epochs)" if args.quick else ""))
    if "autogluon" in args.tools:
        settings += f"; AutoGluon time limit {args.autogluon_seconds:g} s per fit"
    print(f"Settings: {settings}")
    print(f"Machine: {machine()}")
    print(f"Versions: {versions()}\n")

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    rows, walls = [], {}
    peer_tools.SELECTION_CACHE = out / "selection-cache"
    for tool in tools:
        contenders, notes = peer_tools.contenders(tool, datasets, quick=args.quick,
                                                  select_folds=args.select_folds,
                                                  select_repeats=args.select_repeats,
                                                  autogluon_seconds=args.autogluon_seconds)
        for note in notes:
            print(f"[{tool}] {note}")
        if not contenders:
            continue
        got, wall = run_tool(contenders, datasets, splits, jobs=args.jobs)
        walls[tool] = wall
        rows += got
        failed = {(r["model"], r["dataset"], r["error"]) for r in got if r["error"]}
        for model, ds, err in sorted(failed):
            print(f"[{tool}] {model} failed on {ds}: {err[:160]}")
        print(f"[{tool}] {len(got)} fits in {wall:.0f} s", flush=True)
        pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)
        pd.Series(walls, name="wall_s").rename_axis("tool").to_csv(out / "walls.csv")
    if not rows:
        raise SystemExit("nothing ran")
    runs = pd.DataFrame(rows)
    runs.to_csv(out / "runs.csv", index=False)
    per_seed(runs).to_csv(out / "per_seed.csv", index=False)
    table = summary_table(runs, [d.name for d in datasets])
    table.to_csv(out / "table.csv", index=False)
    report = report_text(runs, table, walls, [d.name for d in datasets], settings, started)
    (out / "table.md").write_text(report + "\n")
    print(report)
    return runs


def rebuild(folders: Sequence[Path]) -> pd.DataFrame:
    """Print the report of earlier (possibly stopped) runs from their CSV files; with
    several folders their runs are put together (a tool's seeds may come from several
    runs: its wall times add up; a fit in two folders counts once, from the later, and a
    folder whose fits of a tool were all replaced adds none of that tool's wall time)."""
    runs, walls = [], {}
    for i, folder in enumerate(folders):
        runs.append(pd.read_csv(folder / "runs.csv").assign(_folder=i))
    key = ["tool", "model", "dataset", "seed", "fold"]
    runs = pd.concat(runs, ignore_index=True).drop_duplicates(key, keep="last")
    kept = set(zip(runs["_folder"], runs["tool"], strict=True))
    for i, folder in enumerate(folders):
        for tool, wall in pd.read_csv(folder / "walls.csv", index_col=0)["wall_s"].items():
            if (i, tool) in kept:
                walls[tool] = walls.get(tool, 0.0) + float(wall)
    runs = runs.drop(columns="_folder")
    runs[["error", "note"]] = runs[["error", "note"]].fillna("")
    names = list(dict.fromkeys(runs["dataset"]))
    started = datetime.datetime.fromtimestamp((folders[0] / "runs.csv").stat().st_mtime,
                                              datetime.UTC)
    print(report_text(runs, summary_table(runs, names), walls, names,
                      "rebuilt from " + ", ".join(f"{f.name}/runs.csv" for f in folders),
                      started, machine_line="as printed in each run's output"))
    return runs


def splits_done(runs: pd.DataFrame, tool: str) -> int:
    """How many (dataset, seed, fold) splits ``tool`` ran."""
    return len(runs.loc[runs["tool"] == tool, ["dataset", "seed", "fold"]].drop_duplicates())


def report_text(runs: pd.DataFrame, table: pd.DataFrame, walls: dict[str, float],
                datasets: Sequence[str], settings: str, started,
                machine_line: str | None = None) -> str:
    """The markdown table, the per-tool wall times, and medfuse's selection against the
    best peer."""
    lines = [f"Peers side by side, {started:%Y-%m-%d %H:%M} UTC. {settings}.",
             f"Machine: {machine_line or machine()}.", "", markdown(table), ""]
    lines.append("Wall time of the whole comparison per tool (all its splits): "
                 + ", ".join(f"{t} {w:.0f} s ({splits_done(runs, t)} splits)"
                             for t, w in walls.items()) + ".")
    lines.append(f"Every tool saw the same test subjects on every split: "
                 f"{'yes' if shared_test_sets(runs) else 'NO'}.")
    const = constant_models(runs)
    lines.append(f"Models with constant test predictions in at least one fit: {len(const)}"
                 + (f" ({'; '.join(const)})" if const else "") + ".")
    sel = runs[runs["tool"] == "selected"]
    if not sel.empty:
        lines += handover_lines(runs, sel, walls, datasets)
    return "\n".join(lines)


ENSEMBLE_MODEL = "handed over (select: ensemble)"
BEST_MODEL = "handed over (select: best)"


def _seconds(note: str, label: str) -> float:
    """The seconds a handed-over contender's note gives for ``label``."""
    import re

    found = re.search(rf"{label} ([0-9.]+) s", str(note))
    return float(found.group(1)) if found else float("nan")


def handover_lines(runs: pd.DataFrame, sel: pd.DataFrame, walls: dict[str, float],
                   datasets: Sequence[str]) -> list[str]:
    """What medfuse hands over against every peer and against its own best strategy in
    hindsight, how stable the choices were, and what the ensemble cost."""
    lines = []
    peers = [t for t in walls if t not in ("medfuse", "selected")]
    for model in sel["model"].unique():
        if model == ENSEMBLE_MODEL:
            continue
        picks = sel[sel["model"] == model].groupby("dataset")["note"].agg(
            lambda v: ", ".join(f"{k} x{n}" for k, n in pd.Series(
                [note.split(";")[0] for note in v]).value_counts().items()))
        lines.append(f"{model}, chosen per split: "
                     + "; ".join(f"{d}: {p}" for d, p in picks.items()) + ".")
    for name, (metric, label), model in itertools.product(
            datasets, (("accuracy", "ACC"), ("f1", "F1"), ("roc_auc", "AUC")),
            (ENSEMBLE_MODEL, BEST_MODEL)):
        # the handed-over model is shown even when a fit of it was constant
        mine = best_row(runs[runs["model"] == model], name, metric, ["selected"],
                        constant=True)
        best = best_row(runs, name, metric, peers)
        own = best_row(runs, name, metric, ["medfuse"])
        if not mine:
            continue
        text = f"{name} {label}: {model} {mine[1]:.3f}"
        if best:
            gap = mine[1] - best[1]
            text += (f"; best non-constant peer {best[0]} {best[1]:.3f} ("
                     + ("at or above every peer" if gap >= 0 else
                        f"a peer is ahead by {-gap:.3f}") + ")")
        if own:
            text += (f"; medfuse's best single strategy in hindsight {own[0]} "
                     f"{own[1]:.3f} (gap {mine[1] - own[1]:+.3f})")
        lines.append(text + ".")
    ens = sel[sel["model"] == ENSEMBLE_MODEL]
    rank = sel[sel["model"] == "top of the CV ranking"]
    if not ens.empty:
        bench = ens["note"].map(lambda n: _seconds(n, "benchmark"))
        extra = ens["note"].map(lambda n: _seconds(n, "choice and refit"))
        single = rank["note"].map(lambda n: _seconds(n, "choice and refit")).mean()
        lines.append(
            f"Cost of the ensemble: its weights and the refit of its members took "
            f"{extra.mean():.1f} s per split on top of a {bench.mean():.1f} s benchmark "
            f"({100 * extra.sum() / bench.sum():.1f} %; refitting the top-ranked strategy "
            f"alone took {single:.1f} s, so the ensemble's own extra is "
            f"{100 * (extra.mean() - single) / bench.mean():.1f} %).")
    return lines


if __name__ == "__main__":
    main()
