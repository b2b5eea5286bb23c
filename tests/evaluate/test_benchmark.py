
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medfuse.evaluate import run_benchmark
from medfuse.evaluate.robustness import modality_subsets
from medfuse.evaluate.splits import make_splits
from tests import reference_strategies as ref


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(48, seed=1, missing=0.2)


def strategies(**kw):
    return {"late": ref.MeanLogistic(tag="late", **kw),
            "unimodal:imaging": ref.OneModality("imaging", tag="uni")}


def test_no_fold_model_sees_held_out_subjects(cohort):
    ref.FITTED_ON.clear()
    rec = ref.RecordingScaler()
    est = {"late": ref.MeanLogistic(preprocessors={"rna": rec, "imaging": rec})}
    splits = make_splits(cohort.y, folds=3, repeats=2, seed=0)
    test = ref.tiny_cohort(20, seed=9, prefix="T")
    test_ids = set(test.subjects)
    run_benchmark(cohort, est, splits=splits, test=test, seeds=1, robustness=False)
    # 2 modalities x (6 CV fits + 1 test-set fit) recorded
    assert len(ref.FITTED_ON) == 2 * (len(splits) + 1)
    cv_records = ref.FITTED_ON[: 2 * len(splits)]
    for k, split in enumerate(splits):
        held = set(cohort.subjects[split.test])
        train = set(cohort.subjects[split.train])
        for seen in cv_records[2 * k: 2 * k + 2]:
            assert seen and not seen & held
            assert seen <= train
    for seen in ref.FITTED_ON[-2:]:
        assert not seen & test_ids


def test_every_strategy_uses_the_same_splits(cohort):
    res = run_benchmark(cohort, strategies(), folds=3, repeats=2, seed=3, robustness=False)
    by = {}
    for fr in res.folds:
        by.setdefault(fr.split, set()).add(tuple(fr.subjects))
    assert len(by) == 6
    assert all(len(v) == 1 for v in by.values())  # one held-out set per split, all strategies
    expected = make_splits(cohort.y, folds=3, repeats=2, seed=3)
    for sp in expected:
        assert by[sp.label] == {tuple(cohort.subjects[sp.test])}


def test_comparison_is_the_corrected_t_test_by_hand(cohort, tmp_path):
    res = run_benchmark(cohort, strategies(), folds=4, repeats=2, seed=5, robustness=False)
    res.write(tmp_path)
    csv = pd.read_csv(tmp_path / "comparison.csv")
    table = res.comparison()
    assert len(table) >= 1 and len(csv) == len(table)
    scores = res.split_scores("cv").query("metric == 'roc_auc'").pivot(
        index="split", columns="strategy", values="value")
    n_train = np.array([len(s.train) for s in res.splits], dtype=float)
    n_test = np.array([len(s.test) for s in res.splits], dtype=float)
    assert n_test.mean() / n_train.mean() == pytest.approx(1 / 3)  # 4 folds of 48 subjects
    for (_, row), (_, saved) in zip(table.iterrows(), csv.iterrows(), strict=True):
        # Nadeau and Bengio: t = mean(d) / sqrt((1/J + n_test/n_train) * var(d)), J - 1 df
        d = (scores[row["strategy"]] - scores[row["reference_strategy"]]).dropna().to_numpy()
        j = len(d)
        t = d.mean() / np.sqrt((1 / j + n_test.mean() / n_train.mean()) * d.var(ddof=1))
        p = 2 * stats.t.sf(abs(t), df=j - 1)
        assert j == row["n"] == 8
        assert row["mean_diff"] == pytest.approx(d.mean())
        assert row["t"] == pytest.approx(t, rel=1e-9)
        assert row["p_value"] == pytest.approx(p, rel=1e-9)
        assert saved["strategy"] == row["strategy"]
        assert saved["t"] == pytest.approx(t, rel=1e-9)
        assert saved["p_value"] == pytest.approx(p, rel=1e-9)


