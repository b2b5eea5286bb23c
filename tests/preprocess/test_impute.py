"""Imputers of missing modalities: known answers, the fold discipline, multiple imputation
and bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.metrics import roc_auc_score

from medfuse.data import DataValidationError, MultiModalData
from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.imputed import ImputedClassifier, with_imputation
from medfuse.persist import load_model, save_model
from medfuse.preprocess.impute import (
    CrossModalImputer,
    IterativeModalityImputer,
    KNNModalityImputer,
    MeanImputer,
    TranslatorImputer,
    imputer_names,
    make_imputer,
)

FAST = {"translator": {"method": "translator", "epochs": 60},
        "cycle": {"method": "cycle", "epochs": 60, "restarts": 1}}


def _linked(n=120, missing=0.3, noise=0.0, seed=0):
    """Two continuous modalities: ``b = a @ W`` (+ noise), ``b`` missing for a share."""
    rng = np.random.default_rng(seed)
    ids = [f"S{i:03d}" for i in range(n)]
    a = rng.normal(size=(n, 4))
    b = a @ rng.normal(size=(4, 6)) + noise * rng.normal(size=(n, 6))
    keep = rng.random(n) >= missing
    data = MultiModalData(
        {"a": pd.DataFrame(a, index=ids, columns=[f"a{j}" for j in range(4)]),
         "b": pd.DataFrame(b[keep], index=np.array(ids)[keep],
                           columns=[f"b{j}" for j in range(6)])},
        obs=pd.DataFrame({"y": (a[:, 0] > 0).astype(int)}, index=ids), outcome="y")
    truth = pd.DataFrame(b, index=ids, columns=[f"b{j}" for j in range(6)])
    return data, truth


@pytest.mark.parametrize("method", imputer_names())
def test_every_imputer_fills_only_what_is_missing(method):
    data, _ = _linked()
    train, test = data[np.arange(80)], data[np.arange(80, 120)]
    imputer = make_imputer(FAST.get(method, method), "b").set_params(random_state=0)
    filled = imputer.fit(train).transform(test)
    assert filled.available["b"].all()
    had = test.block_subjects("b")
    pd.testing.assert_frame_equal(filled.block("b").loc[had], test.block("b"))
    gained = sorted(set(test.subjects) - set(had))
    assert filled.uns["imputed"]["b"] == gained
    # a subject's filled values do not depend on the others filled with it
    one = imputer.transform(test.loc(gained[:1])).block("b")
    np.testing.assert_allclose(one.to_numpy(), filled.block("b").loc[gained[:1]].to_numpy())


def test_known_answers_of_mean_cross_modal_and_knn():
    data, truth = _linked(noise=0.0)
    train, test = data[np.arange(80)], data[np.arange(80, 120)]
    gone = test.subjects[~test.available["b"].to_numpy()]
    # the training mean, exactly
    mean = MeanImputer("b").fit(train).transform(test).block("b").loc[gone]
    np.testing.assert_allclose(mean.to_numpy(), np.tile(train.block("b").mean().to_numpy(),
                                                         (len(gone), 1)), atol=1e-10)
    # b is linear in a: PLS on a's 4 principal components with 4 components recovers it
    pls = CrossModalImputer("b", pls_components=4, n_components=4).fit(train)
    recovered = pls.transform(test).block("b").loc[gone]
    np.testing.assert_allclose(recovered.to_numpy(), truth.loc[gone].to_numpy(), atol=1e-6)
    # one neighbour: a test subject identical in a to a training subject gets its b
    twin = train.block_subjects("b")[0]
    copy = MultiModalData({"a": train.block("a").loc[[twin]].set_axis(["new"]),
                           "b": pd.DataFrame(columns=train.block("b").columns, dtype=float)},
                          obs=pd.DataFrame({"y": [0]}, index=["new"]))
    knn = KNNModalityImputer("b", n_neighbors=1).fit(train).transform(copy).block("b")
    np.testing.assert_allclose(knn.to_numpy()[0], train.block("b").loc[twin].to_numpy(),
                               atol=1e-8)


def test_chained_equations_apply_scikit_learns_fitted_chain():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
    x[rng.random(x.shape) < 0.2] = np.nan
    imputer = IterativeModalityImputer("b", max_iter=5, n_nearest_features=3, random_state=0)
    imputer.width_ = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        imputer._fit_core(np.empty((60, 0)), np.nan_to_num(x), np.isnan(x))
        reference = IterativeImputer(max_iter=5, n_nearest_features=3, random_state=0,
                                     keep_empty_features=True).fit(x)
    new = rng.normal(size=(10, 5))
    new[rng.random(new.shape) < 0.3] = np.nan
    np.testing.assert_allclose(imputer._chain(new), reference.transform(new), atol=1e-10)


def test_the_translator_learns_the_link_and_counts_stay_counts():
    data, truth = _linked(n=200, noise=0.2, seed=1)
    train, test = data[np.arange(150)], data[np.arange(150, 200)]
    gone = test.subjects[~test.available["b"].to_numpy()]

    def error(imputer):
        out = imputer.fit(train).transform(test).block("b").loc[gone]
        return float(((out - truth.loc[gone]) ** 2).to_numpy().mean())

    assert error(TranslatorImputer("b", random_state=0)) < 0.5 * error(MeanImputer("b"))
    cohort = make_cohort(120, missing={"rna": 0.3}, n_genes=30, random_state=0)
    filled = CrossModalImputer("rna").fit(cohort[np.arange(80)]).transform(
        cohort[np.arange(80, 120)]).block("rna")
    assert (filled.to_numpy() >= 0).all()
    assert np.array_equal(filled.to_numpy(), np.round(filled.to_numpy()))


def test_wrapped_strategy_imputes_inside_each_fit_and_pools_draws(tmp_path):
    cohort = make_cohort(260, missing={"imaging": 0.4}, n_genes=40, random_state=2)
    train, test = cohort[np.arange(180)], cohort[np.arange(180, 260)]
    single = with_imputation(make("early", random_state=0), {"imaging": "cross-modal"},
                             random_state=0).fit(train, train.y)
    pooled = ImputedClassifier(make("early"), {"imaging": "cross-modal"}, n_imputations=4,
                               random_state=0).fit(train, train.y)
    assert len(pooled.estimators_) == 4 and len(set(pooled.seeds_)) == 4
    # the imputers saw the training subjects only
    assert all(imp.n_training_subjects_ == int(train.available["imaging"].sum())
               for imps in pooled.imputers_ for imp in imps)
    p1, p4 = single.predict_proba(test)[:, 1], pooled.predict_proba(test)[:, 1]
    assert roc_auc_score(test.y, p1) > 0.6 and roc_auc_score(test.y, p4) > 0.6
    assert not np.allclose(p1, p4)
    # pooled predictions are the mean of the imputations' predictions
    draws = [est.predict_proba(pooled._completed(test, i))[:, 1]
             for i, est in enumerate(pooled.estimators_)]
    np.testing.assert_allclose(p4, np.mean(draws, axis=0))
    save_model(pooled, tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict_proba(test)[:, 1], p4)


def test_bad_input_names_modality_and_kind():
    cohort = make_cohort(60, missing={"imaging": 0.3}, n_genes=20, image_shape=(6, 6),
                         random_state=0)
    with pytest.raises(DataValidationError, match=r"'image' is a image modality"):
        MeanImputer("image").fit(cohort)
    with pytest.raises(DataValidationError, match=r"'clinical' has non-numeric columns"):
        MeanImputer("clinical").fit(cohort)
    with pytest.raises(ValueError, match=r"'imaging' names the method 'magic'"):
        make_imputer("magic", "imaging")
    with pytest.raises(DataValidationError, match=r"no modality 'mri'"):
        MeanImputer("mri").fit(cohort)
    few = cohort.hide("imaging", cohort.block_subjects("imaging")[2:])
    with pytest.raises(DataValidationError, match=r"only 2 training subjects have 'imaging'"):
        MeanImputer("imaging").fit(few)


def _unpaired(seed: int, n: int = 240, paired: int = 10):
    """Modality a: a 3-cluster mixture in 2-D; b a fixed nonlinear function of a. Half the
    subjects have a only, half b only, the first ``paired`` both."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [3, 0.5], [0.5, 4]])
    a = centres[rng.choice(3, n, p=[0.5, 0.3, 0.2])] + rng.normal(scale=[[0.6, 0.3]],
                                                                   size=(n, 2))
    lin = a @ np.array([[1.0, -0.5, 0.3], [0.4, 1.2, -0.8]])
    b = np.column_stack([lin[:, 0] ** 2 / 4, np.tanh(lin[:, 1]), lin[:, 2] * a[:, 0] / 2])
    b += 0.05 * rng.normal(size=b.shape)
    ids = [f"S{i:03d}" for i in range(n)]
    has_b = np.arange(n) % 2 == 1
    has_a = ~has_b
    has_a[:paired] = has_b[:paired] = True
    frame_a = pd.DataFrame(a, index=ids, columns=["a0", "a1"])
    frame_b = pd.DataFrame(b, index=ids, columns=["b0", "b1", "b2"])
    return MultiModalData({"a": frame_a[has_a], "b": frame_b[has_b]}), frame_b, ids


