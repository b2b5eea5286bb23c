"""CCA: classical two-view CCA against scikit-learn and the closed form, canonical
correlations of simulated shared factors, regularised CCA in dual form against the primal
form, partial and generalised CCA, and the ``cca`` strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import eigh
from sklearn.cross_decomposition import CCA
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from medfuse.data.simulate import make_cohort
from medfuse.fusion import available, make
from medfuse.fusion._multiblock import BlockInput, solve
from medfuse.fusion.cca import CCABlocks, multiblock_cca
from medfuse.fusion.latent import multiblock_pls


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _views(n, p, q, seed, n_factors=2):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, n_factors))
    X = Z @ rng.normal(size=(n_factors, p)) + rng.normal(size=(n, p))
    Y = Z @ rng.normal(size=(n_factors, q)) + rng.normal(size=(n, q))
    return X, Y, rng


def _closed_form_correlations(X, Y):
    """Canonical correlations as the singular values of Qx' Qy (orthonormal bases of the
    centred views)."""
    qx, _ = np.linalg.qr(X - X.mean(0))
    qy, _ = np.linalg.qr(Y - Y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


@pytest.mark.parametrize("scale", [True, False])
def test_classical_cca_matches_sklearn_and_the_closed_form(scale):
    """scikit-learn's CCA runs NIPALS power iterations: with a tight tolerance they converge
    to the same canonical pairs, deflated alike, so weights (unit norm in both), loadings,
    rotations and scores agree up to sign."""
    X, Y, rng = _views(200, 8, 5, seed=0)
    ref = CCA(n_components=4, scale=scale, tol=1e-26, max_iter=100_000).fit(X, Y)
    ours = CCABlocks(n_components=4, scale=scale).fit(X, Y)
    for name in ("x_weights_", "y_weights_", "x_loadings_", "y_loadings_", "x_rotations_",
                 "y_rotations_"):
        A, B = getattr(ref, name), getattr(ours, name)
        sign = np.sign((A * B).sum(axis=0))
        np.testing.assert_allclose(B * sign, A, atol=1e-6, err_msg=name)
    xs, ys = ref.transform(X, Y)
    np.testing.assert_allclose(np.abs(ours.x_scores_), np.abs(xs), atol=1e-6)
    np.testing.assert_allclose(np.abs(ours.y_scores_), np.abs(ys), atol=1e-6)
    Xn, Yn = rng.normal(size=(6, 8)), rng.normal(size=(6, 5))
    for a, b in zip(ref.transform(Xn, Yn), ours.transform(Xn, Yn), strict=True):
        np.testing.assert_allclose(np.abs(b), np.abs(a), atol=1e-6)
    rho = [np.corrcoef(xs[:, h], ys[:, h])[0, 1] for h in range(4)]
    np.testing.assert_allclose(ours.canonical_correlations_, rho, atol=1e-6)
    # deflating each view on its own scores gives the successive canonical pairs
    np.testing.assert_allclose(ours.canonical_correlations_,
                               _closed_form_correlations(X, Y)[:4], atol=1e-8)


def test_canonical_correlations_of_simulated_shared_factors():
    """Views share two independent factors; feature k of each view is ``alpha_k z_k`` plus
    unit noise, then each view is mixed by a random invertible matrix (which leaves canonical
    correlations unchanged). Population values ``rho_k = a1 a2 / sqrt((1 + a1^2)(1 +
    a2^2))``: 0.744 and 0.5. Their sampling SD is about ``(1 - rho^2) / sqrt(n)`` (0.010 and
    0.017 at n = 2000): four SDs is the tolerance."""
    n, rng = 2000, np.random.default_rng(11)
    z = rng.normal(size=(n, 2))
    a1, a2 = np.array([2.0, 1.0]), np.array([1.5, 1.0])
    X = rng.normal(size=(n, 6))
    Y = rng.normal(size=(n, 5))
    X[:, :2] += z * a1
    Y[:, :2] += z * a2
    X, Y = X @ rng.normal(size=(6, 6)), Y @ rng.normal(size=(5, 5))
    rho = a1 * a2 / np.sqrt((1 + a1 ** 2) * (1 + a2 ** 2))
    est = CCABlocks(3).fit(X, Y).canonical_correlations_
    sd = (1 - rho ** 2) / np.sqrt(n)
    assert np.all(np.abs(est[:2] - rho) < 4 * sd), (est, rho)
    # no third shared factor: the third correlation is at the noise level,
    # about (sqrt(p) + sqrt(q)) / sqrt(n) = 0.10 for the largest null correlation
    assert est[2] < 0.12


def test_classical_cca_refuses_more_features_than_subjects():
    X, Y, _ = _views(30, 40, 5, seed=1)
    with pytest.raises(ValueError, match=r"X has 40 features for 30 subjects.*shrinkage"):
        CCABlocks(2).fit(X, Y)
    with pytest.raises(ValueError, match="regularised CCA"):
        multiblock_cca([X - X.mean(0), Y - Y.mean(0)], np.ones((2, 2)), 1)
    # regularised CCA fits, and full shrinkage is PLS
    CCABlocks(2, shrinkage=0.5).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    pls = multiblock_pls([Xc, Yc], np.ones((2, 2)), 2)
    cca = multiblock_cca([Xc, Yc], np.ones((2, 2)), 2, shrinkage=1.0)
    for a, b in zip(pls["scores"], cca["scores"], strict=True):
        np.testing.assert_allclose(b, a, atol=1e-10)


def _primal_regularised_cca(X, Y, n_components, tx, ty):
    """Reference: two-view regularised CCA in feature space (p x p matrices), each view
    deflated on its own scores."""
    X, Y, n = X.copy(), Y.copy(), len(X)
    out = []
    for _ in range(n_components):
        roots = []
        for V, tau in ((X, tx), (Y, ty)):
            lam, vec = eigh((1 - tau) * V.T @ V / n + tau * np.eye(V.shape[1]))
            roots.append(vec @ np.diag(lam ** -0.5) @ vec.T)
        u, _, vt = np.linalg.svd(roots[0] @ X.T @ Y @ roots[1])
        a, b = roots[0] @ u[:, 0], roots[1] @ vt[0]
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        t, s = X @ a, Y @ b
        X -= np.outer(t, X.T @ t / (t @ t))
        Y -= np.outer(s, Y.T @ s / (s @ s))
        out.append((a, b, t, s))
    return [np.column_stack(c) for c in zip(*out, strict=True)]


@pytest.mark.parametrize("tx, ty", [(0.3, 0.6), (0.05, 0.9)])
def test_regularised_cca_in_dual_form_equals_the_primal_form(tx, ty):
    """X (40 x 60) is wider than long: the solver uses its 40 x 40 Gram matrix (dual) and
    never a 60 x 60 one; Y (40 x 25) is solved in feature space. Both equal the primal
    reference, also when X is given only through its Gram matrix."""
    X, Y, _ = _views(40, 60, 25, seed=2)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    A, B, T, S = _primal_regularised_cca(X, Y, 3, tx, ty)
    C = np.array([[0, 1], [1, 0]])
    out = solve([BlockInput(X=X, shrinkage=tx), BlockInput(X=Y, shrinkage=ty)], C, 3)
    kernel_only = solve([BlockInput(K=X @ X.T, shrinkage=tx), BlockInput(X=Y, shrinkage=ty)],
                        C, 3)
    for ref, got in ((A, out[0].weights), (B, out[1].weights), (T, out[0].scores),
                     (S, out[1].scores), (T, kernel_only[0].scores)):
        sign = np.sign((ref * got).sum(axis=0))
        np.testing.assert_allclose(got * sign, ref, atol=1e-9)


def test_partial_cca_recovers_the_correlation_without_the_confounder():
    """Both views share a factor (population canonical correlation 0.6) and a strong site
    effect; partial CCA removes the site and recovers 0.6 (SD about (1 - 0.36) / sqrt(n) =
    0.014 at n = 2000), plain CCA mistakes the site for a shared factor."""
    n, rng = 2000, np.random.default_rng(4)
    z = rng.normal(size=n)
    site = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4))
    Y = rng.normal(size=(n, 3))
    X[:, 0] += 1.5 * z
    Y[:, 0] += 1.0 * z          # rho = 1.5 / sqrt(3.25 * 2) = 0.588
    X += 3.0 * site[:, None] * rng.normal(size=4)
    Y += 3.0 * site[:, None] * rng.normal(size=3)
    rho = 1.5 / np.sqrt(3.25 * 2)
    Z = pd.DataFrame({"site": pd.Categorical(site.astype(str))})
    partial = CCABlocks(1).fit(X, Y, Z)
    assert abs(partial.canonical_correlations_[0] - rho) < 4 * (1 - rho ** 2) / np.sqrt(n)
    assert abs(np.corrcoef(partial.x_scores_[:, 0], site)[0, 1]) < 0.05
    plain = CCABlocks(1).fit(X, Y)
    assert plain.canonical_correlations_[0] > 0.95


def test_generalised_cca_of_three_views_sharing_one_factor():
    """Views ``X_b = z a_b' + noise``: the best predictor of z from view b correlates
    ``r_b = sqrt(s_b / (1 + s_b))`` with it (``s_b = |a_b|^2``), and SUMCOR's optimum takes
    it in every view, so views b and c correlate ``r_b r_c``."""
    n, rng = 3000, np.random.default_rng(7)
    z = rng.normal(size=n)
    loads = [rng.normal(size=p) * s for p, s in ((4, 0.6), (5, 0.4), (6, 0.3))]
    views = [np.outer(z, a) + rng.normal(size=(n, len(a))) for a in loads]
    views = [v - v.mean(0) for v in views]
    out = multiblock_cca(views, np.ones((3, 3)), 1)
    s = np.array([a @ a for a in loads])
    r = np.sqrt(s / (1 + s))
    t = [T[:, 0] for T in out["scores"]]
    for b in range(3):
        assert abs(abs(np.corrcoef(t[b], z)[0, 1]) - r[b]) < 4 * (1 - r[b] ** 2) / np.sqrt(n)
        for c in range(b + 1, 3):
            rho = r[b] * r[c]
            got = np.corrcoef(t[b], t[c])[0, 1]
            assert abs(got - rho) < 4 * (1 - rho ** 2) / np.sqrt(n), (b, c, got, rho)


# ---------------------------------------------------------------------- the strategy
@pytest.fixture(scope="module")
def cohort():
    return make_cohort(300, effects={"rna": 1.5, "imaging": 1.5, "clinical": 0},
                       interaction=0, n_genes=60, n_imaging=30, random_state=41)


def test_cca_strategy_predicts_and_projects_new_subjects(cohort):
    assert available().loc["cca", "family"] == "latent"
    train, test = cohort[:200], cohort[200:]
    model = make("cca", random_state=0, n_components=2).fit(train)
    assert roc_auc_score(test.y, model.predict_proba(test)[:, 1]) > 0.75
    assert model.relative_ridge_ in (0.1, 1.0, 10.0)
    assert all(0 < tau < 1 for tau in model.shrinkage_.values())
    scores = model.transform(test)
    assert scores.shape == (100, 6)
    missing = model.transform(test.hide("imaging", subjects=test.subjects[:5]))
    assert missing.iloc[:5, 2:4].isna().all().all()
    # each modality's first canonical variate correlates with the outcome's
    corr = model.outcome_correlations_["comp1"]
    assert corr["rna"] > 0.4 and corr["imaging"] > 0.3 and abs(corr["clinical"]) < corr["rna"]
    only = model.predict_proba(test.hide(["rna", "imaging"]))
    assert np.isfinite(only).all() and np.allclose(only.sum(axis=1), 1)


def test_cca_strategy_classical_and_its_refusal(cohort):
    train = cohort[:200]
    model = make("cca", shrinkage=0.0, n_components=1, design=0.0, random_state=0).fit(train)
    assert set(model.shrinkage_.values()) == {0.0}
    wide = make_cohort(60, n_genes=80, n_imaging=10, random_state=2)
    with pytest.raises(ValueError, match="modality 'rna' has 80 features for 60 subjects"):
        make("cca", shrinkage=0.0, n_components=1, design=0.0).fit(wide)
    # the default (regularised, shrinkage by inner CV) fits the same data
    make("cca", n_components=1, design=0.0, random_state=0).fit(wide)


def test_cca_strategy_partial_and_class_weights(cohort):
    model = make("cca", confounders=["batch"], n_components=1, design=0.1,
                 class_weight=None, random_state=0).fit(cohort[:200])
    s = model.transform(cohort[200:])
    batch = (cohort[200:].obs["batch"] == "site1").astype(float)
    assert abs(s["imaging_comp1"].corr(batch)) < 0.3
    prevalence = np.bincount(cohort[:200].y.to_numpy()) / 200
    np.testing.assert_allclose(model.predictor_[0].priors, prevalence)
    balanced = make("cca", n_components=1, design=0.1, shrinkage=0.5,
                    random_state=0).fit(cohort[:200])
    np.testing.assert_allclose(balanced.predictor_[0].priors, [0.5, 0.5])
