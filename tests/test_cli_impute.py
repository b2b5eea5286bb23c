"""A study with an ``impute:`` section, end to end: every strategy wrapped so that its imputers
are refitted inside every fold, the handed-over model an imputation wrapper that ``medfuse
predict`` uses to fill in new subjects, and every bad section refused in one line, exit 2,
before anything is written."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import StudyError, parse_study
from medfuse.data import make_cohort, write_folder
from medfuse.fusion.imputed import ImputedClassifier
from medfuse.fusion.represented import RepresentedClassifier
from medfuse.persist import load_model, read_manifest
from medfuse.preprocess.impute import imputer_names
from medfuse.study import strategy_estimators

runner = CliRunner()
IMPUTE = {"methods": {"imaging": "cross-modal"}, "n_imputations": 1}


def cohort(n: int, seed: int, **kw):
    return make_cohort(n, missing={"imaging": 0.4}, n_genes=40, n_imaging=15,
                       random_state=seed, **kw)


def write_study(folder: Path, data, **over) -> Path:
    """A ``format: folder`` study of ``data`` (written next to it)."""
    write_folder(data, folder / "data")
    study = {"name": "imputed", "format": "folder", "path": "data", "outcome": "label",
             "strategies": ["late-mean", "early"], "cv": {"folds": 3, "repeats": 1, "seed": 0},
             "seeds": 1, "impute": IMPUTE, **over}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("impute")
    study = write_study(root / "study", cohort(90, seed=0))
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(root / "out"),
                                 "--no-explain"])
    return root, study, result


def test_benchmark_wraps_every_strategy_and_hands_over_the_wrapper(run):
    root, _, result = run
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "impute: imaging by cross-modal" in output and "every fold" in output
    out = root / "out"
    res = pd.read_csv(out / "results.csv")
    assert {"late-mean", "early"} <= set(res["strategy"])
    cv = res[(res["metric"] == "roc_auc") & (res["split"] == "cv")]
    assert np.isfinite(cv["mean"]).all()
    manifest = read_manifest(out / "model")
    assert manifest["impute"] == IMPUTE
    model = load_model(out / "model")
    assert isinstance(model, ImputedClassifier)
    assert model.impute == IMPUTE["methods"] and model.n_imputations == 1
    assert model.random_state == 0          # the study's seed
    assert [i.modality for i in model.imputers_[0]] == ["imaging"]
    assert "cross-modal" in (out / "report.html").read_text()   # the run's settings


def test_predict_fills_in_new_subjects_missing_imaging(run, tmp_path):
    root, _, _ = run
    new = cohort(16, seed=3)
    lacking = ~new.available["imaging"].to_numpy()
    assert lacking.any() and not lacking.all()
    folder = write_folder(new, tmp_path / "new")
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(folder),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col=0)
    proba = table[["proba_0", "proba_1"]].to_numpy()
    assert len(table) == len(new) and np.isfinite(proba).all()
    # the saved wrapper fills imaging in: the strategy alone predicts the same subjects with
    # imaging, and otherwise (from the modalities they have) for those without it
    model = load_model(root / "out" / "model")
    inner = model.estimator_.predict_proba(new)
    np.testing.assert_allclose(proba[~lacking], inner[~lacking], atol=1e-8)
    assert not np.allclose(proba[lacking], inner[lacking])


def test_imputation_sits_inside_the_representation_wrapper():
    data = make_cohort(40, n_genes=20, n_imaging=8, series_shape=(2, 16),
                       missing={"timeseries": 0.3}, random_state=1)
    est = strategy_estimators(data, ["early"], representations={"timeseries": "series-summary"},
                              impute={"methods": {"timeseries": "mean"}}, seed=0)["early"]
    assert isinstance(est, RepresentedClassifier)
    inner = est.get_params(deep=False)["estimator"]
    assert isinstance(inner, ImputedClassifier) and inner.random_state == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = est.fit(data).predict_proba(data)
    assert np.isfinite(proba).all()


def test_a_study_file_refuses_a_bad_section_with_its_place():
    def study(impute):
        return parse_study({"name": "s", "outcome": {"file": "l.csv", "column": "y"},
                            "modalities": {"rna": {"file": "r.csv"}}, "impute": impute},
                           strategies=False)

    with pytest.raises(StudyError, match=r"impute\.methods\.rna: knn has no parameter 'k'"):
        study({"methods": {"rna": {"method": "knn", "k": 3}}})
    with pytest.raises(StudyError, match=r"impute\.methods: 'mrna' is not a modality"):
        study({"methods": {"mrna": "knn"}})
    with pytest.raises(StudyError, match=r"impute: give the modalities under methods"):
        study({"rna": "knn"})


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    """A cohort with a time series and a clinical table with category columns."""
    root = tmp_path_factory.mktemp("impute-bad")
    data = make_cohort(30, n_genes=20, n_imaging=8, series_shape=(2, 8), random_state=2)
    write_folder(data, root / "data")
    return root


@pytest.mark.parametrize(("impute", "message"), [
    ({"methods": {"methylation": "knn"}},
     "impute.methods: 'methylation' is not a modality of the study (rna, imaging, clinical, "
     "timeseries)"),
    ({"methods": {"imaging": "magic"}},
     "impute.methods.imaging: unknown imputation method 'magic' for modality 'imaging'; known "
     f"methods: {', '.join(imputer_names())}"),
    ({"methods": {"timeseries": "mean"}},
     "impute.methods: 'timeseries' is a timeseries modality; only continuous, counts and "
     "all-numeric clinical tables can be filled in"),
    ({"methods": {"clinical": "knn"}},
     "impute.methods: 'clinical' is a clinical modality with non-numeric (text or category) "
     "columns stage, sex, smoking"),
    ({"methods": {"imaging": "knn"}, "n_imputations": 0},
     "impute.n_imputations: Input should be greater than or equal to 1"),
])
def test_bad_sections_exit_2_with_the_modality_named(bad_data, impute, message):
    refused(bad_data, message, impute=impute)


def test_learners_are_checked_through_the_imputation_wrapper(bad_data):
    refused(bad_data, "params.late-mean: learner names modalities the data does not have",
            impute={"methods": {"imaging": "mean"}}, strategies=["late-mean"],
            params={"late-mean": {"learner": {"genes": "random-forest"}}})


def refused(root: Path, message: str, **study) -> None:
    """``medfuse benchmark`` of the study exits 2 with ``message``, having written no
    output."""
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bad", "format": "folder", "path": "data", "outcome": "label",
        "strategies": ["early"], "cv": {"folds": 3, "repeats": 1}, **study}))
    out = root / "out"
    result = runner.invoke(app, ["benchmark", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    written = [p.name for p in out.iterdir()] if out.exists() else []
    assert not set(written) & {"results.csv", "report.html", "model", "cache"}, written
