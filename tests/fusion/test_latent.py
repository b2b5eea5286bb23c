"""Block PLS: two-block equivalence with scikit-learn's PLSCanonical, multi-block PLS-DA on
cohorts with known answers, partial (confounder-adjusted) variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cross_decomposition import PLSCanonical
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.latent import ConfounderRegressor, PLSCanonicalBlocks, multiblock_pls


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _two_blocks(n=50, p=80, q=12, seed=0):
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(n, 3))
    X = L @ rng.normal(size=(3, p)) + rng.normal(size=(n, p))
    Y = L @ rng.normal(size=(3, q)) + rng.normal(size=(n, q))
    return X, Y, rng


@pytest.mark.parametrize("scale", [True, False])
def test_two_block_matches_sklearn_plscanonical(scale):
    X, Y, rng = _two_blocks()  # p > n: no within-block inversion needed
    ref = PLSCanonical(n_components=4, scale=scale, algorithm="svd").fit(X, Y)
    ours = PLSCanonicalBlocks(n_components=4, scale=scale).fit(X, Y)
    for name in ("x_weights_", "y_weights_", "x_loadings_", "y_loadings_", "x_rotations_",
                 "y_rotations_"):
        A, B = getattr(ref, name), getattr(ours, name)
        sign = np.sign((A * B).sum(axis=0))
        np.testing.assert_allclose(B * sign, A, atol=1e-8, err_msg=name)
    Xn, Yn = rng.normal(size=(6, X.shape[1])), rng.normal(size=(6, Y.shape[1]))
    for a, b in zip(ref.transform(Xn, Yn), ours.transform(Xn, Yn), strict=True):
        np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-8)
    np.testing.assert_allclose(np.abs(ref.transform(X)), np.abs(ours.x_scores_), atol=1e-8)


def test_multiblock_scores_are_rotations_of_the_centred_blocks():
    X, Y, rng = _two_blocks()
    Z = rng.normal(size=(50, 7))
    blocks = [b - b.mean(0) for b in (X, Y, Z)]
    out = multiblock_pls(blocks, np.ones((3, 3)), 3)
    for b, R, T, W in zip(blocks, out["rotations"], out["scores"], out["weights"],
                          strict=True):
        np.testing.assert_allclose(b @ R, T, atol=1e-8)
        np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)


def test_partial_pls_removes_the_confounder():
    X, Y, rng = _two_blocks()
    site = rng.integers(0, 2, len(X))
    Xc, Yc = X + 5.0 * site[:, None], Y + 5.0 * site[:, None]
    Z = pd.DataFrame({"site": pd.Categorical(np.where(site, "b", "a"))})
    model = PLSCanonicalBlocks(2).fit(Xc, Yc, Z)
    t = model.x_scores_[:, 0]
    assert abs(np.corrcoef(t, site)[0, 1]) < 0.2
    plain = PLSCanonicalBlocks(2).fit(Xc, Yc).x_scores_[:, 0]
    assert abs(np.corrcoef(plain, site)[0, 1]) > 0.8
    # the residualiser is a least-squares fit: residuals orthogonal to the design
    reg = ConfounderRegressor().fit(Xc, Z)
    R = reg.transform(Xc, Z)
    np.testing.assert_allclose(R.T @ np.column_stack([np.ones(len(X)), site]), 0, atol=1e-7)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(300, effects={"rna": 1.5, "imaging": 1.5, "clinical": 0},
                       interaction=0, n_genes=60, n_imaging=30, random_state=41)


def test_block_plsda_predicts_and_projects_new_subjects(cohort):
    train, test = cohort[:200], cohort[200:]
    model = make("block-pls", random_state=0).fit(train)
    assert 1 <= model.n_components_ <= 5 and model.design_ in (0.0, 0.1, 0.5)
    assert roc_auc_score(test.y, model.predict_proba(test)[:, 1]) > 0.75
    scores = model.transform(test)
    H = model.n_components_
    assert scores.shape == (100, 3 * H) and list(scores.index) == list(test.subjects)
    missing = model.transform(test.hide("rna", subjects=test.subjects[:4]))
    assert missing.iloc[:4, :H].isna().all().all()
    np.testing.assert_allclose(missing.iloc[4:, :H], scores.iloc[4:, :H])
    # training subjects projected by transform get their fitted scores
    tr = model.transform(train)
    assert np.abs(tr.iloc[:, 0].corr(train.y.astype(float))) > 0.3
    v = model.block_variance_
    assert list(v.index) == ["rna", "imaging", "clinical"] and v.shape[1] == H
    assert ((v >= 0) & (v <= 1)).all().all() and (v.sum(axis=1) <= 1 + 1e-9).all()


def test_block_plsda_partial_on_batch(cohort):
    model = make("block-pls", random_state=0, confounders=["batch"], n_components=2,
                 design=0.1).fit(cohort[:200])
    s = model.transform(cohort[200:])
    batch = (cohort[200:].obs["batch"] == "site1").astype(float)
    # after removing the site means, the scores hardly depend on the site
    assert abs(s["imaging_comp1"].corr(batch)) < 0.3


def test_block_plsda_multiclass():
    data = make_cohort(200, task="multiclass", n_genes=40, n_imaging=20, random_state=42)
    model = make("block-pls", random_state=0, n_components=2).fit(data[:150])
    p = model.predict_proba(data[150:])
    assert p.shape == (50, 3) and np.allclose(p.sum(1), 1)


# ---------------------------------------------------------------------- the Horst ascent
def test_multiblock_weights_are_a_fixed_point_of_the_horst_update():
    """Each weight is its own update ``X_b' sum_c C[b, c] X_c a_c`` (normalised), with the
    same sign: the ascent reached a stationary point of the criterion, not one where a
    block's scores covary negatively with its partners."""
    X, Y, rng = _two_blocks()
    Z = rng.normal(size=(50, 7)) + X[:, :7]
    blocks = [b - b.mean(0) for b in (X, Y, Z)]
    C = np.array([[0, 0.1, 1], [0.1, 0, 1], [1, 1, 0]])
    out = multiblock_pls(blocks, C, 1)
    t = [b @ w[:, 0] for b, w in zip(blocks, out["weights"], strict=True)]
    for b in range(3):
        new = blocks[b].T @ sum(C[b, c] * t[c] for c in range(3))
        np.testing.assert_allclose(new / np.linalg.norm(new), out["weights"][b][:, 0],
                                   atol=1e-8)
    assert all(t[b] @ t[c] > 0 for b in range(3) for c in range(3) if C[b, c] > 0)


