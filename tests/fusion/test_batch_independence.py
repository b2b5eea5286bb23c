"""A subject's prediction does not depend on who else is scored with it: for every registered
classification strategy, ``predict_proba(test[:7])`` equals ``predict_proba(test)[:7]``.

Batch statistics at prediction time (re-fitting a scaler, centring a kernel or standardising
network inputs on the subjects being predicted) would break this.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make, strategy_names

MODALITIES = ["rna", "imaging", "clinical"]
NAMES = strategy_names(MODALITIES)
NEURAL = {"intermediate", "attention", "cross-attention", "contrastive", "disentangle",
          "distillation"}
# small settings, applied where a strategy has the parameter
FAST = {"random_state": 0, "max_epochs": 5, "n_ensemble": 1, "n_threads": 1, "cv": 3}
# additive's default L1 penalty zeroes every coefficient on 70 subjects (constant predictions
# would hide any dependence on the batch)
OWN = {"additive": {"C": 1.0}, "ensemble": {"members": ["late-mean", "early-gb", "stacking"]}}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def split():
    data = make_cohort(100, n_genes=30, n_informative_genes=8, n_imaging=12,
                       n_informative_imaging=4, missing={"rna": 0.25, "imaging": 0.25},
                       random_state=7)
    assert data.modality_names == MODALITIES
    return data[:70], data[70:]


def test_every_classification_strategy_is_checked():
    assert {"early", "late-mean", "stacking", "mkl", "block-pls", "additive",
            "cross-attention", "unimodal:rna"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_prediction_does_not_depend_on_the_other_subjects_scored(split, name):
    train, test = split
    first = test[:7]
    assert not first.available.to_numpy().all(), "some of the 7 lack a modality"
    model = make(name)
    params = model.get_params()
    model.set_params(**{k: v for k, v in FAST.items() if k in params}, **OWN.get(name, {}))
    model.fit(train)
    alone = model.predict_proba(first)
    together = model.predict_proba(test)[:7]
    assert np.ptp(together[:, 1]) > 1e-6, "predictions must differ between subjects"
    # and in another order, with the 7 last
    order = np.r_[np.arange(7, len(test)), np.arange(7)]
    shuffled = model.predict_proba(test[order])[-7:]
    atol = 1e-6 if name in NEURAL else 1e-10
    np.testing.assert_allclose(alone, together, rtol=0, atol=atol)
    np.testing.assert_allclose(shuffled, together, rtol=0, atol=atol)
