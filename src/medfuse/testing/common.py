"""What every conformance check shares: the failure type, and the checks of a fitted model
(predictions from every subset of modalities, determinism, saving and loading, the benchmark
with worker processes)."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.base import clone

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import is_survival, model_outputs


class ConformanceError(AssertionError):
    """An extension breaks the contract; the message names the extension, the check and
    what went wrong."""


class Report(list):
    """The names of the checks an extension passed, in order (a list of str)."""


@contextlib.contextmanager
def check(report: Report, subject: str, name: str) -> Iterator[None]:
    """Run one named check: any exception becomes a :class:`ConformanceError` naming the
    extension and the check; success is recorded in ``report``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except ConformanceError:
        raise
    except Exception as err:  # every failure of the extension is a failed check
        raise ConformanceError(f"{subject}: {name}: {type(err).__name__}: {err}") from err
    report.append(name)


def fit_quietly(estimator, data: MultiModalData):
    """``estimator.fit(data)`` with warnings silenced; returns the fitted estimator."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(data)


def check_outputs(model, data: MultiModalData) -> np.ndarray:
    """The model's outputs on ``data``, checked: one finite row per subject; class
    probabilities in [0, 1] summing to 1."""
    out = model_outputs(model, data)
    k = 1 if is_survival(model) else len(model.classes_)
    if out.shape != (len(data), k):
        raise AssertionError(f"outputs of shape {out.shape} for {len(data)} subjects, "
                             f"expected {(len(data), k)}")
    if not np.isfinite(out).all():
        raise AssertionError("outputs hold NaN or inf")
    if not is_survival(model):
        if (out < 0).any() or (out > 1).any():
            raise AssertionError("probabilities outside [0, 1]")
        if not np.allclose(out.sum(axis=1), 1.0, atol=1e-6):
            raise AssertionError("class probabilities do not sum to 1")
    return out


def subset_views(model, data: MultiModalData) -> Iterator[tuple[tuple[str, ...],
                                                                MultiModalData]]:
    """For every non-empty subset of the model's modalities: the subjects that have at
    least one of them, with the other modalities hidden."""
    mods = list(model.modalities_)
    avail = data.available.reindex(columns=mods, fill_value=False).to_numpy()
    for k in range(1, len(mods) + 1):
        for subset in itertools.combinations(range(len(mods)), k):
            keep = np.zeros(len(mods), dtype=bool)
            keep[list(subset)] = True
            rows = np.flatnonzero((avail & keep).any(axis=1))
            if not len(rows):
                continue
            view = data[rows]
            mask = view.available.copy()
            for j, m in enumerate(mods):
                if not keep[j] and m in mask.columns:
                    mask[m] = False
            yield tuple(mods[j] for j in subset), view.with_available(mask)


def check_every_subset(model, data: MultiModalData) -> None:
    """Predictions from every subset of modalities are valid, and a subject's prediction
    does not depend on the others predicted with it."""
    for subset, view in subset_views(model, data):
        try:
            whole = check_outputs(model, view)
        except Exception as err:
            raise AssertionError(f"with only {'+'.join(subset)}: {err}") from err
        half = len(view) // 2
        if half:
            parts = np.vstack([model_outputs(model, view[:half]),
                               model_outputs(model, view[half:])])
            if not np.allclose(parts, whole, rtol=1e-7, atol=1e-9):
                raise AssertionError(f"with only {'+'.join(subset)}: a subject's prediction "
                                     "changes with the other subjects predicted with it")


def check_deterministic(estimator, data: MultiModalData, seed: int = 0) -> np.ndarray:
    """Two fits of clones with the same parameters (and ``random_state=seed`` when the
    estimator has one) give identical outputs; returns them."""
    first = clone(estimator)
    if "random_state" in first.get_params(deep=False):
        first.set_params(random_state=seed)
    second = clone(first)
    a = model_outputs(fit_quietly(first, data), data)
    b = model_outputs(fit_quietly(second, data), data)
    if not np.array_equal(a, b):
        raise AssertionError(f"two fits with the same seed differ (largest difference "
                             f"{np.abs(a - b).max():.3g}); seed every random step from "
                             "random_state")
    return a


def check_save_load(model, data: MultiModalData, trust=(), strategy: str | None = None
                    ) -> None:
    """The fitted model is saved and loaded under the allowlist (plus the exact names in
    ``trust``) and predicts the same, to the last bit."""
    from medfuse.persist import UntrustedModelError, load_model, save_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        save_model(model, folder, strategy=strategy)
        try:
            loaded = load_model(folder, trust=tuple(trust))
        except UntrustedModelError as err:
            raise AssertionError(
                f"{err} -- a class of your own loads when it is named exactly in trust=") \
                from None
    before, after = model_outputs(model, data), model_outputs(loaded, data)
    if not np.array_equal(before, after):
        raise AssertionError("the loaded model predicts differently (largest difference "
                             f"{np.abs(before - after).max():.3g})")


def check_benchmark(estimator, data: MultiModalData, label: str, jobs: int = 2) -> None:
    """The estimator runs through :func:`~medfuse.evaluate.run_benchmark` in ``jobs``
    worker processes (2-fold CV with the robustness table) without failing, with the same
    results as in this process."""
    from medfuse.evaluate import run_benchmark

    task = "survival" if is_survival(estimator) else "classification"
    runs = []
    for n in (jobs, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_benchmark(data, {label: estimator}, folds=2, repeats=1, seed=0,
                                   jobs=n, robustness=True, task=task)
        if result.errors:
            raise AssertionError(f"the benchmark with {n} worker(s) left it out: "
                                 f"{result.errors[label]}")
        runs.append(result.results().set_index(["strategy", "metric", "split"])["mean"])
    if not runs[0].equals(runs[1]):
        raise AssertionError("the benchmark in worker processes differs from the one in this "
                             "process (a registration or a seed does not reach the workers)")
