"""Batch-outcome association per fold: Cramér's V against hand computations, and what is
said about it."""

import numpy as np
import pandas as pd
import pytest

from medfuse.evaluate.confounding import (
    association_line,
    batch_outcome_association,
    confounding_verdict,
    contingency,
    cramers_v,
)
from medfuse.evaluate.splits import Split, make_splits, missing_from_training


def _subjects(table: dict[str, tuple[int, int]]):
    """batch and y arrays from {batch: (n class 0, n class 1)}."""
    batch, y = [], []
    for b, (n0, n1) in table.items():
        batch += [b] * (n0 + n1)
        y += [0] * n0 + [1] * n1
    return np.array(batch, dtype=object), np.array(y)


def test_cramers_v_of_hand_made_tables():
    # A: 30/10, B: 10/30. Expected counts are 20 in every cell, so
    # chi2 = 4 * (10^2 / 20) = 20 and V = sqrt(20 / (80 * 1)) = 0.5
    batch, y = _subjects({"A": (30, 10), "B": (10, 30)})
    table = contingency(batch, y)
    assert table.to_numpy().tolist() == [[30, 10], [10, 30]]
    assert cramers_v(table) == pytest.approx(0.5)
    # A: 10/0, B: 5/5, C: 0/10. Expected 5 per cell; chi2 = 2 * 25/5 + 0 + 2 * 25/5 = 20,
    # min(r, c) - 1 = 1, V = sqrt(20 / 30)
    assert cramers_v(contingency(*_subjects({"A": (10, 0), "B": (5, 5), "C": (0, 10)}))) \
        == pytest.approx(np.sqrt(20 / 30))
    # no association, and the undefined cases
    assert cramers_v(contingency(*_subjects({"A": (10, 10), "B": (5, 5)}))) == pytest.approx(0)
    assert np.isnan(cramers_v(contingency(*_subjects({"A": (10, 10)}))))
    # scipy's chi2_contingency without continuity correction gives the same statistic
    from scipy.stats import chi2_contingency

    counts = np.array([[12, 3, 5], [4, 9, 7]])
    chi2 = chi2_contingency(counts, correction=False)[0]
    assert cramers_v(counts) == pytest.approx(np.sqrt(chi2 / (counts.sum() * 1)))


def test_bias_corrected_v_by_hand_and_against_chance():
    # A: 30/10, B: 10/30: phi2 = 20 / 80 = 0.25, minus (2-1)(2-1)/79; r~ = c~ = 2 - 1/79
    table = contingency(*_subjects({"A": (30, 10), "B": (10, 30)}))
    expected = np.sqrt((0.25 - 1 / 79) / (1 - 1 / 79))
    assert cramers_v(table, corrected=True) == pytest.approx(expected) == pytest.approx(0.4903,
                                                                                       abs=1e-4)
    # two pure batches stay at exactly 1
    assert cramers_v(contingency(*_subjects({"A": (20, 0), "B": (0, 20)})),
                     corrected=True) == pytest.approx(1.0)
    # without association: the textbook V is about sqrt(df / n) by chance, the corrected
    # one about 0
    rng = np.random.default_rng(0)
    raw, corrected = [], []
    for _ in range(300):
        t = contingency(rng.choice(["A", "B", "C"], 40), rng.integers(0, 2, 40))
        raw.append(cramers_v(t))
        corrected.append(cramers_v(t, corrected=True))
    assert 0.15 < np.mean(raw) < 0.25 and np.mean(corrected) < 0.1
    # false alarms at the moderate threshold: 15% of tables without, about 5% with it
    assert np.mean(np.array(raw) >= 0.3) > 0.1 and np.mean(np.array(corrected) >= 0.3) < 0.08


def test_association_is_computed_on_each_folds_training_subjects():
    batch, y = _subjects({"A": (30, 10), "B": (10, 30)})
    half = np.arange(80) % 2 == 0
    splits = [Split(0, 0, np.flatnonzero(half), np.flatnonzero(~half)),
              Split(0, 1, np.flatnonzero(~half), np.flatnonzero(half))]
    table = batch_outcome_association(batch, y, splits)
    assert list(table["split"]) == ["r0f0", "r0f1"]
    assert list(table["n"]) == [40, 40]
    for s, v, raw in zip(splits, table["cramers_v"], table["cramers_v_uncorrected"],
                         strict=True):
        t = contingency(batch[s.train], y[s.train])
        assert v == pytest.approx(cramers_v(t, corrected=True))
        assert raw == pytest.approx(cramers_v(t))
    assert not table["perfect"].any()


