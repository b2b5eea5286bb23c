"""Small cohorts keep every strategy: inner cross-validation adapts its folds to the smallest
class of the training data it is given, and falls back to a fixed setting, with a warning,
when a class has a single training subject."""

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data.simulate import make_cohort
from medfuse.fusion.classifiers import default_classifier
from medfuse.fusion.factory import make
from medfuse.fusion.inner_cv import SmallClassWarning, inner_fold_count, inner_folds
from medfuse.fusion.registry import strategy_names
from tests.test_cli_study import write_study

QUICK_NEURAL = {"max_epochs": 3, "n_ensemble": 1, "n_threads": 1}


def small_cohort(per_class: dict[int, int], seed: int = 0):
    """A 5-class cohort with ``per_class[k]`` subjects of class ``k``."""
    data = make_cohort(120, task="multiclass", n_classes=5, n_genes=40, n_imaging=12,
                       random_state=seed)
    label = data.obs["label"]
    keep = [i for k, n in per_class.items() for i in label[label == k].index[:n]]
    return data.loc(keep)


@pytest.mark.parametrize(("counts", "cv", "folds"), [
    ([4, 4, 4], 5, 4), ([9, 3, 7], 5, 3), ([2, 8], 5, 2), ([1, 8], 5, 0), ([6], 5, 0),
    ([20, 20], 3, 3)])
def test_inner_folds_never_outnumber_the_smallest_class(counts, cv, folds):
    y = np.repeat(np.arange(len(counts)), counts)
    assert inner_fold_count(y, cv) == folds


def test_a_class_with_one_training_subject_fixes_the_regularisation_with_a_warning():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(9, 4)), np.array([0] * 4 + [1] * 4 + [2])
    with pytest.warns(SmallClassWarning, match="smallest class has 1 training subject"):
        model = default_classifier(0, y=y)
    assert model.get_params()["C"] == 1.0
    assert model.fit(X, y).predict_proba(X).shape == (9, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallClassWarning)
        searched = default_classifier(0, y=np.repeat([0, 1, 2], 3))
    assert searched.cv.get_n_splits() == 3
    assert inner_folds(np.repeat([0, 1], [5, 5]), 5, 0).get_n_splits() == 5


@pytest.mark.parametrize("name", ["unimodal:rna", "early", "late-mean", "late-weighted",
                                  "late-vote", "stacking", "additive", "mkl", "block-pls",
                                  "cca"])
def test_every_tuning_strategy_fits_with_a_single_subject_in_a_class(name):
    data = small_cohort({0: 4, 1: 4, 2: 1})
    with pytest.warns(SmallClassWarning):
        proba = make(name, random_state=0).fit(data).predict_proba(data)
    assert proba.shape == (9, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_strategies_all_runs_on_a_cohort_whose_smallest_class_has_three_subjects(tmp_path):
    # 5 classes of 4 subjects but one of 3, 3-fold CV: every class has 2 or 3 training
    # subjects in a fold, fewer than the 5 inner folds the strategies ask for
    data = small_cohort({0: 4, 1: 4, 2: 4, 3: 4, 4: 3})
    neural = [n for n in strategy_names(data.modality_names)
              if n in ("intermediate", "attention", "cross-attention", "contrastive",
                       "disentangle")]
    study = write_study(tmp_path / "study", data, strategies="all",
                        cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1,
                        robustness=False, params={n: QUICK_NEURAL for n in neural})
    result = CliRunner().invoke(app, ["benchmark", str(study), "--out",
                                      str(tmp_path / "out"), "--no-explain"])
    assert result.exit_code == 0, result.output
    assert "failed" not in result.output.lower()
    ran = set(pd.read_csv(tmp_path / "out" / "results.csv")["strategy"])
    every = {n for n in strategy_names(data.modality_names)} - {"mkl-svm"}
    assert every <= ran, sorted(every - ran)
