"""Subjects without an outcome in the benchmark (``run_benchmark(unlabelled=...)``): never
split or scored; with ``"pretrain"`` added to every fit of the strategies that learn from
them (their ``n_train`` counts them), and to no other fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse.data import make_cohort
from medfuse.data.multimodal import DataValidationError
from medfuse.evaluate import run_benchmark
from medfuse.evaluate.splits import make_splits

PROTOCOL = {"folds": 3, "repeats": 1, "seeds": 1}


def half_unlabelled(n: int, seed: int):
    """A cohort whose outcome is missing for about half of the subjects."""
    data = make_cohort(n, n_genes=30, n_imaging=10, random_state=seed)
    obs = data.obs.copy()
    obs.loc[np.random.default_rng(seed).random(n) < 0.5, "label"] = np.nan
    return data.with_obs(obs)


def bench(data, strategies, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_benchmark(data, strategies, **{**PROTOCOL, **kw})


@pytest.fixture(scope="module")
def cohort():
    return half_unlabelled(60, seed=0)


@pytest.fixture(scope="module")
def runs(cohort):
    test = make_cohort(20, n_genes=30, n_imaging=10, random_state=7)
    pretrain = bench(cohort, ["late-mean", "co-training"], unlabelled="pretrain", test=test,
                     ensemble=True)
    drop = bench(cohort, ["late-mean"], unlabelled="drop", test=test)
    return pretrain, drop


def test_only_labelled_subjects_are_held_out(cohort, runs):
    pretrain, drop = runs
    labelled = set(cohort.subjects[cohort.y.notna().to_numpy()])
    unlabelled = set(cohort.subjects) - labelled
    assert len(unlabelled) > 20
    for result in (pretrain, drop):
        for fr in result.folds:
            if fr.kind == "cv" or fr.kind == "inner":
                assert set(fr.subjects) <= labelled, (fr.strategy, fr.split)
        everyone = np.concatenate([np.concatenate([sp.train, sp.test])
                                   for sp in result.splits])
        assert everyone.max() == len(labelled) - 1          # positions of labelled subjects
    assert {fr.kind for fr in pretrain.folds} == {"cv", "inner", "test"}


def test_only_the_strategies_that_learn_from_them_train_on_them(cohort, runs):
    pretrain, _ = runs
    n_missing = int(cohort.y.isna().sum())
    n_labelled = len(cohort) - n_missing
    for fr in pretrain.folds:
        if fr.strategy not in ("late-mean", "co-training"):
            continue
        # CV and inner fits train on the labelled subjects they do not hold out
        base = n_labelled if fr.kind == "test" else n_labelled - len(fr.subjects)
        extra = n_missing if fr.strategy == "co-training" else 0
        assert fr.n_train == base + extra, (fr.strategy, fr.kind, fr.split)
    assert pretrain.settings["unlabelled"] == {
        "mode": "pretrain", "n": n_missing, "used_by": ["co-training"],
        "cannot_use": ["late-mean"]}


def test_a_strategy_that_cannot_use_them_scores_as_with_drop(runs):
    pretrain, drop = runs
    assert drop.settings["unlabelled"] == {"mode": "drop", "n": pretrain.settings[
        "unlabelled"]["n"]}
    mine = {(fr.kind, fr.split): fr for fr in pretrain.folds if fr.strategy == "late-mean"}
    theirs = {(fr.kind, fr.split): fr for fr in drop.folds if fr.strategy == "late-mean"}
    assert set(theirs) <= set(mine)
    for key, fr in theirs.items():
        assert mine[key].subjects == fr.subjects and mine[key].n_train == fr.n_train
        assert mine[key].proba == fr.proba
    for table in ("results", "robustness"):
        a, b = getattr(pretrain, table)(), getattr(drop, table)()
        pd.testing.assert_frame_equal(a[a["strategy"] == "late-mean"].reset_index(drop=True),
                                      b[b["strategy"] == "late-mean"].reset_index(drop=True))
    assert [str(c) for c in pretrain.classes] == ["0", "1"]   # not 0.0 / 1.0


def test_only_their_cache_entries_depend_on_the_unlabelled_subjects(cohort, tmp_path):
    kw = {"robustness": False, "out": tmp_path, "resume": True}
    first = bench(cohort, ["late-mean", "co-training"], unlabelled="pretrain", **kw)
    assert first.settings["reused"] == 0
    fewer = cohort[np.flatnonzero(~(cohort.y.isna().to_numpy()
                                    & (np.arange(len(cohort)) % 2 == 0)))]
    assert fewer.y.isna().sum() < cohort.y.isna().sum()
    again = bench(fewer, ["late-mean", "co-training"], unlabelled="pretrain", **kw)
    assert again.settings["reused"] == 3          # late-mean's folds; co-training refitted
    for a, b in zip(first.folds, again.folds, strict=True):
        assert a.strategy == b.strategy and a.split == b.split
        if a.strategy == "late-mean":
            assert a.proba == b.proba and a.n_train == b.n_train
        else:
            assert b.n_train == a.n_train - (len(cohort) - len(fewer))


def test_missing_outcomes_without_unlabelled_are_refused_naming_both_options(cohort):
    with pytest.raises(DataValidationError, match=r"To leave them out, pass "
                       r"unlabelled='drop'; .* learn from unlabelled subjects, pass "
                       r"unlabelled='pretrain'\."):
        bench(cohort, ["late-mean"])
    with pytest.raises(DataValidationError, match="unlabelled='pretrain'"):
        make_splits(np.asarray(cohort.y), folds=3)
    with pytest.raises(ValueError, match="unlabelled must be None, 'drop' or 'pretrain'"):
        bench(cohort, ["late-mean"], unlabelled="keep")


def test_survival_refuses_unlabelled():
    data = make_cohort(30, task="survival", n_genes=20, n_imaging=8, random_state=1)
    with pytest.raises(DataValidationError, match="unlabelled= is for classification"):
        bench(data, ["cox-early"], task="survival", unlabelled="drop")
