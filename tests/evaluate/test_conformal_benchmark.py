"""Conformal strategies inside the leakage-free benchmark: calibration subjects from each
fold's training part, coverage and set size per availability pattern in results.csv and
with modalities hidden in robustness.csv, the cache, and the report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from medfuse.evaluate import run_benchmark
from medfuse.evaluate.coverage import pattern_calibration, risk_coverage
from medfuse.evaluate.splits import make_splits
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.report import render_report
from tests import reference_strategies as ref

CALIBRATED_ON: list[set] = []


class RecordingConformal(ConformalClassifier):
    """Records the subjects it calibrates on."""

    def _calibration_rows(self, model, cal, y, fold):
        CALIBRATED_ON.append(set(cal.subjects))
        return super()._calibration_rows(model, cal, y, fold)


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(240, seed=4, missing=0.3)


@pytest.fixture(scope="module")
def splits(cohort):
    return make_splits(cohort.y, folds=3, repeats=2, seed=0)


@pytest.fixture(scope="module")
def result(cohort, splits):
    CALIBRATED_ON.clear()
    strategies = {
        "conformal": RecordingConformal(ref.MeanLogistic(), calibration="platt",
                                        calibration_fraction=0.4, random_state=0),
        "plain": ref.MeanLogistic()}
    test = ref.tiny_cohort(60, seed=9, prefix="T", missing=0.3)
    return run_benchmark(cohort, strategies, splits=splits, test=test, seeds=1)


def test_calibration_subjects_come_from_each_folds_training_part(result, cohort, splits):
    cv_calls = CALIBRATED_ON[: len(splits)]
    for seen, split in zip(cv_calls, splits, strict=True):
        assert seen <= set(cohort.subjects[split.train])
        assert not seen & set(cohort.subjects[split.test])
        assert len(seen) == pytest.approx(0.4 * len(split.train), abs=3)


def test_results_gain_coverage_and_set_size_per_pattern(result):
    res = result.results()
    assert list(res.columns) == ["strategy", "metric", "split", "mean", "sd", "n"]
    mine = res[(res["strategy"] == "conformal") & (res["split"] == "cv")].set_index("metric")
    for name in ("coverage", "set_size", "coverage[rna+imaging+clinical]",
                 "coverage[rna+clinical]", "set_size[rna+clinical]"):
        assert name in mine.index, name
    assert mine.loc["coverage[rna+clinical]", "n"] == 6
    assert 0.75 < mine.loc["coverage", "mean"] <= 1.0
    assert 1.0 <= mine.loc["set_size", "mean"] <= 2.0
    assert "coverage" in set(res.loc[(res["strategy"] == "conformal")
                                     & (res["split"] == "test"), "metric"])
    assert not res.loc[res["strategy"] == "plain", "metric"].str.startswith("coverage").any()


def test_coverage_is_computed_from_the_stored_sets(result, cohort):
    fr = next(f for f in result.folds if f.strategy == "conformal" and f.kind == "cv")
    sets = np.array(fr.sets[fr.full_key], dtype=bool)
    y = np.asarray(fr.y)
    hit = sets[np.arange(len(y)), y]
    patterns = np.array(fr.patterns)
    scores = result.split_scores("cv")
    mine = scores[(scores["strategy"] == "conformal") & (scores["split"] == fr.split)]
    value = mine.set_index("metric")["value"]
    assert value["coverage"] == pytest.approx(hit.mean())
    rows = patterns == "rna+clinical"
    assert value["coverage[rna+clinical]"] == pytest.approx(hit[rows].mean())
    assert value["set_size[rna+clinical]"] == pytest.approx(sets[rows].sum(axis=1).mean())
    expected = ["+".join(m for m in ("rna", "imaging", "clinical")
                         if cohort.loc([s]).available[m].iloc[0]) for s in fr.subjects]
    assert fr.patterns == expected
    before = np.array(fr.uncalibrated[fr.full_key])
    assert before.shape == (len(y), 2) and not np.allclose(before, fr.probabilities())


def test_robustness_has_coverage_with_modalities_hidden(result):
    rob = result.robustness()
    mine = rob[(rob["strategy"] == "conformal") & (rob["metric"] == "coverage")]
    assert set(mine["available"]) == {"rna+imaging+clinical", "rna+imaging", "rna+clinical",
                                      "imaging+clinical", "rna", "imaging", "clinical"}


def test_cached_conformal_records_are_reused_and_checked(cohort, splits, tmp_path):
    strategies = {"conformal": ConformalClassifier(ref.MeanLogistic(tag="cc"),
                                                   random_state=0)}
    first = run_benchmark(cohort, strategies, splits=splits[:2], out=tmp_path,
                          robustness=False)
    ref.FIT_COUNTS.clear()
    again = run_benchmark(cohort, strategies, splits=splits[:2], out=tmp_path,
                          robustness=False, resume=True)
    assert ref.FIT_COUNTS["cc"] == 0 and again.settings["reused"] == 2
    pd.testing.assert_frame_equal(first.results(), again.results())
    path = sorted((tmp_path / "cache").glob("*.json"))[0]
    text = path.read_text()
    path.write_text(text.replace('"sets": {"rna+imaging+clinical": [[', '"sets": '
                                 '{"rna+imaging+clinical": [[7, ', 1))
    with pytest.warns(UserWarning, match="sets are not one row of 0/1"):
        run_benchmark(cohort, strategies, splits=splits[:2], out=tmp_path,
                      robustness=False, resume=True)


def test_pattern_calibration_and_risk_coverage(result):
    table = pattern_calibration(result, "conformal").set_index("pattern")
    assert list(table.index) == ["all", "rna+imaging+clinical", "rna+clinical"]
    assert table.loc["all", "n"] == 240
    assert table["ece_before"].notna().all() and table["coverage"].notna().all()
    plain = pattern_calibration(result, "plain")
    assert plain["ece_before"].isna().all() and plain["coverage"].isna().all()
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7]])
    coverage, risk = risk_coverage(y, proba)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 0.5, 2 / 3, 0.5])  # 0.9 right, 0.8 and 0.7 wrong


def test_the_report_shows_calibration_coverage_and_risk_coverage(result, cohort):
    result.settings["conformal"] = {"alpha": 0.1, "method": "split", "mondrian": "pattern",
                                    "calibration": "platt", "pattern_augment": True}
    page = BeautifulSoup(render_report(result, cohort, explain=False), "html.parser")
    section = page.find(id="calibration-and-uncertainty-by-availability-pattern")
    assert section is not None
    text = section.get_text(" ")
    assert "alpha = 0.1" in text and "recalibrated with platt" in text
    assert "missing at random" in text
    assert len(section.find_all("img")) == 2
    cells = [td.get_text() for td in section.find_all("td")]
    assert "rna+clinical" in cells
