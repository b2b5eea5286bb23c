"""``medfuse benchmark`` and ``medfuse demo``: thin layers over
:func:`medfuse.study.run_study`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from medfuse.cli._common import DASH, console, fail, shown

DEMO_FOLDS, DEMO_REPEATS = 5, 2
QUICK_FOLDS, QUICK_REPEATS = 3, 1
#: strategies of the quick demo (those registered are used; all when none is)
QUICK_STRATEGIES = ("unimodal", "early", "late-mean", "late-weighted")


WARNING = "[yellow]warning:[/yellow] "


def _log(message) -> None:
    """What the study shows: text (with names from the study's files) escaped, a warning's
    prefix kept; tables as they are."""
    if isinstance(message, str):
        prefix = WARNING if message.startswith(WARNING) else ""
        console.print(prefix + shown(message.removeprefix(prefix)))
    else:
        console.print(message)


def _show_warnings(caught) -> None:
    """medfuse's own warnings of a run (a damaged cache entry recomputed, subjects left
    out, ...), each once; other libraries' warnings are not shown."""
    seen = set()
    for w in caught:
        if "medfuse" not in Path(w.filename).parts or str(w.message) in seen:
            continue
        seen.add(str(w.message))
        console.print(WARNING + shown(w.message))


def _run(train, test, out: Path, **kwargs):
    """Run a study with the data summary, progress bar and ranked results on the console."""
    from medfuse.evaluate.interrupt import BenchmarkInterrupted
    from medfuse.study import run_study

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outputs = run_study(train, test, out, progress=True, log=_log, **kwargs)
        _show_warnings(caught)
    except BenchmarkInterrupted as stop:
        console.print(f"interrupted: {stop}; rerun the same command with --resume to continue")
        raise typer.Exit(code=stop.exit_code) from None
    result = outputs.result
    written = [outputs.results, outputs.robustness, outputs.comparison, outputs.report]
    written += [outputs.failures] if outputs.failures is not None else []
    if not result.strategies:
        console.print(f"wrote {', '.join(map(str, written))}")
        failures = "; ".join(f"{name}: {err}" for name, err in result.errors.items())
        fail(f"every strategy failed; nothing to rank or save. {failures}", code=1)
    console.print(summary_table(result))
    reused = result.settings.get("reused", 0)
    console.print(f"wrote {', '.join(map(str, written))}"
                  + (f" and the {_handed_over(result)} model in {outputs.model}"
                     if outputs.model else "")
                  + (f"; {reused} of {result.settings['fits']} fits reused from the cache"
                     if reused else ""))
    return outputs


def _handed_over(result) -> str:
    """The name of the model the study saved (``select:``)."""
    return (result.settings.get("handover") or {}).get("name") or str(result.best)


def summary_table(result):
    """A rich table: strategies ranked by the primary metric, CV (and test) mean ± sd."""
    import numpy as np
    from rich.table import Table
    from rich.text import Text

    from medfuse.evaluate.metrics import metric_label

    res = result.results()
    metric = result.primary_metric
    table = Table(title=f"medfuse benchmark: ranked by CV {metric}")
    table.add_column("strategy")
    has_test = (res["split"] == "test").any()
    second = ("td_auc" if getattr(result, "task", "classification") == "survival"
              else "balanced_accuracy")
    second = "c_index" if second == metric else second
    cols = [(metric, "cv"), (second, "cv")]
    if has_test:
        cols += [(metric, "test"), ("c_index" if second != "balanced_accuracy"
                                    else "accuracy", "test")]
    for m, split in cols:
        table.add_column(f"{metric_label(m)} {split}", justify="right", no_wrap=True)
    ranking = result.ranking("cv")
    order = list(ranking.index) + [s for s in result.strategies if s not in ranking.index]
    deterministic = set(result.deterministic_strategies()) if has_test else set()
    for s in order:
        cells = []
        for m, split in cols:
            r = res[(res["strategy"] == s) & (res["metric"] == m) & (res["split"] == split)]
            if r.empty or not np.isfinite(r["mean"].iloc[0]):
                cells.append(DASH)
                continue
            sd = r["sd"].iloc[0]
            if (split == "test" and s in deterministic) or not np.isfinite(sd):
                spread = ""
            elif 0 < sd < 0.005:
                spread = " ± <0.01"
            else:
                spread = f" ± {sd:.2f}"
            cells.append(f"{r['mean'].iloc[0]:.3f}{spread}")
        table.add_row(Text(s), *cells, style="bold" if s == result.best else None)
    if deterministic:
        table.caption = ("test columns of " + ", ".join(sorted(deterministic))
                         + ": deterministic (the same result for every seed)")
    return table