def test_fold_gram_matrices_give_the_same_fold_as_the_features():
    """The inner CV cuts each fold's Gram matrices from the Gram matrix of all subjects;
    solving on them gives the training and held-out scores of the explicit fold."""
    from medfuse.fusion._latent_base import _fold_features, _fold_parts
    from medfuse.fusion._multiblock import BlockInput, solve

    rng = np.random.default_rng(3)
    n = 40
    X = rng.normal(size=(n, 90)) + 2.0
    have = rng.random(n) > 0.2
    X[~have] = 0.0
    Y = np.eye(2)[rng.integers(0, 2, n)]
    tr, te = np.arange(30), np.arange(30, n)
    part = _fold_parts(X, X @ X.T, have, tr, te)
    X_tr, X_te = _fold_features(X, have, tr, te)
    Y_tr, Y_te = Y[tr] - Y[tr].mean(0), Y[te] - Y[tr].mean(0)
    C = np.array([[0, 1], [1, 0]])
    for tau in (1.0, 0.4):
        dual = solve([BlockInput(K=part["K"], K_test=part["K_test"], shrinkage=tau),
                      BlockInput(X=Y_tr, X_test=Y_te)], C, 3)[0]
        primal = solve([BlockInput(X=X_tr, X_test=X_te, shrinkage=tau),
                        BlockInput(X=Y_tr, X_test=Y_te)], C, 3)[0]
        sign = np.sign((dual.scores * primal.scores).sum(axis=0))
        np.testing.assert_allclose(dual.scores * sign, primal.scores, atol=1e-8)
        np.testing.assert_allclose(dual.test_scores * sign, primal.test_scores, atol=1e-8)
    # held-out scores are the rotations applied to the held-out rows
    np.testing.assert_allclose(primal.test_scores, X_te @ primal.rotations, atol=1e-8)


