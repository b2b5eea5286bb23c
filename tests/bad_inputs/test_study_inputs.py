"""Bad input to the study file and the main job, tried through the command line as a new user
would: every case asserts the exit code and the message.

Exit codes: 0 success (warnings on the console), 1 the run finished but every strategy
failed, 2 bad input (nothing fitted).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.persist import load_model, read_manifest

runner = CliRunner()
SITES = ("A", "B", "C")


# ---------------------------------------------------------------------- small cohorts
def write_cohort(folder: Path, n: int = 60, seed: int = 0, site=None, label=None,
                 ids=None) -> Path:
    """``labels.csv`` (label), ``rna.csv`` (10 continuous features: the first three carry
    the outcome, every feature a site shift) and ``clinical.csv`` (age, sex, site, patient:
    two samples per patient). ``site`` and ``label`` override the random ones."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = list(ids) if ids is not None else [f"S{i:03d}" for i in range(n)]
    label = (np.asarray(label) if label is not None
             else rng.permutation(np.arange(n) % 2))
    site = np.asarray(site) if site is not None else np.asarray(SITES)[np.arange(n) % 3]
    shift = {s: rng.normal(scale=1.5, size=10) for s in sorted(set(site))}
    rna = rng.normal(size=(n, 10)) + np.stack([shift[s] for s in site])
    rna[:, :3] += 1.2 * label[:, None]
    frame = pd.DataFrame(rna, index=ids, columns=[f"g{k}" for k in range(10)])
    frame.rename_axis("id").to_csv(folder / "rna.csv")
    pd.DataFrame({"label": label}, index=ids).rename_axis("id").to_csv(folder / "labels.csv")
    pd.DataFrame({"age": rng.normal(60, 8, n).round(), "sex": rng.choice(["f", "m"], n),
                  "site": site, "patient": [f"P{i // 2:03d}" for i in range(n)]},
                 index=ids).rename_axis("id").to_csv(folder / "clinical.csv")
    return folder


def write_study(folder: Path, **over) -> Path:
    study = {"name": "bad-input", "outcome": {"file": "labels.csv", "column": "label"},
             "modalities": {"rna": {"file": "rna.csv", "kind": "continuous"},
                            "clinical": {"file": "clinical.csv", "kind": "clinical"}},
             "batch": {"file": "clinical.csv", "column": "site"},
             "strategies": ["unimodal:rna"], "cv": {"folds": 3, "repeats": 1, "seed": 0},
             "seeds": 1, "robustness": False}
    study.update(over)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def benchmark(study: Path, out: Path, *extra: str):
    return runner.invoke(app, ["benchmark", str(study), "--out", str(out), "--no-explain",
                               *extra])


def said(result) -> str:
    """The console output on one line (the console wraps long lines)."""
    return " ".join(result.output.split())


def assert_exit(result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)


# ---------------------------------------------------------------------- 1 columns as features
def test_batch_and_group_columns_are_not_features(tmp_path):
    study = write_study(write_cohort(tmp_path), strategies=["unimodal:clinical"],
                        groups={"file": "clinical.csv", "column": "patient"})
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 0)
    assert ("modality 'clinical': 'site' (batch), 'patient' (groups) of clinical.csv are "
            "not features") in said(result)
    model = load_model(tmp_path / "out" / "model")
    assert model.feature_names_["clinical"] == ["age", "sex"]


def test_outcome_column_in_a_modality_file_is_not_a_feature(tmp_path):
    folder = write_cohort(tmp_path)
    clinical = pd.read_csv(folder / "clinical.csv", index_col=0)
    clinical["label"] = pd.read_csv(folder / "labels.csv", index_col=0)["label"]
    clinical.to_csv(folder / "clinical.csv")
    study = write_study(folder, outcome={"file": "clinical.csv", "column": "label"},
                        strategies=["unimodal:clinical"])
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 0)
    assert ("modality 'clinical': 'label' (outcome), 'site' (batch) of clinical.csv are not "
            "features") in said(result)
    model = load_model(tmp_path / "out" / "model")
    assert model.feature_names_["clinical"] == ["age", "sex", "patient"]
    # a label leaking into the features would give a perfect score
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    auc = res[(res["metric"] == "roc_auc") & (res["split"] == "cv")]["mean"].iloc[0]
    assert auc < 0.8


