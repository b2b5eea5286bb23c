"""A study file whose image modality is one scan per subject (``images:`` / ``masks:``
patterns): read with its geometry, fused through the ``radiomics`` representation, and read
the same way by ``medfuse predict``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.config import read_study_data
from medfuse.config.errors import StudyError

nib = pytest.importorskip("nibabel")
pytest.importorskip("skimage")

SPACING = (3.0, 1.5, 1.0)  # mm along z, y, x


def _write_scan(path, volume, spacing=SPACING):
    """A (z, y, x) volume as NIfTI with the given spacing (RAS affine, x y z axes)."""
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)).astype(np.float32), affine),
             path)


def _cohort(folder, n=24, seed=0, missing=()):
    """Scans whose lesion is brighter when y is 1; clinical noise; outcome file."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:02d}" for i in range(n)]
    y = np.array([i % 2 for i in range(n)])
    for subject, label in zip(ids, y, strict=True):
        if subject in missing:
            continue
        volume = rng.normal(0.0, 1.0, size=(8, 12, 12))
        mask = np.zeros(volume.shape)
        r = rng.integers(2, 4)
        mask[2:6, 6 - r:6 + r, 6 - r:6 + r] = 1
        volume[mask > 0] += 3.0 * label
        (folder / "scans" / subject).mkdir(parents=True)
        _write_scan(folder / "scans" / subject / "ct.nii.gz", volume)
        _write_scan(folder / "scans" / subject / "gtv.nii.gz", mask)
    pd.DataFrame({"subject": ids, "y": y}).to_csv(folder / "outcome.csv", index=False)
    pd.DataFrame({"subject": ids, "age": rng.normal(60, 5, n)}).to_csv(
        folder / "clinical.csv", index=False)
    return ids, y


def _study(folder, **extra):
    study = {"name": "scans", "outcome": {"file": "outcome.csv", "column": "y"},
             "modalities": {
                 "ct": {"kind": "image", "images": "scans/{subject}/ct.nii.gz",
                        "masks": "scans/{subject}/gtv.nii.gz"},
                 "clinical": {"file": "clinical.csv", "kind": "clinical"}},
             "representations": {"ct": {"name": "radiomics",
                                        "params": {"families": ["stat", "morph"]}}},
             "strategies": ["unimodal:ct", "late-mean"],
             "cv": {"folds": 3, "repeats": 1}, "seeds": 1, "robustness": False,
             **extra}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_scans_are_read_per_subject_with_their_geometry(tmp_path):
    ids, _ = _cohort(tmp_path, n=6)
    data = read_study_data(_study(tmp_path))
    block = data.block("ct")
    assert list(block.ids) == ids and block.shapes[0] == (1, 8, 12, 12)
    assert block.meta["spacing"].iloc[0] == SPACING
    assert block.field("mask")[0].sum() > 0
    assert data.kinds["ct"] == "image"


def test_a_subject_without_a_scan_lacks_the_modality_with_a_warning(tmp_path):
    _cohort(tmp_path, n=6, missing=("P03",))
    with pytest.warns(UserWarning, match=r"1 subject\(s\) have no scan.*'P03'"):
        data = read_study_data(_study(tmp_path))
    assert not data.available.loc["P03", "ct"] and data.available.loc["P03", "clinical"]
    assert data.available["ct"].sum() == 5


def test_a_mask_on_another_grid_names_the_subject_and_both_files(tmp_path):
    _cohort(tmp_path, n=4)
    _write_scan(tmp_path / "scans" / "P02" / "gtv.nii.gz", np.ones((8, 12, 12)),
                spacing=(2.0, 1.5, 1.0))
    with pytest.raises(StudyError, match=r"modalities\.ct: .*P02.*gtv\.nii\.gz"):
        read_study_data(_study(tmp_path))


def test_images_and_file_are_exclusive_and_need_the_subject_placeholder(tmp_path):
    _cohort(tmp_path, n=4)
    path = _study(tmp_path)
    study = yaml.safe_load(path.read_text())
    study["modalities"]["ct"]["images"] = "scans/ct.nii.gz"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(StudyError, match=r"must contain \{subject\}"):
        read_study_data(path)


def test_the_main_job_fuses_radiomics_and_predict_reads_new_scans_the_same_way(tmp_path):
    _cohort(tmp_path, n=24)
    out = tmp_path / "out"
    runner = CliRunner()
    study = _study(tmp_path, representations={"ct": {"name": "radiomics", "params": {
        "families": ["stat", "morph"], "min_icc": 0.5, "icc_perturbations": 3}}})
    done = runner.invoke(app, ["benchmark", str(study), "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = next(out.glob("*.html")).read_text()
    assert "<h2" in report and "Radiomics" in report and "least stable features" in report
    results = pd.read_csv(out / "results.csv")
    auc = results[(results.strategy == "unimodal:ct") & (results.metric == "roc_auc")
                  & (results.split == "cv")]["mean"].iloc[0]
    assert auc > 0.9  # the lesion's mean intensity carries the outcome
    new = tmp_path / "new"
    new.mkdir()
    _cohort(new, n=6, seed=1)
    done = runner.invoke(app, ["predict", str(out / "model"), str(_study(new)),
                               "--out", str(tmp_path / "pred.csv")])
    assert done.exit_code == 0, done.output
    predictions = pd.read_csv(tmp_path / "pred.csv", index_col=0)
    assert list(predictions.index) == [f"P{i:02d}" for i in range(6)]


def test_combat_per_scanner_adjusts_the_radiomics_features_inside_every_fold(tmp_path):
    from medfuse.config import load_study
    from medfuse.study.run import _strategy_estimators

    _cohort(tmp_path, n=12)
    clinical = pd.read_csv(tmp_path / "clinical.csv")
    clinical["site"] = ["A", "B", "C"] * 4
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    path = _study(tmp_path, batch={"file": "clinical.csv", "column": "site"},
                  harmonize={"method": "ComBat", "modalities": ["ct"]})
    study = load_study(path)
    train, _ = study.load()
    estimators = _strategy_estimators(train, ["unimodal:ct"], [], {}, study.representations,
                                      "classification", study.harmonize, "batch", None)
    model = estimators["unimodal:ct"].fit(train)
    chain = model.get_params()["estimator__preprocessors"]["ct"]
    combat = chain.steps[0]
    assert type(combat).__name__ == "ComBat"
    # fitted on the radiomics features of the training subjects, one location per site
    fitted = model.estimator_.preprocessors_["ct"].steps_[0]
    assert list(fitted.batches_) == ["A", "B", "C"]
    assert fitted.n_features_in_ == len(model.step_.representations_["ct"].feature_names_out_)
