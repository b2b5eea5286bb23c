import numpy as np
import pandas as pd
import pytest

from medfuse.evaluate.compare import compare_strategies, corrected_resampled_ttest


def test_corrected_ttest_by_hand():
    a = np.array([0.80, 0.82, 0.78, 0.85, 0.81, 0.79])
    b = np.array([0.75, 0.80, 0.77, 0.80, 0.78, 0.80])
    # d = [.05, .02, .01, .05, .03, -.01]; mean = .025; J = 6
    d = np.array([0.05, 0.02, 0.01, 0.05, 0.03, -0.01])
    s2 = ((d - 0.025) ** 2).sum() / 5  # = 0.00055
    assert s2 == pytest.approx(0.00055)
    t_hand = 0.025 / np.sqrt((1 / 6 + 20 / 80) * 0.00055)  # n_test/n_train = 20/80
    diff, t, p = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert diff == pytest.approx(0.025)
    assert t == pytest.approx(t_hand)
    assert t == pytest.approx(1.6514456, rel=1e-6)
    # two-sided p on 5 degrees of freedom (R: 2 * pt(-1.6514456, 5) = 0.1595...)
    assert p == pytest.approx(0.15955, abs=5e-4)
    # the correction makes the test more conservative than the naive paired t-test
    from scipy import stats

    assert p > stats.ttest_rel(a, b).pvalue


def test_corrected_ttest_degenerate():
    assert np.isnan(corrected_resampled_ttest([0.5, 0.5], [0.5, 0.5], 10, 5)[2])
    assert corrected_resampled_ttest([0.6, 0.6], [0.5, 0.5], 10, 5)[2] == 0.0


def test_compare_against_best_and_best_unimodal():
    splits = [f"s{i}" for i in range(4)]
    vals = {"unimodal:a": [0.6, 0.62, 0.61, 0.59], "unimodal:b": [0.7, 0.69, 0.71, 0.72],
            "early": [0.8, 0.78, 0.82, 0.79]}
    scores = pd.DataFrame([{"strategy": s, "split": sp, "metric": "roc_auc", "value": v}
                           for s, vs in vals.items() for sp, v in zip(splits, vs, strict=True)])
    sizes = pd.DataFrame({"n_train": 80, "n_test": 20}, index=splits)
    comp = compare_strategies(scores, "roc_auc", sizes)
    best = comp[comp["reference"] == "best"]
    assert set(best["reference_strategy"]) == {"early"}
    assert set(best["strategy"]) == {"unimodal:a", "unimodal:b"}
    uni = comp[comp["reference"] == "best_unimodal"]
    assert set(uni["reference_strategy"]) == {"unimodal:b"}
    row = uni[uni["strategy"] == "early"].iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean(vals["early"]) - np.mean(vals["unimodal:b"]))
    assert row["p_value"] < 0.05


def test_best_unimodal_rows_left_out_when_it_is_the_best():
    splits = ["s0", "s1", "s2"]
    vals = {"unimodal:a": [0.9, 0.91, 0.92], "late": [0.8, 0.82, 0.81]}
    scores = pd.DataFrame([{"strategy": s, "split": sp, "metric": "roc_auc", "value": v}
                           for s, vs in vals.items() for sp, v in zip(splits, vs, strict=True)])
    comp = compare_strategies(scores, "roc_auc",
                              pd.DataFrame({"n_train": 8, "n_test": 4}, index=splits))
    assert list(comp["reference"]) == ["best"]
    assert list(comp["strategy"]) == ["late"]
