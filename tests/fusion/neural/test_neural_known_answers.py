"""Neural fusion on simulated cohorts whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.registry import _REGISTRY
from medfuse.preprocess.blocks import as_matrix, default_preprocessor


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Linear encoders to latents of size 4 (kept on each modality's main axes by the
# reconstruction loss) and a non-linear head that can form their product.
INTERACTION_PARAMS = {"latent_dim": 4, "hidden": (), "head_hidden": 32, "dropout": 0.5,
                      "lr": 3e-3, "weight_decay": 0.3, "reconstruction": 3.0, "refit": False,
                      "n_ensemble": 1}
# Non-linear encoders and head (the linear defaults let the noise encoder shrink its latent
# instead of lowering its attention).
MLP_PARAMS = {"latent_dim": 32, "hidden": (64,), "head_hidden": 32, "dropout": 0.3,
              "refit": False, "n_ensemble": 1}
# Fewer features than the default cohort, so 600 training subjects suffice.
SMALL_DIMS = {"n_genes": 50, "n_informative_genes": 10, "n_imaging": 20,
              "n_informative_imaging": 5}


def late_mean_probability(train, test) -> np.ndarray:
    """Late fusion by averaging per-modality probabilities over the modalities a subject has:
    ``make("late-mean")`` when registered, otherwise a reference built here from scikit-learn
    (per-modality logistic regression on the default preprocessing)."""
    if "late-mean" in _REGISTRY:
        return make("late-mean").fit(train).predict_proba(test)[:, 1]
    total, count = np.zeros(len(test)), np.zeros(len(test))
    for m in train.modality_names:
        pre = default_preprocessor(train.modalities[m])
        x = train.block(m)
        clf = LogisticRegression(max_iter=5000).fit(as_matrix(pre.fit_transform(x)),
                                                    train.y.loc[x.index].to_numpy())
        rows = test.available[m].to_numpy()
        p = clf.predict_proba(as_matrix(pre.transform(test.block(m))))[:, 1]
        total[rows] += p
        count[rows] += 1
    return total / count


def test_intermediate_beats_late_fusion_on_a_cross_modal_interaction():
    # logit = 0.3 u_rna + 0.3 u_imaging + 3 u_rna u_imaging: almost no signal in any one
    # modality, so averaging per-modality predictions stays near chance (AUC ~0.5) while a
    # joint model can reach ~0.85 (logistic model on the latent factors and their product).
    late, inter = [], []
    for seed in range(3):
        data = make_cohort(800, effects={"rna": 0.3, "imaging": 0.3, "clinical": 0},
                           interaction=3, random_state=seed, **SMALL_DIMS)
        train, test = data[np.arange(600)], data[np.arange(600, 800)]
        y = test.y.to_numpy()
        late.append(roc_auc_score(y, late_mean_probability(train, test)))
        est = make("intermediate", random_state=0, **INTERACTION_PARAMS).fit(train)
        inter.append(roc_auc_score(y, est.predict_proba(test)[:, 1]))
    assert np.mean(late) < 0.6
    # Margin: at least 0.12 AUC better on average over the three cohorts.
    assert np.mean(inter) > np.mean(late) + 0.12, (inter, late)


def test_attention_gives_the_noise_modality_the_lowest_weight():
    # Three informative modalities (equal effects) and one of pure N(0, 1) noise.
    for seed in (1, 2):
        data = make_cohort(500, n_noise_modalities=1, effects={"clinical": 1.0},
                           random_state=seed)
        est = make("attention", random_state=0, max_epochs=60, **MLP_PARAMS).fit(data)
        weights = est.attention_
        assert list(weights.index) == ["rna", "imaging", "clinical", "noise1"]
        assert weights.idxmin() == "noise1", weights
        assert weights["noise1"] < 1 / 4 - 0.03, weights
        per_subject = est.attention_weights(data)
        np.testing.assert_allclose(per_subject.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", ["intermediate", "attention", "cross-attention"])
def test_subjects_missing_a_modality_get_useful_predictions(name):
    data = make_cohort(700, effects={"rna": 2, "imaging": 2, "clinical": 1}, interaction=0,
                       missing={"rna": 0.3, "imaging": 0.3}, random_state=2, **SMALL_DIMS)
    train, test = data[np.arange(400)], data[np.arange(400, 700)]
    est = make(name, random_state=0, max_epochs=40, n_ensemble=1).fit(train)
    p = est.predict_proba(test)[:, 1]
    assert np.isfinite(p).all()
    lacking = ~test.available[["rna", "imaging"]].all(axis=1).to_numpy()
    assert lacking.sum() > 100
    y = test.y.to_numpy()
    # Chance is 0.5; per-modality logistic late fusion gets ~0.71 on these subjects.
    assert roc_auc_score(y[lacking], p[lacking]) > 0.6
    # Hiding a modality for everyone still predicts, and better than chance.
    p_hidden = est.predict_proba(test.hide("rna"))[:, 1]
    assert np.isfinite(p_hidden).all()
    assert roc_auc_score(y, p_hidden) > 0.6


@pytest.mark.parametrize("name", ["intermediate", "attention", "cross-attention"])
def test_same_random_state_gives_identical_predictions(name):
    data = make_cohort(150, n_genes=40, n_imaging=20, random_state=3)
    params = {"max_epochs": 8, "random_state": 7, "n_ensemble": 1}
    p1 = make(name, **params).fit(data).predict_proba(data)
    p2 = make(name, **params).fit(data).predict_proba(data)
    np.testing.assert_array_equal(p1, p2)
    p3 = make(name, **{**params, "random_state": 8}).fit(data).predict_proba(data)
    assert not np.array_equal(p1, p3)
