"""``medfuse predict`` reads new subjects' files the way the study read its own: columns the
study declared as batch, groups or outcome are set aside (the batch feeds the fitted ComBat),
and one run names every problem of the folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.persist import read_manifest
from medfuse.predictor import Predictor

runner = CliRunner()


def _cohort(n: int, seed: int, prefix: str):
    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    site = np.where(rng.random(n) < 0.5, "A", "B")
    genes = pd.DataFrame(rng.normal(size=(n, 8)) + 0.8 * y[:, None]
                         + np.where(site == "A", 1.5, 0.0)[:, None],
                         index=pd.Index(ids, name="id"), columns=[f"g{k}" for k in range(8)])
    clinical = pd.DataFrame({"age": rng.normal(60, 8, n).round(), "site": site,
                             "patient": [f"P{i // 2}" for i in range(n)]},
                            index=pd.Index(ids, name="id"))
    labels = pd.DataFrame({"label": y}, index=pd.Index(ids, name="id"))
    return genes, clinical, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("columns")
    genes, clinical, labels = _cohort(60, 0, "S")
    genes.to_csv(root / "genes.csv")
    clinical.to_csv(root / "clinical.csv")
    labels.to_csv(root / "labels.csv")
    study = {"outcome": {"file": "labels.csv", "column": "label"},
             "modalities": {"genes": {"file": "genes.csv", "kind": "continuous"},
                            "clinical": {"file": "clinical.csv", "kind": "clinical"}},
             "batch": {"file": "clinical.csv", "column": "site"},
             "groups": {"file": "clinical.csv", "column": "patient"},
             "harmonize": {"method": "ComBat", "modalities": ["genes"]},
             "strategies": ["late-mean"], "cv": {"folds": 2, "repeats": 1}, "seeds": 1}
    (root / "study.yaml").write_text(yaml.safe_dump(study))
    result = runner.invoke(app, ["benchmark", str(root / "study.yaml"), "--out",
                                 str(root / "out"), "--no-explain"])
    assert result.exit_code == 0, result.output
    return root


def test_the_model_records_the_columns_the_study_set_aside(trained):
    manifest = read_manifest(trained / "out" / "model")
    assert manifest["set_aside"] == {"clinical": {"site": "batch", "patient": "groups"}}


def test_predict_reads_the_training_file_layout(trained, tmp_path):
    """Bug 6: predict refused new subjects' clinical.csv with the study's batch and groups
    columns ('extra site, patient')."""
    genes, clinical, _ = _cohort(10, 1, "N")
    genes.to_csv(tmp_path / "genes.csv")
    clinical.to_csv(tmp_path / "clinical.csv")
    out = tmp_path / "preds.csv"
    result = runner.invoke(app, ["predict", str(trained / "out" / "model"), str(tmp_path),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col=0)
    assert len(table) == 10 and set(table["modalities_used"]) == {"clinical+genes"}
    # the batch column fed the fitted ComBat: predictions equal those of the study file path
    predictor = Predictor.load(trained / "out" / "model")
    data = predictor.read(tmp_path)
    assert list(data.obs["site"]) == list(clinical["site"])
    assert "site" not in data.block("clinical").columns
    harmonizer = predictor.harmonizers[0]
    assert harmonizer.batch_col == "site"


def test_one_predict_run_names_every_problem_of_the_folder(trained, tmp_path):
    genes, clinical, _ = _cohort(6, 2, "M")
    genes.to_csv(tmp_path / "Genes_v2.csv")  # renamed
    clinical.assign(bmi=25.0).to_csv(tmp_path / "clinical.csv")  # an unknown column
    result = runner.invoke(app, ["predict", str(trained / "out" / "model"), str(tmp_path),
                                 "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1
    assert "modality 'clinical' does not have the training features: extra 'bmi'" in line
    assert "'Genes_v2.csv' match no modality of the model" in line
    assert not (tmp_path / "p.csv").exists()