# ---------------------------------------------------------------------- 2 harmonize
HARMONIZE = {"method": "ComBat", "modalities": ["rna"]}


@pytest.fixture(scope="module")
def harmonized(tmp_path_factory):
    """A benchmark with ComBat on rna, every fold's ComBat fit recorded."""
    from medfuse.preprocess import harmonize as hz

    root = tmp_path_factory.mktemp("harmonized")
    folder = write_cohort(root / "data", n=60, seed=1)
    study = write_study(folder, strategies=["unimodal:rna", "late-mean"],
                        harmonize={**HARMONIZE, "reference_batch": "A"})
    fitted_on: list[tuple[str, ...]] = []
    original = hz.ComBat.fit

    def recording_fit(self, X, y=None, *, batch=None, covariates=None, obs=None):
        fitted_on.append(tuple(map(str, X.index)))
        return original(self, X, y, batch=batch, covariates=covariates, obs=obs)

    hz.ComBat.fit = recording_fit
    try:  # --budget 0: fits in this process, where the recording patch is in place
        result = benchmark(study, root / "out", "--budget", "0")
    finally:
        hz.ComBat.fit = original
    return root, folder, study, result, fitted_on


def test_harmonize_section_runs_and_is_refitted_in_every_fold(harmonized):
    from medfuse.config import load_study
    from medfuse.evaluate.splits import make_splits

    _, _, study, result, fitted_on = harmonized
    assert_exit(result, 0)
    assert ("harmonize: ComBat on rna (batch column 'site'), then each modality's default "
            "preprocessing, refitted inside every fold") in said(result)
    train, _ = load_study(study).load()
    splits = make_splits(train.y, folds=3, repeats=1, seed=0)
    subjects = np.asarray(train.subjects)
    fold_sets = {tuple(sorted(subjects[s.train])) for s in splits}
    recorded = {tuple(sorted(ids)) for ids in fitted_on}
    # every fold's training subjects (unimodal and late-mean's final fits), and all
    # subjects once for the saved model; nothing ever fitted on a held-out subject
    assert fold_sets <= recorded
    assert tuple(sorted(subjects)) in recorded
    for ids in fitted_on:
        assert any(set(ids) <= set(f) for f in fold_sets) or len(ids) == len(subjects)


def test_fold_model_holds_a_combat_fitted_on_its_fold(harmonized):
    from medfuse.config import load_study
    from medfuse.evaluate.splits import make_splits
    from medfuse.study import strategy_estimators

    _, _, study_file, _, _ = harmonized
    study = load_study(study_file)
    train, _ = study.load()
    site = train.obs["site"].to_numpy()
    splits = make_splits(site, folds=3, repeats=1, seed=0, scheme="leave-site-out",
                         sites=site)
    split = next(s for s in splits if "A" not in set(site[s.test]))   # A: the reference
    est = strategy_estimators(train, ["unimodal:rna"], harmonize=study.harmonize,
                              batch="site")["unimodal:rna"]
    model = est.fit(train[split.train])
    combat = model.preprocessors_["rna"].steps_[0]
    held_out = set(site[split.test])
    assert combat.batches_ == sorted(set(site[split.train]))
    assert not held_out & set(combat.batches_)
    np.testing.assert_array_equal(combat.n_per_batch_,
                                  [np.sum(site[split.train] == b) for b in combat.batches_])


