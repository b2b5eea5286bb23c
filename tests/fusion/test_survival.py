"""Survival strategies on simulated cohorts with known effects."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from medfuse.data import DataValidationError, make_cohort
from medfuse.evaluate.metrics import c_index
from medfuse.fusion import available, make, strategy_names
from medfuse.fusion.registry import info
from medfuse.fusion.survival import FusionSurvival, PenalizedCox, harrell_c, survival_target


@pytest.fixture(scope="module")
def cohort():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_cohort(240, effects={"rna": 2.0, "imaging": 1.5, "clinical": 1.0},
                           task="survival", missing={"imaging": 0.3}, random_state=0)


@pytest.fixture(scope="module")
def rna_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_cohort(240, effects={"rna": 2.0, "imaging": 0.0, "clinical": 0.0},
                           task="survival", random_state=1)


def _split(data, n_train=160):
    return data[np.arange(n_train)], data[np.arange(n_train, len(data))]


@pytest.mark.parametrize("name", ["cox-early", "cox-late"])
def test_fusion_cox_is_concordant_on_held_out(cohort, name):
    train, test = _split(cohort)
    model = make(name, random_state=0).fit(train)
    assert isinstance(model, FusionSurvival)
    risk = model.predict(test)
    assert risk.shape == (len(test),) and np.isfinite(risk).all()
    c = model.score(test)
    assert c > 0.7
    # score is Harrell's C of the risk, as scikit-survival computes it
    assert c == pytest.approx(c_index(test.obs["event"], test.obs["time"], risk))


def test_unimodal_cox_follows_the_informative_modality(rna_only):
    train, test = _split(rna_only)
    c_rna = make("unimodal-cox:rna", random_state=0).fit(train).score(test)
    c_img = make("unimodal-cox:imaging", random_state=0).fit(train).score(test)
    assert c_rna > 0.7
    assert c_rna > c_img + 0.15


def test_one_modality_subjects_get_finite_risk(cohort):
    train, test = _split(cohort)
    for name in ("cox-early", "cox-late", "unimodal-cox:rna"):
        model = make(name, random_state=0).fit(train)
        for m in cohort.modality_names:
            others = [o for o in cohort.modality_names if o != m]
            have = test[np.flatnonzero(test.available[m].to_numpy())]
            risk = model.predict(have.hide(others))
            assert np.isfinite(risk).all(), (name, m)
        # dropping a modality entirely counts as missing for every subject
        assert np.isfinite(model.predict(test.drop_modalities(["rna"]))).all()


def test_late_fusion_risk_is_mean_of_standardised_modality_risks(cohort):
    train, test = _split(cohort)
    model = make("cox-late", random_state=0).fit(train)
    only_rna = model.predict(test.hide(["imaging", "clinical"]))
    z = model._transform_blocks(model.align(test))["rna"]
    expect = (model.models_["rna"].predict(z) - model.risk_mean_["rna"]) / model.risk_sd_["rna"]
    np.testing.assert_allclose(only_rna, expect)


def test_penalized_cox_matches_coxnet_and_picks_a_penalty():
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    t = rng.exponential(np.exp(-(1.5 * X[:, 0] - X[:, 1])))
    c = rng.exponential(2.0, size=120)
    y = np.empty(120, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = t <= c, np.minimum(t, c)
    model = PenalizedCox(random_state=0).fit(X, y)
    assert model.alpha_ > 0 and np.isfinite(model.cv_scores_).any()
    ref = CoxnetSurvivalAnalysis(l1_ratio=0.1, alphas=[model.alpha_]).fit(
        (X - model.mean_) / model.scale_, y)
    np.testing.assert_allclose(model.coef_, ref.coef_[:, 0], atol=1e-4)
    assert model.coef_[0] > 0.3 and model.coef_[1] < -0.2
    assert harrell_c(y, model.predict(X)) > 0.7


def test_harrell_c_matches_scikit_survival():
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(3)
    y = np.empty(50, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = rng.random(50) < 0.6, rng.exponential(size=50)
    risk = np.round(rng.normal(size=50), 1)  # ties in risk count one half
    ref = concordance_index_censored(y["event"], y["time"], risk)[0]
    assert harrell_c(y, risk) == pytest.approx(ref)


def test_target_from_obs_dataframe_or_structured_array(cohort):
    y = survival_target(cohort)
    assert y.dtype.names == ("event", "time") and len(y) == len(cohort)
    shuffled = cohort.obs[["event", "time"]].iloc[::-1]
    np.testing.assert_array_equal(survival_target(cohort, shuffled), y)
    train, test = _split(cohort)
    a = make("cox-early", random_state=0).fit(train).predict(test)
    b = make("cox-early", random_state=0).fit(train, survival_target(train)).predict(test)
    np.testing.assert_allclose(a, b)
    bad = cohort.obs[["event", "time"]].copy()
    bad.iloc[3, 1] = np.nan
    with pytest.raises(DataValidationError, match=cohort.subjects[3]):
        survival_target(cohort, bad)


def test_clone_and_seed_reproducible(cohort):
    train, test = _split(cohort)
    m = make("cox-late", random_state=1, l1_ratio=0.5)
    a = clone(m).fit(train).predict(test)
    b = clone(m).fit(train).predict(test)
    np.testing.assert_array_equal(a, b)


def test_registry_keeps_tasks_apart():
    classification = strategy_names(["rna", "imaging"])
    survival = strategy_names(["rna", "imaging"], task="survival")
    assert not set(classification) & set(survival)
    assert {"cox-early", "cox-late", "unimodal-cox:rna", "unimodal-cox:imaging"} <= set(
        survival)
    assert all(info(n).family == "survival" for n in survival)
    assert all(info(n).family != "survival" for n in classification)
    assert "unimodal:rna" in classification
    with pytest.raises(ValueError, match="unimodal-cox:<modality>"):
        make("unimodal-cox")
    table = available()
    assert table.loc["cox-late", "family"] == "survival"
    assert table.loc["unimodal-cox", "family"] == "survival"