# ---------------------------------------------------------------------- sparse weights
def _sparse_truth(n=160, widths=(300, 200, 40), k=8, seed=5):
    """Binary outcome; in each block only its first ``k`` features carry the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    blocks = {}
    for j, p in enumerate(widths):
        X = rng.normal(size=(n, p))
        X[:, :k] += 1.2 * (2 * y[:, None] - 1)
        blocks[f"m{j}"] = pd.DataFrame(X, index=[f"S{i}" for i in range(n)],
                                       columns=[f"m{j}_{f}" for f in range(p)])
    obs = pd.DataFrame({"y": y}, index=[f"S{i}" for i in range(n)])
    from medfuse.data import MultiModalData
    return MultiModalData(blocks, obs=obs, outcome="y"), k


def test_sparse_block_pls_recovers_the_signal_features():
    data, k = _sparse_truth()
    model = make("block-pls", keep=k, n_components=2, design=0.1, random_state=0).fit(data)
    for m in model.modalities_:
        W = model.weights_[m]
        assert ((W != 0).sum(axis=0) == k).all(), m       # exactly keep per component
        picked = np.flatnonzero(W[:, 0])
        precision = np.isin(picked, np.arange(k)).mean()
        assert precision >= 0.85, (m, picked)
    assert model.keep_ == {m: [k, k] for m in model.modalities_}
    # the dense model spreads its weight: far from k features
    dense = make("block-pls", n_components=1, design=0.1, random_state=0).fit(data)
    assert (dense.weights_["m0"] != 0).sum() > 10 * k


def test_keeping_every_feature_equals_dense_weights():
    X, Y, rng = _two_blocks()
    Z = rng.normal(size=(50, 7)) + X[:, :7]
    for blocks, C in (([X, Y], np.array([[0, 1], [1, 0]])),
                      ([X, Y, Z], np.array([[0, 0.1, 1], [0.1, 0, 1], [1, 1, 0]]))):
        blocks = [b - b.mean(0) for b in blocks]
        dense = multiblock_pls(blocks, C, 3)
        full = multiblock_pls(blocks, C, 3, keep=[b.shape[1] for b in blocks])
        for key in ("weights", "loadings", "scores", "rotations"):
            for a, b in zip(dense[key], full[key], strict=True):
                np.testing.assert_allclose(b, a, atol=1e-8, err_msg=key)


def test_keep_by_inner_cv_picks_from_the_grid_and_per_modality_dicts():
    data, _ = _sparse_truth(n=120, widths=(300, 60, 30))
    model = make("block-pls", keep="cv", n_components=1, random_state=0).fit(data)
    assert model.design_ in (0.0, 0.1, 0.5)
    options = [{"m0": [300], "m1": [60], "m2": [30]},
               {"m0": [5], "m1": [5], "m2": [5]}, {"m0": [30], "m1": [6], "m2": [5]}]
    assert model.keep_ in options
    fixed = make("block-pls", keep={"m0": [20, 4]}, n_components=2, design=0.0,
                 random_state=0).fit(data)
    assert list((fixed.weights_["m0"] != 0).sum(axis=0)) == [20, 4]
    assert (fixed.weights_["m1"] != 0).all()
    with pytest.raises(ValueError, match="'mrna'"):
        make("block-pls", keep={"mrna": 5}, n_components=1, design=0.0).fit(data)
