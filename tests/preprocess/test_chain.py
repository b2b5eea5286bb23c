"""ObsChain: block transformers in sequence, obs routed to those that take it."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from medfuse.preprocess import ComBat, fit_transform_block, transform_block
from medfuse.preprocess.chain import ObsChain


def _data(seed=0, n_per=12, n_feat=6):
    rng = np.random.default_rng(seed)
    batch = np.repeat(["a", "b", "c"], n_per)
    X = rng.normal(size=(len(batch), n_feat))
    for lev, shift, scale in (("a", -1.0, 0.5), ("b", 0.5, 1.0), ("c", 2.0, 2.0)):
        X[batch == lev] = X[batch == lev] * scale + shift
    ids = [f"s{i}" for i in range(len(batch))]
    return (pd.DataFrame(X, index=ids, columns=[f"f{j}" for j in range(n_feat)]),
            pd.DataFrame({"site": batch}, index=ids))


def test_equals_the_steps_applied_by_hand():
    X, obs = _data()
    chain = ObsChain([ComBat(batch_col="site"), StandardScaler().set_output(transform="pandas")])
    out = fit_transform_block(chain, X, obs)
    combat = ComBat(batch_col="site").fit(X, obs=obs)
    expected = StandardScaler().fit_transform(combat.transform(X, obs=obs))
    np.testing.assert_allclose(out.to_numpy(), expected, atol=1e-12)
    assert list(out.columns) == list(X.columns) and out.index.equals(X.index)
    # frozen: new subjects of the training batches are transformed with the fitted steps
    np.testing.assert_allclose(transform_block(chain, X.iloc[:5], obs.iloc[:5]).to_numpy(),
                               expected[:5], atol=1e-12)
    assert list(chain.get_feature_names_out()) == list(X.columns)


def test_steps_are_cloned_and_the_chain_clones_like_an_estimator():
    X, obs = _data()
    step = ComBat(batch_col="site", mean_only=True)
    chain = ObsChain([step, None, "passthrough", StandardScaler()])
    chain.fit(X, obs=obs)
    assert not hasattr(step, "batches_")                 # the given step is not fitted
    assert chain.steps_[0].batches_ == ["a", "b", "c"] and chain.steps_[0].mean_only_
    assert chain.steps_[1] is None and chain.steps_[2] is None
    fresh = clone(chain)
    assert not hasattr(fresh, "steps_")
    assert fresh.get_params()["steps"][0].get_params() == step.get_params()


def test_a_step_without_obs_gets_the_block_only_and_obs_is_required_by_combat():
    X, _ = _data()
    plain = ObsChain([StandardScaler()])
    np.testing.assert_allclose(plain.fit_transform(X), StandardScaler().fit_transform(X))
    with pytest.raises(ValueError, match="batch is required"):
        ObsChain([ComBat(batch_col="site")]).fit(X)