def test_resume_recomputes_nothing_finished(cohort, tmp_path):
    ref.FIT_COUNTS.clear()
    est = {"late": ref.MeanLogistic(tag="late"), "flaky": ref.Flaky(tag="flaky")}
    ref.FAIL_AT["flaky"] = 2
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cohort, est, folds=3, repeats=1, out=tmp_path, robustness=False)
    # late: 3 fits done and cached; flaky: 2 done, the 3rd interrupted
    assert ref.FIT_COUNTS["late"] == 3 and ref.FIT_COUNTS["flaky"] == 3
    assert len(list((tmp_path / "cache").glob("*.json"))) == 5
    ref.FIT_COUNTS.clear()
    ref.FAIL_AT.clear()
    first = run_benchmark(cohort, est, folds=3, repeats=1, out=tmp_path, resume=True,
                          robustness=False)
    assert ref.FIT_COUNTS["late"] == 0 and ref.FIT_COUNTS["flaky"] == 1
    ref.FIT_COUNTS.clear()
    again = run_benchmark(cohort, est, folds=3, repeats=1, out=tmp_path, resume=True,
                          robustness=False)
    assert sum(ref.FIT_COUNTS.values()) == 0
    pd.testing.assert_frame_equal(first.results(), again.results())
    # without --resume everything is refitted
    run_benchmark(cohort, est, folds=3, repeats=1, out=tmp_path, robustness=False)
    assert ref.FIT_COUNTS["late"] == 3 and ref.FIT_COUNTS["flaky"] == 3


def test_changed_parameters_are_not_taken_from_the_cache(cohort, tmp_path):
    run_benchmark(cohort, {"late": ref.MeanLogistic(C=1.0)}, folds=3, repeats=1,
                  out=tmp_path, robustness=False)
    ref.FIT_COUNTS.clear()
    run_benchmark(cohort, {"late": ref.MeanLogistic(C=0.1)}, folds=3, repeats=1,
                  out=tmp_path, resume=True, robustness=False)
    assert ref.FIT_COUNTS["mean"] == 3


def test_identical_results_with_one_seed(cohort, tmp_path):
    a = run_benchmark(cohort, strategies(), folds=3, repeats=1, seed=7, out=tmp_path / "a")
    b = run_benchmark(cohort, strategies(), folds=3, repeats=1, seed=7, out=tmp_path / "b")
    for name in ("results", "robustness", "comparison"):
        pd.testing.assert_frame_equal(getattr(a, name)(), getattr(b, name)())
    c = run_benchmark(cohort, strategies(), folds=3, repeats=1, seed=8, robustness=False)
    assert not np.allclose(a.results()["mean"], c.results()["mean"])


def test_parallel_jobs_give_the_same_numbers(cohort):
    est = {"late": ref.MeanLogistic()}
    a = run_benchmark(cohort, est, folds=3, repeats=1, jobs=1, robustness=False)
    b = run_benchmark(cohort, est, folds=3, repeats=1, jobs=2, robustness=False)
    pd.testing.assert_frame_equal(a.results(), b.results())


def test_results_schema_and_values(cohort):
    res = run_benchmark(cohort, strategies(), folds=3, repeats=2, robustness=False)
    table = res.results()
    assert list(table.columns) == ["strategy", "metric", "split", "mean", "sd", "n"]
    assert set(table["split"]) == {"cv"}
    auc = table[(table["strategy"] == "late") & (table["metric"] == "roc_auc")].iloc[0]
    assert auc["n"] == 6
    # the mean is the mean of the per-split AUCs recomputed from the stored predictions
    from sklearn.metrics import roc_auc_score

    per_split = [roc_auc_score(fr.y, fr.probabilities()[:, 1]) for fr in res.folds
                 if fr.strategy == "late"]
    assert auc["mean"] == pytest.approx(np.mean(per_split))
    assert auc["sd"] == pytest.approx(np.std(per_split, ddof=1))
    # the signal is real: well above chance
    assert auc["mean"] > 0.6


