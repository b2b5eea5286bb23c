"""Count normalisation against DESeq2 (fixtures) and closed forms."""

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
