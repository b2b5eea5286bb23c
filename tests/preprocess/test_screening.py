"""FeatureScreen: the filters keep the features with a known answer, the statistics agree
with scikit-learn and with the Cox partial likelihood, and bad input is refused."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import f_classif

from medfuse.preprocess.screening import FeatureScreen, anova_f, cox_score_statistics


def test_variance_keeps_exactly_the_k_highest_variance_columns():
    rng = np.random.default_rng(0)
    scales = rng.permutation(np.r_[np.full(7, 5.0), np.linspace(0.5, 1.5, 193)])
    X = rng.normal(size=(40, 200)) * scales
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(200)])
    screen = FeatureScreen("variance", keep=7).fit(frame)
    expected = np.sort(np.argsort(-X.var(axis=0))[:7])
    assert np.array_equal(np.flatnonzero(screen.support_), expected)
    assert np.array_equal(expected, np.flatnonzero(scales == 5.0))   # the planted ones
    np.testing.assert_allclose(screen.scores_, X.var(axis=0))
    out = screen.transform(frame)
    assert list(out.columns) == [f"f{j}" for j in expected]          # original order kept
    assert list(screen.get_feature_names_out()) == list(out.columns)
    np.testing.assert_array_equal(screen.transform(X), X[:, expected])


def test_variance_over_the_observed_cells_and_constant_columns_last():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 6)) * np.array([1, 2, 3, 4, 5, 6.0])
    X[:, 5] = 7.0                                   # constant: never ranked
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    screen = FeatureScreen("variance", keep=5).fit(X)
    np.testing.assert_allclose(screen.scores_[:5], np.nanvar(X[:, :5], axis=0))
    assert np.isnan(screen.scores_[5])
    assert screen.support_.tolist() == [True] * 5 + [False]


def test_ties_keep_the_first_feature_and_keep_above_width_keeps_all():
    X = np.tile(np.array([[0.0], [1.0], [2.0]]), (1, 4))
    assert FeatureScreen("variance", keep=2).fit(X).support_.tolist() == [True, True,
                                                                          False, False]
    assert FeatureScreen("variance", keep=10).fit(X).support_.all()


def test_anova_equals_f_classif_and_uses_the_observed_cells():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 20))
    y = rng.choice(["a", "b", "c"], 50)
    X[y == "a", :3] += 1.0
    np.testing.assert_allclose(anova_f(X, y), f_classif(X, y)[0], rtol=1e-10)
    X[rng.uniform(size=X.shape) < 0.15] = np.nan
    f = anova_f(X, y)
    for j in (0, 7):
        have = ~np.isnan(X[:, j])
        np.testing.assert_allclose(f[j], f_classif(X[have, j:j + 1], y[have])[0][0],
                                   rtol=1e-10)


def test_univariate_keeps_the_planted_informative_features():
    rng = np.random.default_rng(3)
    n, p, planted = 120, 2000, np.array([5, 400, 999, 1500, 1999])
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p))
    X[:, planted] += 1.5 * y[:, None]
    obs = pd.DataFrame({"label": y})
    screen = FeatureScreen("univariate", keep=5, outcome="label").fit(X, obs=obs)
    assert np.array_equal(np.flatnonzero(screen.support_), planted)
    # y given directly ranks the same; subjects without an outcome are left out
    assert np.array_equal(FeatureScreen("univariate", keep=5).fit(X, y).support_,
                          screen.support_)
    obs.loc[:9, "label"] = np.nan
    part = FeatureScreen("univariate", keep=5, outcome="label").fit(X, obs=obs)
    np.testing.assert_allclose(part.scores_, f_classif(X[10:], y[10:])[0], rtol=1e-10)


def _cox_log_partial_likelihood(beta, x, time, event):
    """Breslow partial log-likelihood of one covariate, by definition (O(n^2))."""
    total = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]
        total += beta * x[i] - np.log(np.exp(beta * x[at_risk]).sum())
    return total


def test_cox_score_statistic_equals_the_partial_likelihood_derivatives():
    rng = np.random.default_rng(4)
    n = 40
    X = rng.normal(size=(n, 3))
    time = rng.integers(1, 12, n).astype(float)         # many ties
    event = rng.uniform(size=n) < 0.7
    stats = cox_score_statistics(X, time, event)
    h = 1e-4
    for j in range(3):
        ll = [_cox_log_partial_likelihood(b, X[:, j], time, event) for b in (-h, 0.0, h)]
        score = (ll[2] - ll[0]) / (2 * h)
        information = -(ll[2] - 2 * ll[1] + ll[0]) / h ** 2
        np.testing.assert_allclose(stats[j], score ** 2 / information, rtol=1e-5)


def test_univariate_survival_keeps_the_planted_features():
    rng = np.random.default_rng(5)
    n, p = 150, 500
    X = rng.normal(size=(n, p))
    hazard = np.exp(0.9 * X[:, 10] - 0.9 * X[:, 250])
    time = rng.exponential(1 / hazard)
    censor = rng.exponential(2.0, n)
    obs = pd.DataFrame({"time": np.minimum(time, censor), "event": (time <= censor)})
    screen = FeatureScreen("univariate", keep=2, outcome=("time", "event")).fit(X, obs=obs)
    assert np.flatnonzero(screen.support_).tolist() == [10, 250]


def test_log_cpm_scale_ranks_on_log_cpm_and_returns_raw_counts():
    rng = np.random.default_rng(6)
    library = rng.uniform(1e4, 1e6, 30)
    share = np.full(50, 1 / 50)
    counts = rng.poisson(np.outer(library, share)).astype(float)
    counts[:15, 3] *= 8                                     # gene 3 truly differs
    screen = FeatureScreen("variance", keep=1, scale="log-cpm").fit(counts)
    logcpm = np.log2(1 + 1e6 * counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(screen.scores_, logcpm.var(axis=0))
    assert np.flatnonzero(screen.support_).tolist() == [3]
    np.testing.assert_array_equal(screen.transform(counts), counts[:, [3]])


@pytest.mark.parametrize(("params", "match"), [
    ({"method": "lasso"}, "method must be one of"),
    ({"keep": 0}, "keep must be a positive number"),
    ({"keep": True}, "keep must be a positive number"),
    ({"scale": "tpm"}, "scale must be one of"),
])
def test_bad_parameters_are_refused_with_the_choices(params, match):
    with pytest.raises(ValueError, match=match):
        FeatureScreen(**params).fit(np.ones((4, 3)))


def test_univariate_without_an_outcome_says_what_to_pass():
    X = np.random.default_rng(7).normal(size=(10, 4))
    with pytest.raises(ValueError, match="needs the outcome"):
        FeatureScreen("univariate", keep=2).fit(X)
    with pytest.raises(ValueError, match=r"no outcome column\(s\) \['label'\]"):
        FeatureScreen("univariate", keep=2, outcome="label").fit(
            X, obs=pd.DataFrame({"y": np.arange(10) % 2}))


def test_transform_refuses_other_columns():
    frame = pd.DataFrame(np.random.default_rng(8).normal(size=(6, 3)), columns=list("abc"))
    screen = FeatureScreen(keep=2).fit(frame)
    with pytest.raises(ValueError, match="columns differ"):
        screen.transform(frame[["b", "a", "c"]])
    with pytest.raises(ValueError, match="fitted on 3 features, got 2"):
        screen.transform(frame[["a", "b"]])
