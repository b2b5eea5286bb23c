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

import numpy as np
import pandas as pd


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


def _harmonize_spec(harmonize):
    if harmonize is None:
        return None
    from medfuse.config import HarmonizeSpec

    return harmonize if isinstance(harmonize, HarmonizeSpec) else HarmonizeSpec(**harmonize)


def _screening_spec(screening):
    if screening is None:
        return None
    from medfuse.config import ScreeningSpec

    return screening if isinstance(screening, ScreeningSpec) else ScreeningSpec(**screening)


def harmonization_chains(spec, data, batch_column: str) -> dict:
    """modality -> unfitted ``ObsChain([harmonizer, default preprocessing])`` for the
    modalities of ``data`` that a study's ``harmonize:`` section harmonizes.

    Parameters
    ----------
    spec : HarmonizeSpec
        The study's ``harmonize:`` section (:class:`medfuse.config.HarmonizeSpec`).
    data : MultiModalData
        The training subjects (their kinds choose the default preprocessing and whether
        the method applies).
    batch_column : str
        The obs column the harmonizer reads the batch from.

    Returns
    -------
    dict of str to ObsChain
        Modality -> unfitted chain.
    """
    from medfuse.config import StudyError
    from medfuse.preprocess import ComBat, ComBatSeq, default_preprocessor
    from medfuse.preprocess.chain import ObsChain

    chosen = spec.modalities
    if chosen is None:
        chosen = [m for m in data.modality_names
                  if spec.method in data.modalities[m].kind_object.harmonizers]
        if not chosen:
            raise StudyError(f"harmonize.modalities: no modality is of a kind {spec.method} "
                             f"adjusts (modalities: {', '.join(data.modality_names)}).")
    covariates = [c if isinstance(c, str) else c.column for c in spec.covariates]
    for col in [batch_column, *covariates]:
        if col not in data.obs.columns:
            raise StudyError(f"harmonize: the data has no obs column {col!r} (obs "
                             f"columns: {', '.join(map(str, data.obs.columns))}).")
    out = {}
    for m in chosen:
        if m not in data.modality_names:
            raise StudyError(f"harmonize.modalities: {m!r} is not a modality of the study "
                             f"({', '.join(data.modality_names)}).")
        modality = data.modalities[m]
        kind = modality.kind_object
        if spec.method not in kind.harmonizers:
            use = (f"use method: {kind.harmonizers[0]}" if kind.harmonizers else
                   f"{kind.name} modalities are not harmonized")
            raise StudyError(f"harmonize.modalities: {spec.method} adjusts "
                             f"{_ADJUSTS[spec.method]}; {m!r} is a {kind.name} modality "
                             f"({use}).")
        if spec.method == "ComBat":
            harmonizer = ComBat(
                parametric=True if spec.parametric is None else spec.parametric,
                mean_only=bool(spec.mean_only), ref_batch=spec.reference_batch,
                unseen_batch=spec.unseen_batch, batch_col=batch_column,
                covariate_cols=covariates or None)
        else:
            harmonizer = ComBatSeq(ref_batch=spec.reference_batch, batch_col=batch_column,
                                   covariate_cols=covariates or None,
                                   unseen_batch=spec.unseen_batch)
        out[m] = ObsChain([harmonizer, default_preprocessor(modality)])
    return out


_ADJUSTS = {"ComBat": "continuous values", "ComBat-seq": "counts"}


