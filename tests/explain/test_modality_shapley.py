"""Modality Shapley values: efficiency, missing modalities, closed forms, known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.base import clone

from medfuse.data import make_cohort
from medfuse.explain import modality_shapley
from medfuse.fusion import make
from medfuse.fusion.registry import info


def _brute_force(model, data, i):
    """Shapley values of subject i from the textbook formula over its modalities."""
    sub = data[[i]]
    players = [m for m in model.modalities_ if sub.available[m].iloc[0]]
    base = model.class_prior_

    def v(coalition):
        if not coalition:
            return base
        hidden = [m for m in model.modalities_ if m not in coalition]
        return model.predict_proba(sub.hide(hidden) if hidden else sub)[0]

    a = len(players)
    phi = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for r in range(a):
            for s in itertools.combinations(others, r):
                w = math.factorial(r) * math.factorial(a - r - 1) / math.factorial(a)
                total = total + w * (v([*s, p]) - v(list(s)))
        phi[p] = total
    return phi


def test_efficiency_and_missing_are_exact(fitted_local, split):
    _, test = split
    for model in fitted_local.values():
        att = modality_shapley(model, test)
        assert att.method == "exact"
        assert att.values.shape == (len(test), 4, 2)
        np.testing.assert_allclose(att.values.sum(axis=1) + att.base_values,
                                   model.predict_proba(test), atol=1e-10, rtol=0)
        lacking = ~test.available.to_numpy()
        assert lacking.any()
        assert np.all(att.values[lacking] == 0.0)
        np.testing.assert_allclose(att.base_values, model.class_prior_)


def test_exact_equals_textbook_formula(fitted_local, split):
    _, test = split
    model = fitted_local["test:imputed-early"]
    att = modality_shapley(model, test)
    for i in (0, 3, 7, 11):
        expected = _brute_force(model, test, i)
        for m, value in expected.items():
            np.testing.assert_allclose(att.values[i, att.modalities.index(m)], value,
                                       atol=1e-12)


def test_sampled_orderings_converge_and_stay_efficient(fitted_local, split):
    _, test = split
    model = fitted_local["test:imputed-early"]
    exact = modality_shapley(model, test[:20])
    sampled = modality_shapley(model, test[:20], max_exact=2, n_permutations=40,
                               random_state=3)
    assert sampled.method == "permutation"
    np.testing.assert_allclose(sampled.values.sum(axis=1) + sampled.base_values,
                               exact.prediction, atol=1e-10)
    assert np.abs(sampled.values - exact.values).max() < 0.03
    again = modality_shapley(model, test[:20], max_exact=2, n_permutations=40,
                             random_state=3)
    np.testing.assert_array_equal(again.values, sampled.values)


def test_multiclass_frames_and_tidy():
    data = make_cohort(120, task="multiclass", n_classes=3, n_genes=20, n_imaging=8,
                       missing={"clinical": 0.3}, random_state=2)
    model = make("additive", random_state=0).fit(data[:90])
    att = modality_shapley(model, data[90:])
    np.testing.assert_allclose(att.values.sum(axis=1) + att.base_values, att.prediction,
                               atol=1e-10)
    with pytest.raises(ValueError, match="name one"):
        att.frame()
    assert att.frame(class_=2).shape == (30, 3)
    rows = att.per_prediction()
    picked = att.prediction[np.arange(30), np.argmax(att.prediction, axis=1)]
    np.testing.assert_allclose(rows.drop(columns="explained_class").sum(axis=1), picked,
                               atol=1e-10)
    assert (rows["explained_class"] == model.predict(data[90:])).all()
    tidy = att.tidy()
    assert len(tidy) == 30 * 3 * 3
    assert tidy.loc[~tidy["available"], "value"].eq(0).all()


def test_signal_modality_ranks_first_for_every_strategy(split, fitted_local,
                                                       fitted_registered):
    """effects: rna 2, others 0, no interaction, one pure-noise modality."""
    _, test = split
    models = {**fitted_local, **fitted_registered}
    assert "additive" in models
    for name, model in models.items():
        att = modality_shapley(model, test)
        np.testing.assert_allclose(att.values.sum(axis=1) + att.base_values, att.prediction,
                                   atol=1e-10, err_msg=name)
        assert np.all(att.values[~att.available] == 0.0), name
        if name != "late-vote":     # see test_late_vote_gives_every_modality_a_say
            imp = att.mean_abs()
            assert imp.index[0] == "rna", (name, imp.to_dict())


def test_noise_modality_gets_about_zero(split, fitted_local):
    """Sparse models that drop the noise features: its Shapley values are ~0. (Averaging
    strategies such as late-mean let a noise modality dilute the others, and an L2 model
    overfits it a little; their Shapley values rightly show that reliance.)"""
    train, test = split
    models = {"additive": make("additive", random_state=0).fit(train),
              "test:imputed-early": fitted_local["test:imputed-early"]}
    for name, model in models.items():
        imp = modality_shapley(model, test).mean_abs()
        assert imp["noise1"] < 0.1 * imp["rna"], (name, imp.to_dict())


@pytest.mark.filterwarnings("ignore:.*were excluded")
def test_refit_performance_shapley(split):
    train, test = split
    model = make("additive", cv=3, random_state=0)
    res = modality_shapley(model, test, refit=True, train=train, scoring="roc_auc")
    assert res.values.sum() + res.base_value == pytest.approx(res.full_score, abs=1e-12)
    assert res.base_value == pytest.approx(0.5)
    assert res.values.idxmax() == "rna"
    assert abs(res.values["noise1"]) < 0.05
    assert len(res.coalition_scores) == 16
    # the full coalition is the model refitted on everything
    full = clone(model).fit(train)
    from sklearn.metrics import roc_auc_score
    assert res.full_score == pytest.approx(roc_auc_score(test.y, full.predict_proba(test)[:, 1]))
    two = ["rna", "imaging"]
    acc = modality_shapley(model, test.select(two), refit=True, train=train.select(two),
                           scoring="accuracy")
    assert len(acc.coalition_scores) == 4
    assert acc.values.sum() + acc.base_value == pytest.approx(acc.full_score, abs=1e-12)


def test_base_values_options(fitted_local, split):
    _, test = split
    model = fitted_local["test:mean-late"]
    mean = modality_shapley(model, test, base_values="mean")
    np.testing.assert_allclose(mean.base_values, mean.prediction.mean(axis=0))
    fixed = modality_shapley(model, test, base_values=[0.5, 0.5])
    np.testing.assert_allclose(fixed.values.sum(axis=1) + 0.5, fixed.prediction, atol=1e-10)
    with pytest.raises(ValueError, match="one value per class"):
        modality_shapley(model, test, base_values=[1.0])
    assert info("additive").interpretable


def test_strategy_without_missing_support_is_refused(fitted_local, split, monkeypatch):
    from medfuse.fusion import registry

    _, test = split
    model = fitted_local["test:imputed-early"]
    monkeypatch.setitem(registry._REGISTRY, "test:complete-only",
                        registry.StrategyInfo("test:complete-only", type(model), "early",
                                              handles_missing=False))
    with pytest.raises(ValueError, match="refit=True"):
        modality_shapley(model, test)


def test_late_vote_gives_every_modality_a_say(fitted_registered, split):
    """A hard majority vote gives each modality one vote, so a pure-noise modality moves the
    output about as much as the signal one: modality Shapley values show that reliance (the
    noise modality is *not* ~0 here) while the signal modality stays among the top two."""
    if "late-vote" not in fitted_registered:
        pytest.skip("late-vote is not registered")
    _, test = split
    model = fitted_registered["late-vote"]
    imp = modality_shapley(model, test).mean_abs()
    assert "rna" in imp.index[:2], imp.to_dict()
    assert imp["noise1"] > 0.5 * imp["rna"], imp.to_dict()
