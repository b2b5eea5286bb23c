"""Class weighting of the classical strategies: closed forms and a rare outcome."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.class_weight import compute_class_weight

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion._class_weight import class_weights
from medfuse.fusion._latent_base import _weighted_lda
from medfuse.fusion.late import fit_pool_weights

CLASSICAL = ("unimodal:rna", "early", "late-mean", "late-weighted", "stacking", "mkl",
             "block-pls", "cca", "additive")


@pytest.fixture(scope="module")
def rare():
    """About 1 case in 6: all controls of a simulated cohort and a fifth of its cases."""
    data = make_cohort(700, effects={"rna": 1.0, "imaging": 1.0, "clinical": 0.5},
                       n_genes=40, n_imaging=20, random_state=3)
    y = data.y.to_numpy()
    rng = np.random.default_rng(0)
    keep = np.flatnonzero((y == 0) | (rng.random(len(y)) < 0.2))
    rare = data[keep]
    return rare[:280], rare[280:]


def test_balanced_weights_equal_scikit_learn():
    y = np.array([0] * 7 + [1] * 2 + [2] * 3)
    ours = class_weights("balanced", np.array(["a", "b", "c"]), y)
    np.testing.assert_allclose(ours, compute_class_weight("balanced", classes=np.arange(3),
                                                          y=y))
    np.testing.assert_array_equal(class_weights(None, np.array([0, 1]), y[:9]), [1.0, 1.0])
    np.testing.assert_array_equal(
        class_weights({"b": 4.0}, np.array(["a", "b"]), y[:9]), [1.0, 4.0])


def test_unknown_class_in_weights_is_named():
    with pytest.raises(ValueError, match="relapse"):
        class_weights({"relapse": 2.0}, np.array(["no", "yes"]), np.array([0, 1]))
    with pytest.raises(ValueError, match="class_weight"):
        class_weights("uniform", np.array([0, 1]), np.array([0, 1]))


def test_weight_two_equals_a_duplicated_subject():
    """Weighted log loss of the pool = the loss with weighted subjects duplicated."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    oof = [np.clip(np.column_stack([1 - p, p]), 1e-3, 1 - 1e-3)
           for p in (0.5 + 0.3 * (2 * y - 1) * rng.random(60), rng.random(60))]
    w = np.where(y == 1, 2.0, 1.0)
    dup = np.concatenate([np.arange(60), np.flatnonzero(y == 1)])
    weighted = fit_pool_weights(oof, y, w)
    duplicated = fit_pool_weights([o[dup] for o in oof], y[dup])
    np.testing.assert_allclose(weighted[0], duplicated[0], atol=1e-4)
    np.testing.assert_allclose(weighted[1], duplicated[1], rtol=1e-3)


def test_balanced_lda_has_uniform_priors():
    rng = np.random.default_rng(2)
    y = np.array([0] * 40 + [1] * 10)
    T = rng.normal(size=(50, 2)) + y[:, None]
    w = class_weights("balanced", np.array([0, 1]), y)
    np.testing.assert_allclose(_weighted_lda(T, y, w).priors_, [0.5, 0.5])
    np.testing.assert_allclose(_weighted_lda(T, y, np.ones(2)).priors_, [0.8, 0.2])


@pytest.mark.parametrize("name", CLASSICAL)
def test_rare_outcome_is_predicted_when_balanced(rare, name):
    """Balanced weighting finds the rare cases at the 0.5 threshold; without it the
    probabilities stay near the training prevalence."""
    train, test = rare
    y_test = test.y.to_numpy()
    assert 0.1 < train.y.mean() < 0.25
    balanced = make(name, random_state=0).fit(train)
    plain = make(name, random_state=0, class_weight=None).fit(train)
    bal_pred, plain_pred = balanced.predict(test), plain.predict(test)
    bal_score = balanced_accuracy_score(y_test, bal_pred)
    assert bal_score > 0.65, name
    assert bal_score > balanced_accuracy_score(y_test, plain_pred) - 0.03, name
    assert (bal_pred == 1).sum() > (plain_pred == 1).sum(), name
    prevalence = train.y.mean()
    assert plain.predict_proba(test)[:, 1].mean() < balanced.predict_proba(test)[:, 1].mean()
    assert abs(plain.predict_proba(train)[:, 1].mean() - prevalence) < 0.08, name


def test_neural_class_weight_dict_is_keyed_by_label(rare):
    """The neural strategies read class_weight as the classical ones: dict keys are class
    labels; a heavier rare class raises its predicted probability."""
    train, test = rare
    kw = {"max_epochs": 15, "n_ensemble": 1, "random_state": 0}
    plain = make("intermediate", class_weight=None, **kw).fit(train)
    heavy = make("intermediate", class_weight={1: 5.0}, **kw).fit(train)
    assert heavy.predict_proba(test)[:, 1].mean() > plain.predict_proba(test)[:, 1].mean()
    with pytest.raises(ValueError, match="'relapse'"):
        make("intermediate", class_weight={"relapse": 2.0}, **kw).fit(train)


def test_study_params_turn_weighting_off(rare, tmp_path):
    """``params: {late-mean: {class_weight: null}}`` in a study file reaches the estimator:
    its out-of-fold probabilities are those of the unweighted model (lower for the rare
    class)."""
    import yaml

    from medfuse.evaluate.runner import resolve_strategies, run_benchmark

    train, _ = rare
    params = yaml.safe_load("late-mean: {class_weight: null}")
    plain = resolve_strategies(train, ["late-mean"], params=params)["late-mean"]
    assert plain.get_params()["class_weight"] is None
    mean_rare = {}
    for label, strategies in (("plain", {"late-mean": plain}),
                              ("balanced", resolve_strategies(train, ["late-mean"]))):
        res = run_benchmark(train, strategies, folds=3, repeats=1, robustness=False)
        mean_rare[label] = np.mean([f.probabilities()[:, 1].mean() for f in res.folds])
    assert mean_rare["plain"] < mean_rare["balanced"] - 0.05, mean_rare


@pytest.mark.parametrize("name", CLASSICAL)
def test_a_modality_that_never_sees_a_class_still_fits(name):
    """Multiclass outcome; no subject of one class has imaging. The weights of the default
    classifiers are restricted to the classes each fit sees (scikit-learn refuses others)."""
    data = make_cohort(150, task="multiclass", n_classes=3, n_genes=30, n_imaging=15,
                       random_state=2)
    y = data.y.to_numpy()
    data = data.hide("imaging", subjects=data.subjects[y == 2])
    if name == "unimodal:rna":
        name = "unimodal:imaging"
    model = make(name, random_state=0).fit(data)
    proba = model.predict_proba(data)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
