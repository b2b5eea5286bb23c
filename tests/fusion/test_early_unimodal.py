"""Unimodal baselines and early fusion: missing-modality rules."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(200, effects={"rna": 2, "imaging": 1, "clinical": 0}, interaction=0,
                       n_genes=50, n_imaging=20, random_state=21)


def test_unimodal_without_its_modality_gives_training_prior(cohort):
    train, test = cohort[:150], cohort[150:]
    model = make("unimodal:rna", random_state=0).fit(train)
    p = model.predict_proba(test.hide("rna", subjects=test.subjects[:5]))
    prior = np.bincount(train.y.to_numpy(), minlength=2) / len(train)
    np.testing.assert_allclose(p[:5], np.tile(prior, (5, 1)))
    assert roc_auc_score(test.y, model.predict_proba(test)[:, 1]) > 0.75


def test_unimodal_passes_obs_to_preprocessors(cohort):
    seen = {}

    class Spy:
        def fit(self, X, obs=None):
            seen["fit"] = list(obs.index) == list(X.index)
            return self

        def transform(self, X, obs=None):
            seen["transform"] = list(obs.index) == list(X.index)
            return np.log1p(X.to_numpy())

        def get_params(self, deep=True):
            return {}

    model = make("unimodal:rna", random_state=0, preprocessors={"rna": Spy()})
    model.fit(cohort[:150]).predict_proba(cohort[150:])
    assert seen == {"fit": True, "transform": True}


def test_early_imputes_training_mean_and_flags_missing_blocks(cohort):
    train, test = cohort[:150], cohort[150:]
    model = make("early", random_state=0).fit(train)
    design = model._design(model._transform_blocks(model.align(test.hide("imaging"))))
    sl = model.feature_slices_["imaging"]
    np.testing.assert_allclose(design[:, sl], np.tile(model.block_means_["imaging"],
                                                      (len(test), 1)))
    np.testing.assert_array_equal(design[:, -3:], np.tile([1.0, 0.0, 1.0], (len(test), 1)))
    full = roc_auc_score(test.y, model.predict_proba(test)[:, 1])
    assert full > 0.75
    # "width" scaling: each block carries the same total variance
    model = make("early", random_state=0, block_scaling="width").fit(train)
    X = model._design(model._transform_blocks(model.align(train)))
    var = [X[:, s].var(axis=0).sum() for s in model.feature_slices_.values()]
    assert var[0] == pytest.approx(var[1], rel=0.05)


def test_early_cv_block_scaling_uses_each_blocks_own_penalty(cohort):
    from medfuse.fusion.classifiers import default_classifier

    train = cohort[:150]
    model = make("early", random_state=0).fit(train)
    # the divisor is 1 / sqrt(C) of the block's own inner-CV logistic regression
    X = model._fit_blocks(train)["rna"]
    C = default_classifier(0).fit(X, train.y.to_numpy()).C_
    div = dict(zip(model.modalities_, model.block_divisors_, strict=True))
    assert div["rna"] == pytest.approx(1 / np.sqrt(np.ravel(C)[0]))
    # the noise block (clinical, effect 0) is shrunk at least as hard as the rna block
    assert div["clinical"] >= div["rna"]
    assert set(np.round(np.log10(model.block_divisors_ ** -2), 6)) <= set(
        np.round(np.linspace(-4, 2, 13), 6))
    with pytest.raises(ValueError, match="block_scaling"):
        make("early", block_scaling="bogus").fit(train)
