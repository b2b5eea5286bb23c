"""A whole study as one function: benchmark -> tables -> refitted best model -> report.

The command line's ``benchmark`` and ``demo`` are thin layers over :func:`run_study`; it
prints nothing itself (``log`` receives what to show, e.g. ``rich.console.Console.print``).

Before anything is fitted it checks the design on the shared splits: the association of
batch and outcome in every fold's training subjects (:mod:`medfuse.evaluate.confounding`),
and, with harmonization, that every held-out batch had training subjects in its fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medfuse.evaluate.ensemble import DERIVED, ENSEMBLE
from medfuse.files import (
    UnsafePathError,
    confined_folder,
    csv_text,
    remove_file,
    write_file,
)
from medfuse.study.chains import (
    _harmonize_spec,
    _screening_spec,
    _with_step,
    harmonization_chains,
    screening_chains,
)
from medfuse.study.design import check_design, check_learners, study_splits
from medfuse.study.handover import RULES, check_select, choose
from medfuse.study.imputation import _impute_spec, imputation_methods, imputed_estimators
from medfuse.study.unlabelled import study_unlabelled


@dataclass
class StudyOutputs:
    """Paths written by :func:`run_study`, and the benchmark result.

    Parameters
    ----------
    result : BenchmarkResult
        The benchmark.
    results, robustness, comparison : Path
        ``results.csv``, ``robustness.csv`` and ``comparison.csv``.
    report : Path
        ``report.html``.
    model : Path or None
        The saved model folder; None when no model was saved (e.g. every strategy failed).
    failures : Path or None
        ``failures.csv`` (strategy, error) when some strategy failed, else None.
    """

    result: object
    results: Path
    robustness: Path
    comparison: Path
    report: Path
    model: Path | None
    failures: Path | None = None


def strategy_estimators(train, strategies="all", *, exclude=(), params=None,
                        representations=None, task: str = "classification", harmonize=None,
                        batch: str | None = None, screening=None, impute=None,
                        conformal=None, seed: int | None = None) -> dict[str, object]:
    """The unfitted strategies of a study by name.

    Parameters
    ----------
    train : MultiModalData
        The training subjects.
    strategies, exclude, params, representations, task
        See :func:`medfuse.evaluate.runner.resolve_strategies`.
    harmonize : :class:`medfuse.config.HarmonizeSpec` or its dict, optional
        Every strategy then gets, for each harmonized modality, ``ObsChain([harmonizer,
        default preprocessing])`` in its ``preprocessors`` parameter, so the harmonizer is
        refitted wherever the strategy is (in every fold, and in the saved model).
    batch : str, optional
        The obs column holding the batch (needed with ``harmonize``).
    screening : ScreeningSpec or dict, optional
        Every strategy then gets, for each screened modality, a
        :class:`~medfuse.preprocess.screening.FeatureScreen` in that chain, after the
        harmonizer and before the default preprocessing (:func:`screening_chains`).
    impute : ImputeSpec or dict, optional
        Every strategy is then wrapped with :func:`medfuse.fusion.imputed.with_imputation`
        (inside its representation wrapper, so a represented modality is filled in as its
        features; see :func:`medfuse.study.imputed_estimators`), so the imputers are
        refitted wherever the strategy is.
    conformal : ConformalSpec or dict, optional
        Every strategy is then wrapped in a
        :class:`~medfuse.fusion.conformal.ConformalClassifier` with these settings.
    seed : int, optional
        The imputation wrappers' ``random_state`` (the study's seed).

    Returns
    -------
    dict of str to estimator
        Name -> unfitted strategy.
    """
    estimators = _strategy_estimators(train, strategies, exclude, params, representations,
                                      task, harmonize, batch, screening)
    spec = _impute_spec(impute)
    if spec is not None:
        from medfuse.represent import make_representation

        represented = {m: str(getattr(make_representation(r), "output_kind", "continuous"))
                       for m, r in (representations or {}).items()}
        methods = imputation_methods(spec, train, represented)
        estimators = imputed_estimators(estimators, methods, spec.n_imputations, seed)
    if conformal is None:
        return estimators
    from medfuse.fusion.conformal import with_conformal

    return {n: with_conformal(e, conformal) for n, e in estimators.items()}


def _strategy_estimators(train, strategies, exclude, params, representations, task,
                         harmonize, batch, screening) -> dict[str, object]:
    from medfuse.config import StudyError
    from medfuse.evaluate.runner import resolve_strategies

    kw = {"task": task, "representations": representations}
    estimators = resolve_strategies(train, strategies, exclude=exclude, params=params, **kw)
    spec, screen = _harmonize_spec(harmonize), _screening_spec(screening)
    if spec is None and screen is None:
        return estimators
    chains = {}
    if spec is not None:
        if batch is None:
            raise StudyError("harmonize: name the obs column of the batch.")
        from medfuse.represent import make_representation

        represented = {m: make_representation(r).output_kind
                       for m, r in (representations or {}).items()}
        chains = harmonization_chains(spec, train, batch, represented)
    if screen is not None:
        chains = screening_chains(screen, train, chains, task=task)
    # a represented modality is harmonized as the features it becomes; screening reads
    # feature tables only
    for section, names in (("screening", _with_step(chains, "screen")),):
        both = sorted(set(names) & set(representations or {}))
        if both:
            raise StudyError(f"{section}.modalities: {', '.join(map(repr, both))} also has a "
                             f"representation; {section} applies to feature tables only.")
    params = {n: {"preprocessors": chains, **dict(params or {}).get(n, {})} for n in estimators}
    return resolve_strategies(train, list(estimators), params=params, **kw)


def run_study(train, test, out: str | Path, *, strategies="all", exclude=(), params=None,
              representations=None, folds: int = 5, repeats: int = 3, seed: int = 0,
              scheme: str = "stratified", seeds: int = 5, primary_metric: str | None = None,
              robustness: bool = True, jobs: int = 1, resume: bool = False,
              save_model: bool = True, study: dict | None = None,
              title: str = "medfuse benchmark", explain: bool = True,
              task: str = "classification", progress: bool = False,
              budget: float | None = 1800.0, retry_failed: bool = False, harmonize=None,
              batch: str | None = None, screening=None, impute=None, conformal=None,
              raw_csv: bool = False, select: str = "best", unlabelled: str | None = None,
              scheduler: str | None = None,
              log: Callable[[object], None] | None = None) -> StudyOutputs:
    """Benchmark strategies on ``train`` (and ``test``), then write the CSV tables, what
    ``select`` hands over refitted on all training subjects (``out/model``) and
    ``out/report.html``.

    Parameters
    ----------
    train : MultiModalData
        The training subjects, with an outcome.
    test : MultiModalData or None
        External test subjects with the same modalities.
    out : str or Path
        Output folder (also holds the cache of finished fits).
    strategies, exclude, params, representations
        Which strategies, with which constructor arguments and representations; see
        :func:`medfuse.evaluate.runner.resolve_strategies` (``strategies`` may also be one
        comma-separated string).
    folds, repeats, seed, scheme, seeds, primary_metric, robustness, jobs, resume
        The protocol; see :func:`medfuse.evaluate.run_benchmark`.
    save_model : bool
        Refit what ``select`` hands over on all training subjects and save it in
        ``out/model``.
    study : dict, optional
        The study settings, shown in the report and saved in the model's manifest.
    title : str
        The report's title.
    explain : bool
        Add the interpretation section of the best model to the report.
    task : {"classification", "survival"}
        ``"survival"``: survival strategies on ``obs`` columns ``time`` and ``event``.
    progress : bool
        Show a progress bar.
    budget : float or None
        Seconds one fit may take (default
        :data:`medfuse.evaluate.budget.DEFAULT_BUDGET`, 30 minutes; None: no limit); see
        :func:`medfuse.evaluate.run_benchmark`.
    retry_failed : bool
        Whether ``resume`` tries again fits recorded over budget.
    harmonize : HarmonizeSpec or dict, optional
        Batch harmonisation refitted inside every fold (see :func:`strategy_estimators`).
    batch : str, optional
        obs column of the batch: its association with the outcome is checked in every fold
        (:func:`check_design`) and reported; the harmonizer reads it.
    screening : ScreeningSpec or dict, optional
        In-fold feature screening of wide modalities (see :func:`strategy_estimators`),
        shown in the report and recorded in the results' settings and the model's
        manifest.
    impute : ImputeSpec or dict, optional
        Missing modalities filled in inside every fit (see :func:`strategy_estimators`),
        with the study's ``seed``; recorded in the results' settings and the model's
        manifest.
    conformal : ConformalSpec or dict, optional
        Every strategy wrapped with conformal prediction sets and recalibration (see
        :func:`strategy_estimators`); ``results.csv`` then has coverage and set size per
        availability pattern and the saved model carries its calibration scores.
    raw_csv : bool
        Write the CSV tables' text exactly as it is; by default text cells that a
        spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) get a
        leading ``'`` (see :func:`medfuse.files.csv_text`).
    select : str
        What is handed over (see :mod:`medfuse.study.handover`): ``"ensemble"`` (greedy
        ensemble selection over the strategies' out-of-fold probabilities), ``"best"`` (the
        simplest strategy within one standard error of the best) or a strategy's name. With
        a rule, classification benchmarks also measure ``ensemble`` and ``select-best``
        as strategies (decided inside every outer fold; see
        :mod:`medfuse.evaluate.ensemble`).
    unlabelled : {None, "drop", "pretrain"}
        Training subjects without an outcome (see :mod:`medfuse.study.unlabelled`): None
        refuses them; ``"drop"`` leaves them out; ``"pretrain"`` leaves them out of the
        splits, scores and report too, but adds them to every fit of the strategies that
        learn from unlabelled subjects, and to the refit of the handed-over model when it
        does (as ``"drop"``, with a warning, when none of the strategies does).
    scheduler : str, optional
        Run the fits on a Dask cluster: a scheduler address or ``"local"`` (see
        :func:`medfuse.evaluate.run_benchmark`).
    log : callable, optional
        Receives what to show (the data summary, the strategies, warnings).

    Returns
    -------
    StudyOutputs
        The benchmark result and the paths written. When every strategy failed, the
        tables, ``failures.csv`` and the report are written, ``model`` is None and
        ``result.strategies`` is empty.

    Raises
    ------
    medfuse.evaluate.interrupt.BenchmarkInterrupted
        on SIGINT or SIGTERM during the benchmark (finished fits stay cached).
    """
    from medfuse.evaluate.runner import refit_best, run_benchmark
    from medfuse.persist import save_model as save
    from medfuse.report import write_report

    show = log or (lambda _: None)
    out = confined_folder(out)
    check_outputs(out)
    if isinstance(strategies, str) and strategies != "all":
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    spec, screen = _harmonize_spec(harmonize), _screening_spec(screening)
    imputation = _impute_spec(impute)
    estimators = strategy_estimators(train, strategies, exclude=exclude, params=params,
                                     representations=representations, task=task,
                                     harmonize=spec, batch=batch, screening=screen,
                                     impute=imputation, conformal=conformal, seed=seed)
    show(train.summary())
    if spec is not None:
        harmonized = sorted({m for est in estimators.values() for m in _harmonized(est)},
                            key=train.modality_names.index)
        show(f"harmonize: {spec.method} on {', '.join(harmonized)} (batch column {batch!r}), "
             "then each modality's default preprocessing, refitted inside every fold")
    screening_settings = None
    if screen is not None:
        screened = sorted({m for est in estimators.values() for m in _screened(est)},
                          key=train.modality_names.index)
        screening_settings = {**screen.model_dump(mode="json"), "modalities": screened}
        show(f"screening: {screen.keep} features per modality by {screen.method} on "
             f"{', '.join(screened)}, chosen on the training subjects of every fold")
    impute_settings = _settings(imputation)
    if imputation is not None:
        pooled = (f"; {imputation.n_imputations} imputations, their predictions pooled"
                  if imputation.n_imputations > 1 else "")
        show(f"impute: {_imputation_words(imputation.methods, train)}, fitted on the "
             f"training subjects of every fold{pooled}")
    listed = ENSEMBLE in estimators          # measured from the others, not fitted itself
    estimators.pop(ENSEMBLE, None)
    check_select(select, list(estimators))
    check_learners(estimators, train.modality_names)
    measure = task == "classification" and (select in RULES or listed)
    show(f"strategies ({len(estimators)}): {', '.join(estimators)}"
         + (f"; measured from their predictions: {', '.join(DERIVED)}" if measure else ""))
    unlabelled_plan = study_unlabelled(train, unlabelled, estimators, task, show)
    labelled = unlabelled_plan.labelled
    splits = study_splits(labelled, folds=folds, repeats=repeats, seed=seed, scheme=scheme,
                          task=task)
    for message in check_design(labelled, splits, batch=batch, harmonize=spec, task=task):
        show(f"[yellow]warning:[/yellow] {message}")
    groups = "group" if scheme == "grouped" else None
    sites = "batch" if scheme == "leave-site-out" else None
    result = run_benchmark(
        train, estimators, test=test, splits=splits, folds=folds, repeats=repeats, seed=seed,
        scheme=scheme, groups=groups, sites=sites, seeds=seeds, primary_metric=primary_metric,
        robustness=robustness, out=out, resume=resume, jobs=jobs, progress=progress,
        settings={"strategies": list(estimators), "params": dict(params or {}),
                  "representations": dict(representations or {}), "batch": batch,
                  "harmonize": spec.model_dump(mode="json") if spec is not None else None,
                  "screening": screening_settings, "impute": impute_settings,
                  "conformal": _settings(conformal)},
        task=task, budget=budget, retry_failed=retry_failed, ensemble=measure,
        unlabelled=unlabelled_plan.mode, scheduler=scheduler)
    if unlabelled_plan.requested is not None:
        result.settings["unlabelled"]["requested"] = unlabelled_plan.requested
    handover = choose(select, result, estimators, seed, show) if save_model else None
    if handover is not None:
        result.settings["handover"] = {"select": select, "name": handover.name,
                                       "notes": handover.notes}
    paths = result.write(out, raw=raw_csv)
    failures = _write_failures(out / "failures.csv", result.errors, raw=raw_csv)
    for name, err in result.errors.items():
        show(f"[yellow]warning:[/yellow] strategy {name} failed and is left out: {err}")
    model_dir, model = None, None
    if handover is not None:
        best = handover.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_data, fit_y = unlabelled_plan.refit_data(handover.estimator)
            model = refit_best(fit_data, handover.estimator, seed=seed, y=fit_y)
        ranking = result.ranking("cv")
        extra = {"primary_metric": result.primary_metric,
                 "cv_score": float(ranking[best]) if best in ranking.index else None,
                 "study": (study or {}).get("name"), "select": select,
                 "handed_over": handover.details}
        if screening_settings is not None:
            extra["screening"] = screening_settings
        if impute_settings is not None:
            extra["impute"] = impute_settings
        if unlabelled_plan.requested is not None:
            extra["unlabelled"] = unlabelled_plan.manifest(handover.estimator)
        if train.uns.get("set_aside"):
            extra["set_aside"] = train.uns["set_aside"]
        model_dir = save(model, confined_folder(out, "model"), strategy=best, extra=extra)
    report = write_report(out / "report.html", result, labelled, test=test, model=model,
                          study=study, title=title, explain=explain)
    return StudyOutputs(result, paths["results"], paths["robustness"], paths["comparison"],
                        report, model_dir, failures)


def _preprocessors(estimator) -> dict:
    """The ``preprocessors`` dict of a strategy (or of the strategy a representation
    wrapper holds); empty when it is not a dict."""
    params = estimator.get_params(deep=False)
    pre = params.get("preprocessors")
    while pre is None and "estimator" in params:  # wrapped (representations, conformal)
        params = params["estimator"].get_params(deep=False)
        pre = params.get("preprocessors")
    return pre if isinstance(pre, dict) else {}


def _harmonized(estimator) -> list[str]:
    """The modalities whose ``preprocessors`` entry is a harmonizing chain."""
    return _with_step(_preprocessors(estimator), "harmonizer")


def _screened(estimator) -> list[str]:
    """The modalities whose ``preprocessors`` entry holds a feature screen."""
    return _with_step(_preprocessors(estimator), "screen")


def _imputation_words(methods: dict, train) -> str:
    """``imaging by cross-modal (40% of subjects lack it), ...`` for the log."""
    lacking = 1 - train.available.mean()
    words = []
    for m, method in methods.items():
        name = method.get("method") if isinstance(method, dict) else method
        words.append(f"{m} by {name} ({lacking.get(m, 0):.0%} of subjects lack it)")
    return ", ".join(words)


def _settings(spec) -> dict | None:
    """A settings section (pydantic model or dict) as plain values for the run settings."""
    if spec is None:
        return None
    return spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)


def _write_failures(path: Path, errors: dict[str, str], raw: bool = False) -> Path | None:
    """``failures.csv`` (strategy, error) when some strategy failed; an older one is
    removed otherwise (never through a link)."""
    if not errors:
        remove_file(path)
        return None
    table = pd.DataFrame({"strategy": list(errors), "error": list(errors.values())})
    return write_file(path, csv_text(table, raw, index=False))


#: what run_study writes into its output folder
OUTPUT_FILES = ("results.csv", "robustness.csv", "comparison.csv", "failures.csv",
                "report.html")


def check_outputs(out: Path) -> None:
    """Refuse, before anything is fitted, an output folder where a file or folder that the
    study writes is a link (or not a regular file / folder): medfuse never writes through
    one.

    Parameters
    ----------
    out : Path
        The output folder.

    Raises
    ------
    UnsafePathError
        Naming the first offending path.
    """
    import os
    import stat

    for name in OUTPUT_FILES:
        path = out / name
        if path.is_symlink() or (path.exists() and not stat.S_ISREG(os.lstat(path).st_mode)):
            raise UnsafePathError(f"{path} is a link or not a regular file; medfuse never "
                                  "writes through links. Remove it or choose another --out.")
    for sub in ("model", "cache"):
        folder = out / sub
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UnsafePathError(f"{folder} is a link or not a folder; medfuse never writes "
                                  "through links. Remove it or choose another --out.")
        for entry in (folder.iterdir() if folder.exists() else ()):
            if entry.is_symlink():
                raise UnsafePathError(f"{entry} is a link; medfuse never writes through "
                                      "links. Remove it or choose another --out.")
