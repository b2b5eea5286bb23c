"""The scikit-learn contract, checked on every classical strategy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.cca import CCAClassifier
from medfuse.fusion.early import EarlyFusion
from medfuse.fusion.kernel import MKLFusion
from medfuse.fusion.late import LateFusion
from medfuse.fusion.latent import BlockPLSClassifier
from medfuse.fusion.stacking import StackingFusion
from medfuse.fusion.unimodal import Unimodal

NAMES = ["unimodal:rna", "early", "late-mean", "late-weighted", "late-vote", "stacking",
         "mkl", "block-pls", "cca"]


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(120, n_genes=40, n_informative_genes=10, n_imaging=20,
                       n_informative_imaging=5, random_state=3)


@pytest.fixture(scope="module")
def cohort3():
    return make_cohort(150, task="multiclass", n_genes=40, n_informative_genes=10,
                       n_imaging=20, n_informative_imaging=5, random_state=4)


@pytest.mark.parametrize("cls", [Unimodal, EarlyFusion, LateFusion, StackingFusion, MKLFusion,
                                 BlockPLSClassifier, CCAClassifier])
def test_init_stores_params_unchanged_and_clone_round_trips(cls):
    params = {k: v for k, v in cls().get_params().items()}
    est = cls(**params)
    assert est.get_params() == params
    marker = {"rna": "passthrough"}
    est.set_params(preprocessors=marker, random_state=7)
    assert est.preprocessors is marker and est.random_state == 7
    twin = clone(est)
    assert twin.get_params()["random_state"] == 7
    assert twin.get_params()["preprocessors"] == marker
    assert not [k for k in vars(cls()) if k.endswith("_")], "no fitted state in __init__"


@pytest.mark.parametrize("name", NAMES)
def test_fit_predict_reproducible_and_fitted_attributes(cohort, name):
    train, test = cohort[:90], cohort[90:]
    a = make(name, random_state=0).fit(train)
    b = clone(make(name, random_state=0)).fit(train)
    pa, pb = a.predict_proba(test), b.predict_proba(test)
    assert pa.shape == (30, 2)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0, atol=1e-8)
    np.testing.assert_allclose(pa, pb, atol=1e-10)
    fresh = set(vars(make(name, random_state=0)))
    added = set(vars(a)) - fresh
    assert added and all(k.endswith("_") for k in added), sorted(added)
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_allclose(restored.predict_proba(test), pa)
    blob = sio.dumps(a)
    restored = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    np.testing.assert_allclose(restored.predict_proba(test), pa)
    assert set(a.predict(test)) <= {0, 1}


@pytest.mark.parametrize("name", NAMES)
def test_every_single_modality_gets_a_prediction(cohort, name):
    train, test = cohort[:90], cohort[90:]
    model = make(name, random_state=0).fit(train)
    for keep in test.modality_names:
        only = test.hide([m for m in test.modality_names if m != keep])
        p = model.predict_proba(only)
        assert p.shape == (len(test), 2) and np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_multiclass(cohort3, name):
    train, test = cohort3[:110], cohort3[110:]
    model = make(name, random_state=0).fit(train)
    p = model.predict_proba(test)
    assert p.shape == (40, 3) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-8)
    assert set(model.predict(test.hide("imaging"))) <= {0, 1, 2}
    # better than the majority class on held-out subjects (unimodal/clinical aside)
    majority = np.bincount(train.y.to_numpy()).argmax()
    y = test.y.to_numpy()
    assert np.mean(model.predict(test) == y) >= np.mean(y == majority) - 0.1


def test_training_with_missing_modalities(cohort):
    data = make_cohort(150, n_genes=40, n_imaging=20, missing={"rna": 0.3, "imaging": 0.3},
                       random_state=5)
    for name in NAMES:
        model = make(name, random_state=0).fit(data[:110])
        p = model.predict_proba(data[110:])
        assert np.isfinite(p).all(), name


def test_unknown_modality_error_names_it(cohort):
    with pytest.raises(ValueError, match="'mrna'"):
        make("unimodal:mrna").fit(cohort)
