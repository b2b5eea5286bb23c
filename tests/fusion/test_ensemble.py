"""Ensemble selection: the greedy rule on hand-computed cases, the class-weight shift in
closed form, and the strategy's contract (subsets, saving, the conformal wrapper)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.fusion.ensemble_selection import (
    choose_prior,
    combine,
    greedy_selection,
    log_loss,
    metric_scorer,
    to_training_prior,
)
from medfuse.persist import load_model, save_model

Y = np.array([0, 1, 1, 0])
# A is right, confidently, on the first two subjects and wrong, mildly, on the last two;
# B is its mirror image. Each alone: accuracy 0.5; their average: 1.0.
A = np.array([[.9, .1], [.1, .9], [.6, .4], [.4, .6]])
B = np.array([[.4, .6], [.6, .4], [.1, .9], [.9, .1]])


def test_complementary_members_are_averaged_and_the_best_round_is_kept():
    sel = greedy_selection([A, B], Y, metric_scorer("accuracy"), rounds=4)
    # round 1: A and B tie on accuracy and on log loss: the earlier, A; round 2: B makes
    # every prediction right; round 3 ties on accuracy, A again (equal log loss by symmetry,
    # the earlier); round 4 ties with round 2, which is kept (the earlier, smaller one)
    assert sel.picks == [0, 1, 0, 1]
    assert sel.scores == [0.5, 1.0, 1.0, 1.0]
    # hand-computed log losses: round 2, -log 0.65; round 3, -(log(2.2/3) + log(1.7/3)) / 2
    assert sel.losses[1] == pytest.approx(-np.log(0.65))
    assert sel.losses[2] == pytest.approx(-(np.log(2.2 / 3) + np.log(1.7 / 3)) / 2)
    assert sel.kept == 2
    np.testing.assert_allclose(sel.weights, [0.5, 0.5])


def test_a_perfect_member_takes_every_round_and_copies_lose_ties_to_the_earlier():
    perfect = np.column_stack([1 - Y * 0.9 - 0.05, Y * 0.9 + 0.05])
    noise = np.full((4, 2), 0.5)
    sel = greedy_selection([noise, perfect, perfect.copy()], Y, metric_scorer("roc_auc"), 5)
    assert sel.picks == [1] * 5 and sel.kept == 1
    np.testing.assert_allclose(sel.weights, [0, 1, 0])


def test_combine_leaves_out_members_that_could_not_score_a_subject():
    p = np.array([[0.2, 0.8], [np.nan, np.nan]])
    q = np.array([[0.6, 0.4], [0.3, 0.7]])
    out = combine([p, q], np.array([0.75, 0.25]))
    np.testing.assert_allclose(out, [[0.3, 0.7], [0.3, 0.7]])
    assert np.isnan(combine([p[1:]], np.ones(1))).all()


def test_balanced_weights_shift_to_the_training_prevalence_in_closed_form():
    # balanced weights n / (K n_k) for a prior (0.8, 0.2): (0.625, 2.5); a balanced model's
    # indifferent prediction (0.5, 0.5) is the training prevalence once shifted
    np.testing.assert_allclose(to_training_prior(np.array([[0.5, 0.5]]),
                                                 np.array([0.625, 2.5])), [[0.8, 0.2]])
    fitted = np.array([[0.5, 0.5], [0.3, 0.7]])
    shifted = to_training_prior(fitted, np.array([0.625, 2.5]))
    y = np.array([0, 1])
    pick, table = choose_prior(fitted, shifted, y, metric_scorer("roc_auc"), ranking=True)
    assert pick == ("training" if log_loss(y, shifted) < log_loss(y, fitted) else "fitted")
    assert table["fitted"]["score"] == table["training"]["score"] == 1.0


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(160, n_genes=40, n_imaging=12, missing={"imaging": 0.3},
                       random_state=0)


@pytest.fixture(scope="module")
def fitted(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make("ensemble", members=["late-mean", "early-rf", "unimodal:clinical"],
                    cv=3, random_state=0).fit(cohort[:120])


def test_the_ensemble_is_the_weighted_average_of_its_refitted_members(fitted, cohort):
    test = cohort[120:]
    assert fitted.weights_.sum() == pytest.approx(1.0)
    assert set(fitted.members_) == set(fitted.weights_[fitted.weights_ > 0].index)
    assert fitted.selection_["kept"] <= 25 and len(fitted.selection_["picks"]) == 25
    parts = []
    for name, member in fitted.members_.items():
        p = member.predict_proba(test)
        if fitted.prior_ == "training":
            p = to_training_prior(p, fitted.member_weights_[name])
        parts.append(fitted.weights_[name] * p)
    np.testing.assert_allclose(fitted.predict_proba(test), np.sum(parts, axis=0))


def test_the_ensemble_predicts_from_any_subset_and_is_saved_and_loaded(fitted, cohort,
                                                                       tmp_path):
    test = cohort[120:]
    hidden = test.hide("rna")
    assert np.isfinite(fitted.predict_proba(hidden)).all()
    loaded = load_model(save_model(fitted, tmp_path / "ensemble"))
    np.testing.assert_array_equal(loaded.predict_proba(test), fitted.predict_proba(test))


def test_fixed_weights_fit_only_the_weighted_members_and_the_conformal_wrapper_covers_it(
        cohort):
    ensemble = make("ensemble", members={"a": make("late-mean"), "b": make("early"),
                                         "c": make("stacking")},
                    weights={"a": 3, "b": 1}, random_state=0)
    wrapped = ConformalClassifier(ensemble, alpha=0.2, random_state=0).fit(cohort[:120])
    inner = wrapped.estimator_
    assert set(inner.members_) == {"a", "b"}
    assert inner.weights_.to_dict() == {"a": 0.75, "b": 0.25, "c": 0.0}
    sets = wrapped.predict_set(cohort[120:])
    assert sets.shape == (40, 2) and sets.any(axis=1).all()


@pytest.mark.parametrize(("params", "message"), [
    ({"prior": "equal"}, "prior is 'equal'"),
    ({"metric": "f1"}, "metric 'f1' is not one the ensemble can select by"),
    ({"weights": {"a": -1}}, "weights must be non-negative"),
    ({"rounds": 0}, "rounds must be at least 1"),
])
def test_settings_that_cannot_train_are_refused_by_make(params, message):
    with pytest.raises(ValueError, match=message):
        make("ensemble", **params)
