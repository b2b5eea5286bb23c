"""Conformal prediction sets around a strategy: crepes' own sets for the same scores,
coverage per availability pattern, pattern augmentation, fallbacks and bad input."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from crepes import ConformalClassifier as Crepes
from sklearn.base import clone

from medfuse.data import make_cohort
from medfuse.evaluate.metrics import expected_calibration_error
from medfuse.fusion import make
from medfuse.fusion.conformal import (
    MARGINAL,
    ConformalClassifier,
    ConformalFallbackWarning,
    availability_patterns,
    min_calibration_size,
)
from tests import reference_strategies as ref

ALPHA = 0.1


@pytest.fixture(scope="module")
def complete():
    """Every subject has every modality."""
    return ref.tiny_cohort(400, seed=2)


@pytest.fixture(scope="module")
def patterned():
    """Four availability patterns (clinical always present), a weak clinical signal: the
    subjects with fewer modalities are harder to predict."""
    return make_cohort(3000, missing={"imaging": 0.5, "rna": 0.5}, n_genes=40, n_imaging=15,
                       effects={"clinical": 0.0}, random_state=0)


def _covered(sets: np.ndarray, model, data) -> np.ndarray:
    y = np.searchsorted(model.classes_, data.y.to_numpy())
    return sets[np.arange(len(y)), y]


def _halves(data, seed: int):
    perm = np.random.default_rng(seed).permutation(len(data))
    half = len(data) // 2
    return data[np.sort(perm[:half])], data[np.sort(perm[half:])]


def test_sets_are_crepes_own_for_the_same_scores(complete):
    """On full-modality data every subject has one pattern: the wrapper's sets are crepes'
    ``predict_set`` on the hinge scores of the same model, for marginal, pattern and
    class-conditional categories, at several alpha."""
    train, test = complete[:250], complete[250:]
    for mondrian in (None, "pattern", "class"):
        model = ConformalClassifier(ref.MeanLogistic(), mondrian=mondrian, random_state=0)
        model.fit(train)
        scores = 1.0 - model.estimator_.predict_proba(test)
        cal = model.calibration_scores_
        for alpha in (0.05, 0.1, 0.2, 0.33):
            ours = model.predict_set(test, alpha=alpha)
            if mondrian == "class":
                cc = Crepes().fit(cal, bins=model.calibration_labels_)
                theirs = np.column_stack([
                    cc.predict_set(scores[:, k], bins=np.full(len(test), k),
                                   confidence=1 - alpha, smoothing=False)
                    for k in range(2)])
            else:
                theirs = Crepes().fit(cal).predict_set(scores, confidence=1 - alpha,
                                                       smoothing=False)
            np.testing.assert_array_equal(ours, theirs.astype(bool))
            assert ours.any()


def test_p_values_are_the_conformal_ranks(complete):
    train, test = complete[:250], complete[250:]
    model = ConformalClassifier(ref.MeanLogistic(), mondrian=None, random_state=1).fit(train)
    scores = 1.0 - model.estimator_.predict_proba(test)
    cal = model.calibration_scores_
    by_hand = ((cal[None, None, :] >= scores[:, :, None]).sum(axis=2) + 1) / (len(cal) + 1)
    np.testing.assert_allclose(model.predict_p_values(test), by_hand, rtol=0, atol=1e-15)


def test_coverage_holds_for_every_availability_pattern(patterned):
    """20 random halvings of a 3000-subject cohort with four patterns (about 190 calibration
    subjects each): the mean coverage per pattern lies within 0.04 of [1 - alpha,
    1 - alpha + 1 / (n + 1)]. Over 20 splits the sd of that mean is about 0.01 (calibration
    and test sampling together), so 0.04 is four standard deviations; the benchmark script
    checks 0.02 over 200 splits."""
    covered: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for seed in range(20):
        train, test = _halves(patterned, seed)
        model = ConformalClassifier(ref.MeanLogistic(), calibration_fraction=0.5,
                                    random_state=seed).fit(train)
        hit = _covered(model.predict_set(test), model, test)
        patterns = availability_patterns(test, model.modalities_)
        counts = model.calibration_counts()
        for p in np.unique(patterns):
            covered.setdefault(p, []).append(hit[patterns == p].mean())
            sizes[p] = min(sizes.get(p, 10**9), int(counts[p]))
    assert len(covered) == 4
    for p, values in covered.items():
        assert sizes[p] >= 150
        mean = np.mean(values)
        assert 1 - ALPHA - 0.04 <= mean <= 1 - ALPHA + 1 / (sizes[p] + 1) + 0.04, (p, mean)


def test_mondrian_categories_fix_what_marginal_coverage_hides(patterned):
    """Marginal sets cover 90% on average but not per pattern (the clinical-only subjects,
    with no signal, are over-covered; the others under-covered); Mondrian sets by pattern
    cover each."""
    result = {}
    for mondrian in (None, "pattern"):
        per = {}
        for seed in range(6):
            train, test = _halves(patterned, 100 + seed)
            model = ConformalClassifier(ref.MeanLogistic(), mondrian=mondrian,
                                        random_state=seed).fit(train)
            hit = _covered(model.predict_set(test), model, test)
            patterns = availability_patterns(test, model.modalities_)
            for p in np.unique(patterns):
                per.setdefault(p, []).append(hit[patterns == p].mean())
        result[mondrian] = {p: np.mean(v) for p, v in per.items()}
    marginal, mondrian = result[None], result["pattern"]
    assert marginal["clinical"] > 0.95
    assert min(marginal.values()) < 0.88
    assert all(abs(v - 0.9) < 0.03 for v in mondrian.values()), mondrian


def test_pattern_augment_answers_a_pattern_no_training_subject_had():
    """Every training subject has imaging; test subjects without it have a pattern the
    calibration subjects never had. Without augmentation their sets fall back to the
    marginal scores (with a warning naming the pattern); with it they have a category of
    their own, made by hiding imaging from the calibration subjects, and their coverage
    holds (imaging is hidden at random here, so the augmented scores are exchangeable)."""
    full = make_cohort(3000, n_genes=40, n_imaging=15, random_state=3)
    hits = {False: [], True: []}
    for seed in range(8):
        train, test = _halves(full, seed)
        test = test.hide(["imaging"])
        for augment in (False, True):
            model = ConformalClassifier(ref.MeanLogistic(), pattern_augment=augment,
                                        random_state=seed).fit(train)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                table = model.set_table(test)
            fallback = [w for w in caught if issubclass(w.category, ConformalFallbackWarning)]
            if augment:
                assert not fallback
                assert set(table["category"]) == {"rna+clinical"}
                assert model.calibration_counts()["rna+clinical"] == (
                    model.calibration_counts()[MARGINAL])
            else:
                assert fallback and "'rna+clinical' (0)" in str(fallback[0].message)
                assert set(table["category"]) == {MARGINAL}
            sets = table[[c for c in table if c.startswith("in_set_")]].to_numpy()
            hits[augment].append(_covered(sets, model, test).mean())
    assert abs(np.mean(hits[True]) - 0.9) < 0.02, np.mean(hits[True])


def test_small_and_unseen_patterns_fall_back_with_a_warning_naming_them(patterned):
    train = patterned[:400]
    model = ConformalClassifier(ref.MeanLogistic(), calibration_fraction=0.1,
                                random_state=0)
    with pytest.warns(ConformalFallbackWarning, match="at alpha=0.01"):
        model.set_params(alpha=0.01).fit(train)
    counts = model.calibration_counts()
    assert counts[MARGINAL] == 40
    small = [p for p in model.patterns_ if counts[p] < min_calibration_size(0.05)]
    assert small
    with pytest.warns(ConformalFallbackWarning) as caught:
        table = model.set_table(patterned[400:600], alpha=0.05)
    message = str(caught[0].message)
    assert f"{small[0]!r} ({counts[small[0]]})" in message and "needs at alpha=0.05" in message
    assert "than the 19 a Mondrian category" in message  # min_calibration_size(0.05)
    patterns = availability_patterns(patterned[400:600], model.modalities_)
    fell_back = np.isin(patterns, small)
    assert (table["category"].to_numpy()[fell_back] == MARGINAL).all()
    # the marginal guarantee: the same sets as a model with no Mondrian categories
    marginal = copy.copy(model).set_params(mondrian=None)
    sets = table[[c for c in table if c.startswith("in_set_")]].to_numpy(dtype=bool)
    np.testing.assert_array_equal(sets[fell_back],
                                  marginal.predict_set(patterned[400:600],
                                                       alpha=0.05)[fell_back])


@pytest.mark.parametrize(("alpha", "needed"), [(0.1, 10), (0.2, 5), (0.15, 6), (0.05, 19),
                                               (0.3, 3), (0.5, 2)])
def test_min_calibration_size_is_where_sets_stop_being_trivial(alpha, needed):
    """With one score fewer than needed crepes puts every class in every set; with the
    needed number a set can leave a class out (0.05 needs 19, not 20: crepes' level
    1 - 0.95 rounds above 0.05, so a p-value of exactly 1/20 is below it)."""
    assert min_calibration_size(alpha) == needed
    rng = np.random.default_rng(0)
    new = np.array([[2.0, -1.0]])  # class 0 scores above every calibration score
    short = Crepes().fit(rng.uniform(size=needed - 1))
    enough = Crepes().fit(rng.uniform(size=needed))
    assert short.predict_set(new, confidence=1 - alpha, smoothing=False).tolist() == [[1, 1]]
    assert enough.predict_set(new, confidence=1 - alpha, smoothing=False).tolist() == [[0, 1]]


def test_cross_conformal_covers_and_uses_every_subject(patterned):
    covered = []
    for seed in range(4):
        train, test = _halves(patterned, 200 + seed)
        model = ConformalClassifier(ref.MeanLogistic(), method="cross", n_folds=4,
                                    random_state=seed).fit(train)
        assert len(model.estimators_) == 4
        assert model.calibration_natural_.sum() == len(train)
        covered.append(_covered(model.predict_set(test), model, test).mean())
    assert abs(np.mean(covered) - 0.9) < 0.025


def test_class_conditional_coverage_holds_within_each_class(patterned):
    per = {0: [], 1: []}
    for seed in range(6):
        train, test = _halves(patterned, 300 + seed)
        model = ConformalClassifier(ref.MeanLogistic(), mondrian="class",
                                    random_state=seed).fit(train)
        hit = _covered(model.predict_set(test), model, test)
        y = test.y.to_numpy()
        for k in per:
            per[k].append(hit[y == k].mean())
    assert all(abs(np.mean(v) - 0.9) < 0.025 for v in per.values()), per


def test_per_pattern_recalibration_removes_pattern_miscalibration():
    """Averaging per-modality probabilities is under-confident, the more so the more
    modalities are averaged: Venn-Abers maps per pattern (about 1000 calibration subjects
    each) bring the ECE of every pattern's held-out subjects under 0.03 (pooled over 4
    splits, about 4000 per pattern; a perfectly calibrated model scores about 0.018 on that
    many from binning noise alone)."""
    cohort = make_cohort(12000, missing={"imaging": 0.5, "rna": 0.5}, n_genes=40,
                         n_imaging=15, effects={"clinical": 0.0}, random_state=0)
    before, after, patterns, ys = [], [], [], []
    for seed in range(4):
        perm = np.random.default_rng(400 + seed).permutation(len(cohort))
        train, test = cohort[np.sort(perm[:8000])], cohort[np.sort(perm[8000:])]
        model = ConformalClassifier(ref.MeanLogistic(), calibration="venn-abers",
                                    calibration_fraction=0.5, random_state=seed).fit(train)
        before.append(model.predict_proba_uncalibrated(test))
        after.append(model.predict_proba(test))
        patterns.append(availability_patterns(test, model.modalities_))
        ys.append(test.y.to_numpy())
    before, after = np.vstack(before), np.vstack(after)
    patterns, y = np.concatenate(patterns), np.concatenate(ys)
    full = patterns == "rna+imaging+clinical"
    assert expected_calibration_error(y[full], before[full]) > 0.1
    for p in np.unique(patterns):
        rows = patterns == p
        assert expected_calibration_error(y[rows], after[rows]) < 0.03, p


def test_recalibrate_refits_only_the_maps(complete):
    model = ConformalClassifier(ref.MeanLogistic(), calibration="platt", random_state=0)
    model.fit(complete)
    sets = model.predict_set(complete)
    fitted = model.estimator_
    model.recalibrate("isotonic")
    assert model.estimator_ is fitted and model.calibration == "isotonic"
    np.testing.assert_array_equal(model.predict_set(complete), sets)
    np.testing.assert_allclose(model.predict_proba(complete),
                               model.calibrator_.transform(
                                   model.predict_proba_uncalibrated(complete)))


def test_calibration_subjects_come_from_the_training_subjects_only(complete):
    """The fitted strategy never sees the calibration subjects; calibration and training
    parts are disjoint and together the subjects it was given (stratified by class and
    pattern)."""
    ref.FITTED_ON.clear()
    rec = ref.RecordingScaler()
    model = ConformalClassifier(ref.MeanLogistic(preprocessors={"rna": rec}),
                                calibration_fraction=0.3, random_state=0)
    model.fit(complete[:200])
    (seen,) = ref.FITTED_ON
    assert len(seen) == 140 and seen <= set(complete.subjects[:200])
    assert model.calibration_natural_.sum() == 60
    y = complete.y.to_numpy()[:200]
    assert abs(np.mean(model.calibration_labels_) - y.mean()) < 0.02


def test_the_wrapper_is_a_scikit_learn_estimator(complete):
    model = ConformalClassifier(ref.MeanLogistic(C=0.5), alpha=0.2, calibration="platt")
    params = model.get_params(deep=False)
    assert params["alpha"] == 0.2 and params["calibration"] == "platt"
    copy = clone(model).fit(complete)
    assert copy.predict(complete).shape == (len(complete),)
    np.testing.assert_allclose(copy.predict_proba(complete).sum(axis=1), 1.0)
    assert isinstance(copy.estimator_.modality_weights_, pd.Series)  # the fitted strategy's
    with pytest.raises(AttributeError):
        copy.module_  # noqa: B018  (not a neural strategy)
    assert not hasattr(copy, "_build_module")


@pytest.mark.parametrize(("params", "message"), [
    ({"alpha": 0.0}, r"alpha must be in \(0, 1\)"),
    ({"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
    ({"alpha": "a lot"}, r"alpha must be a number"),
    ({"method": "jackknife"}, "method must be 'split' or 'cross'"),
    ({"mondrian": "site"}, "mondrian must be 'pattern', 'class' or None"),
    ({"calibration": "beta"}, "calibration must be None or one of platt"),
    ({"calibration_fraction": 1.0}, r"calibration_fraction must be in \(0, 1\)"),
    ({"n_folds": 1}, "n_folds must be at least 2"),
])
def test_bad_settings_are_refused_at_fit(complete, params, message):
    with pytest.raises(ValueError, match=message):
        ConformalClassifier(ref.MeanLogistic(), **params).fit(complete)


def test_bad_alpha_at_prediction_is_refused(complete):
    model = ConformalClassifier(ref.MeanLogistic(), random_state=0).fit(complete)
    for alpha in (0, 1, -0.1, 2.0):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            model.predict_set(complete, alpha=alpha)


def test_a_survival_strategy_is_refused_with_the_reason():
    data = make_cohort(60, task="survival", n_genes=10, n_imaging=5, random_state=0)
    with pytest.raises(ValueError, match="survival strategy: it predicts a risk, not class "
                                         "probabilities"):
        ConformalClassifier(make("cox-early")).fit(data.select(["imaging"]))


class _LabelsOnly(ref.MeanLogistic):
    """A strategy that predicts labels but gives no probabilities."""

    def _predict_proba(self, data):
        raise NotImplementedError


class _NotProbabilities(ref.MeanLogistic):
    """A strategy whose "probabilities" are scores outside [0, 1]."""

    def _predict_proba(self, data):
        return super()._predict_proba(data) * 3.0 - 1.0


def test_a_strategy_with_no_probabilities_is_refused_with_the_reason(complete):
    from sklearn.svm import LinearSVC

    with pytest.raises(ValueError, match="LinearSVC has no predict_proba: conformal sets"):
        ConformalClassifier(LinearSVC()).fit(complete)
    with pytest.raises(ValueError, match="_LabelsOnly gives no class probabilities"):
        ConformalClassifier(_LabelsOnly(), random_state=0).fit(complete)
    with pytest.raises(ValueError, match="not one row of numbers in \\[0, 1\\]"):
        ConformalClassifier(_NotProbabilities(), random_state=0).fit(complete)


def test_too_few_subjects_to_hold_out_calibration_are_refused():
    data = ref.tiny_cohort(8, seed=0)
    with pytest.raises(ValueError, match="too few to hold out a calibration share"):
        ConformalClassifier(ref.MeanLogistic(), calibration_fraction=0.9,
                            random_state=0).fit(data)
    with pytest.raises(ValueError, match="at least 5 training subjects of every class"):
        ConformalClassifier(ref.MeanLogistic(), method="cross", random_state=0).fit(data)
