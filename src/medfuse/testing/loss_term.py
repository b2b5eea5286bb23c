"""``check_loss_term``: a training loss term of the neural strategies, given by name."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone

from medfuse.testing.cohorts import example_cohort
from medfuse.testing.common import Report, check, check_benchmark, check_save_load, fit_quietly

SETTINGS = {"n_ensemble": 1, "max_epochs": 4, "patience": 4, "n_threads": 1}


def check_loss_term(term, *, trust=(), n_subjects: int = 48, jobs: int = 2,
                    random_state: int = 0) -> list[str]:
    """Check that a loss term keeps medfuse's loss-term contract.

    Checks, in order: it is made from its registered name (or cloned), with scikit-learn's
    parameter API; on one mini-batch of an ``intermediate`` network it returns a finite
    scalar that gradients flow through; trained with cross-entropy (by name, as a study
    file gives it), its own per-epoch loss is in ``history_`` and finite; a label-free term
    (``supervised = False``) trains the unsupervised stage on a cohort with unlabelled
    subjects, and a supervised one is refused there; two fits with the same seed are
    identical; the model is saved and loaded without the term's class; and the strategy
    runs through the benchmark in ``jobs`` worker processes (which must see the term's
    registration).

    Parameters
    ----------
    term : str, mapping or LossTerm
        A registered name, ``{"name": ..., "params": ...}`` or a LossTerm.
    trust : sequence of str
        Exact names of your own classes the saved model holds (a registered term needs
        none: models keep it by name).
    n_subjects, jobs, random_state : int
        Subjects, worker processes of the benchmark check, seed.

    Returns
    -------
    list of str
        The names of the checks passed.

    Raises
    ------
    ConformanceError
        Naming the term, the check and what went wrong.
    """
    from medfuse.fusion.factory import make
    from medfuse.fusion.neural.objectives import Batch, loss_term_spec, make_loss_term

    subject = f"check_loss_term({term if isinstance(term, str) else type(term).__name__!r})"
    report = Report()
    with check(report, subject, "made from its name"):
        made = make_loss_term(term)
        clone(made).set_params(**made.get_params())
        spec = loss_term_spec(made)
        if not isinstance(spec, str | dict):
            raise AssertionError("the term is not registered (register_loss_term), so a "
                                 "study file cannot name it and a saved model needs its class")
    label = spec if isinstance(spec, str) else spec["name"]
    data = example_cohort(n_subjects=n_subjects, random_state=random_state)
    objectives = ["cross-entropy", spec]
    estimator = make("intermediate", objectives=objectives, **SETTINGS)
    with check(report, subject, "a finite scalar that gradients flow through"):
        model = fit_quietly(clone(estimator).set_params(random_state=random_state), data)
        net = model._build_member(False)
        net.train()
        inputs, mask = model._torch_inputs(data)
        y = torch.as_tensor(np.searchsorted(model.classes_, np.asarray(data.y)))
        batch = Batch(inputs, mask, y, None)
        extra = made.init(net, len(model.classes_))
        value = made(net.outputs(inputs, mask), batch, extra)
        if not (torch.is_tensor(value) and value.ndim == 0 and torch.isfinite(value)):
            raise AssertionError(f"it returned {value!r}, not a finite scalar tensor")
        value.backward()
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        if extra is not None:
            grads += [p.grad for p in extra.parameters() if p.grad is not None]
        if not grads or not any(bool(g.abs().sum() > 0) for g in grads):
            raise AssertionError("no gradient reaches the network's weights")
    with check(report, subject, "its own loss is reported in history_"):
        losses = model.history_[0]["term_loss"].get(label)
        if losses is None or len(losses) != len(model.history_[0]["train_loss"]):
            raise AssertionError(f"history_ has no per-epoch loss {label!r}")
        if not np.isfinite(losses).all():
            raise AssertionError("its loss is not finite")
    with check(report, subject, "the unsupervised stage takes label-free terms only"):
        _check_stage(made, spec, n_subjects, random_state)
    with check(report, subject, "deterministic under a seed"):
        again = fit_quietly(clone(estimator).set_params(random_state=random_state), data)
        if not np.array_equal(again.predict_proba(data), model.predict_proba(data)):
            raise AssertionError("two fits with the same seed differ")
    with check(report, subject, "saved and loaded without the term's class"):
        check_save_load(model, data, trust, strategy="intermediate")
    with check(report, subject, f"benchmark with {jobs} workers"):
        check_benchmark(estimator.set_params(random_state=random_state), data,
                        "intermediate", jobs)
    return list(report)


def _check_stage(term, spec, n_subjects: int, random_state: int) -> None:
    from medfuse.fusion.factory import make

    if term.supervised:
        try:
            make("intermediate", pretrain_epochs=1, pretrain_objectives=[spec])
        except ValueError:
            return
        raise AssertionError("a supervised term was accepted in the unsupervised stage")
    data = example_cohort(n_subjects=n_subjects, unlabelled=0.3, random_state=random_state)
    model = fit_quietly(make("intermediate", pretrain_epochs=2, pretrain_objectives=[spec],
                             random_state=random_state, **SETTINGS), data)
    if not np.isfinite(model.pretrain_loss_[0]).all() or len(model.pretrain_loss_[0]) != 2:
        raise AssertionError(f"the unsupervised stage gave losses {model.pretrain_loss_[0]}")
