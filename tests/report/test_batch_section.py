"""The report's batch-and-outcome line (medfuse.report.batch)."""

import numpy as np
from bs4 import BeautifulSoup

from medfuse.evaluate import run_benchmark
from medfuse.evaluate.confounding import batch_outcome_association
from medfuse.report import render_report
from tests import reference_strategies as ref


def _result(data, settings):
    return run_benchmark(data, {"unimodal:rna": ref.OneModality("rna")}, folds=3, repeats=1,
                         robustness=False, settings=settings)


def test_the_line_gives_cramers_v_of_every_folds_training_subjects():
    data = ref.tiny_cohort(45, seed=3)
    label = np.asarray(data.y)
    data.obs["scanner"] = np.where(label == 1, "new", "old")       # perfect confounding
    result = _result(data, {"batch": "scanner",
                            "harmonize": {"method": "ComBat", "covariates": []}})
    soup = BeautifulSoup(render_report(result, data), "html.parser")
    text = " ".join(soup.find(id="batch-and-outcome").get_text(" ").split())
    assert text == ("Batch and outcome Batch 'scanner' and outcome 'label': Cramér's V 1.00 in "
                    "the training subjects of every fold (perfect confounding). Harmonized "
                    "with ComBat, refitted on the training subjects of every fold, without "
                    "protected covariates.")

    # 70/30 and 30/70 class shares in the two scanners
    scanner = np.full(len(label), "old", dtype=object)
    for cls, share in ((1, 0.7), (0, 0.3)):
        rows = np.flatnonzero(label == cls)
        scanner[rows[:round(share * len(rows))]] = "new"
    data.obs["scanner"] = scanner
    result = _result(data, {"batch": "scanner"})
    table = batch_outcome_association(scanner, label, result.splits)
    v = table["cramers_v"]
    soup = BeautifulSoup(render_report(result, data), "html.parser")
    text = " ".join(soup.find(id="batch-and-outcome").get_text(" ").split())
    assert f"bias-corrected Cramér's V {v.min():.2f}\u2013{v.max():.2f}, median " \
           f"{v.median():.2f} in the training subjects of the 3 folds" in text


def test_no_line_without_a_batch_column():
    data = ref.tiny_cohort(45, seed=3)
    soup = BeautifulSoup(render_report(_result(data, {}), data), "html.parser")
    assert soup.find(id="batch-and-outcome") is None
    soup = BeautifulSoup(render_report(_result(data, {"batch": "centre"}), data),
                         "html.parser")
    assert soup.find(id="batch-and-outcome") is None
