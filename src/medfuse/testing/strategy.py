"""``check_strategy``: the estimator contract of a fusion strategy, in the spirit of
scikit-learn's ``check_estimator``."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from medfuse.data.kinds import kind_names
from medfuse.fusion.base import is_survival, model_outputs
from medfuse.fusion.wrappers import StrategyWrapper
from medfuse.testing.cohorts import example_cohort
from medfuse.testing.common import (
    Report,
    check,
    check_benchmark,
    check_deterministic,
    check_every_subset,
    check_save_load,
    fit_quietly,
)

#: the kinds a strategy is checked on, in order of preference (two that it accepts)
PREFERRED_KINDS = ("continuous", "clinical", "counts", "timeseries", "image", "sequence")


def check_strategy(strategy, params: dict | None = None, *, kinds: dict | None = None,
                   trust=(), n_subjects: int = 48, jobs: int = 2,
                   random_state: int = 0) -> list[str]:
    """Check that a strategy keeps medfuse's estimator contract.

    It fits the strategy on a small generated cohort whose modalities carry the outcome
    (:func:`~medfuse.testing.example_cohort`, modalities missing at random) and checks, in
    order: scikit-learn's parameter API and ``clone``; refusing to predict before ``fit``;
    fitted attributes; valid predictions from every subset of the modalities, each subject's
    independent of the others predicted with it; better than chance on the training
    subjects (the known answer); that a wrapper forwards its seed to the strategy it fits;
    identical predictions from two fits with the same seed; saving and loading under the
    allowlist (plus ``trust``) with identical predictions; and the benchmark in ``jobs``
    worker processes, equal to the one in this process.

    Parameters
    ----------
    strategy : str or estimator
        A registered name (``"late-mean"``; a per-modality one such as ``"unimodal"`` is
        checked on the cohort's first modality) or an unfitted strategy.
    params : dict, optional
        Constructor arguments for a name (e.g. few epochs, for speed).
    kinds : dict of str to str, optional
        Modality name -> kind of the cohort (default: two of the built-in kinds that the
        strategy accepts, continuous and clinical when it accepts them).
    trust : sequence of str
        Exact names of your own classes the saved model holds (see
        :func:`medfuse.persist.load_model`).
    n_subjects : int
        Subjects of the cohort.
    jobs : int
        Worker processes of the benchmark check.
    random_state : int
        Seed of the cohort and of the determinism check.

    Returns
    -------
    list of str
        The names of the checks passed (all of them: a failure raises).

    Raises
    ------
    ConformanceError
        Naming the strategy, the check and what went wrong.
    """
    estimator, label, info = _resolve(strategy, params)
    kinds = kinds or _kinds_for(info)
    task = ("survival" if (estimator is not None and is_survival(estimator))
            or (info is not None and info.task == "survival") else "classification")
    data = example_cohort(kinds, n_subjects, task=task, random_state=random_state)
    if info is not None and info.per_modality and ":" not in label:
        label = f"{label}:{next(iter(kinds))}"
        estimator, _, _ = _resolve(label, params)
    subject = f"check_strategy({label!r})"
    report = Report()
    with check(report, subject, "parameters and clone"):
        params_ = estimator.get_params(deep=True)
        copy = clone(estimator)
        if set(copy.get_params(deep=True)) != set(params_):
            raise AssertionError("clone() changes the parameter names")
        copy.set_params(**estimator.get_params(deep=False))
    with check(report, subject, "refuses to predict before fit"):
        try:
            model_outputs(clone(estimator), data)
        except (NotFittedError, AttributeError):
            pass
        else:
            raise AssertionError("an unfitted clone predicted")
    check_fitted(estimator, data, label, report, subject, trust=trust, jobs=jobs,
                 random_state=random_state)
    return list(report)


def check_fitted(estimator, data, label: str, report: Report, subject: str, *, trust=(),
                 jobs: int = 2, random_state: int = 0, prefix: str = ""):
    """The checks of a strategy on one cohort (see :func:`check_strategy`): fitted
    attributes, every subset, the known answer, determinism, seed forwarding, saving and
    the benchmark in worker processes (their names in ``report`` start with ``prefix``).
    Returns the fitted strategy."""
    task = "survival" if is_survival(estimator) else "classification"
    fitted = clone(estimator)
    if "random_state" in fitted.get_params(deep=False):
        fitted.set_params(random_state=random_state)
    with check(report, subject, prefix + "fit returns the fitted estimator"):
        if fit_quietly(fitted, data) is not fitted:
            raise AssertionError("fit() did not return self")
        for attr in ("modalities_", "modality_kinds_", "feature_names_"):
            if not hasattr(fitted, attr):
                raise AssertionError(f"no fitted attribute {attr}")
        if not set(fitted.modalities_) <= set(data.modality_names):
            raise AssertionError(f"modalities_ {fitted.modalities_} are not the data's "
                                 f"{data.modality_names}")
        if task == "classification" and list(fitted.classes_) != [0, 1]:
            raise AssertionError(f"classes_ {list(fitted.classes_)} is not [0, 1]")
    with check(report, subject, prefix + "predicts from every subset of modalities"):
        check_every_subset(fitted, data)
    with check(report, subject, prefix + "learns the known answer"):
        _check_signal(fitted, data)
    with check(report, subject, prefix + "wrappers forward the seed"):
        _check_seed_forwarding(fitted)
    with check(report, subject, prefix + "deterministic under a seed"):
        check_deterministic(estimator, data, random_state)
    with check(report, subject, prefix + "saved and loaded under the allowlist"):
        check_save_load(fitted, data, trust, strategy=label)
    with check(report, subject, prefix + f"benchmark with {jobs} workers"):
        check_benchmark(estimator, data, label, jobs)
    return fitted


def _resolve(strategy, params):
    from medfuse.fusion.factory import make
    from medfuse.fusion.registry import info

    if isinstance(strategy, str):
        tags = info(strategy)
        if tags.per_modality and ":" not in strategy:
            return None, strategy, tags
        return make(strategy, **dict(params or {})), strategy, tags
    if params:
        strategy = clone(strategy).set_params(**params)
    return strategy, type(strategy).__name__, None


def _kinds_for(info) -> dict[str, str]:
    """Two modalities of kinds the strategy accepts (one when it accepts only one)."""
    candidates = [k for k in PREFERRED_KINDS if k in kind_names()]
    if info is not None:
        candidates = [k for k in candidates if info.accepts(k)]
    if not candidates:
        raise ValueError("no built-in kind meets what the strategy needs; pass kinds=")
    chosen = candidates[:2]
    return {"a": chosen[0], "b": chosen[-1]} if len(chosen) > 1 else {"a": chosen[0]}


def _check_signal(model, data) -> None:
    """Training-subject predictions rank the outcome better than chance (AUC or C above
    0.6): every modality of the cohort carries it."""
    from sklearn.metrics import roc_auc_score

    out = model_outputs(model, data)
    if is_survival(model):
        from medfuse.evaluate.metrics import c_index

        score = c_index(data.obs["event"].to_numpy(bool), data.obs["time"].to_numpy(float),
                        out[:, 0])
        what = "Harrell's C"
    else:
        score = roc_auc_score(np.asarray(data.y, dtype=float), out[:, 1])
        what = "AUC"
    if not score > 0.6:
        raise AssertionError(f"training {what} {score:.2f}: the outcome every modality "
                             "carries is not learned")


def _check_seed_forwarding(model) -> None:
    """Every wrapper in the fitted model gave its strategy a seed (when it takes one)."""
    from medfuse.persist.modules import iter_parts

    for path, part in iter_parts(model):
        if not isinstance(part, StrategyWrapper) or part.random_state is None:
            continue
        inner = [part.__dict__.get("estimator_"), *(part.__dict__.get("estimators_") or [])]
        for est in (e for e in inner if e is not None):
            if "random_state" in est.get_params(deep=False) and est.random_state is None:
                where = ".".join(path) or "the model"
                raise AssertionError(f"{type(part).__name__} at {where} has random_state "
                                     f"{part.random_state!r} but fitted "
                                     f"{type(est).__name__} without one")

