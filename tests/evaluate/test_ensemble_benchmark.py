"""The ensemble and select-best rows of a benchmark: decided inside each outer fold from its
training subjects only (flipping the held-out labels changes nothing), reproducible from the
stored predictions, in every table, and resumable from the cache."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse.evaluate.ensemble import one_se_choice, pair_splits
from medfuse.evaluate.runner import run_benchmark
from medfuse.evaluate.splits import make_splits
from medfuse.fusion.ensemble_selection import combine, to_training_prior
from tests.reference_strategies import tiny_cohort

STRATEGIES = ["unimodal:rna", "unimodal:imaging", "late-mean", "early"]


def _run(data, splits, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_benchmark(data, STRATEGIES, splits=splits, seed=0, robustness=False,
                             ensemble=True, **kw)


@pytest.fixture(scope="module")
def cohort():
    return tiny_cohort(72, seed=3, missing=0.2)


@pytest.fixture(scope="module")
def splits(cohort):
    return make_splits(np.asarray(cohort.y), folds=4, repeats=1, seed=0)


@pytest.fixture(scope="module")
def result(cohort, splits):
    return _run(cohort, splits)


def test_pair_splits_train_outside_both_folds_and_predict_both(splits):
    pairs = pair_splits(splits)
    assert [p.label for p in pairs] == ["r0f0+f1", "r0f0+f2", "r0f0+f3", "r0f1+f2",
                                        "r0f1+f3", "r0f2+f3"]
    for p in pairs:
        a, b = (splits[int(x)] for x in p.label[3:].replace("f", "").split("+"))
        np.testing.assert_array_equal(p.test, np.union1d(a.test, b.test))
        assert not set(p.train) & set(p.test)
        assert len(p.train) + len(p.test) == 72
    two = make_splits(np.repeat([0, 1], 10), folds=2, repeats=1, seed=0)
    assert pair_splits(two) == []          # two folds leave nothing to train an inner fit


def test_each_outer_fold_decides_without_its_held_out_labels(cohort, splits, result):
    held = splits[0].test
    flipped_y = cohort.obs["label"].copy()
    flipped_y.iloc[held] = 1 - flipped_y.iloc[held]
    flipped = cohort.loc(list(cohort.subjects))
    flipped.obs["label"] = flipped_y.to_numpy()
    other = _run(flipped, splits)
    mine = result.settings["handed_over"]["per_split"]["r0f0"]
    theirs = other.settings["handed_over"]["per_split"]["r0f0"]
    assert mine == theirs
    # ... while the decisions that saw those labels in training may move
    assert result.settings["handed_over"]["weights"] != {} and other.settings["handed_over"]


def test_the_ensemble_rows_are_the_recorded_weights_applied_to_the_members(cohort, splits,
                                                                            result):
    from medfuse.evaluate.ensemble import strategy_class_weights
    from medfuse.fusion import make

    chosen = result.settings["handed_over"]["per_split"]["r0f2"]
    folds = {(fr.strategy, fr.split): fr for fr in result.folds if fr.kind == "cv"}
    names = list(chosen["weights"])
    parts = [folds[(n, "r0f2")].probabilities() for n in names]
    if chosen["prior"] == "training":
        y = np.asarray(cohort.y)[splits[2].train]
        parts = [to_training_prior(p, strategy_class_weights(make(n), np.array([0, 1]), y))
                 for p, n in zip(parts, names, strict=True)]
    expected = combine(parts, np.array([chosen["weights"][n] for n in names]))
    np.testing.assert_allclose(folds[("ensemble", "r0f2")].probabilities(), expected)
    pick = chosen["select_best"]
    np.testing.assert_array_equal(folds[("select-best", "r0f2")].probabilities(),
                                  folds[(pick, "r0f2")].probabilities())


def test_the_derived_rows_are_in_every_table(result):
    assert result.strategies[-2:] == ["ensemble", "select-best"]
    res = result.results()
    assert {"ensemble", "select-best"} <= set(res["strategy"])
    auc = res[(res.metric == "roc_auc") & (res.split == "cv")].set_index("strategy")
    assert auc.loc["ensemble", "n"] == 4
    comparison = result.comparison()
    assert "ensemble" in set(comparison["strategy"]) | set(comparison["reference_strategy"])
    handed = result.settings["handed_over"]
    assert sum(handed["weights"].values()) == pytest.approx(1.0)
    assert handed["select_best"] in STRATEGIES
    assert handed["prior"] in ("fitted", "training")


def test_the_test_rows_use_the_weights_chosen_on_every_cv_prediction(cohort, splits):
    test = tiny_cohort(40, seed=9, prefix="T")
    result = _run(cohort, splits, test=test, seeds=1)
    handed = result.settings["handed_over"]
    tests = {fr.strategy: fr for fr in result.folds if fr.kind == "test"}
    names = list(handed["weights"])
    parts = [tests[n].probabilities() for n in names]
    if handed["prior"] == "training":
        from medfuse.evaluate.ensemble import strategy_class_weights
        from medfuse.fusion import make

        y = np.searchsorted(np.unique(cohort.y), np.asarray(cohort.y))
        parts = [to_training_prior(p, strategy_class_weights(make(n), np.array([0, 1]), y))
                 for p, n in zip(parts, names, strict=True)]
    np.testing.assert_allclose(tests["ensemble"].probabilities(),
                               combine(parts, np.array(list(handed["weights"].values()))))
    assert tests["select-best"].probabilities().shape == (40, 2)


def test_inner_fits_are_cached_and_resumed(cohort, splits, tmp_path):
    first = _run(cohort, splits, out=tmp_path)
    again = _run(cohort, splits, out=tmp_path, resume=True)
    assert first.settings["fits"] == 4 * (4 + 6)
    assert again.settings["reused"] == again.settings["fits"]
    assert again.settings["handed_over"] == first.settings["handed_over"]


def test_the_one_standard_error_rule_takes_the_simplest_within_reach():
    scores = {"early": [0.80, 0.84, 0.82], "late-mean": [0.79, 0.81, 0.80],
              "unimodal:rna": [0.60, 0.62, 0.61], "stacking": [0.83, 0.86, 0.83]}
    pick, table = one_se_choice(scores, list(scores))
    # best mean: stacking 0.84, se 0.01; within reach (>= 0.83): early (0.82: no), stacking;
    table = table.set_index("strategy")
    assert table.loc["stacking", "mean"] == pytest.approx(0.84)
    assert table.loc["stacking", "se"] == pytest.approx(np.std([.83, .86, .83], ddof=1)
                                                         / np.sqrt(3))
    assert list(table.index[table["within"]]) == ["stacking"]
    assert pick == "stacking"
    wider = {**scores, "stacking": [0.74, 0.94, 0.84]}   # se 0.058: early and late-mean too
    pick, table = one_se_choice(wider, list(wider))
    assert set(table.index[table["within"]].map(lambda i: table.loc[i, "strategy"])) == {
        "early", "late-mean", "stacking"}
    assert pick == "late-mean"        # the late family is simpler than early fusion
    assert isinstance(table, pd.DataFrame)