def test_cycle_translation_learns_from_unpaired_cohorts():
    from medfuse.preprocess.impute import CycleTranslatorImputer

    data, truth, ids = _unpaired(0)
    train, test = data.loc(ids[:180]), data.loc(ids[180:])
    gone = test.subjects[~test.available["b"].to_numpy()]

    def error(imputer):
        out = imputer.fit(train).transform(test).block("b").loc[gone]
        return float(((out - truth.loc[gone]) ** 2).to_numpy().mean()
                     / truth.loc[gone].var().mean())

    cycle = CycleTranslatorImputer("b", epochs=600, restarts=2, random_state=0)
    # 10 paired and 170 unpaired subjects: far better than regression on the 10 pairs
    assert error(cycle) < 0.5 * error(CrossModalImputer("b"))
    assert cycle.source_ == "a" and cycle.n_unpaired_ == (85, 85)
    # without any pair the paired methods refuse, naming the way out
    no_pairs, _, ids = _unpaired(0, paired=0)
    with pytest.raises(DataValidationError, match=r"no training subject has 'b' together "
                                                  r"with another tabular modality \(a\).*'cycle'"):
        CrossModalImputer("b").fit(no_pairs)
    assert CycleTranslatorImputer("b", epochs=50, restarts=1).fit(no_pairs).n_unpaired_ \
        == (120, 120)


def test_early_fusion_still_sees_which_blocks_were_imputed():
    from medfuse.fusion.early import measured_mask

    cohort = make_cohort(200, missing={"imaging": 0.4}, n_genes=30, random_state=3)
    train = cohort[np.arange(150)]
    model = with_imputation(make("early", random_state=0), {"imaging": "cross-modal"},
                            random_state=0).fit(train, train.y)
    early, seen = model.estimator_, model._completed(train, 0)
    lacked = ~train.available["imaging"].to_numpy()
    assert seen.available["imaging"].all()
    np.testing.assert_array_equal(measured_mask(seen)["imaging"], ~lacked)
    design = early._design(early._transform_blocks(seen), measured_mask(seen))
    indicator = design[:, -len(early.modalities_) + early.modalities_.index("imaging")]
    np.testing.assert_array_equal(indicator, (~lacked).astype(float))
