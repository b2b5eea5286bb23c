"""A study with subjects without an outcome, end to end: ``unlabelled: pretrain`` runs and
says which strategies learn from them, none of them reaches the results or the report, the
handed-over model is refitted with them when it learns from them; with no strategy that can,
a warning and ``drop``; without ``unlabelled:``, a refusal naming both options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import StudyError, parse_study
from medfuse.data import make_cohort, write_folder
from medfuse.persist import read_manifest

runner = CliRunner()


def write_study(folder: Path, **over) -> Path:
    """A ``format: folder`` study of the cohort in ``folder / "data"``."""
    study = {"name": "unlabelled", "format": "folder", "path": "data", "outcome": "label",
             "strategies": ["late-mean", "co-training"],
             "cv": {"folds": 3, "repeats": 1, "seed": 0}, "seeds": 1, **over}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def benchmark(study: Path, out: Path):
    result = runner.invoke(app, ["benchmark", str(study), "--out", str(out), "--no-explain",
                                 "--no-robustness"])
    return result, " ".join(result.output.split())


@pytest.fixture(scope="module")
def cohort():
    data = make_cohort(60, n_genes=30, n_imaging=10, random_state=0)
    obs = data.obs.copy()
    obs.loc[np.random.default_rng(0).random(len(data)) < 0.5, "label"] = np.nan
    return data.with_obs(obs)


@pytest.fixture(scope="module")
def root(tmp_path_factory, cohort):
    root = tmp_path_factory.mktemp("unlabelled")
    write_folder(cohort, root / "data")
    return root


def test_pretrain_runs_and_names_the_strategies(root, cohort):
    study = write_study(root, unlabelled="pretrain", select="co-training")
    result, output = benchmark(study, root / "out")
    assert result.exit_code == 0, result.output
    n = int(cohort.y.isna().sum())
    assert (f"unlabelled: {n} subjects without an outcome, never scored; learning from "
            "them: co-training; cannot: late-mean") in output
    out = root / "out"
    assert set(pd.read_csv(out / "results.csv")["strategy"]) >= {"late-mean", "co-training"}
    unlabelled = [str(s) for s in cohort.subjects[cohort.y.isna().to_numpy()]]
    report = (out / "report.html").read_text()
    assert not [s for s in unlabelled if s in report]
    manifest = read_manifest(out / "model")
    assert manifest["strategy"] == "co-training"
    assert manifest["unlabelled"] == {"mode": "pretrain", "requested": "pretrain", "n": n,
                                      "refitted_with": True}


def test_pretrain_without_a_strategy_that_can_warns_and_drops(root, cohort):
    study = write_study(root, unlabelled="pretrain", strategies=["late-mean", "early"])
    result, output = benchmark(study, root / "out-warn")
    assert result.exit_code == 0, result.output
    assert "warning: unlabelled: pretrain, but none of the study's strategies (late-mean, " \
           "early) can learn from the" in output
    assert "strategies that can: " in output and "co-training" in output
    assert "left out, as with unlabelled: drop" in output
    manifest = read_manifest(root / "out-warn" / "model")
    assert manifest["unlabelled"]["mode"] == "drop"
    assert manifest["unlabelled"]["refitted_with"] is False


def test_missing_outcomes_without_the_section_are_refused(root, cohort):
    study = write_study(root)
    result, output = benchmark(study, root / "out-refused")
    assert result.exit_code == 2, result.output
    assert "To leave them out, add unlabelled: drop to the study file;" in output
    assert "learn from unlabelled subjects, add unlabelled: pretrain to the study file." \
        in output
    assert not (root / "out-refused" / "results.csv").exists()


def test_a_survival_study_refuses_the_section():
    with pytest.raises(StudyError, match="unlabelled: subjects without an outcome are for "
                                         "classification"):
        parse_study({"name": "s", "task": "survival",
                     "outcome": {"file": "l.csv", "time": "t", "event": "e"},
                     "modalities": {"rna": {"file": "r.csv"}}, "unlabelled": "drop"},
                    strategies=False)
