"""ComBat against R sva::ComBat outputs committed as fixtures (tests/fixtures/r)."""

import numpy as np
import pytest
from rfixtures import read_r

from medfuse.preprocess import ComBat

TOL = 1e-8
COV = ["group", "age"]


@pytest.mark.parametrize(("fixture", "params", "input_name", "covariates"), [
    ("combat_param.csv", {}, "combat_input.csv", COV),
    ("combat_nonparam.csv", {"parametric": False}, "combat_input.csv", COV),
    ("combat_meanonly.csv", {"mean_only": True}, "combat_input.csv", COV),
    ("combat_meanonly_nonparam.csv", {"mean_only": True, "parametric": False},
     "combat_input.csv", COV),
    ("combat_ref.csv", {"ref_batch": "b2"}, "combat_input.csv", COV),
    ("combat_ref_nonparam.csv", {"ref_batch": "b2", "parametric": False},
     "combat_input.csv", COV),
    ("combat_nocov.csv", {}, "combat_input.csv", None),
    ("combat_na.csv", {}, "combat_na_input.csv", COV),
    ("combat_na_nonparam.csv", {"parametric": False}, "combat_na_input.csv", COV),
    ("combat_na_ref.csv", {"ref_batch": "b3"}, "combat_na_input.csv", COV),
    ("combat_zero.csv", {}, "combat_zero_input.csv", COV),
])
def test_matches_r(combat_data, fixture, params, input_name, covariates):
    _, meta = combat_data
    X = read_r(input_name)
    expected = read_r(fixture)
    cov = meta[covariates] if covariates else None
    out = ComBat(**params).fit_transform(X, batch=meta["batch"], covariates=cov)
    assert out.index.equals(X.index) and out.columns.equals(X.columns)
    np.testing.assert_array_equal(np.isnan(out.to_numpy()), np.isnan(expected.to_numpy()))
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=0, atol=TOL)


def test_zero_variance_rows_returned_unadjusted(combat_data):
    _, meta = combat_data
    X = read_r("combat_zero_input.csv")
    model = ComBat().fit(X, batch=meta["batch"], covariates=meta[COV])
    assert list(X.columns[~model.adjusted_]) == ["f03", "f07"]
    out = model.transform(X, batch=meta["batch"], covariates=meta[COV])
    np.testing.assert_array_equal(out[["f03", "f07"]], X[["f03", "f07"]])


def test_nan_cells_stay_nan_only(combat_data):
    _, meta = combat_data
    X = read_r("combat_na_input.csv")
    out = ComBat().fit_transform(X.to_numpy(), batch=meta["batch"].to_numpy(),
                                 covariates=meta[COV])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(np.isnan(out), X.isna().to_numpy())


@pytest.mark.parametrize(("fixture", "parametric"), [
    ("combat_test_param.csv", True), ("combat_test_nonparam.csv", False)])
def test_frozen_model_on_new_subjects_matches_r_by_hand(combat_data, fixture, parametric):
    X, meta = combat_data
    train = read_r("combat_split.csv")["train"].to_numpy()
    model = ComBat(parametric=parametric).fit(X[train], batch=meta["batch"][train],
                                              covariates=meta[COV][train])
    out = model.transform(X[~train], batch=meta["batch"][~train], covariates=meta[COV][~train])
    expected = read_r(fixture)
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), rtol=0, atol=TOL)


def test_reference_batch_unchanged(combat_data):
    X, meta = combat_data
    out = ComBat(ref_batch="b2").fit_transform(X, batch=meta["batch"], covariates=meta[COV])
    rows = (meta["batch"] == "b2").to_numpy()
    np.testing.assert_array_equal(out[rows].to_numpy(), X[rows].to_numpy())
