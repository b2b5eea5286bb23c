"""What ``medfuse benchmark`` hands over (``select:``): the ensemble by default, the
one-standard-error choice, a named strategy; bad selections stop with one error line and
leave nothing half written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.fusion.ensemble import EnsembleSelection
from medfuse.fusion.registry import _REGISTRY, register
from medfuse.persist import load_model, read_manifest
from tests import reference_strategies as ref
from tests.test_cli_study import write_study

runner = CliRunner()
STRATEGIES = ["unimodal:rna", "unimodal:imaging", "late-mean", "early"]


def bench(study, out, *extra):
    return runner.invoke(app, ["benchmark", str(study), "--out", str(out), "--no-explain",
                               *extra])


@pytest.fixture(scope="module")
def cohort():
    return ref.tiny_cohort(60, seed=5, missing=0.2)


@pytest.fixture(scope="module")
def ensemble_run(cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    study = write_study(root / "study", cohort, strategies=STRATEGIES, select="ensemble",
                        cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
    return root, study, bench(study, root / "out")


def test_select_ensemble_hands_over_the_ensemble(ensemble_run, cohort):
    root, _, result = ensemble_run
    assert result.exit_code == 0, result.output
    assert "handed over the ensemble" in result.output
    assert "the ensemble model in" in " ".join(result.output.split())
    manifest = read_manifest(root / "out" / "model")
    assert manifest["strategy"] == "ensemble" and manifest["select"] == "ensemble"
    model = load_model(root / "out" / "model")
    assert isinstance(model, EnsembleSelection)
    weights = manifest["handed_over"]["weights"]
    assert set(model.members_) == set(weights)
    np.testing.assert_allclose(model.weights_[list(weights)], list(weights.values()))
    res = pd.read_csv(root / "out" / "results.csv")
    assert {"ensemble", "select-best"} <= set(res["strategy"])
    page = BeautifulSoup((root / "out" / "report.html").read_text(), "html.parser")
    section = page.find(id="handover")
    assert section is not None and "select: ensemble" in section.get_text()
    assert "select-best chose" in section.get_text()


def test_predict_reads_the_handed_over_ensemble(ensemble_run, tmp_path):
    root, study, _ = ensemble_run
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(study),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(out, index_col=0)
    from medfuse.config import load_study

    train, _ = load_study(study).load()
    model = load_model(root / "out" / "model")
    np.testing.assert_allclose(preds[["proba_0", "proba_1"]].to_numpy(),
                               model.predict_proba(train), atol=1e-10)


def test_the_one_standard_error_choice_is_handed_over_by_default(cohort, tmp_path):
    study = write_study(tmp_path / "study", cohort, strategies=STRATEGIES,
                        cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
    result = bench(study, tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "out" / "model")
    assert manifest["select"] == "best" and manifest["strategy"] in STRATEGIES
    res = pd.read_csv(tmp_path / "out" / "results.csv")     # both rules measured honestly
    assert {"ensemble", "select-best"} <= set(res["strategy"])
    table = manifest["handed_over"]["select_table"]
    best = max(table, key=lambda r: r["mean"])
    chosen = next(r for r in table if r["strategy"] == manifest["strategy"])
    assert chosen["mean"] >= best["mean"] - best["se"]
    assert "one standard error" in result.output


def test_a_named_strategy_is_handed_over(cohort, tmp_path):
    study = write_study(tmp_path / "study", cohort, strategies=STRATEGIES, select="early",
                        cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
    result = bench(study, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "out" / "model")["strategy"] == "early"
    assert "ensemble" not in set(pd.read_csv(tmp_path / "out" / "results.csv")["strategy"])


@pytest.mark.parametrize(("select", "strategies", "message"), [
    ("stacking", STRATEGIES, "select: 'stacking' is neither a rule (ensemble, best) nor one "
                             "of the study's strategies"),
    ("no-such", "all", "select: 'no-such' is neither a rule (ensemble, best) nor a "
                       "registered strategy name"),
])
def test_a_selection_that_is_not_benchmarked_stops_before_any_fit(cohort, tmp_path, select,
                                                                  strategies, message):
    study = write_study(tmp_path / "study", cohort, strategies=strategies, select=select)
    result = bench(study, tmp_path / "out")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


class AlwaysFails(ref.MeanLogistic):
    """A strategy whose every fit fails."""

    def _fit(self, data, y):
        raise ValueError("this strategy never fits")


def test_a_selected_strategy_that_failed_in_every_fit_stops_with_nothing_half_written(
        cohort, tmp_path):
    saved = dict(_REGISTRY)
    register("always-fails", family="late")(AlwaysFails)
    try:
        study = write_study(tmp_path / "study", cohort,
                            strategies=["late-mean", "always-fails"], select="always-fails",
                            cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
        result = bench(study, tmp_path / "out")
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "select: 'always-fails' failed in every fit" in text
    assert "this strategy never fits" in text and "--resume" in text
    for name in ("results.csv", "report.html", "model"):
        assert not (tmp_path / "out" / name).exists()


def test_one_strategy_with_select_ensemble_hands_over_that_strategy(cohort, tmp_path):
    study = write_study(tmp_path / "study", cohort, strategies=["late-mean"],
                        select="ensemble", cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
    result = bench(study, tmp_path / "out")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert ("select: ensemble needs out-of-fold predictions of at least two strategies; 1 "
            "produced them, so the best-ranked one, late-mean, is handed over") in text
    manifest = read_manifest(tmp_path / "out" / "model")
    assert manifest["strategy"] == "late-mean"
    assert json.dumps(manifest)


def test_a_learner_naming_a_modality_the_data_lacks_stops_before_any_fit(cohort, tmp_path):
    study = write_study(tmp_path / "study", cohort, strategies=["late-mean", "early"],
                        params={"late-mean": {"learner": {"genes": "random-forest"}}},
                        cv={"folds": 3, "repeats": 1, "seed": 0}, seeds=1)
    result = bench(study, tmp_path / "out")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert ("error: params.late-mean: learner names modalities the data does not have: "
            "['genes']") in text
    for name in ("results.csv", "report.html", "model", "cache"):
        assert not (tmp_path / "out" / name).exists()
