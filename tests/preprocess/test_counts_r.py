"""Count normalisation against DESeq2 (fixtures) and closed forms."""

import warnings

import numpy as np
import pandas as pd
import pytest
from rfixtures import FIXTURES, read_r

from medfuse.preprocess import TPM, VST, LogCPM, MedianOfRatios

TOL = 1e-8


@pytest.fixture(scope="module")
def counts():
    return read_r("deseq_counts.csv")


def test_size_factors_match_deseq2(counts):
    model = MedianOfRatios().fit(counts)
    assert model.method_ == "ratio"
    expected = read_r("deseq_size_factors.csv")["size_factor"].to_numpy()
    np.testing.assert_allclose(model.size_factors_, expected, rtol=TOL)
    np.testing.assert_allclose(model.transform(counts), counts / expected[:, None], rtol=1e-12)


def test_poscounts_chosen_when_every_gene_has_a_zero():
    counts = read_r("deseq_counts_poscounts.csv")
    model = MedianOfRatios().fit(counts)
    assert model.method_ == "poscounts"
    expected = read_r("deseq_size_factors_poscounts.csv")["size_factor"].to_numpy()
    np.testing.assert_allclose(model.size_factors_, expected, rtol=TOL)
    with pytest.raises(ValueError, match="poscounts"):
        MedianOfRatios("ratio").fit(counts)


def test_new_subjects_sized_against_training_geometric_means(counts):
    model = MedianOfRatios().fit(counts.iloc[:8])
    sf = model.size_factors(counts.iloc[8:])
    raw = read_r("deseq_test_raw_size_factors.csv")["size_factor"].to_numpy()
    np.testing.assert_allclose(sf, raw, rtol=TOL)
    # DESeq2 with geoMeans additionally rescales the new subjects to geometric mean 1
    renorm = read_r("deseq_test_size_factors.csv")["size_factor"].to_numpy()
    np.testing.assert_allclose(sf / np.exp(np.log(sf).mean()), renorm, rtol=TOL)


@pytest.mark.parametrize(("fit_type", "fixture"), [
    ("parametric", "deseq_vst.csv"), ("mean", "deseq_vst_mean.csv")])
def test_vst_blind_matches_deseq2(counts, fit_type, fixture):
    model = VST(fit_type=fit_type)
    out = model.fit_transform(counts)
    assert model.fit_type_ == fit_type
    assert out.index.equals(counts.index) and out.columns.equals(counts.columns)
    np.testing.assert_allclose(out.to_numpy(), read_r(fixture).to_numpy(), rtol=0, atol=TOL)
    if fit_type == "parametric":
        coefs = pd.read_csv(FIXTURES / "deseq_vst_coefs.csv")
        np.testing.assert_allclose([model.asympt_disp_, model.extra_pois_],
                                   coefs.iloc[0].to_numpy(), rtol=1e-10)
        genewise = read_r("deseq_disp_gene_est.csv")["disp_gene_est"].to_numpy()
        np.testing.assert_allclose(model.dispersions_, genewise, rtol=1e-9)


def test_vst_trained_trend_on_new_subjects_matches_deseq2(counts):
    model = VST().fit(counts.iloc[:8])
    out = model.transform(counts.iloc[8:])
    np.testing.assert_allclose(out.to_numpy(), read_r("deseq_test_vst.csv").to_numpy(),
                               rtol=0, atol=TOL)


@pytest.fixture(scope="module")
def local_counts():
    """A 40-gene panel whose dispersions grow with the mean (g40 has no counts)."""
    return read_r("deseq_local_counts.csv")


def test_vst_falls_back_to_local_trend_like_deseq2(local_counts):
    # R: estimateDispersionsFit(fitType = "parametric") fails on this panel and DESeq2
    # substitutes localDispersionFit (locfit), the VST integrating that trend numerically
    with pytest.warns(UserWarning, match="local regression trend was substituted"):
        model = VST().fit(local_counts)
    assert model.fit_type_ == "local"
    assert not hasattr(model, "asympt_disp_")
    out = model.transform(local_counts)
    np.testing.assert_allclose(out.to_numpy(), read_r("deseq_local_vst.csv").to_numpy(),
                               rtol=0, atol=TOL)
    # fitType = "local" asked for directly: the same numbers, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        direct = VST(fit_type="local").fit_transform(local_counts)
    np.testing.assert_array_equal(direct.to_numpy(), out.to_numpy())


def test_local_trend_matches_locfit_inside_and_beyond_the_data(local_counts):
    model = VST(fit_type="local").fit(local_counts)
    trend = pd.read_csv(FIXTURES / "deseq_local_trend.csv")
    means = trend["mean"].to_numpy()                  # e^-3 .. e^10, beyond both ends
    fitted = np.exp(model.local_trend_.predict(np.log(means)))
    np.testing.assert_allclose(fitted, trend["disp"].to_numpy(), rtol=1e-9)


