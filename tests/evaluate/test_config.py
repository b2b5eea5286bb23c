from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from medfuse.config import StudyError, load_study, parse_study

ROSMAP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rosmap"


def write_files(tmp_path: Path, n: int = 30) -> None:
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(n)]
    pd.DataFrame({"label": rng.integers(0, 2, n)}, index=ids).rename_axis("id").to_csv(
        tmp_path / "labels.csv")
    pd.DataFrame(rng.normal(size=(n, 4)), index=ids, columns=list("abcd")).rename_axis(
        "id").to_csv(tmp_path / "mrna.csv")
    pd.DataFrame({"age": rng.integers(40, 80, n), "site": rng.choice(["x", "y"], n),
                  "sex": rng.choice(["f", "m"], n)}, index=ids).rename_axis("id").to_csv(
        tmp_path / "clinical.csv")


def study_dict(**over):
    d = {"name": "t", "outcome": {"file": "labels.csv", "column": "label"},
         "modalities": {"mrna": {"file": "mrna.csv"},
                        "clinical": {"file": "clinical.csv", "kind": "clinical"}}}
    d.update(over)
    return d


def test_load_relative_paths_and_batch(tmp_path):
    sub = tmp_path / "data"
    sub.mkdir()
    write_files(sub)
    d = study_dict(batch={"file": "clinical.csv", "column": "site"})
    d["outcome"]["file"] = "data/labels.csv"
    d["modalities"]["mrna"]["file"] = "data/mrna.csv"
    d["modalities"]["clinical"]["file"] = "data/clinical.csv"
    d["batch"]["file"] = "data/clinical.csv"
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    study = load_study(tmp_path / "study.yaml")
    train, test = study.load()
    assert test is None
    assert len(train) == 30 and train.modality_names == ["mrna", "clinical"]
    assert set(train.obs["batch"]) == {"x", "y"}
    assert str(train.kinds["clinical"]) == "clinical"
    assert study.cv_scheme == "stratified" and study.primary_metric == "roc_auc"


@pytest.mark.parametrize(("over", "field"), [
    ({"cv": {"folds": 1}}, "cv.folds"),
    ({"cv": {"fold": 3}}, "cv.fold"),
    ({"primary_metric": "auc"}, "primary_metric"),
    ({"modalities": {"mrna": {"file": "mrna.csv", "kind": "rnaseq"}}}, "modalities.mrna.kind"),
    ({"strategies": []}, "strategies"),
    ({"outcome": {"file": "labels.csv"}}, "outcome"),
    ({"cv": {"scheme": "leave-site-out"}}, "batch"),
])
def test_errors_name_the_field(over, field):
    with pytest.raises(StudyError, match=field.replace(".", r"\.")):
        parse_study(study_dict(**over))


def test_missing_file_and_column_are_named(tmp_path):
    write_files(tmp_path)
    d = study_dict()
    d["modalities"]["mrna"]["file"] = "nope.csv"
    with pytest.raises(StudyError, match=r"modalities\.mrna\.file: no such file"):
        parse_study(d, tmp_path).load()
    d = study_dict(batch={"file": "clinical.csv", "column": "centre"})
    with pytest.raises(StudyError, match=r"batch\.column: column 'centre'"):
        parse_study(d, tmp_path).load()


