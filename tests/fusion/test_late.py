"""Late fusion and stacking on cohorts with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.late import fit_pool_weights, log_pool, pool, vote


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def test_weights_follow_the_only_informative_modality():
    data = make_cohort(300, effects={"rna": 2, "imaging": 0, "clinical": 0}, interaction=0,
                       n_genes=60, n_imaging=30, random_state=11)
    model = make("late-weighted", random_state=0).fit(data)
    w = model.modality_weights_
    assert list(w.index) == ["rna", "imaging", "clinical"]
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w["rna"] > 0.7 and w.idxmax() == "rna"


def test_pure_noise_modality_gets_no_weight():
    data = make_cohort(300, n_noise_modalities=1, n_genes=60, n_imaging=30, random_state=12)
    w = make("late-weighted", random_state=0).fit(data).modality_weights_
    assert w["noise1"] < 0.05
    assert w[["rna", "imaging"]].min() > 0.1


def test_weights_come_from_out_of_fold_predictions():
    # In-sample probabilities of an unregularised model on pure noise look perfect; the
    # out-of-fold ones do not, so a weight learnt from them stays ~0.
    from sklearn.linear_model import LogisticRegression

    data = make_cohort(200, n_noise_modalities=1, n_noise_features=150, n_genes=40,
                       n_imaging=20, random_state=13)
    model = make("late-weighted", random_state=0,
                 base_estimator=LogisticRegression(C=1e4, max_iter=5000)).fit(data)
    assert model.modality_weights_["noise1"] < 0.05


def test_pooling_rules_by_hand():
    p1 = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    p2 = np.array([[0.7, 0.3], [np.nan, np.nan], [0.3, 0.7]])
    p3 = np.array([[0.4, 0.6], [0.4, 0.6], [0.1, 0.9]])
    stack = np.stack([p1, p2, p3], axis=1)
    w = np.array([0.5, 0.3, 0.2])
    out = pool(stack, w)
    np.testing.assert_allclose(out[0], 0.5 * p1[0] + 0.3 * p2[0] + 0.2 * p3[0])
    np.testing.assert_allclose(out[1], (0.5 * p1[1] + 0.2 * p3[1]) / 0.7)
    geo = log_pool(stack, w, 2.0)
    z = 2.0 * (0.5 * np.log(p1[1]) + 0.2 * np.log(p3[1])) / 0.7
    np.testing.assert_allclose(geo[1], np.exp(z) / np.exp(z).sum())
    v = vote(stack)
    assert v[0].argmax() == 0 and v[2].argmax() == 1  # 2 of 3 votes
    assert v[1].argmax() == 1  # tie 1-1 broken by the mean probability (0.3 vs 0.7)


def test_fit_pool_weights_recovers_the_useful_expert():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.where(y[:, None] == 1, [0.2, 0.8], [0.8, 0.2]) + rng.normal(0, 0.05, (400, 2))
    good = np.clip(good, 0.01, 0.99)
    good /= good.sum(1, keepdims=True)
    noise = rng.dirichlet([5, 5], 400)
    w, s = fit_pool_weights([good, noise], y)
    assert w[0] > 0.9 and s > 0


def test_stacking_degrades_no_more_than_late_mean_when_a_modality_is_missing():
    data = make_cohort(400, effects={"rna": 1.5, "imaging": 1.0, "clinical": 0.5},
                       interaction=0, n_genes=60, n_imaging=30, random_state=14)
    train, test = data[:250], data[250:]
    y = test.y.to_numpy()
    drops = {}
    for name in ("late-mean", "stacking"):
        model = make(name, random_state=0).fit(train)
        full = roc_auc_score(y, model.predict_proba(test)[:, 1])
        hidden = roc_auc_score(y, model.predict_proba(test.hide("rna"))[:, 1])
        drops[name] = full - hidden
    assert drops["stacking"] <= drops["late-mean"] + 0.02, drops


def test_late_vote_matches_majority_of_modalities():
    data = make_cohort(150, n_genes=40, n_imaging=20, random_state=15)
    model = make("late-vote", random_state=0).fit(data[:100])
    test = data[100:]
    blocks = model._transform_blocks(model.align(test))
    votes = np.stack([model.estimators_[m].predict(blocks[m]) for m in model.modalities_], 1)
    clear = (votes.sum(1) != 1.5)  # 3 modalities: never a tie
    assert clear.all()
    np.testing.assert_array_equal(model.predict(test), (votes.sum(1) >= 2).astype(int))
