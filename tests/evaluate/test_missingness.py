"""Missingness diagnostics against known answers: Little's test on R's airquality, EM
against closed forms, and the simulator's MCAR, MAR and MNAR cohorts."""

import numpy as np
import pandas as pd
import pytest

from medfuse.data.simulate import make_cohort
from medfuse.evaluate.missingness import (
    availability_mcar_test,
    block_mcar_test,
    diagnose_missingness,
    em_mean_covariance,
    little_mcar_test,
    mar_probe,
    outcome_by_pattern,
)
from medfuse.evaluate.missingness.em import EMConvergenceError
from medfuse.evaluate.missingness.probe import STRONG, WEAK


def test_little_on_airquality_converged_and_as_naniar(airquality_path):
    air = pd.read_csv(airquality_path)
    converged = little_mcar_test(air)
    assert converged.statistic == pytest.approx(35.106175, abs=1e-5)
    assert converged.df == 14
    assert converged.n_patterns == 4
    assert converged.p_value == pytest.approx(0.00141776, abs=1e-8)
    # R norm's stopping rule (relative change 1e-4), which naniar::mcar_test inherits
    loose = little_mcar_test(air, tol=1e-4)
    assert loose.statistic == pytest.approx(35.1061289, abs=1e-3)
    assert loose.iterations < converged.iterations
    assert "rejects MCAR" in converged.reading()


def test_em_on_complete_data_is_the_ml_mean_and_covariance():
    x = np.random.default_rng(0).normal(size=(40, 3)) @ np.array([[1, .5, 0], [0, 1, .3],
                                                                   [0, 0, 1]])
    est = em_mean_covariance(x)
    np.testing.assert_allclose(est.mean, x.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(est.covariance, np.cov(x.T, bias=True), atol=1e-8)


def test_em_matches_the_closed_form_of_a_monotone_pattern():
    # Bivariate normal, y missing for some rows: the ML estimates are (Anderson 1957)
    # mu_x = mean of all x; beta from the complete cases' regression of y on x;
    # mu_y = ybar_cc + beta (mu_x - xbar_cc); s_yy = s_yy.x + beta^2 s_xx.
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    y = 1 + 0.8 * x + rng.normal(scale=0.5, size=80)
    y[rng.random(80) < np.where(x > 0, 0.6, 0.1)] = np.nan
    cc = ~np.isnan(y)
    mu_x, s_xx = x.mean(), x.var()
    beta = np.cov(x[cc], y[cc], bias=True)[0, 1] / x[cc].var()
    alpha = y[cc].mean() - beta * x[cc].mean()
    resid = np.mean((y[cc] - alpha - beta * x[cc]) ** 2)
    est = em_mean_covariance(np.column_stack([x, y]))
    np.testing.assert_allclose(est.mean, [mu_x, alpha + beta * mu_x], atol=1e-8)
    np.testing.assert_allclose(est.covariance[1, 1], resid + beta ** 2 * s_xx, atol=1e-8)
    np.testing.assert_allclose(est.covariance[0, 1], beta * s_xx, atol=1e-8)


def test_little_without_missing_cells_and_bad_input():
    x = pd.DataFrame(np.random.default_rng(2).normal(size=(30, 3)), columns=list("abc"))
    test = little_mcar_test(x)
    assert test.df == 0 and test.statistic == pytest.approx(0, abs=1e-12)
    assert "cannot be tested" in test.reading()
    with pytest.raises(ValueError, match=r"numeric columns; \['sex'\]"):
        little_mcar_test(x.assign(sex=["f", "m"] * 15))
    x.loc[1:, "c"] = np.nan
    with pytest.raises(ValueError, match="fewer than two observed"):
        little_mcar_test(x)
    with pytest.raises(EMConvergenceError):
        em_mean_covariance(np.where(np.eye(30, 3, dtype=bool), np.nan,
                                    np.random.default_rng(3).normal(size=(30, 3))),
                           max_iter=2)


@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
def test_diagnostics_tell_the_simulated_mechanisms_apart(mechanism):
    data = make_cohort(300, missing={"imaging": 0.3, "rna": 0.2}, n_genes=60,
                       missing_mechanism=mechanism, missing_strength=2.0, random_state=0)
    availability = availability_mcar_test(data)
    probe = mar_probe(data)
    table, p_outcome = outcome_by_pattern(data)
    assert set(probe.index) == {"rna", "imaging"}
    assert table["subjects"].sum() == 300
    if mechanism == "MCAR":
        assert availability.p_value > 0.05
        assert (probe["auc"] < WEAK).all()
    elif mechanism == "MAR":
        # availability follows age, which the probe sees
        assert availability.p_value < 1e-6
        assert (probe["auc"] >= STRONG).all()
        assert all(p.startswith("age") for p in probe["top_predictors"])
    else:
        # missingness follows each modality's own latent value: invisible to the probe, but
        # the latent values drive the outcome, so the outcome differs between patterns
        assert (probe["auc"] < WEAK).all()
        assert p_outcome < 1e-4


def test_block_test_finds_cells_missing_by_another_column():
    rng = np.random.default_rng(4)
    n = 400
    age = rng.normal(60, 10, n)
    bmi = 25 + 0.2 * (age - 60) + rng.normal(0, 3, n)
    crp = rng.normal(5, 2, n)
    frame = pd.DataFrame({"age": age, "bmi": bmi, "crp": crp,
                          "sex": rng.choice(["f", "m"], n)},
                         index=[f"S{i}" for i in range(n)])
    from medfuse.data import MultiModalData

    def cohort(mask):
        return MultiModalData({"clinical": frame.mask(pd.DataFrame(
            {"age": False, "bmi": mask, "crp": False, "sex": False}, index=frame.index))},
            modalities={"clinical": "clinical"})

    mar = block_mcar_test(cohort(age > 65), "clinical")
    mcar = block_mcar_test(cohort(rng.random(n) < 0.3), "clinical")
    assert mar.p_value < 1e-6
    assert mcar.p_value > 0.01
    assert block_mcar_test(cohort(np.zeros(n, bool)), "clinical") is None


def test_diagnose_collects_lines_and_notes():
    data = make_cohort(120, missing={"imaging": 0.3}, n_genes=40, random_state=1)
    report = diagnose_missingness(data)
    text = "\n".join(report.lines())
    assert "modality availability" in text and "imaging missing for" in text
    complete = diagnose_missingness(make_cohort(60, n_genes=40, random_state=1))
    assert complete.availability_test is None and complete.probe.empty


def test_mnar_sensitivity_finds_where_the_conclusion_reverses():
    from medfuse.evaluate.missingness import mnar_sensitivity

    # imaging is missing more often for subjects with a high imaging latent value (MNAR)
    data = make_cohort(240, missing={"imaging": 0.4}, n_genes=30, effects={"imaging": 1.5},
                       missing_mechanism="MNAR", random_state=0)
    result = mnar_sensitivity(data, "imaging", deltas=(-2.0, 0.0, 2.0), folds=3)
    assert list(result.table.index) == [-2.0, 0.0, 2.0]
    # fitted under MAR, imputed imaging adds to the other modalities; if the subjects
    # without it were 2 sd lower than predicted, the held-out AUC falls below the model
    # without imaging
    assert result.table.loc[0.0, "mean"] > result.without
    assert result.table.loc[-2.0, "mean"] < result.without - 0.05
    assert result.tipping_point == -2.0
    assert "reverses at delta -2 sd" in result.reading()
    with pytest.raises(ValueError, match="every subject has 'rna'"):
        mnar_sensitivity(data, "rna")