def test_batch_equal_to_outcome_is_an_error_only_with_harmonization():
    y = np.arange(60) % 2
    batch = np.where(y == 1, "B", "A")
    splits = make_splits(y, folds=3, repeats=1, seed=0)
    table = batch_outcome_association(batch, y, splits)
    assert table["perfect"].all() and table["pure_batches"].all()
    assert np.allclose(table["cramers_v"], 1.0)
    level, message = confounding_verdict(table, "site", "label", harmonizer="ComBat")
    assert level == "error"
    assert message.startswith("batch 'site' is perfectly confounded with the outcome 'label' "
                              "in the training subjects of 3 of 3 folds (Cramér's V = 1.00; "
                              "every batch holds one class): ComBat would remove")
    level, message = confounding_verdict(table, "site", "label")
    assert level == "warning" and "cannot tell the outcome from the batch" in message
    level, message = confounding_verdict(table, "site", "label", harmonizer="ComBat",
                                         covariates=True)
    assert level == "warning" and "covariates" in message
    assert association_line(table, "site", "label") == (
        "Batch 'site' and outcome 'label': Cramér's V 1.00 in the training subjects of every "
        "fold (perfect confounding).")


def test_pure_batches_with_more_batches_than_classes_are_perfect():
    batch, y = _subjects({"A": (10, 0), "B": (10, 0), "C": (0, 10)})
    table = batch_outcome_association(batch, y)
    assert table["pure_batches"].all() and table["perfect"].all()
    assert table["cramers_v_uncorrected"].iloc[0] == pytest.approx(1.0)


def test_a_70_30_association_warns_with_its_v():
    # A: 70% class 0, B: 70% class 1 -> V = 0.4 (chi2 = 4 * 4^2 / 10 = 6.4 on n = 40),
    # bias-corrected sqrt((0.16 - 1/39) / (1 - 1/39)) = 0.37
    batch, y = _subjects({"A": (14, 6), "B": (6, 14)})
    table = batch_outcome_association(batch, y)
    assert table["cramers_v_uncorrected"].iloc[0] == pytest.approx(np.sqrt(6.4 / 40)) \
        == pytest.approx(0.4)
    assert table["cramers_v"].iloc[0] == pytest.approx(np.sqrt((0.16 - 1 / 39) / (1 - 1 / 39)))
    level, message = confounding_verdict(table, "site", "label", harmonizer="ComBat")
    assert level == "warning"
    assert ("(moderate: bias-corrected Cramér's V = 0.37 in the training subjects of the 1 "
            "fold; 0.3 = moderate, 0.5 = strong)") in message
    assert "ComBat without outcome-related covariates" in message
    level, message = confounding_verdict(table, "site", "label")
    assert level == "warning" and "may partly reflect the batch" in message


def test_the_median_fold_decides_not_the_largest():
    # one fold's training part happens to be unbalanced, the others are not
    batch, y = _subjects({"A": (10, 10), "B": (10, 10)})
    unbalanced = np.r_[0:10, 30:40]               # A: class 0 only, B: class 1 only
    balanced = np.arange(40)
    splits = [Split(0, f, idx, np.array([], int))
              for f, idx in enumerate((unbalanced[:-2], balanced, balanced))]
    table = batch_outcome_association(batch, y, splits)
    assert table["cramers_v"].iloc[0] > 0.8 and np.allclose(table["cramers_v"].iloc[1:], 0)
    level, message = confounding_verdict(table, "site", "label")
    assert level == "warning" and "perfectly confounded" in message      # a pure fold
    splits[0] = Split(0, 0, np.r_[0:10, 10:13, 30:40], np.array([], int))   # nearly pure
    table = batch_outcome_association(batch, y, splits)
    level, message = confounding_verdict(table, "site", "label")
    assert level is None and "median 0.00" in message


def test_weak_association_says_nothing():
    batch, y = _subjects({"A": (11, 9), "B": (9, 11)})
    level, message = confounding_verdict(batch_outcome_association(batch, y), "site", "label")
    assert level is None and "no notable association" in message
    line = association_line(batch_outcome_association(batch, y), "site", "label")
    assert line == ("Batch 'site' and outcome 'label': bias-corrected Cramér's V = 0.00 in the "
                    "training subjects of the 1 fold (no notable association; 0.3 = moderate, "
                    "0.5 = strong).")


def test_missing_from_training_names_batch_and_folds():
    batch = np.array(["A"] * 6 + ["B"] * 6 + ["D"], dtype=object)
    splits = [Split(0, 0, np.arange(0, 12), np.array([12])),
              Split(0, 1, np.r_[1:13], np.array([0]))]
    assert missing_from_training(batch, splits) == {"D": ["r0f0"]}
    assert missing_from_training(pd.Series(["A", "B"] * 3).to_numpy(),
                                 [Split(0, 0, np.arange(4), np.array([4, 5]))]) == {}
