"""Modality Shapley values of a survival model's risk score."""

from __future__ import annotations

import numpy as np
import pytest

from medfuse.data import make_cohort
from medfuse.explain import modality_shapley
from medfuse.fusion import make
from medfuse.predictor import explain_table, predict_table


@pytest.fixture(scope="module")
def cohort():
    """Risk driven by rna only; imaging missing for about a third of the subjects."""
    data = make_cohort(220, task="survival", effects={"rna": 2.0, "imaging": 0.0,
                                                      "clinical": 0.0},
                       interaction=0.0, n_genes=40, n_imaging=20,
                       missing={"imaging": 0.3}, random_state=4)
    return data[:160], data[160:]


@pytest.mark.parametrize("name", ["cox-late", "cox-early"])
def test_risk_attributions_are_exact_and_find_the_driver(cohort, name):
    train, test = cohort
    model = make(name, random_state=0).fit(train)
    att = modality_shapley(model, test)
    risk = model.predict(test)
    assert list(att.classes) == ["risk"] and att.method == "exact"
    np.testing.assert_allclose(att.values[:, :, 0].sum(axis=1) + att.base_values[0], risk,
                               atol=1e-10)
    np.testing.assert_allclose(att.base_values[0], risk.mean())
    lacking = ~test.available.to_numpy()
    assert lacking.any() and np.all(att.values[lacking] == 0.0)
    importance = att.mean_abs()
    assert importance.index[0] == "rna", importance


def test_predict_table_explains_the_risk(cohort):
    train, test = cohort
    model = make("cox-late", random_state=0).fit(train)
    table = explain_table(predict_table(model, test), model, test)
    assert set(table["explained_class"]) == {"risk"}
    parts = table["shapley_base"] + table.filter(like="shapley_").drop(
        columns="shapley_base").sum(axis=1)
    np.testing.assert_allclose(parts, table["risk"], atol=1e-10)


def test_refit_attribution_is_refused_for_survival(cohort):
    train, test = cohort
    model = make("cox-late", random_state=0).fit(train)
    with pytest.raises(ValueError, match="survival"):
        modality_shapley(model, test, refit=True, train=train)