def screening_chains(spec, data, chains: dict | None = None,
                     task: str = "classification") -> dict:
    """modality -> unfitted ``ObsChain([harmonizer, FeatureScreen, default preprocessing])``
    (no harmonizer where ``chains``, the harmonization chains, has none) for the modalities
    a study's ``screening:`` section screens.

    Parameters
    ----------
    spec : ScreeningSpec
        The ``screening:`` section.
    data : MultiModalData
        The training subjects: their kinds say whether and on which scale a modality is
        screened, and their ``outcome`` names the column a univariate screen reads.
    chains : dict of str to ObsChain, optional
        The harmonization chains (see :func:`harmonization_chains`).
    task : {"classification", "survival"}
        ``"survival"``: a univariate screen reads the obs columns ``time`` and ``event``.

    Returns
    -------
    dict of str to ObsChain
        Modality -> chain, the harmonization chains of unscreened modalities included.

    Raises
    ------
    StudyError
        When a named modality is not in the data, is not of a screened kind or has no more
        than ``keep`` features, or when no modality is wider than ``keep``.
    """
    from medfuse.config import StudyError
    from medfuse.preprocess import default_preprocessor
    from medfuse.preprocess.chain import ObsChain
    from medfuse.preprocess.screening import FeatureScreen

    out = dict(chains or {})
    if spec.method not in ("variance", "univariate"):
        raise StudyError(f"screening.method: {spec.method!r} is not a screening method "
                         "(variance, univariate).")
    chosen = spec.modalities
    if chosen is None:
        # by default: the screenable modalities wider than ``keep`` (a narrow block, such
        # as a few clinical measurements, is left as it is)
        screenable = [m for m in data.modality_names
                      if data.modalities[m].kind_object.screening_scale is not None]
        chosen = [m for m in screenable if data.n_features(m) > spec.keep]
        if not chosen:
            widths = ", ".join(f"{m}: {data.n_features(m):,}" for m in screenable)
            raise StudyError(
                "screening: no modality has more features than screening.keep "
                f"({spec.keep:,}) among those of a kind that is screened (continuous, "
                f"counts){'; ' + widths if widths else ''}. Lower keep, or leave the "
                "screening section out.")
    outcome = None
    if spec.method == "univariate":
        outcome = ("time", "event") if task == "survival" else data.outcome
        if outcome is None:
            raise StudyError("screening.method: univariate needs the study's outcome.")
    for m in chosen:
        if m not in data.modality_names:
            raise StudyError(f"screening.modalities: {m!r} is not a modality of the study "
                             f"({', '.join(data.modality_names)}).")
        kind = data.modalities[m].kind_object
        if kind.screening_scale is None:
            raise StudyError(f"screening.modalities: {m!r} is a {kind.name} modality; "
                             "screening applies to feature tables of numeric kinds "
                             "(continuous, counts).")
        if data.n_features(m) <= spec.keep:
            raise StudyError(f"screening.keep: {spec.keep:,} features is not fewer than the "
                             f"{data.n_features(m):,} of modality {m!r}, so screening would "
                             f"keep all of them; lower keep or leave {m!r} out of "
                             "screening.modalities.")
        screen = FeatureScreen(method=spec.method, keep=spec.keep, outcome=outcome,
                               scale=kind.screening_scale)
        if m in out:
            harmonizer, *rest = out[m].steps
            out[m] = ObsChain([harmonizer, screen, *rest])
        else:
            out[m] = ObsChain([screen, default_preprocessor(data.modalities[m])])
    return out