def _new_subjects(folder: Path, site: str, n: int = 6, seed: int = 9) -> Path:
    new = write_cohort(folder, n=n, seed=seed, site=[site] * n,
                       ids=[f"N{i:02d}" for i in range(n)])
    clinical = pd.read_csv(new / "clinical.csv", index_col=0)
    clinical[["site"]].to_csv(new / "obs.csv")
    clinical.drop(columns=["site"]).to_csv(new / "clinical.csv")
    (new / "labels.csv").unlink()
    return new


def test_saved_model_predicts_new_subjects_of_a_seen_batch(harmonized, tmp_path):
    root, _, _, _, _ = harmonized
    new = _new_subjects(tmp_path / "new", "B")
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(new), "--out",
                                 str(tmp_path / "p.csv")])
    assert_exit(result, 0)
    assert "wrote 6 predictions" in said(result)
    from medfuse.predictor import Predictor

    predictor = Predictor.load(root / "out" / "model")
    data = predictor.read(new)
    table = pd.read_csv(tmp_path / "p.csv", index_col=0)
    np.testing.assert_allclose(table.filter(like="proba_").to_numpy(),
                               predictor.model.predict_proba(data), atol=1e-10)


def test_unseen_batch_fails_then_works_with_a_policy(harmonized, tmp_path):
    root, _, _, _, _ = harmonized
    new = _new_subjects(tmp_path / "new", "Z")
    model = str(root / "out" / "model")
    out = str(tmp_path / "p.csv")
    result = runner.invoke(app, ["predict", model, str(new), "--out", out])
    assert_exit(result, 2)
    assert ("error: Batch(es) ['Z'] of the new subjects had no subject among those the "
            "model's ComBat was fitted on (seen: ['A', 'B', 'C']), so their batch effect is "
            "unknown. Choose --unseen-batch fit-new (estimate it from the new batch's own "
            "subjects) or --unseen-batch reference (leave it unadjusted, as the reference "
            "batch).") in said(result)
    probas = {}
    # one ComBat per strategy handed over (an ensemble holds several)
    weights = read_manifest(root / "out" / "model")["handed_over"].get("weights") or {}
    members = max(len(weights), 1)
    harmonizers = f"{members} harmonizer{'s' if members > 1 else ''}"
    for policy in ("reference", "fit-new"):
        result = runner.invoke(app, ["predict", model, str(new), "--out", out,
                                     "--unseen-batch", policy])
        assert_exit(result, 0)
        assert f"unseen batches: {policy} (set on {harmonizers})" in said(result)
        probas[policy] = pd.read_csv(out, index_col=0)["proba_1"].to_numpy()
        assert np.isfinite(probas[policy]).all()
    assert not np.allclose(probas["reference"], probas["fit-new"])
    result = runner.invoke(app, ["predict", model, str(new), "--out", out,
                                 "--unseen-batch", "nearest"])
    assert_exit(result, 2)
    assert ("--unseen-batch: 'nearest' is not a policy; choose error, reference or fit-new"
            in said(result))


def test_predict_without_the_batch_column_says_where_to_give_it(harmonized, tmp_path):
    root, _, _, _, _ = harmonized
    new = _new_subjects(tmp_path / "new", "B")
    (new / "obs.csv").unlink()
    result = runner.invoke(app, ["predict", str(root / "out" / "model"), str(new), "--out",
                                 str(tmp_path / "p.csv")])
    assert_exit(result, 2)
    assert ("error: The model harmonizes its input by batch (obs column 'site'), which the new "
            "subjects lack: give it in an obs file (first column = subject ID) next to the "
            "modality files, or predict from a study file with batch: {file: ..., column: "
            "site}.") in said(result)


def test_combat_seq_needs_counts_and_combat_options_are_its_own(tmp_path):
    study = write_study(write_cohort(tmp_path),
                        harmonize={"method": "ComBat-seq", "modalities": ["rna"]})
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("error: harmonize.modalities: ComBat-seq adjusts counts; 'rna' is a continuous "
            "modality (use method: ComBat)") in said(result)
    study = write_study(tmp_path, harmonize={"method": "ComBat-seq", "mean_only": True})
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert "harmonize.mean_only: a ComBat option; ComBat-seq has no mean_only" in said(result)


