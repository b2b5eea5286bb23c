"""Tree learners of the classical strategies: unscaled blocks, absent blocks left missing,
the same model scikit-learn fits, and a known non-linear answer a logistic model cannot
reach."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import roc_auc_score

from medfuse.data import MultiModalData
from medfuse.data.simulate import make_cohort
from medfuse.fusion import make, strategy_names
from medfuse.fusion.learners import FOREST_TREES, min_leaf
from medfuse.preprocess.counts import LogCPM
from medfuse.preprocess.scaling import ZScore


def xor_cohort(n: int, seed: int) -> MultiModalData:
    """Outcome = sign(x1 * x2) of block ``a`` (no linear signal at all); block ``b`` noise;
    a quarter of the subjects lack ``b``."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    a = rng.normal(size=(n, 6))
    y = (a[:, 0] * a[:, 1] > 0).astype(int)
    b = pd.DataFrame(rng.normal(size=(n, 4)), index=ids, columns=[f"b{j}" for j in range(4)])
    keep_b = rng.random(n) > 0.25
    return MultiModalData(
        {"a": pd.DataFrame(a, index=ids, columns=[f"a{j}" for j in range(6)]),
         "b": b[keep_b]},
        obs=pd.DataFrame({"y": y}, index=ids), outcome="y")


@pytest.fixture(scope="module")
def xor():
    return xor_cohort(300, 0), xor_cohort(200, 1)


@pytest.mark.parametrize("name", ["early-gb", "early-rf", "late-mean-gb", "late-mean-rf",
                                  "stacking-gb", "stacking-rf", "unimodal-gb:a",
                                  "unimodal-rf:a"])
def test_trees_learn_an_interaction_no_logistic_model_can(xor, name):
    train, test = xor
    linear = name.replace("-gb", "").replace("-rf", "")
    auc = {n: roc_auc_score(test.y, make(n, random_state=0).fit(train).predict_proba(test)[:, 1])
           for n in (name, linear)}
    assert auc[name] > 0.85, auc
    assert auc[linear] < 0.65, auc


def test_early_forest_is_scikit_learns_forest_on_the_unscaled_blocks_with_nan(xor):
    train, test = xor
    model = make("early-rf", class_weight=None, random_state=3).fit(train)

    def design(d):
        return np.column_stack([d.block("a", available_only=False).to_numpy(),
                                d.block("b", available_only=False).to_numpy()])

    X = design(train)
    assert np.isnan(X).any(axis=1).mean() > 0.15       # subjects without b stay missing
    reference = RandomForestClassifier(n_estimators=FOREST_TREES, random_state=3).fit(
        X, train.y.to_numpy())
    np.testing.assert_allclose(model.predict_proba(test),
                               reference.predict_proba(design(test)), atol=1e-12)
    assert model.block_divisors_.tolist() == [1.0, 1.0]


def test_boosting_is_scikit_learns_with_a_leaf_size_for_the_cohort(xor):
    train, test = xor
    model = make("unimodal-gb:a", class_weight=None, random_state=4).fit(train)
    assert isinstance(model.estimator_, HistGradientBoostingClassifier)
    assert model.estimator_.min_samples_leaf == min_leaf(300) == 20
    reference = HistGradientBoostingClassifier(random_state=4).fit(
        train.block("a").to_numpy(), train.y.to_numpy())
    np.testing.assert_allclose(model.predict_proba(test),
                               reference.predict_proba(test.block("a").to_numpy()),
                               atol=1e-12)
    assert [min_leaf(n) for n in (10, 48, 150, 1000)] == [2, 4, 15, 20]


def test_tree_learners_see_blocks_without_z_scores():
    data = make_cohort(80, n_genes=30, n_imaging=10, random_state=0)
    trees = make("late-mean-gb", random_state=0).fit(data)
    assert trees.preprocessors_["imaging"] is None
    counts = trees.preprocessors_["rna"]
    assert [type(s) for _, s in counts.steps] == [LogCPM]
    linear = make("late-mean", random_state=0).fit(data)
    assert isinstance(linear.preprocessors_["imaging"], ZScore)
    mixed = make("late-mean", learner={"rna": "random-forest"}, random_state=0).fit(data)
    assert isinstance(mixed.estimators_["rna"], RandomForestClassifier)
    assert isinstance(mixed.preprocessors_["imaging"], ZScore)
    assert [type(s) for _, s in mixed.preprocessors_["rna"].steps] == [LogCPM]


@pytest.mark.parametrize(("name", "params", "message"), [
    ("early", {"learner": "xgboost"}, "learner is 'xgboost'; choose from logistic, "
                                      "gradient-boosting, random-forest"),
    ("early", {"learner": {"rna": "random-forest"}}, "learner must be one name here"),
    ("late-mean", {"learner": {"genes": "random-forest"}}, "names modalities the data does "
                                                           "not have: ['genes']"),
    ("late-mean", {"learner": {"rna": "svm"}}, "learner for 'rna' is 'svm'"),
    ("stacking", {"learner": "random-forest", "base_estimator": RandomForestClassifier()},
     "base_estimator and learner both choose the classifier"),
])
def test_a_learner_that_cannot_be_used_is_named(name, params, message):
    data = make_cohort(40, n_genes=10, n_imaging=5, random_state=0)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make(name, **params).fit(data)


def test_strategies_all_holds_the_tree_variants():
    names = strategy_names(["rna", "clinical"])
    for variant in ("early-gb", "early-rf", "late-mean-gb", "late-mean-rf", "stacking-gb",
                    "stacking-rf", "unimodal-gb:rna", "unimodal-rf:clinical"):
        assert variant in names
