"""A study with a conformal: section, end to end: coverage in results.csv, a saved model
that carries its calibration scores, and ``medfuse predict --alpha / --abstain``, with the
bad inputs refused in one line."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import StudyError, parse_study, read_study_data
from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalFallbackWarning
from medfuse.persist import load_model, save_model
from medfuse.predictor import Predictor
from tests import reference_strategies as ref
from tests.test_cli_study import write_study

runner = CliRunner()
TRUST = ["--trust", "tests.reference_strategies.MeanLogistic"]
CONFORMAL = {"alpha": 0.1, "calibration_fraction": 0.5, "calibration": "platt"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformal")
    data = ref.tiny_cohort(150, seed=5, missing=0.25)
    study = write_study(root / "study", data, strategies=["late-mean-ref"],
                        conformal=CONFORMAL)
    with ref.registered():
        result = runner.invoke(app, ["benchmark", str(study), "--out", str(root / "out"),
                                     "--no-explain"])
    return root, study, result


def test_benchmark_with_a_conformal_section(run):
    root, _, result = run
    assert result.exit_code == 0, result.output
    res = pd.read_csv(root / "out" / "results.csv")
    metrics = set(res["metric"])
    assert {"coverage", "set_size", "coverage[rna+imaging+clinical]",
            "set_size[rna+clinical]"} <= metrics
    cover = res.set_index("metric").loc["coverage", "mean"]
    assert 0.8 < cover <= 1.0
    report = (root / "out" / "report.html").read_text()
    assert "Calibration and uncertainty by availability pattern" in report
    model = load_model(root / "out" / "model", trust=tuple(TRUST[1::2]))
    assert type(model).__name__ == "ConformalClassifier"
    assert model.calibration == "platt" and len(model.calibration_scores_) > 0


def test_predict_writes_prediction_sets_and_abstentions(run, tmp_path):
    root, study, _ = run
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(study),
                                 "--out", str(out), "--alpha", "0.2", "--abstain", *TRUST])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col=0)
    for column in ("in_set_0", "in_set_1", "set_size", "set_category", "abstain"):
        assert column in table.columns
    sets = table[["in_set_0", "in_set_1"]].to_numpy(dtype=bool)
    np.testing.assert_array_equal(table["set_size"], sets.sum(axis=1))
    np.testing.assert_array_equal(table["abstain"], sets.sum(axis=1) != 1)
    model = load_model(root / "out" / "model", trust=tuple(TRUST[1::2]))
    data = read_study_data(study)
    np.testing.assert_array_equal(sets, model.predict_set(data, alpha=0.2))


@pytest.mark.parametrize("alpha", ["0", "1.5", "-0.1"])
def test_an_alpha_outside_zero_one_is_refused(run, tmp_path, alpha):
    root, study, _ = run
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(study),
                                 "--out", str(tmp_path / "p.csv"), "--alpha", alpha, *TRUST])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "error: --alpha: alpha must be in (0, 1)" in output
    assert not (tmp_path / "p.csv").exists()


def test_a_model_without_calibration_or_a_survival_model_has_no_sets(tmp_path):
    data = make_cohort(60, n_genes=10, n_imaging=6, random_state=0)
    save_model(make("late-mean", cv=2).fit(data), tmp_path / "plain", strategy="late-mean")
    data.block("imaging").to_csv(tmp_path / "imaging.csv")
    result = runner.invoke(app, ["predict", str(tmp_path / "plain"), str(tmp_path),
                                 "--alpha", "0.1", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "carries no conformal calibration" in " ".join(result.output.split())
    surv = make_cohort(60, task="survival", n_genes=10, n_imaging=6, random_state=0)
    save_model(make("cox-early").fit(surv.select(["imaging"])), tmp_path / "cox")
    result = runner.invoke(app, ["predict", str(tmp_path / "cox"), str(tmp_path),
                                 "--abstain", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "--abstain: This is a survival model" in " ".join(result.output.split())


def test_predictor_sets_and_the_fallback_warning(run):
    root, study, _ = run
    predictor = Predictor.load(root / "out" / "model", trust=TRUST[1::2])
    data = read_study_data(study)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = predictor.predict(data, alpha=0.01)  # needs 99 scores per pattern
    assert any(issubclass(w.category, ConformalFallbackWarning) for w in caught)
    assert set(table["set_category"]) == {"marginal"}
    assert "abstain" not in table.columns
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        predictor.predict(data, alpha=1.0)


def test_study_files_check_the_conformal_section():
    base = {"name": "s", "outcome": {"file": "l.csv", "column": "y"},
            "modalities": {"rna": {"file": "r.csv"}}}
    ok = parse_study({**base, "conformal": {"alpha": 0.05, "mondrian": None,
                                            "pattern_augment": True}}, strategies=False)
    assert ok.conformal.alpha == 0.05 and ok.conformal.mondrian is None
    with pytest.raises(StudyError, match=r"conformal\.alpha: Input should be less than 1"):
        parse_study({**base, "conformal": {"alpha": 1.2}}, strategies=False)
    with pytest.raises(StudyError, match=r"conformal\.calibration: Input should be"):
        parse_study({**base, "conformal": {"calibration": "beta"}}, strategies=False)
    survival = {**base, "task": "survival",
                "outcome": {"file": "l.csv", "time": "t", "event": "e"}}
    with pytest.raises(StudyError, match="conformal: survival strategies predict a risk"):
        parse_study({**survival, "conformal": {}}, strategies=False)
    assert yaml.safe_dump(ok.model_dump(mode="json")["conformal"])
