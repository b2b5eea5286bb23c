"""A whole study as one function: benchmark -> tables -> refitted best model -> report.

The command line's ``benchmark`` and ``demo`` are thin layers over :func:`run_study`; it
prints nothing itself (``log`` receives what to show, e.g. ``rich.console.Console.print``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StudyOutputs:
    """Paths written by :func:`run_study`, and the benchmark result."""

    result: object
    results: Path
    robustness: Path
    comparison: Path
    report: Path
    model: Path | None


def run_study(train, test, out: str | Path, *, strategies="all", exclude=(), params=None,
              representations=None, folds: int = 5, repeats: int = 3, seed: int = 0,
              scheme: str = "stratified", seeds: int = 5, primary_metric: str = "roc_auc",
              robustness: bool = True, jobs: int = 1, resume: bool = False,
              save_model: bool = True, study: dict | None = None,
              title: str = "medfuse benchmark", explain: bool = True,
              task: str = "classification", progress: bool = False,
              budget: float | None = 1800.0, retry_failed: bool = False,
              log: Callable[[object], None] | None = None) -> StudyOutputs:
    """Benchmark strategies on ``train`` (and ``test``), then write the CSV tables, the best
    strategy refitted on all training subjects (``out/model``) and ``out/report.html``.

    Parameters
    ----------
    train, test : MultiModalData (test may be None).
    out : output folder (also holds the cache of finished fits).
    strategies, exclude, params, representations : see
        :func:`medfuse.evaluate.runner.resolve_strategies`; ``strategies`` may also be one
        comma-separated string.
    folds, repeats, seed, scheme, seeds, primary_metric, robustness, jobs, resume, task :
        see :func:`medfuse.evaluate.runner.run_benchmark`. ``task="survival"``: survival
        strategies on ``obs`` columns ``time`` and ``event``.
    save_model : refit and save the best strategy.
    study : the study settings, shown in the report and saved in the model's manifest.
    title : the report's title.
    explain : add the interpretation section of the best model to the report.
    progress : show a progress bar.
    budget, retry_failed : seconds one fit may take (default
        :data:`medfuse.evaluate.budget.DEFAULT_BUDGET`, 30 minutes; None: no limit) and
        whether ``resume`` tries again fits recorded over budget; see
        :func:`medfuse.evaluate.runner.run_benchmark`.
    log : receives what to show (the data summary, the strategies, warnings).

    Raises
    ------
    medfuse.evaluate.interrupt.BenchmarkInterrupted
        on SIGINT or SIGTERM during the benchmark (finished fits stay cached).
    """
    from medfuse.evaluate.runner import refit_best, resolve_strategies, run_benchmark
    from medfuse.persist import save_model as save
    from medfuse.report import write_report

    show = log or (lambda _: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(strategies, str) and strategies != "all":
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    estimators = resolve_strategies(train, strategies, exclude=exclude, params=params,
                                    task=task, representations=representations)
    groups = "group" if scheme == "grouped" else None
    sites = "batch" if scheme == "leave-site-out" else None
    show(train.summary())
    show(f"strategies ({len(estimators)}): {', '.join(estimators)}")
    result = run_benchmark(
        train, estimators, test=test, folds=folds, repeats=repeats, seed=seed, scheme=scheme,
        groups=groups, sites=sites, seeds=seeds, primary_metric=primary_metric,
        robustness=robustness, out=out, resume=resume, jobs=jobs, progress=progress,
        settings={"strategies": list(estimators), "params": dict(params or {}),
                  "representations": dict(representations or {})}, task=task,
        budget=budget, retry_failed=retry_failed)
    paths = result.write(out)
    for name, err in result.errors.items():
        show(f"[yellow]warning:[/yellow] strategy {name} failed and is left out: {err}")
    model_dir, model = None, None
    best = result.best
    if save_model and best is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = refit_best(train, estimators[best], seed=seed)
        ranking = result.ranking("cv")
        model_dir = save(model, out / "model", strategy=best, extra={
            "primary_metric": primary_metric,
            "cv_score": float(ranking[best]) if best in ranking.index else None,
            "study": (study or {}).get("name")})
    report = write_report(out / "report.html", result, train, test=test, model=model,
                          study=study, title=title, explain=explain)
    return StudyOutputs(result, paths["results"], paths["robustness"], paths["comparison"],
                        report, model_dir)