def test_preprocessors_in_params_points_to_the_harmonize_section(tmp_path):
    study = write_study(write_cohort(tmp_path),
                        params={"unimodal:rna": {"preprocessors": "ComBat"}})
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("Invalid study file: params.unimodal:rna.preprocessors: preprocessing is not set "
            "per strategy in a study file; request ComBat or ComBat-seq in the harmonize: "
            "section") in said(result)


def test_preprocessors_as_a_study_key_points_to_the_harmonize_section(tmp_path):
    study = write_study(write_cohort(tmp_path), preprocessors="ComBat")
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("error: Invalid study file: preprocessors: Extra inputs are not permitted; batch "
            "harmonization is requested in the harmonize: section (method: ComBat or "
            "ComBat-seq)") in said(result)


def test_harmonize_without_a_batch_column_is_refused(tmp_path):
    study = write_study(write_cohort(tmp_path), harmonize=HARMONIZE)
    raw = yaml.safe_load(study.read_text())
    del raw["batch"]
    study.write_text(yaml.safe_dump(raw))
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("Invalid study file: harmonize.batch: give the batch column (harmonize.batch or "
            "the study's batch: {file, column})") in said(result)


# ---------------------------------------------------------------------- 3 confounding
def test_batch_identical_to_outcome_with_combat_is_an_error(tmp_path):
    label = np.arange(60) % 2
    folder = write_cohort(tmp_path, label=label, site=np.where(label == 1, "B", "A"))
    study = write_study(folder, harmonize=HARMONIZE)
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("error: batch 'site' is perfectly confounded with the outcome 'label' in the "
            "training subjects of 3 of 3 folds (Cramér's V = 1.00; every batch holds one "
            "class): ComBat would remove the outcome signal together with the batch effect. "
            "Add the outcome-related covariates (harmonize.covariates), do not harmonize "
            "(remove the harmonize section), or use a design where batches hold both "
            "classes.") in said(result)
    assert not (tmp_path / "out" / "results.csv").exists()


def test_batch_identical_to_outcome_without_harmonization_warns(tmp_path):
    label = np.arange(60) % 2
    folder = write_cohort(tmp_path, label=label, site=np.where(label == 1, "B", "A"))
    result = benchmark(write_study(folder), tmp_path / "out")
    assert_exit(result, 0)
    assert ("warning: batch 'site' is perfectly confounded with the outcome 'label' in the "
            "training subjects of 3 of 3 folds (Cramér's V = 1.00; every batch holds one "
            "class): the scores cannot tell the outcome from the batch.") in said(result)
    report = (tmp_path / "out" / "report.html").read_text()
    text = " ".join(re.sub("<[^>]+>", " ", report).split())
    assert ("Batch 'site' and outcome 'label': Cramér's V 1.00 in the training subjects of "
            "every fold (perfect confounding)") in text


def test_a_70_30_association_warns_with_its_cramers_v(tmp_path):
    # 70% of class 1 in site B, 70% of class 0 in site A: V = 0.40 on all subjects (0.39
    # bias-corrected); 150 subjects keep each fold's training part close to it
    n = 150
    label = np.arange(n) % 2
    ones, zeros = np.flatnonzero(label == 1), np.flatnonzero(label == 0)
    site = np.full(n, "A", dtype=object)
    site[ones[:round(0.7 * len(ones))]] = "B"
    site[zeros[:round(0.3 * len(zeros))]] = "B"
    folder = write_cohort(tmp_path, n=n, label=label, site=site)
    study = write_study(folder, harmonize=HARMONIZE)
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 0)
    text = said(result)
    found = re.search(r"warning: batch 'site' is associated with the outcome 'label' "
                      r"\(moderate: bias-corrected Cramér's V (0\.\d\d)\u2013(0\.\d\d), "
                      r"median (0\.\d\d) in the training subjects of the 3 folds; 0\.3 = "
                      r"moderate, 0\.5 = strong\): ComBat without outcome-related covariates "
                      r"\(harmonize\.covariates\) removes part of the outcome signal with the "
                      r"batch effect\.", text)
    assert found, text
    low, high, median = (float(g) for g in found.groups())
    assert 0.3 <= low <= median <= high < 0.5
    assert median == pytest.approx(0.4, abs=0.05)