def test_local_vst_new_subjects_use_the_training_map(local_counts):
    model = VST(fit_type="local").fit(local_counts.iloc[:6])
    out = model.transform(local_counts.iloc[6:])
    np.testing.assert_allclose(out.to_numpy(), read_r("deseq_local_test_vst.csv").to_numpy(),
                               rtol=0, atol=TOL)
    # a subject's values do not depend on the subjects transformed with it
    np.testing.assert_array_equal(model.transform(local_counts.iloc[7:]).to_numpy(),
                                  out.iloc[1:].to_numpy())


def test_local_vst_continues_the_integral_above_the_training_range(local_counts):
    from scipy.integrate import quad

    model = VST(fit_type="local").fit(local_counts.iloc[:6])
    vst = model.local_vst_
    new = local_counts.iloc[6:7].copy()
    new.iloc[0, :10] *= 40                            # well above anything seen in training
    q = (new / model.size_factor_model_.size_factors(new)[:, None]).to_numpy()[0]
    far = q > vst.top
    assert far.sum() >= 3
    out = model.transform(new).to_numpy()[0]

    def integrand(x):
        disp = np.exp(model.local_trend_.predict(np.log(x)))
        return 1 / np.sqrt(disp * x * x + vst.inv_size_factor * x)

    at_top = (vst(np.array([vst.top]))[0] - vst.xi) / vst.eta
    for value, got in zip(q[far], out[far], strict=True):
        exact = vst.eta * (at_top + quad(integrand, vst.top, value, epsrel=1e-12)[0]) + vst.xi
        assert abs(got - exact) < 1e-5 * abs(exact)   # trapezoids at the training spacing
    # continuous at the top of the training range, increasing beyond it
    edge = vst(np.array([vst.top * (1 - 1e-9), vst.top * (1 + 1e-9)]))
    assert abs(edge[1] - edge[0]) < 1e-7
    ladder = vst(vst.top * np.array([1.0, 1.5, 3, 10, 100]))
    assert np.all(np.diff(ladder) > 0)


def test_local_fit_reproduces_a_quadratic_exactly():
    # locfit's local quadratic (and its global quadratic component) recover an exact
    # quadratic everywhere, extrapolation included, to the precision of locfit's Jacobi
    # eigen-solver (it stops rotating at off-diagonals ~3e-8 of the diagonal)
    from medfuse.preprocess._locfit import local_quadratic_fit

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 60)
    y = 1.5 - 0.4 * x + 0.05 * x**2
    fit = local_quadratic_fit(x, y, rng.uniform(0.5, 2, 60))
    grid = np.linspace(-3, 11, 57)
    np.testing.assert_allclose(fit.predict(grid), 1.5 - 0.4 * grid + 0.05 * grid**2,
                               rtol=0, atol=1e-6)
    assert fit.vertices[0] == x.min() and fit.vertices[-1] == x.max()


def test_vst_without_any_trend_raises(local_counts):
    no_spread = np.tile([10, 40, 90, 300, 1000], (6, 1))     # every dispersion at its floor
    for fit_type in ("parametric", "local", "mean"):
        with pytest.raises(ValueError, match="no dispersion trend"):
            VST(fit_type=fit_type).fit(no_spread)
    with pytest.raises(ValueError, match="fit_type must be"):
        VST(fit_type="loess").fit(local_counts)


def test_tpm_closed_form():
    X = pd.DataFrame([[10, 20, 0], [1, 1, 2]], index=["a", "b"], columns=["g1", "g2", "g3"])
    lengths = {"g3": 500.0, "g1": 1000.0, "g2": 2000.0}
    out = TPM(lengths).fit_transform(X)
    # subject a: rates 10/1000, 20/2000, 0 -> 0.01, 0.01, 0 -> 5e5, 5e5, 0
    np.testing.assert_allclose(out.loc["a"], [5e5, 5e5, 0.0])
    # subject b: 0.001, 0.0005, 0.004 -> / 0.0055
    np.testing.assert_allclose(out.loc["b"], np.array([0.001, 0.0005, 0.004]) / 0.0055 * 1e6)
    np.testing.assert_allclose(out.sum(axis=1), 1e6)
    with pytest.raises(ValueError, match="lacks gene"):
        TPM({"g1": 1.0}).fit(X)


def test_log_cpm_unchanged_closed_form():
    X = np.array([[0.0, 3.0, 1.0]])
    expected = np.log2(1e6 * (X + 1) / (4 + 2))
    np.testing.assert_allclose(LogCPM().fit_transform(X), expected)