def benchmark(
    study_file: Annotated[Path, typer.Argument(help="The study YAML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "medfuse-out"),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel workers.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Reuse finished (strategy, fold) "
                                         "results cached in OUT/cache.")] = False,
    strategies: Annotated[str | None, typer.Option(help="Comma-separated strategy names "
                                                   "(overrides the study file).")] = None,
    folds: Annotated[int | None, typer.Option(help="Override cv.folds.")] = None,
    repeats: Annotated[int | None, typer.Option(help="Override cv.repeats.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Override seeds (test-set refits).")] = None,
    robustness: Annotated[bool, typer.Option(help="Score modality subsets.")] = True,
    explain: Annotated[bool, typer.Option(help="Add the interpretation section of the best "
                                          "model to the report.")] = True,
    budget: Annotated[float | None, typer.Option(
        min=0, help="Seconds one fit may take (overrides budget: in the study file; 0: no "
                    "limit).")] = None,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="With --resume, try again fits that went over budget.")] = False,
    raw_csv: Annotated[bool, typer.Option(
        "--raw-csv", help="Write the tables' text exactly as it is; by default a cell starting "
                          "with =, +, - or @ gets a leading ' so that a spreadsheet shows it "
                          "instead of running it.")] = False,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="ADDRESS",
        help="Run the fits on a running Dask cluster, e.g. tcp://host:8786 (every worker "
             "needs the same medfuse version; the data are sent to each worker once).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", metavar="local",
        help="local: start a Dask LocalCluster of --jobs worker processes for this run.")
    ] = None,
) -> None:
    """Run a study: leakage-free CV (and test-set) benchmark, tables, best model, report."""
    from medfuse.config import check_strategy_names, load_study
    from medfuse.evaluate.cluster import ClusterError

    address = _scheduler(scheduler, cluster)
    try:
        study = load_study(study_file)
        if strategies is not None:
            names = [s.strip() for s in strategies.split(",") if s.strip()]
            try:
                check_strategy_names(names)
            except ValueError as err:
                fail(f"--strategies: {err}")
        train, test = study.load()
        _run(
            train, test, out,
            strategies=names if strategies else study.strategies, exclude=study.exclude,
            params=study.params, representations=study.representations,
            folds=folds or study.cv.folds,
            repeats=repeats or study.cv.repeats, seed=study.cv.seed, scheme=study.cv_scheme,
            seeds=seeds or study.seeds, primary_metric=study.primary_metric,
            robustness=robustness and study.robustness, jobs=jobs, resume=resume,
            explain=explain, task=study.task, retry_failed=retry_failed,
            budget=study.budget if budget is None else (budget or None),
            harmonize=study.harmonize, batch=study.batch_column, screening=study.screening,
            impute=study.impute, conformal=study.conformal, raw_csv=raw_csv,
            select=study.select, unlabelled=study.unlabelled, scheduler=address,
            study=study.model_dump(mode="json"), title=f"medfuse benchmark: {study.name}")
    except (ValueError, FileNotFoundError, ClusterError) as err:
        # StudyError, DataValidationError, ConfoundingError and the registry's unknown
        # names are ValueErrors: bad input, exit 2 with the message
        fail(err)


def _scheduler(scheduler: str | None, cluster: str | None) -> str | None:
    """The Dask scheduler of ``--scheduler`` / ``--cluster`` (None: no cluster); a wrong
    combination or value ends the command (exit 2)."""
    if scheduler is not None and cluster is not None:
        fail("--scheduler and --cluster: give one (--cluster local starts a cluster, "
             "--scheduler uses a running one)")
    if cluster is not None and cluster != "local":
        fail(f"--cluster {cluster!r}: the only cluster medfuse starts is 'local'; for another "
             "one start its scheduler and workers, then give --scheduler ADDRESS")
    if scheduler is not None and "://" not in scheduler:
        fail(f"--scheduler {scheduler!r}: give the scheduler's address with its protocol, "
             "e.g. tcp://host:8786")
    return "local" if cluster is not None else scheduler


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    quick: Annotated[bool, typer.Option("--quick", help="3 folds, 1 repeat, a few fast "
                                        "strategies and no interpretation section (about a "
                                        "minute).")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel workers.")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="Reuse cached results.")] = False,
    explain: Annotated[bool | None, typer.Option(
        help="Add the interpretation section of the best model to the report (default: "
             "yes, except with --quick).")] = None,
) -> None:
    """Benchmark every available strategy on the GSE7390 breast cancer cohort.

    Expression + clinical modalities, outcome: distant metastasis within 5 years.
    """
    from medfuse.data import load_gse7390
    from medfuse.evaluate.runner import resolve_strategies

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_gse7390()
    strategies: str | list[str] = "all"
    if quick:
        names = list(resolve_strategies(data, "all"))
        strategies = [n for n in names if n.split(":")[0] in QUICK_STRATEGIES] or names
    folds, repeats = (QUICK_FOLDS, QUICK_REPEATS) if quick else (DEMO_FOLDS, DEMO_REPEATS)
    study = {"name": "demo-gse7390", "data": "load_gse7390() (scikit-survival)",
             "outcome": "metastasis_5y", "cv": {"folds": folds, "repeats": repeats, "seed": 0},
             "quick": quick}
    try:
        _run(data, None, out, strategies=strategies, folds=folds, repeats=repeats,
                  jobs=jobs, resume=resume, study=study,
                  explain=(not quick) if explain is None else explain,
                  title="medfuse demo: GSE7390, 5-year distant metastasis")
    except (ValueError, FileNotFoundError) as err:
        fail(err)