# ---------------------------------------------------------------------- 4 one-subject batch
def test_a_one_subject_batch_in_a_test_fold_names_cause_and_remedies(tmp_path):
    site = np.asarray(SITES)[np.arange(60) % 3].astype(object)
    site[7] = "D"
    folder = write_cohort(tmp_path, site=site)
    study = write_study(folder, harmonize=HARMONIZE)
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert ("error: harmonize: batch 'D' (1 subject) has no subject in the training part of "
            "fold r0f") in said(result)
    assert ("so the ComBat fitted there cannot adjust its test subjects. Merge the batch "
            "into another one, set harmonize.unseen_batch to 'fit-new' (estimate it from its "
            "own subjects) or 'reference' (leave it unadjusted; needs "
            "harmonize.reference_batch), or evaluate unseen sites on purpose with cv.scheme: "
            "leave-site-out and one of those policies.") in said(result)
    study = write_study(folder, harmonize={**HARMONIZE, "unseen_batch": "fit-new"})
    assert_exit(benchmark(study, tmp_path / "out2"), 0)


# ---------------------------------------------------------------------- 5 subject IDs
@pytest.mark.parametrize(("rename", "modality_id", "label_id", "why"), [
    (str.lower, "s000", "S000", "same after lower-casing"),
    (lambda i: f" {i}", " S000", "S000", "same after stripping whitespace"),
    (lambda i: str(int(i[1:])), "0", "000", "same after dropping leading zeros"),
])
def test_subject_ids_that_differ_between_files(tmp_path, rename, modality_id, label_id, why):
    folder = write_cohort(tmp_path, n=30)
    for f in ("rna.csv", "clinical.csv"):
        t = pd.read_csv(folder / f, index_col=0)
        t.index = [rename(i) for i in t.index]
        t.rename_axis("id").to_csv(folder / f)
    if modality_id == "0":     # labels keyed 000, 001, ...; data files 0, 1, ...
        labels = pd.read_csv(folder / "labels.csv", index_col=0)
        labels.index = [i[1:] for i in labels.index]
        labels.rename_axis("id").to_csv(folder / "labels.csv")
    result = benchmark(write_study(folder), tmp_path / "out")
    assert_exit(result, 2)
    text = said(result)
    assert "error: Subject IDs differ between files: 30 subject(s) of rna.csv have no " \
           "outcome in labels.csv:" in text, text
    assert "30 subject(s) of labels.csv are in no modality file:" in text
    assert (f"Near matches: {modality_id!r} in rna.csv looks like {label_id!r} in labels.csv "
            f"({why})") in text
    assert "(30 in all). Make the IDs in the first column of every file identical." in text


# ---------------------------------------------------------------------- 6 unknown names
@pytest.mark.parametrize(("over", "expected"), [
    ({"strategies": ["late-meen"]},
     "Invalid study file: strategies: Unknown strategy 'late-meen'; available: "),
    ({"exclude": ["earyl"]}, "Invalid study file: exclude: Unknown strategy 'earyl'; "
                             "available: "),
    ({"params": {"late-meen": {"cv": 3}}},
     "Invalid study file: params: Unknown strategy 'late-meen'; available: "),
    ({"params": {"late-mean": {"folds": 3}}},
     "Invalid study file: params.late-mean: Strategy 'late-mean' has no parameter(s) folds; "
     "its parameters are: base_estimator, class_weight, combine, cv, learner, preprocessors, "
     "random_state."),
])
def test_unknown_strategy_or_parameter_in_the_study_file(tmp_path, over, expected):
    result = benchmark(write_study(write_cohort(tmp_path), **over), tmp_path / "out")
    assert_exit(result, 2)
    assert expected in said(result)
    # one message (the console wraps it), no traceback
    assert "late-mean" in said(result) and "Traceback" not in result.output
    assert said(result).startswith("error:") and said(result).count("error:") == 1


