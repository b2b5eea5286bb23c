"""The study commands of the ``medfuse`` CLI: ``benchmark``, ``demo`` and ``predict``.

:func:`register` adds them to the typer app of :mod:`medfuse.cli`; :func:`run_study` is the
same pipeline as a function (benchmark -> tables -> refitted best model -> report).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

console = Console()

DEMO_FOLDS, DEMO_REPEATS = 5, 2
QUICK_FOLDS, QUICK_REPEATS = 3, 1
#: strategies of the quick demo (those registered are used; all when none is)
QUICK_STRATEGIES = ("unimodal", "early", "late-mean", "late-weighted")
DASH = "\u2013"  # shown for undefined values


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
              folds: int = 5, repeats: int = 3, seed: int = 0, scheme: str = "stratified",
              seeds: int = 5, primary_metric: str = "roc_auc", robustness: bool = True,
              jobs: int = 1, resume: bool = False, save_model: bool = True,
              study: dict | None = None, title: str = "medfuse benchmark",
              explain: bool = True, show: bool = True,
              task: str = "classification") -> StudyOutputs:
    """Benchmark strategies on ``train`` (and ``test``), then write the CSV tables, the best
    strategy refitted on all training subjects (``out/model``) and ``out/report.html``.

    ``task="survival"``: survival strategies on ``obs`` columns ``time`` and ``event``
    (see :func:`medfuse.evaluate.benchmark.run_benchmark`); the report's interpretation
    section then attributes the predicted risk to the modalities."""
    from medfuse.evaluate.benchmark import refit_best, resolve_strategies, run_benchmark
    from medfuse.persist import save_model as save
    from medfuse.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(strategies, str) and strategies != "all":
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    estimators = resolve_strategies(train, strategies, exclude=exclude, params=params,
                                    task=task)
    groups = "group" if scheme == "grouped" else None
    sites = "batch" if scheme == "leave-site-out" else None
    if show:
        console.print(train.summary())
        console.print(f"strategies ({len(estimators)}): {', '.join(estimators)}")
    result = run_benchmark(
        train, estimators, test=test, folds=folds, repeats=repeats, seed=seed, scheme=scheme,
        groups=groups, sites=sites, seeds=seeds, primary_metric=primary_metric,
        robustness=robustness, out=out, resume=resume, jobs=jobs, progress=show,
        settings={"strategies": list(estimators), "params": dict(params or {})}, task=task)
    paths = result.write(out)
    for name, err in result.errors.items():
        console.print(f"[yellow]warning:[/yellow] strategy {name} failed and is left out: {err}")
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
    if show:
        console.print(summary_table(result))
        console.print(f"wrote {paths['results']}, {paths['robustness']}, "
                      f"{paths['comparison']}, {report}"
                      + (f" and the {best} model in {model_dir}" if model_dir else ""))
    return StudyOutputs(result, paths["results"], paths["robustness"], paths["comparison"],
                        report, model_dir)


def summary_table(result) -> Table:
    """A rich table: strategies ranked by the primary metric, CV (and test) mean ± sd."""
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
    short = {"roc_auc": "AUC", "balanced_accuracy": "bal. acc", "accuracy": "acc",
             "brier": "Brier", "c_index": "C-index", "td_auc": "td-AUC"}
    for m, split in cols:
        table.add_column(f"{short.get(m, m)} {split}", justify="right", no_wrap=True)
    ranking = result.ranking("cv")
    order = list(ranking.index) + [s for s in result.strategies if s not in ranking.index]
    for s in order:
        cells = []
        for m, split in cols:
            r = res[(res["strategy"] == s) & (res["metric"] == m) & (res["split"] == split)]
            if r.empty or not np.isfinite(r["mean"].iloc[0]):
                cells.append(DASH)
            else:
                sd = r["sd"].iloc[0]
                cells.append(f"{r['mean'].iloc[0]:.3f}"
                             + (f" ± {sd:.2f}" if np.isfinite(sd) else ""))
        table.add_row(s, *cells, style="bold" if s == result.best else None)
    return table


def _fail(err: Exception) -> NoReturn:
    console.print(f"[red]error:[/red] {err}")
    raise typer.Exit(code=2)


# ---------------------------------------------------------------------- commands
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
) -> None:
    """Run a study: leakage-free CV (and test-set) benchmark, tables, best model, report."""
    from medfuse.config import StudyError, load_study
    from medfuse.data import DataValidationError

    try:
        study = load_study(study_file)
        train, test = study.load()
        run_study(
            train, test, out,
            strategies=strategies or study.strategies, exclude=study.exclude,
            params=study.params, folds=folds or study.cv.folds,
            repeats=repeats or study.cv.repeats, seed=study.cv.seed, scheme=study.cv_scheme,
            seeds=seeds or study.seeds, primary_metric=study.primary_metric,
            robustness=robustness and study.robustness, jobs=jobs, resume=resume,
            explain=explain, task=study.task,
            study=study.model_dump(mode="json"), title=f"medfuse benchmark: {study.name}")
    except (StudyError, DataValidationError, FileNotFoundError) as err:
        _fail(err)


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
    from medfuse.evaluate.benchmark import resolve_strategies

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
        run_study(data, None, out, strategies=strategies, folds=folds, repeats=repeats,
                  jobs=jobs, resume=resume, study=study,
                  explain=(not quick) if explain is None else explain,
                  title="medfuse demo: GSE7390, 5-year distant metastasis")
    except (ValueError, FileNotFoundError) as err:
        _fail(err)


def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by benchmark.")],
    data: Annotated[Path, typer.Argument(help="A study YAML file, a folder of modality files "
                                              "(first column = subject ID), a MOGONET folder "
                                              "or a .h5mu file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of predictions.")] = Path(
        "predictions.csv"),
    trust: Annotated[list[str] | None, typer.Option(
        help="Also load this class (or function) of your own, given by its exact fully "
             "qualified name, e.g. 'mylab.models.MyStrategy'; repeatable. Prefixes are "
             "refused, and a trust list inside the model folder is never read.")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Add each subject's modality attributions: Shapley values of the "
                          "explained class probability (columns shapley_*).")] = False,
) -> None:
    """Predict new subjects with a saved model; each may have any subset of the modalities."""
    from medfuse.data import DataValidationError
    from medfuse.persist import UntrustedModelError, load_model

    try:
        model = load_model(model_dir, trust=tuple(trust or ()))
        new = _read_new(data)
        table = predict_table(model, new)
        if explain:
            table = explain_table(table, model, new)
    except (DataValidationError, FileNotFoundError, UntrustedModelError, ValueError) as err:
        _fail(err)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out)
    n_none = int(table.iloc[:, 0].isna().sum())
    console.print(f"wrote {len(table) - n_none} predictions to {out}"
                  + (f"; {n_none} subject(s) have none of the model's modalities"
                     if n_none else ""))


def _read_new(path: Path):
    from medfuse.data import MultiModalData, read_data

    if path.suffix in (".yaml", ".yml"):
        from medfuse.config import load_study

        train, test = load_study(path).load()
        return train if test is None else MultiModalData.concat([train, test])
    return read_data(path)


def predict_table(model, data) -> pd.DataFrame:
    """Predictions per subject: predicted class, class probabilities and the modalities used
    (those of the model the subject has); subjects with none of them get empty cells.

    A survival model gives a ``risk`` column instead (higher = earlier event; a relative
    score on the model's own scale) and no class columns."""
    from medfuse.fusion.base import is_survival

    used_mask = np.zeros((len(data), len(model.modalities_)), dtype=bool)
    avail = data.available
    for j, m in enumerate(model.modalities_):
        if m in avail.columns:
            used_mask[:, j] = avail[m].to_numpy()
    rows = used_mask.any(axis=1)
    if is_survival(model):
        risk = np.full(len(data), np.nan)
        if rows.any():
            risk[rows] = model.predict(data[np.flatnonzero(rows)])
        table = pd.DataFrame({"risk": risk}, index=data.subjects)
        return _with_used(table, model, used_mask)
    proba = np.full((len(data), len(model.classes_)), np.nan)
    if rows.any():
        proba[rows] = model.predict_proba(data[np.flatnonzero(rows)])
    pred = pd.Series(pd.NA, index=data.subjects, dtype=object)
    pred[rows] = model.classes_[np.argmax(proba[rows], axis=1)]
    table = pd.DataFrame({"prediction": pred}, index=data.subjects)
    for k, c in enumerate(model.classes_):
        table[f"proba_{c}"] = proba[:, k]
    return _with_used(table, model, used_mask)


def _with_used(table: pd.DataFrame, model, used_mask: np.ndarray) -> pd.DataFrame:
    table["modalities_used"] = ["+".join(m for m, u in zip(model.modalities_, r, strict=True)
                                         if u) for r in used_mask]
    table.index.name = "subject"
    return table


def explain_table(table: pd.DataFrame, model, data) -> pd.DataFrame:
    """``table`` (from :func:`predict_table`) with per-subject modality Shapley values:
    ``explained_class`` (binary: the second class; multiclass: the predicted one;
    survival: ``risk``), ``shapley_base`` (training class frequency; survival: the mean risk
    of the explained subjects) and ``shapley_<modality>``, which add up to the probability
    of ``explained_class`` (or the risk); empty for subjects without a prediction."""
    from medfuse.explain import modality_shapley

    column = "risk" if "risk" in table.columns else "prediction"
    rows = np.flatnonzero(table[column].notna().to_numpy())
    if not len(rows):
        return table
    return table.join(modality_shapley(model, data[rows]).per_prediction())


def register(app: typer.Typer) -> None:
    """Add ``benchmark``, ``demo`` and ``predict`` to the ``medfuse`` app."""
    app.command("benchmark")(benchmark)
    app.command("demo")(demo)
    app.command("predict")(predict)
