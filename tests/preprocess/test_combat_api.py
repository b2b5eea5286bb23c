"""ComBat beyond the R fixtures: workflow, policies, errors and the residual batch signal."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline

from medfuse.data import make_cohort
from medfuse.preprocess import ComBat, fit_transform_block, residual_batch_signal

COV = ["group", "age"]


def _toy(seed=0, n_per=(15, 15, 15), n_feat=8):
    rng = np.random.default_rng(seed)
    batch = np.repeat(["a", "b", "c"], n_per)
    X = rng.normal(size=(len(batch), n_feat))
    for lev, shift, scale in (("a", -1.0, 0.5), ("b", 0.0, 1.0), ("c", 2.0, 2.0)):
        X[batch == lev] = X[batch == lev] * scale + shift
    return X, batch


def test_unseen_batch_error_names_the_batch():
    X, batch = _toy()
    model = ComBat().fit(X, batch=batch)
    with pytest.raises(ValueError, match="'z'"):
        model.transform(X[:3], batch=["a", "z", "z"])


def test_unseen_batch_reference_leaves_subjects_unchanged():
    X, batch = _toy()
    model = ComBat(ref_batch="b", unseen_batch="reference").fit(X, batch=batch)
    out = model.transform(X[:4], batch=["z", "z", "a", "b"])
    np.testing.assert_array_equal(out[:2], X[:2])
    np.testing.assert_array_equal(out[3], X[3])
    assert not np.allclose(out[2], X[2])
    with pytest.raises(ValueError, match="needs ref_batch"):
        ComBat(unseen_batch="reference").fit(X, batch=batch)


@pytest.mark.parametrize("parametric", [True, False])
def test_unseen_batch_fit_new_equals_batch_estimated_in_fit(parametric):
    # Estimated from its own samples against the frozen grand mean and pooled variance, a
    # new batch is adjusted exactly as a training batch with the same standardised samples.
    X, batch = _toy(n_feat=30)
    model = ComBat(parametric=parametric, unseen_batch="fit-new").fit(X, batch=batch)
    renamed = model.transform(X, batch=np.where(batch == "c", "new", batch))
    s = (X[batch == "c"][:, model.adjusted_] - model.grand_mean_) / np.sqrt(model.var_pooled_)
    j = model.batches_.index("c")
    g, d = model._eb_one(s, model.gamma_hat_[j], model.delta_hat_[j], False)
    np.testing.assert_allclose(g, model.gamma_star_[j], atol=1e-12)
    np.testing.assert_allclose(d, model.delta_star_[j], atol=1e-12)
    np.testing.assert_allclose(renamed, model.transform(X, batch=batch), atol=1e-12)
    # and the new batch's location/scale is removed: means/sds close to the pooled ones
    after = renamed[batch == "c"]
    assert np.abs(after.mean(0) - X.mean(0)).max() < 1.0


def test_confounded_design_raises_named_error():
    X, _ = _toy(n_per=(10, 10, 0), n_feat=5)
    batch = np.repeat(["site1", "site2"], 10)
    cov = pd.DataFrame({"status": np.repeat(["case", "control"], 10),
                        "age": np.linspace(30, 70, 20)})
    with pytest.raises(ValueError, match=r"'status' is confounded.*'site1'.*'site2'"):
        ComBat().fit(X, batch=batch, covariates=cov)


def test_single_sample_batch_forces_mean_only():
    X, batch = _toy()
    batch = batch.copy()
    batch[0] = "solo"
    with pytest.warns(UserWarning, match="single sample"):
        model = ComBat().fit(X, batch=batch)
    assert model.mean_only_
    np.testing.assert_array_equal(model.delta_star_, 1.0)


def test_eb_false_uses_per_feature_estimates():
    X, batch = _toy()
    model = ComBat(eb=False).fit(X, batch=batch)
    out = model.transform(X, batch=batch)
    for lev in "abc":   # no covariates: each batch gets exactly the pooled mean and variance
        rows = batch == lev
        s = (out[rows] - model.grand_mean_) / np.sqrt(model.var_pooled_)
        np.testing.assert_allclose(s.mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(s.var(0, ddof=1), 1, atol=1e-12)


def test_unseen_covariate_level_and_dataframe_kept():
    X, batch = _toy()
    df = pd.DataFrame(X, index=[f"s{i}" for i in range(len(X))],
                      columns=[f"g{j}" for j in range(X.shape[1])])
    cov = pd.DataFrame({"sex": np.tile(["F", "M"], len(X))[:len(X)]}, index=df.index)
    model = ComBat().fit(df, batch=batch, covariates=cov)
    out = model.transform(df.iloc[:2], batch=batch[:2], covariates=cov.iloc[:2])
    assert out.index.tolist() == ["s0", "s1"] and out.columns.equals(df.columns)
    with pytest.raises(ValueError, match="'sex' has level"):
        model.transform(df.iloc[:1], batch=batch[:1],
                        covariates=pd.DataFrame({"sex": ["X"]}, index=df.index[:1]))


def test_obs_entry_point_for_block_preprocessing(combat_data):
    X, meta = combat_data
    model = ComBat(covariate_cols=COV)
    shuffled = meta.sample(frac=1.0, random_state=0)       # obs rows are aligned on the index
    out = fit_transform_block(model, X, obs=shuffled)
    expected = ComBat().fit_transform(X, batch=meta["batch"], covariates=meta[COV])
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="no batch column 'site'"):
        ComBat(batch_col="site").fit(X, obs=meta)


def test_metadata_routing_in_pipeline_and_cross_validate():
    rng = np.random.default_rng(1)
    n = 120
    batch = np.repeat(["s1", "s2", "s3"], n // 3)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 10)) + y[:, None] * 0.8
    X += (batch == "s2")[:, None] * 3.0
    with sklearn.config_context(enable_metadata_routing=True):
        combat = ComBat().set_fit_request(batch=True).set_transform_request(batch=True)
        pipe = make_pipeline(combat, LogisticRegression())
        pipe.fit(X, y, batch=batch)
        assert pipe.score(X, y, batch=batch) > 0.6
        res = cross_validate(pipe, X, y, params={"batch": batch}, cv=3)
    assert res["test_score"].mean() > 0.6
    fitted = pipe.steps[0][1]
    assert fitted.batches_ == ["s1", "s2", "s3"]


def test_residual_batch_auc_drops_to_chance_on_simulated_imaging():
    data = make_cohort(300, n_batches=3, batch_effect=1.5, random_state=0)
    X = data.block("imaging")
    batch = data.obs.loc[X.index, "batch"]
    auc = residual_batch_signal(X, ComBat(), batch)   # ComBat refitted in every fold
    assert auc["before"] > 0.9
    assert abs(auc["after"] - 0.5) < 0.08
    # harmonizing everyone first forces batch means equal in-sample: anti-predictable folds
    in_sample = residual_batch_signal(X, ComBat().fit_transform(X, batch=batch), batch)
    assert in_sample["before"] == auc["before"] and in_sample["after"] < 0.5


def test_unseen_batch_error_says_cause_and_remedies():
    from medfuse.preprocess._design import UnseenBatchError

    X, batch = _toy()
    model = ComBat().fit(X, batch=batch)
    with pytest.raises(UnseenBatchError) as err:
        model.transform(X[:2], batch=["a", "d"])
    text = str(err.value)
    assert text.startswith("Batch(es) ['d'] had no subject among those ComBat was fitted on "
                           "(seen: ['a', 'b', 'c']), so their batch effect is unknown.")
    assert "e.g. a batch with one subject" in text and "leave-site-out" in text
    assert "unseen_batch='fit-new'" in text and "'reference'" in text


def test_batch_labels_match_by_their_text():
    # a batch read as the number 1 from one file is the batch "1" of another
    X, batch = _toy()
    numeric = np.select([batch == "a", batch == "b"], [1, 2], 3)
    model = ComBat(ref_batch="2").fit(X, batch=numeric)
    assert model.batches_ == [1, 2, 3] and model.ref_index_ == 1
    np.testing.assert_allclose(model.transform(X, batch=numeric.astype(str)),
                               model.transform(X, batch=numeric), atol=1e-12)
