"""The additive strategy: its explanation is its decomposition, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from medfuse.data import DataValidationError, make_cohort
from medfuse.explain import modality_shapley, native
from medfuse.fusion import available, make
from medfuse.fusion.additive import AdditiveFusion
from medfuse.preprocess.blocks import as_matrix, transform_block


@pytest.fixture(scope="module")
def fitted(split):
    train, _ = split
    return make("additive", random_state=0).fit(train)


def test_registered_with_tags():
    tags = available().loc["additive"]
    assert tags["interpretable"] and tags["handles_missing"]
    assert isinstance(make("additive"), AdditiveFusion)


def test_explanation_is_the_decomposition(fitted, split):
    _, test = split
    ex = fitted.explain(test)
    proba = fitted.predict_proba(test)
    # logit = intercept + sum of modality terms, and it is the model's log-odds
    np.testing.assert_allclose(ex.intercept + ex.modality_contributions.sum(axis=1), ex.logit,
                               atol=1e-12)
    np.testing.assert_allclose(logit(proba[:, 1]), ex.logit[:, 0], atol=1e-10)
    np.testing.assert_allclose(fitted.decision_function(test), ex.logit[:, 0])
    # each modality's feature terms add up to its modality term
    feats = ex.feature_frame()
    for j, m in enumerate(ex.modalities):
        np.testing.assert_allclose(feats[m].sum(axis=1), ex.modality_contributions[:, j, 0],
                                   atol=1e-12)
    # and each feature term is w_m * beta_mj * (x~_mj - mu_mj), recomputed here
    m = "rna"
    rows = np.flatnonzero(test.available[m].to_numpy())
    X = as_matrix(transform_block(fitted.preprocessors_[m], test.block(m)))
    j = fitted.modalities_.index(m)
    expected = (fitted.modality_weights_[j] * (X - fitted.feature_means_[m])
                * fitted.coef_[m][:, 0])
    np.testing.assert_allclose(feats[m].to_numpy()[rows], expected, atol=1e-12)


def test_missing_modality_contributes_zero(fitted, split):
    _, test = split
    ex = fitted.explain(test)
    lacking = ~test.available.to_numpy()
    assert lacking.any()
    assert np.all(ex.modality_contributions[lacking] == 0.0)
    hidden = fitted.explain(test.hide("rna"))
    np.testing.assert_allclose(hidden.logit[:, 0],
                               ex.logit[:, 0] - ex.modality_contributions[:, 0, 0], atol=1e-12)


def test_weights_non_negative_and_signal_found(fitted, rna_cohort):
    w = pd.Series(fitted.modality_weights_, index=fitted.modalities_)
    assert (w >= 0).all()
    assert w["rna"] > 0
    truth = set(rna_cohort.uns["truth"]["informative_features"]["rna"])
    table = fitted.coefficients().set_index(["modality", "feature"])
    coef = table.loc["rna", "beta"]
    chosen = set(coef[coef != 0].index)
    assert len(chosen & truth) >= 0.5 * len(chosen)
    assert table.loc["noise1", "coefficient"].abs().sum() < 0.05
    np.testing.assert_allclose(table["coefficient"], table["weight"] * table["beta"])


def test_weights_match_an_unconstrained_combiner_when_it_is_non_negative():
    """On two informative modalities the constrained fit equals plain logistic regression
    on the same out-of-fold scores (the constraint is inactive)."""
    data = make_cohort(200, effects={"rna": 1.5, "imaging": 1.5, "clinical": 0.0},
                       interaction=0.0, n_genes=20, n_imaging=10, random_state=5)
    model = AdditiveFusion(random_state=0)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 2, 1)) * [[[2.0], [1.0]]]
    y = (scores[:, 0, 0] + scores[:, 1, 0] + rng.logistic(size=200) > 0).astype(int)
    model.modalities_ = ["a", "b"]
    w, b = model._combine(scores, y, 2)
    ref = LogisticRegression(C=1 / (1e-4 * 200), l1_ratio=0.0, tol=1e-10,
                             max_iter=1000).fit(scores[:, :, 0], y)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-3)
    np.testing.assert_allclose(b, ref.intercept_, rtol=1e-3, atol=1e-4)
    assert model.fit(data).modality_weights_[0] > 0


def test_multiclass_decomposition():
    data = make_cohort(150, task="multiclass", n_classes=3, n_genes=20, n_imaging=8,
                       missing={"imaging": 0.3}, random_state=6)
    model = make("additive", random_state=0).fit(data[:110])
    ex = model.explain(data[110:])
    assert ex.logit.shape == (40, 3)
    proba = model.predict_proba(data[110:])
    soft = np.exp(ex.logit - ex.logit.max(axis=1, keepdims=True))
    np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), proba, atol=1e-12)
    feats = ex.feature_frame(class_=2)
    np.testing.assert_allclose(feats["imaging"].sum(axis=1),
                               ex.modality_frame(class_=2)["imaging"], atol=1e-12)


def test_native_and_shapley_agree_with_the_decomposition(fitted, split):
    _, test = split
    tables = native(fitted, test)
    assert {"modality_weights", "coefficients", "contributions"} <= set(tables)
    weights = tables["modality_weights"].set_index("modality")["weight"]
    np.testing.assert_allclose(weights[fitted.modalities_], fitted.modality_weights_)
    contrib = fitted.explain(test).modality_frame()
    assert modality_shapley(fitted, test).mean_abs().index[0] == contrib.abs().mean().idxmax()


def test_clone_and_errors(fitted):
    assert clone(fitted).get_params() == fitted.get_params()
    # fitted state is plain arrays/lists/dicts (no pandas objects), so it can be saved
    for name, value in vars(fitted).items():
        if name.endswith("_") and name != "preprocessors_":
            for v in value.values() if isinstance(value, dict) else [value]:
                assert not isinstance(v, pd.Series | pd.DataFrame), name
    img = make_cohort(60, image_shape=(8, 8), random_state=0)
    with pytest.raises(DataValidationError, match="tabular modalities only"):
        make("additive").fit(img)


def test_round_trip_through_skops(fitted, split):
    import skops.io as sio

    _, test = split
    blob = sio.dumps(fitted)
    loaded = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    np.testing.assert_array_equal(loaded.predict_proba(test), fitted.predict_proba(test))
    np.testing.assert_array_equal(loaded.explain(test).logit, fitted.explain(test).logit)
