"""Uncertainty of the neural strategies: ensemble spread and Monte Carlo dropout grow when an
informative modality is missing, are seeded, and change no shared state."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.fusion.neural.uncertainty import decompose, probability_samples
from tests import reference_strategies as ref

FAST = {"max_epochs": 40, "refit": False, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def cohort():
    """imaging carries most of the signal (log-odds 2 per sd), rna little, noise1 none."""
    return make_cohort(500, n_genes=30, n_imaging=15, n_noise_modalities=1,
                       n_noise_features=10, interaction=0.0,
                       effects={"imaging": 2.0, "rna": 0.5, "clinical": 0.3},
                       random_state=0)


@pytest.fixture(scope="module")
def model(cohort):
    return make("intermediate", n_ensemble=3, **FAST).fit(cohort[:300])


@pytest.mark.parametrize("method", ["ensemble", "mc-dropout"])
def test_entropy_grows_when_an_informative_modality_is_missing(cohort, model, method):
    """Hiding imaging, which carries most of the signal, raises the mean predictive entropy
    of the held-out subjects (0.58 -> 0.66 nats here); hiding the pure-noise modality
    leaves it where it was."""
    test = cohort[300:]
    full = model.predict_uncertainty(test, method=method)
    no_imaging = model.predict_uncertainty(test.hide(["imaging"]), method=method)
    no_noise = model.predict_uncertainty(test.hide(["noise1"]), method=method)
    assert no_imaging["entropy"].mean() > full["entropy"].mean() + 0.05
    assert (no_imaging["entropy"] > full["entropy"]).mean() > 0.65
    assert abs(no_noise["entropy"].mean() - full["entropy"].mean()) < 0.02
    assert (full["mutual_information"] >= 0).all()
    np.testing.assert_allclose(full["entropy"], full["expected_entropy"]
                               + full["mutual_information"], atol=1e-12)


def test_the_ensemble_samples_are_the_members_and_average_to_predict_proba(cohort, model):
    test = cohort[300:]
    samples = probability_samples(model, test, "ensemble")
    assert samples.shape == (3, len(test), 2)
    np.testing.assert_allclose(samples.mean(axis=0), model.predict_proba(test), atol=1e-6)
    assert np.ptp(samples, axis=0).max() > 1e-3  # the members differ


def test_mc_dropout_is_seeded_and_changes_no_shared_state(cohort, model):
    test = cohort[300:400]
    before_rng = torch.get_rng_state()
    proba = model.predict_proba(test)
    flags = [m.training for m in model.module_.modules()]
    a = probability_samples(model, test, "mc-dropout", n_passes=5, random_state=1)
    b = probability_samples(model, test, "mc-dropout", n_passes=5, random_state=1)
    c = probability_samples(model, test, "mc-dropout", n_passes=5, random_state=2)
    assert a.shape == (15, 100, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.ptp(a, axis=0).max() > 1e-3  # dropout masks differ between passes
    assert torch.equal(torch.get_rng_state(), before_rng)
    assert [m.training for m in model.module_.modules()] == flags
    np.testing.assert_array_equal(model.predict_proba(test), proba)


def test_mc_dropout_from_several_threads_gives_the_same_samples(cohort, model):
    test = cohort[300:360]
    expected = probability_samples(model, test, "mc-dropout", n_passes=4, random_state=3)
    results = [None] * 4

    def run(i):
        results[i] = probability_samples(model, test, "mc-dropout", n_passes=4,
                                         random_state=3)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_without_dropout_every_pass_is_the_prediction(cohort):
    net = make("intermediate", n_ensemble=1, dropout=0.0, **FAST).fit(cohort[:200])
    samples = probability_samples(net, cohort[300:340], "mc-dropout", n_passes=3)
    np.testing.assert_allclose(samples, np.broadcast_to(net.predict_proba(cohort[300:340]),
                                                        samples.shape), atol=1e-6)
    assert decompose(samples)["mutual_information"].max() < 1e-6
    with pytest.raises(ValueError, match="n_ensemble=1: a single network has no ensemble"):
        net.predict_uncertainty(cohort[300:340])


def test_decomposition_known_answers():
    """Two confident samples that disagree: total entropy log 2, all of it disagreement;
    two identical uncertain samples: all of it aleatoric."""
    parts = decompose(np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    assert parts["entropy"][0] == pytest.approx(np.log(2))
    assert parts["expected_entropy"][0] == pytest.approx(0.0)
    assert parts["mutual_information"][0] == pytest.approx(np.log(2))
    parts = decompose(np.array([[[0.5, 0.5]], [[0.5, 0.5]]]))
    assert parts["mutual_information"][0] == pytest.approx(0.0)
    assert parts["expected_entropy"][0] == pytest.approx(np.log(2))


def test_samples_of_a_conformal_wrapper_pool_its_fold_models(cohort):
    wrapped = ConformalClassifier(make("intermediate", n_ensemble=1, **FAST), method="cross",
                                  n_folds=2, random_state=0).fit(cohort[:200])
    samples = probability_samples(wrapped, cohort[300:340], "ensemble")
    assert samples.shape == (2, 40, 2)
    np.testing.assert_allclose(samples.mean(axis=0),
                               wrapped.predict_proba_uncalibrated(cohort[300:340]), atol=1e-6)


def test_bad_requests_are_refused(cohort, model):
    with pytest.raises(ValueError, match="method must be 'ensemble' or 'mc-dropout'"):
        probability_samples(model, cohort[300:310], "bootstrap")
    with pytest.raises(ValueError, match="n_passes must be at least 1"):
        probability_samples(model, cohort[300:310], "mc-dropout", n_passes=0)
    late = ref.MeanLogistic().fit(cohort[:100].select(["imaging", "clinical"]))
    with pytest.raises(ValueError, match="MeanLogistic is not a fitted neural strategy"):
        probability_samples(late, cohort[300:310], "ensemble")