def strategy_estimators(train, strategies="all", *, exclude=(), params=None,
                        representations=None, task: str = "classification", harmonize=None,
                        batch: str | None = None, screening=None,
                        conformal=None) -> dict[str, object]:
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
    conformal : ConformalSpec or dict, optional
        Every strategy is then wrapped in a
        :class:`~medfuse.fusion.conformal.ConformalClassifier` with these settings.

    Returns
    -------
    dict of str to estimator
        Name -> unfitted strategy.
    """
    estimators = _strategy_estimators(train, strategies, exclude, params, representations,
                                      task, harmonize, batch, screening)
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
        chains = harmonization_chains(spec, train, batch)
    if screen is not None:
        chains = screening_chains(screen, train, chains, task=task)
    for section, names in (("harmonize", _with_step(chains, "harmonizer")),
                           ("screening", _with_step(chains, "screen"))):
        both = sorted(set(names) & set(representations or {}))
        if both:
            raise StudyError(f"{section}.modalities: {', '.join(map(repr, both))} also has a "
                             f"representation; {section} applies to feature tables only.")
    params = {n: {"preprocessors": chains, **dict(params or {}).get(n, {})} for n in estimators}
    return resolve_strategies(train, list(estimators), params=params, **kw)


def study_splits(train, *, folds: int, repeats: int, seed: int, scheme: str,
                 task: str = "classification") -> list:
    """The CV splits every strategy is scored on (as the runner would make them: the
    ``group`` obs column for the grouped scheme, ``batch`` for leave-site-out)."""
    from medfuse.evaluate.splits import make_splits

    obs = train.obs
    return make_splits(_target(train, task), folds=folds, repeats=repeats, seed=seed,
                       scheme=scheme,
                       groups=obs["group"].to_numpy() if scheme == "grouped" else None,
                       sites=obs["batch"].to_numpy() if scheme == "leave-site-out" else None)


def _target(train, task: str) -> np.ndarray:
    if task == "survival":
        from medfuse.fusion.survival import survival_target

        return survival_target(train)["event"].astype(int)
    return np.asarray(train.y)


def check_design(train, splits, *, batch: str | None, harmonize=None,
                 task: str = "classification") -> list[str]:
    """Check the batch against the splits before anything is fitted; returns the warnings.

    Raises
    ------
    ConfoundingError
        Batch and outcome are perfectly confounded in some fold's training subjects and
        harmonization without covariates is requested.
    StudyError
        With harmonization under the ``error`` policy: a batch has held-out subjects in a
        fold whose training part has none of it.
    """
    from medfuse.config import StudyError
    from medfuse.evaluate.confounding import (
        ConfoundingError,
        batch_outcome_association,
        confounding_verdict,
    )
    from medfuse.evaluate.splits import missing_from_training

    if batch is None or batch not in train.obs.columns:
        return []
    spec = _harmonize_spec(harmonize)
    labels = train.obs[batch].to_numpy()
    table = batch_outcome_association(labels, _target(train, task), splits)
    outcome = train.outcome or "event"
    level, message = confounding_verdict(
        table, batch, outcome, harmonizer=spec.method if spec else None,
        covariates=bool(spec and spec.covariates))
    if level == "error":
        raise ConfoundingError(message)
    out = [message] if level == "warning" else []
    if spec is not None and spec.reference_batch is not None:
        _check_reference(labels, splits, spec.reference_batch)
    if spec is not None and spec.unseen_batch == "error":
        missing = missing_from_training(labels, splits)
        if missing:
            label, where = next(iter(missing.items()))
            size = int((labels == label).sum())
            others = (f" and {len(where) - 1} other fold(s)" if len(where) > 1 else "")
            also = (f" (also batch(es) {', '.join(map(repr, list(missing)[1:]))})"
                    if len(missing) > 1 else "")
            raise StudyError(
                f"harmonize: batch {label!r} ({size} subject{'s' if size != 1 else ''}) has "
                f"no subject in the training part of fold {where[0]}{others}{also}, so the "
                f"{spec.method} fitted there cannot adjust its test subjects. Merge the batch "
                "into another one, set harmonize.unseen_batch to 'fit-new' (estimate it from "
                "its own subjects) or 'reference' (leave it unadjusted; needs "
                "harmonize.reference_batch), or evaluate unseen sites on purpose with "
                "cv.scheme: leave-site-out and one of those policies.")
    return out


def _check_reference(labels: np.ndarray, splits, reference) -> None:
    """Refuse a reference batch that is not a batch, or is absent from a fold's training
    part (the fold's harmonizer could not map the others onto it)."""
    from medfuse.config import StudyError

    text = np.asarray([str(v) for v in labels], dtype=object)
    batches = sorted({str(v) for v in labels if not pd.isna(v)})
    if str(reference) not in batches:
        raise StudyError(f"harmonize.reference_batch: {reference!r} is not a batch of the data "
                         f"(batches: {', '.join(batches)}).")
    lacking = [s.label for s in splits if str(reference) not in set(text[s.train])]
    if lacking:
        raise StudyError(
            f"harmonize.reference_batch: {reference!r} has no subject in the training part of "
            f"fold(s) {', '.join(lacking)} (leave-site-out holds it out once), so those folds "
            "cannot map the other batches onto it. Harmonize without a reference batch, or "
            "use a scheme that keeps it in every training part.")


def run_study(train, test, out: str | Path, *, strategies="all", exclude=(), params=None,
              representations=None, folds: int = 5, repeats: int = 3, seed: int = 0,
              scheme: str = "stratified", seeds: int = 5, primary_metric: str | None = None,
              robustness: bool = True, jobs: int = 1, resume: bool = False,
              save_model: bool = True, study: dict | None = None,
              title: str = "medfuse benchmark", explain: bool = True,
              task: str = "classification", progress: bool = False,
              budget: float | None = 1800.0, retry_failed: bool = False, harmonize=None,
              batch: str | None = None, screening=None, conformal=None,
              log: Callable[[object], None] | None = None) -> StudyOutputs:
    """Benchmark strategies on ``train`` (and ``test``), then write the CSV tables, the best
    strategy refitted on all training subjects (``out/model``) and ``out/report.html``.

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
        Refit the best strategy on all training subjects and save it in ``out/model``.
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
    conformal : ConformalSpec or dict, optional
        Every strategy wrapped with conformal prediction sets and recalibration (see
        :func:`strategy_estimators`); ``results.csv`` then has coverage and set size per
        availability pattern and the saved model carries its calibration scores.
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
    out = Path(out)
    if isinstance(strategies, str) and strategies != "all":
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    spec, screen = _harmonize_spec(harmonize), _screening_spec(screening)
    estimators = strategy_estimators(train, strategies, exclude=exclude, params=params,
                                     representations=representations, task=task,
                                     harmonize=spec, batch=batch, screening=screen,
                                     conformal=conformal)
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
    show(f"strategies ({len(estimators)}): {', '.join(estimators)}")
    splits = study_splits(train, folds=folds, repeats=repeats, seed=seed, scheme=scheme,
                          task=task)
    for message in check_design(train, splits, batch=batch, harmonize=spec, task=task):
        show(f"[yellow]warning:[/yellow] {message}")
    out.mkdir(parents=True, exist_ok=True)
    groups = "group" if scheme == "grouped" else None
    sites = "batch" if scheme == "leave-site-out" else None
    result = run_benchmark(
        train, estimators, test=test, splits=splits, folds=folds, repeats=repeats, seed=seed,
        scheme=scheme, groups=groups, sites=sites, seeds=seeds, primary_metric=primary_metric,
        robustness=robustness, out=out, resume=resume, jobs=jobs, progress=progress,
        settings={"strategies": list(estimators), "params": dict(params or {}),
                  "representations": dict(representations or {}), "batch": batch,
                  "harmonize": spec.model_dump(mode="json") if spec is not None else None,
                  "screening": screening_settings, "conformal": _settings(conformal)},
        task=task, budget=budget, retry_failed=retry_failed)
    paths = result.write(out)
    failures = _write_failures(out / "failures.csv", result.errors)
    for name, err in result.errors.items():
        show(f"[yellow]warning:[/yellow] strategy {name} failed and is left out: {err}")
    model_dir, model = None, None
    best = result.best
    if save_model and best is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = refit_best(train, estimators[best], seed=seed)
        ranking = result.ranking("cv")
        extra = {"primary_metric": result.primary_metric,
                 "cv_score": float(ranking[best]) if best in ranking.index else None,
                 "study": (study or {}).get("name")}
        if screening_settings is not None:
            extra["screening"] = screening_settings
        if train.uns.get("set_aside"):
            extra["set_aside"] = train.uns["set_aside"]
        model_dir = save(model, out / "model", strategy=best, extra=extra)
    report = write_report(out / "report.html", result, train, test=test, model=model,
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


def _with_step(chains: dict, step: str) -> list[str]:
    """The modalities whose chain holds a harmonizer (``step="harmonizer"``) or a feature
    screen (``"screen"``)."""
    from medfuse.preprocess import ComBat, ComBatSeq
    from medfuse.preprocess.chain import ObsChain
    from medfuse.preprocess.screening import FeatureScreen

    types = (ComBat, ComBatSeq) if step == "harmonizer" else (FeatureScreen,)
    return [m for m, t in chains.items()
            if isinstance(t, ObsChain) and any(isinstance(s, types) for s in t.steps)]


def _harmonized(estimator) -> list[str]:
    """The modalities whose ``preprocessors`` entry is a harmonizing chain."""
    return _with_step(_preprocessors(estimator), "harmonizer")


def _screened(estimator) -> list[str]:
    """The modalities whose ``preprocessors`` entry holds a feature screen."""
    return _with_step(_preprocessors(estimator), "screen")


def _settings(spec) -> dict | None:
    """A settings section (pydantic model or dict) as plain values for the run settings."""
    if spec is None:
        return None
    return spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)


def _write_failures(path: Path, errors: dict[str, str]) -> Path | None:
    """``failures.csv`` (strategy, error) when some strategy failed; an older one is
    removed otherwise."""
    if not errors:
        path.unlink(missing_ok=True)
        return None
    pd.DataFrame({"strategy": list(errors), "error": list(errors.values())}).to_csv(
        path, index=False)
    return path
