"""Survival benchmarks: event-stratified splits, c_index / td_auc, robustness, comparison."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse.data import make_cohort
from medfuse.evaluate.metrics import c_index, survival_metrics, td_auc
from medfuse.evaluate.runner import resolve_strategies, run_benchmark


@pytest.fixture(scope="module")
def result():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = make_cohort(120, effects={"rna": 2.0, "imaging": 1.5, "clinical": 0.0},
                           task="survival", n_genes=60, n_imaging=20,
                           missing={"imaging": 0.3}, random_state=4)
    res = run_benchmark(data, ["cox-early", "cox-late", "unimodal-cox:clinical"], folds=3,
                        repeats=1, task="survival", primary_metric="c_index")
    return data, res


def test_fusion_beats_chance_and_the_uninformative_modality(result):
    _, res = result
    table = res.results()
    assert set(table["metric"]) == {"c_index", "td_auc"}
    c = table[table["metric"] == "c_index"].set_index("strategy")["mean"]
    assert c["cox-early"] > 0.65 and c["cox-late"] > 0.65
    assert c["unimodal-cox:clinical"] < 0.62
    assert res.best in {"cox-early", "cox-late"}


def test_splits_are_stratified_on_the_event(result):
    data, res = result
    event = data.obs["event"].to_numpy()
    rates = [event[s.test].mean() for s in res.splits]
    assert max(rates) - min(rates) < 0.05
    # stored held-out times and events are the subjects' own
    fr = res.folds[0]
    obs = data.obs.loc[fr.subjects]
    np.testing.assert_allclose(fr.time, obs["time"])
    np.testing.assert_array_equal(np.asarray(fr.y, bool), obs["event"])


def test_fold_scores_are_recomputable_from_predictions(result):
    _, res = result
    fr = next(f for f in res.folds if f.strategy == "cox-late")
    risk = fr.probabilities()[:, 0]
    scores = res.split_scores("cv")
    got = scores[(scores["strategy"] == "cox-late") & (scores["split"] == fr.split)]
    got = got.set_index("metric")["value"]
    assert got["c_index"] == pytest.approx(c_index(fr.y, fr.time, risk))
    assert got["td_auc"] == pytest.approx(td_auc(fr.y, fr.time, risk))


def test_robustness_and_comparison(result):
    _, res = result
    rob = res.robustness()
    sub = rob[(rob["strategy"] == "cox-late") & (rob["metric"] == "c_index")]
    by = sub.set_index("available")["mean"]
    assert {"rna+imaging+clinical", "rna", "imaging", "clinical"} <= set(by.index)
    assert by["rna"] > by["clinical"]
    comp = res.comparison()
    assert set(comp["metric"]) == {"c_index"}
    assert "best_unimodal" in set(comp["reference"])


def test_td_auc_reference_values():
    # a perfect and a reversed risk at the median time
    event = np.array([1, 1, 0, 1, 0, 1, 0, 0], bool)
    time = np.arange(1.0, 9.0)
    assert td_auc(event, time, -time) == pytest.approx(1.0)
    assert td_auc(event, time, time) == pytest.approx(0.0)
    m = survival_metrics(np.zeros(5, bool), np.arange(1.0, 6.0), np.arange(5.0))
    assert np.isnan(m["c_index"]) and np.isnan(m["td_auc"])


def test_all_means_all_survival_strategies():
    data = make_cohort(30, task="survival", n_genes=20, n_imaging=10, random_state=0)
    names = list(resolve_strategies(data, "all", task="survival"))
    assert set(names) == {"unimodal-cox:rna", "unimodal-cox:imaging",
                          "unimodal-cox:clinical", "cox-early", "cox-late"}
    classification = list(resolve_strategies(data, "all"))
    assert not any("cox" in n for n in classification)
    with pytest.raises(ValueError, match="survival strategy"):
        resolve_strategies(data, ["cox-early"])


def test_gse7390_survival_study(tmp_path):
    """The real cohort (time in years, distant metastasis event) through the Python API."""
    from bs4 import BeautifulSoup

    from medfuse.data import load_gse7390
    from medfuse.study import run_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_gse7390(drop_censored=False)
    out = run_study(data, None, tmp_path, strategies=["cox-early", "unimodal-cox:clinical"],
                    folds=3, repeats=1, primary_metric="c_index", task="survival")
    res = pd.read_csv(out.results)
    c = res[res["metric"] == "c_index"].set_index("strategy")["mean"]
    assert (c > 0.55).all(), c
    assert BeautifulSoup(out.report.read_text(), "html.parser").find("h2") is not None
    assert out.model is not None


def test_external_test_set_survival():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = make_cohort(130, effects={"rna": 2.0}, task="survival", n_genes=40,
                           n_imaging=10, random_state=7)
    train, test = data[np.arange(90)], data[np.arange(90, 130)]
    res = run_benchmark(train, ["cox-early"], test=test, folds=3, repeats=1, seeds=2,
                        task="survival", primary_metric="c_index", robustness=False)
    t = res.results()
    t = t[(t["split"] == "test") & (t["metric"] == "c_index")]
    assert t["n"].iloc[0] == 2 and t["mean"].iloc[0] > 0.65