def test_survival_study_loads_time_and_event(tmp_path):
    write_files(tmp_path)
    labels = pd.read_csv(tmp_path / "labels.csv", index_col=0)
    labels["t"] = np.linspace(0.5, 10, len(labels))
    labels["e"] = ["yes", "no", "1"] * (len(labels) // 3)
    labels.to_csv(tmp_path / "labels.csv")
    d = study_dict(task="survival", outcome={"file": "labels.csv", "time": "t", "event": "e"})
    study = parse_study(d, tmp_path)
    assert study.primary_metric == "c_index"
    train, test = study.load()
    assert test is None and train.outcome is None
    assert train.obs["time"].tolist() == pytest.approx(labels["t"].tolist())
    assert train.obs["event"].tolist() == [True, False, True] * 10
    labels.loc["p4", "e"] = "maybe"
    labels.to_csv(tmp_path / "labels.csv")
    with pytest.raises(StudyError, match=r"outcome\.event: 1 subject.*'p4'"):
        parse_study(d, tmp_path).load()
    d["outcome"]["time"] = "days"
    with pytest.raises(StudyError, match=r"outcome\.time: column 'days'"):
        parse_study(d, tmp_path).load()
    with pytest.raises(StudyError, match="format: files"):
        parse_study({"name": "t", "task": "survival", "format": "folder", "path": "x"},
                    tmp_path).load()


@pytest.mark.skipif(not ROSMAP.exists(), reason="ROSMAP benchmark data absent")
def test_mogonet_format_train_and_test():
    study = parse_study({"format": "mogonet", "path": str(ROSMAP)})
    train, test = study.load()
    assert (len(train), len(test)) == (245, 106)


def test_test_set_gets_its_batch_column_and_orphans_are_reported(tmp_path):
    write_files(tmp_path)
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    write_files(test_dir, n=12)
    for f in ("labels.csv", "mrna.csv", "clinical.csv"):  # distinct test IDs
        t = pd.read_csv(test_dir / f, index_col=0)
        t.index = [f"t{i}" for i in range(len(t))]
        t.rename_axis("id").to_csv(test_dir / f)
    labels = pd.read_csv(tmp_path / "labels.csv", index_col=0)
    labels.loc["ghost"] = 1  # an outcome without any modality row
    labels.to_csv(tmp_path / "labels.csv")
    d = study_dict(batch={"file": "clinical.csv", "column": "site"},
                   test={"outcome": {"file": "test/labels.csv", "column": "label"},
                         "modalities": {"mrna": {"file": "test/mrna.csv"},
                                        "clinical": {"file": "test/clinical.csv",
                                                     "kind": "clinical"}}})
    with pytest.warns(UserWarning, match="'ghost'"):
        train, test = parse_study(d, tmp_path).load()
    assert "ghost" not in train.subjects
    assert test.obs["batch"].notna().all() and set(test.obs["batch"]) <= {"x", "y"}


def test_outcome_batch_group_and_covariate_columns_are_not_features(tmp_path):
    write_files(tmp_path)
    clinical = pd.read_csv(tmp_path / "clinical.csv", index_col=0)
    clinical["label"] = pd.read_csv(tmp_path / "labels.csv", index_col=0)["label"]
    clinical["patient"] = [f"P{i // 2}" for i in range(len(clinical))]
    clinical.to_csv(tmp_path / "clinical.csv")
    mrna = pd.read_csv(tmp_path / "mrna.csv", index_col=0)
    mrna["site"] = 1.0          # a column of the same name in another file stays a feature
    mrna.to_csv(tmp_path / "mrna.csv")
    d = study_dict(outcome={"file": "clinical.csv", "column": "label"},
                   batch={"file": "clinical.csv", "column": "site"},
                   groups={"file": "clinical.csv", "column": "patient"},
                   harmonize={"modalities": ["mrna"], "covariates": ["age"]})
    train, _ = parse_study(d, tmp_path).load()
    assert list(train.block("clinical").columns) == ["sex"]
    assert list(train.block("mrna").columns) == ["a", "b", "c", "d", "site"]
    assert train.uns["notes"] == ["modality 'clinical': 'label' (outcome), 'site' (batch), "
                                  "'patient' (groups), 'age' (covariate) of clinical.csv are "
                                  "not features"]
    assert {"label", "batch", "site", "group", "patient", "age"} <= set(train.obs.columns)
    # a modality file that holds nothing but such columns leaves no feature
    d = study_dict(modalities={"mrna": {"file": "mrna.csv"},
                               "labels": {"file": "labels.csv"}})
    with pytest.raises(StudyError, match=r"modalities\.labels: every column of labels\.csv "
                                         r"is used as outcome"):
        parse_study(d, tmp_path).load()


def test_test_cohort_drops_the_columns_it_finds_and_needs_the_harmonized_batch(tmp_path):
    write_files(tmp_path)
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    write_files(test_dir, n=12)
    for f in ("labels.csv", "mrna.csv", "clinical.csv"):
        t = pd.read_csv(test_dir / f, index_col=0)
        t.index = [f"t{i}" for i in range(len(t))]
        t.rename_axis("id").to_csv(test_dir / f)
    test = {"outcome": {"file": "test/labels.csv", "column": "label"},
            "modalities": {"mrna": {"file": "test/mrna.csv"},
                           "clinical": {"file": "test/clinical.csv", "kind": "clinical"}}}
    d = study_dict(batch={"file": "clinical.csv", "column": "site"}, test=test,
                   harmonize={"modalities": ["mrna"]})
    train, held = parse_study(d, tmp_path).load()
    assert list(held.block("clinical").columns) == list(train.block("clinical").columns) \
        == ["age", "sex"]
    assert set(held.obs["site"]) <= {"x", "y"}
    clinical = pd.read_csv(test_dir / "clinical.csv", index_col=0).drop(columns="site")
    clinical.to_csv(test_dir / "clinical.csv")
    d["harmonize"]["batch"] = {"file": "clinical.csv", "column": "site"}
    with pytest.raises(StudyError, match=r"test\.modalities: no test file has the column "
                                         r"'site' \(harmonize\.batch\)"):
        parse_study(d, tmp_path).load()


@pytest.mark.parametrize(("over", "message"), [
    ({"harmonize": {"method": "ComBat-seq", "parametric": False}},
     "harmonize.parametric: a ComBat option; ComBat-seq has no parametric"),
    ({"harmonize": {"unseen_batch": "reference"}},
     "harmonize.unseen_batch: 'reference' leaves an unseen batch unadjusted, as the reference "
     "batch; give reference_batch"),
    ({"harmonize": {"method": "combat"}}, "harmonize.method: Input should be 'ComBat' or "
                                          "'ComBat-seq'"),
    ({"harmonize": {"modalities": ["rna"]}, "batch": {"file": "c.csv", "column": "site"}},
     "harmonize.modalities: 'rna' is not a modality of the study (mrna, clinical)"),
    ({"harmonize": {}}, "harmonize.batch: give the batch column (harmonize.batch or the "
                        "study's batch: {file, column})"),
    ({"params": {"late-mean": {"preprocessors": "ComBat"}}},
     "params.late-mean.preprocessors: preprocessing is not set per strategy in a study file"),
    ({"params": {"late-mean": {"cv": 3, "foo": 1}}},
     "params.late-mean: Strategy 'late-mean' has no parameter(s) foo; its parameters are: "),
    ({"strategies": ["unimodal"]}, "strategies: Name the modality: 'unimodal:<modality>'."),
    ({"exclude": ["stackign"]}, "exclude: Unknown strategy 'stackign'; available: "),
])
def test_harmonize_and_strategy_errors_name_the_field(over, message):
    with pytest.raises(StudyError) as err:
        parse_study(study_dict(**over))
    assert message in str(err.value)


def test_reading_data_for_prediction_skips_the_strategy_names():
    study = parse_study(study_dict(strategies=["my-plugin-strategy"]), strategies=False)
    assert study.strategies == ["my-plugin-strategy"]


def test_harmonize_builds_a_chain_per_harmonized_modality(tmp_path):
    from sklearn.preprocessing import StandardScaler

    from medfuse.preprocess import ComBat
    from medfuse.preprocess.chain import ObsChain
    from medfuse.study import harmonization_chains

    write_files(tmp_path)
    d = study_dict(batch={"file": "clinical.csv", "column": "site"},
                   harmonize={"covariates": ["age"], "reference_batch": "x",
                              "mean_only": True})
    study = parse_study(d, tmp_path)
    train, _ = study.load()
    assert study.batch_column == "site"
    chains = harmonization_chains(study.harmonize, train, study.batch_column)
    assert list(chains) == ["mrna"]                  # the clinical kind is not harmonized
    chain = chains["mrna"]
    assert isinstance(chain, ObsChain)
    combat, scaler = chain.steps
    assert isinstance(combat, ComBat) and isinstance(scaler, StandardScaler)
    assert combat.get_params() == ComBat(
        batch_col="site", covariate_cols=["age"], ref_batch="x", mean_only=True).get_params()
    with pytest.raises(StudyError, match=r"harmonize\.modalities: ComBat adjusts continuous "
                                         r"values; 'clinical' is a clinical modality "
                                         r"\(clinical modalities are not harmonized\)"):
        harmonization_chains(study.harmonize.model_copy(update={"modalities": ["clinical"]}),
                             train, "site")


def test_primary_metric_must_belong_to_the_task(tmp_path):
    from medfuse.evaluate.runner import check_primary_metric

    assert check_primary_metric(None, "survival") == "c_index"
    assert check_primary_metric(None, "classification") == "roc_auc"
    with pytest.raises(ValueError, match="'c_index' is not a metric of a classification"):
        check_primary_metric("c_index", "classification")
    with pytest.raises(ValueError, match="'brier' is not a metric of a survival"):
        check_primary_metric("brier", "survival")