def test_robustness_table_is_complete(cohort):
    res = run_benchmark(cohort, strategies(), folds=3, repeats=1)
    rob = res.robustness()
    assert list(rob.columns) == ["strategy", "available", "metric", "mean", "sd"]
    keys = {"+".join(s) for s in modality_subsets(cohort.modality_names)}
    assert len(keys) == 2 ** 3 - 1
    late = rob[(rob["strategy"] == "late") & (rob["metric"] == "roc_auc")]
    assert set(late["available"]) == keys
    uni = rob[(rob["strategy"] == "unimodal:imaging") & (rob["metric"] == "roc_auc")]
    uni = uni.set_index("available")["mean"]
    assert set(uni.index) == keys
    # imaging hidden: the imaging baseline predicts the class prior for everyone (AUC 0.5)
    assert uni["rna+clinical"] == pytest.approx(0.5)
    assert uni["rna+imaging+clinical"] > 0.7
    # clinical carries little signal, rna and imaging much: fusion degrades gracefully
    one = late.set_index("available")["mean"]
    assert one["rna+imaging"] > one["clinical"] + 0.1


def test_robustness_beyond_five_modalities_drops_one_at_a_time():
    names = [f"m{i}" for i in range(6)]
    subsets = modality_subsets(names)
    assert len(subsets) == 7 and subsets[0] == tuple(names)
    assert all(len(s) == 5 for s in subsets[1:])


def test_test_split_averages_seeds_of_stochastic_strategies(cohort):
    test = ref.tiny_cohort(30, seed=4, prefix="T")
    ref.FIT_COUNTS.clear()
    res = run_benchmark(cohort, {"late": ref.MeanLogistic(tag="late")}, test=test, seeds=3,
                        folds=3, repeats=1, robustness=False)
    table = res.results()
    row = table[(table["split"] == "test") & (table["metric"] == "accuracy")].iloc[0]
    assert row["n"] == 3
    assert ref.FIT_COUNTS["late"] == 3 + 3
    # the protocol of benchmarks/rosmap.py: fit on all training subjects with each seed,
    # score the test subjects, mean and sd over seeds
    from sklearn.metrics import f1_score, roc_auc_score

    per_seed = []
    for seed in range(3):
        model = ref.MeanLogistic(random_state=seed).fit(cohort)
        proba = model.predict_proba(test)
        per_seed.append((f1_score(test.y, model.classes_[proba.argmax(1)]),
                         roc_auc_score(test.y, proba[:, 1])))
    test_rows = table[table["split"] == "test"].set_index("metric")
    assert test_rows.loc["f1", "mean"] == pytest.approx(np.mean([p[0] for p in per_seed]))
    assert test_rows.loc["roc_auc", "mean"] == pytest.approx(np.mean([p[1] for p in per_seed]))


def test_failing_strategy_is_reported_not_fatal(cohort):
    est = {"late": ref.MeanLogistic(), "broken": ref.MeanLogistic(C=-1.0)}
    res = run_benchmark(cohort, est, folds=3, repeats=1, robustness=False)
    assert "broken" in res.errors and "C" in res.errors["broken"]
    assert set(res.results()["strategy"]) == {"late"}


def test_weights_are_collected(cohort):
    res = run_benchmark(cohort, strategies(), folds=3, repeats=1, robustness=False)
    w = res.modality_weights()
    assert set(w["modality"]) == set(cohort.modality_names)
    assert np.allclose(w["mean"], 1 / 3)


def test_leave_site_out_scores_one_fold_per_site(cohort):
    res = run_benchmark(cohort, {"late": ref.MeanLogistic()}, scheme="leave-site-out",
                        sites="site", robustness=False)
    assert sorted(fr.split for fr in res.folds) == ["site=A", "site=B", "site=C"]
    for fr in res.folds:
        site = fr.split.split("=")[1]
        assert set(cohort.obs.loc[fr.subjects, "site"]) == {site}
    assert res.results()["n"].max() == 3