def test_unknown_strategy_on_the_command_line(tmp_path):
    result = benchmark(write_study(write_cohort(tmp_path)), tmp_path / "out",
                       "--strategies", "late-mean,stackign")
    assert_exit(result, 2)
    assert "error: --strategies: Unknown strategy 'stackign'; available: " in said(result)
    assert "stacking" in said(result) and isinstance(result.exception, SystemExit)


def test_a_strategy_for_a_modality_the_data_lacks(tmp_path):
    result = benchmark(write_study(write_cohort(tmp_path), strategies=["unimodal:mrna"]),
                       tmp_path / "out")
    assert_exit(result, 2)
    assert ("error: strategies: 'unimodal:mrna' names a modality the data does not have "
            "(rna, clinical).") in said(result)


# ---------------------------------------------------------------------- 7 every strategy fails
def test_every_strategy_failing_exits_1_and_still_writes_the_outputs(tmp_path):
    study = write_study(write_cohort(tmp_path), strategies=["unimodal:rna", "late-mean"],
                        params={"unimodal:rna": {"class_weight": "bogus"},
                                "late-mean": {"class_weight": "bogus"}})
    out = tmp_path / "out"
    result = benchmark(study, out)
    assert_exit(result, 1)
    text = said(result)
    assert "error: every strategy failed; nothing to rank or save." in text
    for name in ("unimodal:rna", "late-mean"):
        assert (f"{name}: ValueError: class_weight must be None, 'balanced', a dict or a "
                "sequence, got 'bogus'.") in text
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures["strategy"]) == ["late-mean", "unimodal:rna"]
    assert failures["error"].str.contains("class_weight must be").all()
    assert (out / "results.csv").exists() and (out / "report.html").exists()
    assert "bogus" in (out / "report.html").read_text()
    assert not (out / "model").exists()


# ---------------------------------------------------------------------- 8 headers, constants
def test_duplicate_feature_names_in_a_header(tmp_path):
    folder = write_cohort(tmp_path)
    text = (folder / "clinical.csv").read_text().splitlines()
    text[0] = text[0].replace("sex", "age")
    (folder / "clinical.csv").write_text("\n".join(text) + "\n")
    result = benchmark(write_study(folder), tmp_path / "out")
    assert_exit(result, 2)
    # the message starts with the file's path, which the console may break anywhere
    squeezed = "".join(result.output.split())
    expected = ("clinical.csv: duplicate column name(s) 'age' in the header row (pandas would "
                "rename them 'age.1', ...); give every column its own name.")
    assert squeezed.startswith("error:") and "".join(expected.split()) in squeezed, \
        result.output


def test_zero_variance_features_are_reported_in_the_data_summary(tmp_path):
    folder = write_cohort(tmp_path)
    rna = pd.read_csv(folder / "rna.csv", index_col=0)
    rna["g3"] = 1.0
    rna["g4"] = 0.0
    rna.to_csv(folder / "rna.csv")
    result = benchmark(write_study(folder), tmp_path / "out")
    assert_exit(result, 0)
    assert ("zero-variance features: rna 2 (kept; the default z-score maps them to 0, so "
            "they carry no weight)") in said(result)


def test_screening_more_features_than_the_block_names_the_modality(tmp_path):
    study = write_study(write_cohort(tmp_path),
                        screening={"method": "variance", "keep": 100000, "modalities": ["rna"]})
    result = benchmark(study, tmp_path / "out")
    assert_exit(result, 2)
    assert "error: screening.keep: 100,000 features is not fewer than the" in said(result)
    assert "of modality 'rna'" in said(result)
