"""Multiple kernel learning: kernels against references, ALIGNF against its closed form,
weights on cohorts with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf
from threadpoolctl import threadpool_limits

from medfuse.data import MultiModalData
from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion._lowrank import (
    alignf_map_weights,
    centre_map,
    combine_maps,
    feature_map,
    map_alignment_pvalues,
    nystroem_normaliser,
)
from medfuse.fusion.kernel import (
    alignf_weights,
    alignment_pvalues,
    centre_kernel,
    kernel_feature_map,
    matching_kernel,
    median_gamma,
    rbf_kernel,
)
from medfuse.represent import KmerSpectrum


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def test_rbf_and_median_heuristic_match_references():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    np.testing.assert_allclose(rbf_kernel(A, B, 0.3), sk_rbf(A, B, gamma=0.3), atol=1e-12)
    d = [np.sum((A[i] - A[j]) ** 2) for i in range(7) for j in range(i + 1, 7)]
    assert median_gamma(A) == pytest.approx(1 / np.median(d))


def test_matching_kernel_counts_equal_categories():
    # two categorical columns, one-hot: col a (2 levels), col b (3 levels)
    X = np.array([[1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 1]], float)
    groups = [np.array([0, 1]), np.array([2, 3, 4])]
    K = matching_kernel(X, X, groups)
    np.testing.assert_allclose(K[0], [1.0, 0.5, 0.0, 0.0])  # row 3 has a missing a
    np.testing.assert_allclose(K[1, 2], 0.5)
    assert np.linalg.eigvalsh(K).min() > -1e-12


def test_alignf_closed_form_for_orthogonal_kernels():
    # For kernels with <Kc_m, Kc_l> = 0 (m != l) the optimum is v_m = a_m / M_mm.
    n = 6
    y = np.array([0, 0, 0, 1, 1, 1])
    Y = np.eye(2)[y] - 0.5
    T = Y @ Y.T
    e = centre_kernel(T) / np.linalg.norm(centre_kernel(T))
    u = np.array([1.0, -1, 0, 0, 1, -1])
    u = u - u.mean()
    K2 = np.outer(u, u)
    K2 = K2 - (K2 * e).sum() * e
    w = alignf_weights([2.0 * e, centre_kernel(K2)], centre_kernel(T), off_diagonal=False,
                       normalise=False)
    np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-10)
    K3 = 3.0 * e + 0.0 * np.eye(n)
    w = alignf_weights([centre_kernel(K3), centre_kernel(2.0 * e)], centre_kernel(T))
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()


def test_largest_weight_on_the_only_informative_modality():
    data = make_cohort(250, effects={"rna": 2, "imaging": 0, "clinical": 0}, interaction=0,
                       n_genes=60, n_imaging=30, random_state=31)
    model = make("mkl", random_state=0).fit(data)
    w = model.kernel_weights_
    assert w.idxmax() == "rna" and w.sum() == pytest.approx(1.0)
    assert model.kernel_types_["clinical"] == "clinical"


def test_noise_modality_kernel_weight_near_zero():
    # seed 32: the noise block is also unrelated to the label in this sample (chi-square
    # test over its features, p = 0.54); in some seeds it is associated by chance.
    data = make_cohort(250, n_noise_modalities=1, n_genes=60, n_imaging=30, random_state=32)
    model = make("mkl", random_state=0).fit(data)
    assert model.kernel_weights_["noise1"] < 0.05
    assert model.alignment_pvalues_["noise1"] > 0.2
    assert model.alignment_pvalues_[["rna", "imaging"]].max() < 0.05
    # without the permutation screen ALIGNF alone still ranks the informative kernels first
    plain = make("mkl", random_state=0, alpha=1.0).fit(data).kernel_weights_
    assert plain[["rna", "imaging"]].min() > plain["noise1"]


def test_combined_kernel_renormalises_over_available_modalities():
    data = make_cohort(120, n_genes=30, n_imaging=15, random_state=33)
    model = make("mkl", random_state=0, kernels="rbf").fit(data[:80])
    test = data[80:].hide(["imaging", "clinical"], subjects=data.subjects[80:85])
    K = model.combined_kernel(test).to_numpy()
    # a subject with only rna: K = w_rna K_rna / sqrt(w_rna * W(z)), W(z)=1 for training z
    blocks = model._transform_blocks(model.align(test))
    K_rna = model._kernel("rna", blocks["rna"], model.train_blocks_["rna"])
    w = np.maximum(model.kernel_weights_.to_numpy(), 1e-3)
    np.testing.assert_allclose(K[:5], w[0] * K_rna[:5] / np.sqrt(w[0] * w.sum()), rtol=1e-10)
    # the training kernel is positive semi-definite also with missing modalities
    train = data[:80].hide("rna", subjects=data.subjects[:20])
    model.fit(train)
    Ktr = model.combined_kernel(train).to_numpy()
    assert np.linalg.eigvalsh((Ktr + Ktr.T) / 2).min() > -1e-8


def test_spectrum_kernel_on_sequences():
    rng = np.random.default_rng(0)
    n = 80
    y = rng.integers(0, 2, n)
    motif = "GATTACA"
    seqs = []
    for label in y:
        s = "".join(rng.choice(list("ACGT"), 40))
        if label:
            pos = rng.integers(0, 33)
            s = s[:pos] + motif + s[pos + 7:]
        seqs.append(s)
    ids = [f"s{i}" for i in range(n)]
    noise = pd.DataFrame(rng.normal(size=(n, 5)), index=ids)
    data = MultiModalData({"dna": pd.DataFrame({"sequence": seqs}, index=ids), "noise": noise},
                          modalities={"dna": "sequence"},
                          obs=pd.DataFrame({"label": y}, index=ids), outcome="label")
    model = make("mkl", random_state=0).fit(data[:60])
    assert model.kernel_types_["dna"] == "spectrum"
    assert model.kernel_weights_["dna"] > 0.8
    assert (model.predict(data[60:]) == y[60:]).mean() > 0.8
    # the feature map's inner product is the cosine-normalised 3-mer spectrum kernel
    f = KmerSpectrum(3).fit(pd.DataFrame({"s": ["AAAC", "AACA"]}))
    X = f.transform(pd.DataFrame({"s": ["AAAC", "AACA"]})).to_numpy()
    # AAAC: AAA, AAC ; AACA: AAC, ACA -> one shared 3-mer of two each
    assert X[0] @ X[1] == pytest.approx(0.5)


def test_kernel_logistic_on_feature_map_equals_linear_logistic_for_linear_kernel():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X, Xt = rng.normal(size=(40, 60)), rng.normal(size=(9, 60))  # p > n: rank-deficient
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    K = X @ X.T
    P = kernel_feature_map(K)
    np.testing.assert_allclose((K @ P) @ (K @ P).T, K, atol=1e-8 * np.abs(K).max())
    # an L2 logistic regression on the map is the one on X (representer theorem)
    ref = LogisticRegression(C=0.3, max_iter=5000, tol=1e-10).fit(X, y)
    ours = LogisticRegression(C=0.3, max_iter=5000, tol=1e-10).fit(K @ P, y)
    np.testing.assert_allclose(ours.predict_proba((Xt @ X.T) @ P), ref.predict_proba(Xt),
                               atol=1e-5)


def test_mkl_svm_classifier_option_and_logistic_default():
    data = make_cohort(120, effects={"rna": 2, "imaging": 0}, n_genes=30, n_imaging=10,
                       random_state=5)
    train, test = data[:90], data[90:]
    for clf in ("logistic", "svm"):
        model = make("mkl", random_state=0, classifier=clf).fit(train)
        p = model.predict_proba(test)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        assert roc_auc_score(test.y, p[:, 1]) > 0.75
    assert model.feature_map_ is None
    with pytest.raises(ValueError, match="classifier"):
        make("mkl", classifier="bogus").fit(train)


def test_mkl_rbf_bandwidth_chosen_from_grid_scales_median_gamma():
    data = make_cohort(100, effects={"rna": 2, "imaging": 1}, n_genes=30, n_imaging=10,
                       random_state=6)
    model = make("mkl", random_state=0, kernels="rbf", bandwidths=(0.5, 2.0)).fit(data)
    assert model.bandwidth_ in (0.5, 2.0)
    X = model._fit_blocks(data)["rna"]
    assert model.gammas_["rna"] == pytest.approx(median_gamma(X) * model.bandwidth_)


# ---------------------------------------------------------------------- Nystroem path
def test_nystroem_map_matches_scikit_learn_nystroem():
    from sklearn.kernel_approximation import Nystroem

    rng = np.random.default_rng(8)
    X, Xt = rng.normal(size=(300, 6)), rng.normal(size=(40, 6))
    ref = Nystroem(kernel="rbf", gamma=0.2, n_components=50, random_state=0).fit(X)
    L = X[ref.component_indices_]
    N = nystroem_normaliser(rbf_kernel(L, L, 0.2))
    phi = feature_map(lambda a, b: rbf_kernel(a, b, 0.2), Xt, L, N)
    np.testing.assert_allclose(phi @ phi.T, ref.transform(Xt) @ ref.transform(Xt).T,
                               atol=1e-8)
    # exact on the landmarks themselves
    phi_l = feature_map(lambda a, b: rbf_kernel(a, b, 0.2), L, L, N)
    np.testing.assert_allclose(phi_l @ phi_l.T, rbf_kernel(L, L, 0.2), atol=1e-8)


def test_alignment_from_feature_maps_equals_the_dense_computation():
    rng = np.random.default_rng(9)
    n = 60
    y = rng.integers(0, 3, n)
    onehot = np.eye(3)[y] - np.eye(3)[y].mean(0)
    have = rng.random((n, 3)) > 0.2
    have[:, 0] |= ~have.any(axis=1)  # every subject has a modality
    raw = [rng.normal(size=(n, d)) + (y[:, None] if d == 4 else 0) for d in (4, 7, 2)]
    maps = [centre_map(p * have[:, [j]], have[:, j]) for j, p in enumerate(raw)]
    dense = []
    for j, p in enumerate(raw):
        K = np.zeros((n, n))
        rows = have[:, j]
        K[np.ix_(rows, rows)] = centre_kernel(p[rows] @ p[rows].T)
        dense.append(K)
    np.testing.assert_allclose(alignf_map_weights(maps, onehot),
                               alignf_weights(dense, onehot @ onehot.T), atol=1e-10)
    np.testing.assert_array_equal(map_alignment_pvalues(maps, onehot, 40, random_state=3,
                                                        batch=7),
                                  alignment_pvalues(dense, onehot, 40, random_state=3))
    # the combined map's Gram matrix is the renormalised combined kernel
    w = np.array([0.5, 0.3, 0.2])
    phi = combine_maps(raw, have, w)
    W = have @ w
    K = sum(w[j] * np.outer(have[:, j], have[:, j]) * (raw[j] @ raw[j].T) for j in range(3))
    np.testing.assert_allclose(phi @ phi.T, K / np.sqrt(np.outer(W, W)), atol=1e-10)


def test_nystroem_is_exact_for_linear_kernels_on_few_columns():
    # linear kernels on at most n_components columns use the unit vectors as landmarks:
    # the kernels, p-values and weights are the exact path's, predictions the same model
    data = make_cohort(200, n_genes=30, n_imaging=15, random_state=10,
                       missing={"imaging": 0.2})
    train, test = data[:150], data[150:]
    exact = make("mkl", random_state=0, kernels="linear").fit(train)
    approx = make("mkl", random_state=0, kernels="linear", approximation="nystroem",
                  n_components=40).fit(train)
    assert approx.approximation_ == "nystroem" and exact.approximation_ == "exact"
    np.testing.assert_allclose(approx.approximation_error_, 0.0, atol=1e-12)
    np.testing.assert_array_equal(approx.alignment_pvalues_, exact.alignment_pvalues_)
    np.testing.assert_allclose(approx.kernel_weights_, exact.kernel_weights_, atol=1e-8)
    np.testing.assert_allclose(approx.combined_kernel(test, other=train),
                               exact.combined_kernel(test), atol=1e-8)
    assert approx.C_ == exact.C_
    np.testing.assert_allclose(approx.predict_proba(test), exact.predict_proba(test),
                               atol=2e-3)


def test_nystroem_approximates_the_exact_model():
    # stated tolerances: kernels within 1.5x the stated error (+0.01) on other subjects,
    # weights within 0.05, held-out AUC within 0.02 and probabilities correlated > 0.95
    data = make_cohort(1000, n_genes=200, n_imaging=60, random_state=11,
                       missing={"imaging": 0.15})
    train, test = data[:600], data[600:]
    params = dict(random_state=0, kernels="rbf", alpha=1.0)
    exact = make("mkl", **params).fit(train)
    approx = make("mkl", approximation="nystroem", **params).fit(train)  # rank 300
    err = approx.approximation_error_
    assert (err < 0.15).all() and err["rna"] > 0, err
    assert exact.gammas_ == approx.gammas_  # all 600 subjects are in the median sample
    sub = data[np.random.default_rng(0).choice(600, 200, replace=False)]
    blocks = exact._transform_blocks(exact.align(sub))
    for m in exact.modalities_:
        X = blocks[m][~np.isnan(blocks[m]).any(axis=1)]
        K = exact._kernel(m, X, X)
        phi = approx._modality_map(m, X)
        assert np.linalg.norm(K - phi @ phi.T) / np.linalg.norm(K) <= 1.5 * err[m] + 0.01
    np.testing.assert_allclose(approx.kernel_weights_, exact.kernel_weights_, atol=0.05)
    pe, pa = exact.predict_proba(test)[:, 1], approx.predict_proba(test)[:, 1]
    assert abs(roc_auc_score(test.y, pe) - roc_auc_score(test.y, pa)) < 0.02
    assert np.corrcoef(pe, pa)[0, 1] > 0.95


def test_auto_switch_keeps_no_training_rows_and_saves():
    import skops.io as sio

    data = make_cohort(160, n_genes=30, n_imaging=10, random_state=12)
    train, test = data[:120], data[120:].hide("rna", subjects=data.subjects[120:125])
    small = make("mkl", random_state=0, max_exact=120).fit(train)
    exact = make("mkl", random_state=0, approximation="exact").fit(train)
    assert small.approximation_ == "exact"
    np.testing.assert_array_equal(small.predict_proba(test), exact.predict_proba(test))
    big = make("mkl", random_state=0, max_exact=119, n_components=50).fit(train)
    assert big.approximation_ == "nystroem"
    assert not hasattr(big, "train_blocks_")
    assert all(len(L) <= 50 for L in big.landmarks_.values())
    p = big.predict_proba(test)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    auc_exact = roc_auc_score(test.y, exact.predict_proba(test)[:, 1])
    assert abs(roc_auc_score(test.y, p[:, 1]) - auc_exact) < 0.02
    with pytest.raises(ValueError, match="other"):
        big.combined_kernel(test)
    blob = sio.dumps(big)
    restored = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    np.testing.assert_allclose(restored.predict_proba(test), p)
    with pytest.raises(ValueError, match="approximation"):
        make("mkl", approximation="rff").fit(train)


def test_nystroem_svm_spectrum_and_missing_modality_rule():
    rng = np.random.default_rng(1)
    n = 120
    y = rng.integers(0, 2, n)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(n)]
    seqs = [s[:10] + "GATTACA" + s[17:] if label else s
            for s, label in zip(seqs, y, strict=True)]
    ids = [f"s{i}" for i in range(n)]
    noise = pd.DataFrame(rng.normal(size=(n, 5)) + 0.8 * y[:, None], index=ids)
    data = MultiModalData({"dna": pd.DataFrame({"sequence": seqs}, index=ids), "num": noise},
                          modalities={"dna": "sequence"},
                          obs=pd.DataFrame({"label": y}, index=ids), outcome="label")
    train, test = data[:90], data[90:].hide("dna", subjects=ids[90:95])
    model = make("mkl", random_state=0, classifier="svm", approximation="nystroem",
                 n_components=64).fit(train)
    assert model.kernel_types_["dna"] == "spectrum"  # 3-mer counts: at most 64 columns
    assert model.approximation_error_["dna"] == pytest.approx(0.0, abs=1e-12)
    assert (model.predict(test) == y[90:]).mean() > 0.8
    # a subject with only "num": K = w_num K_num / sqrt(w_num W(z)), W(z) = 1 (full rows)
    K = model.combined_kernel(test, other=train).to_numpy()
    blocks = model._transform_blocks(model.align(test))
    ref = model._transform_blocks(model.align(train))
    phi, phi_train = model._modality_map("num", blocks["num"]), model._modality_map(
        "num", ref["num"])
    w = np.maximum(model.kernel_weights_.to_numpy(), 1e-3)
    np.testing.assert_allclose(K[:5], w[1] * (phi @ phi_train.T)[:5]
                               / np.sqrt(w[1] * w.sum()), rtol=1e-10)
