"""A study's ``screening:`` section: off by default, refitted inside every fold (a planted
leak shows the difference), recorded in the report and the saved model's manifest, and
refused with the modality named when it cannot apply."""

import warnings

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from medfuse.config import ScreeningSpec, Study, StudyError, parse_study
from medfuse.data import MultiModalData
from medfuse.evaluate import run_benchmark
from medfuse.predictor import fitted_parts
from medfuse.preprocess.screening import FeatureScreen
from medfuse.study import run_study, strategy_estimators


def noise_cohort(n=60, p=1000, seed=0) -> MultiModalData:
    """An outcome that no feature predicts: pure-noise ``rna`` (p features) and a narrow
    ``clinical`` block."""
    rng = np.random.default_rng(seed)
    ids = [f"S{i:03d}" for i in range(n)]
    blocks = {"rna": pd.DataFrame(rng.normal(size=(n, p)), index=ids,
                                  columns=[f"g{j}" for j in range(p)]),
              "clinical": pd.DataFrame(rng.normal(size=(n, 3)), index=ids,
                                       columns=["a", "b", "c"])}
    obs = pd.DataFrame({"label": np.tile([0, 1], n // 2)}, index=ids)
    return MultiModalData(blocks, obs=obs, outcome="label",
                          modalities={"rna": "continuous", "clinical": "continuous"})


def screens(obj) -> list[FeatureScreen]:
    """Every fitted FeatureScreen reachable through a fitted model's attributes."""
    return fitted_parts(obj, FeatureScreen, "support_")


def test_off_by_default():
    data = noise_cohort(20, 50)
    assert Study.model_fields["screening"].default is None
    est = strategy_estimators(data, ["early"])["early"]
    assert not screens_in(est.get_params(deep=False).get("preprocessors"))


def screens_in(pre) -> bool:
    from medfuse.preprocess.chain import ObsChain

    return isinstance(pre, dict) and any(
        isinstance(t, ObsChain) and any(isinstance(s, FeatureScreen) for s in t.steps)
        for t in pre.values())


def test_default_screens_only_the_modalities_wider_than_keep():
    data = noise_cohort(20, 50)
    est = strategy_estimators(data, ["early"], screening={"method": "variance", "keep": 10})
    pre = est["early"].get_params(deep=False)["preprocessors"]
    assert set(pre) == {"rna"} and screens_in(pre)


def test_screening_is_refitted_on_the_training_subjects_of_each_fold():
    """Planted leak: on pure noise, choosing the 10 features most associated with the
    outcome on all subjects and then cross-validating scores far above chance; the same
    screening refitted inside every fold scores at chance."""
    data = noise_cohort()
    spec = {"method": "univariate", "keep": 10, "modalities": ["rna"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inside = strategy_estimators(data, ["unimodal:rna"], screening=spec)
        in_fold = run_benchmark(data, inside, folds=5, repeats=2, seeds=1,
                                robustness=False).results()
        leaked = FeatureScreen("univariate", keep=10, outcome="label").fit(
            data.block("rna"), obs=data.obs)
        kept = data.block("rna").columns[leaked.support_]
        leaky_data = MultiModalData({"rna": data.block("rna")[kept]}, obs=data.obs,
                                    outcome="label", modalities={"rna": "continuous"})
        leaky = run_benchmark(leaky_data, ["unimodal:rna"], folds=5, repeats=2, seeds=1,
                              robustness=False).results()

    def auc(table):
        return table[(table["metric"] == "roc_auc") & (table["split"] == "cv")]["mean"].iloc[0]

    print(f"leaky AUC {auc(leaky):.3f}, in-fold AUC {auc(in_fold):.3f}")
    assert auc(leaky) > 0.85, auc(leaky)
    assert abs(auc(in_fold) - 0.5) < 0.15, auc(in_fold)
    # a model fitted on a subset of subjects screens on those subjects alone
    train = data[np.arange(40)]
    fitted = strategy_estimators(train, ["unimodal:rna"], screening=spec)["unimodal:rna"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted.fit(train)
    (screen,) = screens(fitted)
    alone = FeatureScreen("univariate", keep=10, outcome="label").fit(train.block("rna"),
                                                                      obs=train.obs)
    assert np.array_equal(screen.support_, alone.support_)
    assert not np.array_equal(screen.support_, leaked.support_)


def test_recorded_in_the_report_and_the_manifest(tmp_path):
    from medfuse.persist import read_manifest

    data = noise_cohort(40, 300, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_study(data, None, tmp_path, strategies=["unimodal:rna"], folds=2,
                        repeats=1, seeds=1, robustness=False, explain=False,
                        screening={"method": "variance", "keep": 25})
    page = BeautifulSoup(out.report.read_text(), "html.parser")
    text = page.get_text(" ")
    assert "Feature screening" in text and "rna: 25 of 300" in text
    manifest = read_manifest(out.model)
    assert manifest["screening"] == {"method": "variance", "keep": 25, "modalities": ["rna"]}
    assert out.result.settings["screening"]["modalities"] == ["rna"]
    # the saved model loads with the exact allowlist and keeps its 25 features
    from medfuse.persist import load_model

    (screen,) = screens(load_model(out.model))
    assert screen.support_.sum() == 25
    # no screening: no section, no manifest entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off = run_study(data, None, tmp_path / "off", strategies=["unimodal:rna"], folds=2,
                        repeats=1, seeds=1, robustness=False, explain=False)
    assert "Feature screening" not in BeautifulSoup(off.report.read_text(),
                                                    "html.parser").get_text(" ")
    assert "screening" not in read_manifest(off.model)


@pytest.mark.parametrize(("spec", "match"), [
    ({"keep": 1000, "modalities": ["rna"]},
     r"screening.keep: 1,000 features is not fewer than the 1,000 of modality 'rna'"),
    ({"keep": 5000}, r"no modality has more features than screening.keep \(5,000\).*rna: 1,000"),
    ({"keep": 2, "modalities": ["imaging"]}, r"'imaging' is not a modality of the study"),
])
def test_bad_screening_names_the_modality(spec, match):
    with pytest.raises(StudyError, match=match):
        strategy_estimators(noise_cohort(20), ["early"], screening=spec)


def test_a_study_file_refuses_an_unknown_method_with_its_place():
    def study(screening):
        return parse_study({"name": "s", "outcome": {"file": "l.csv", "column": "y"},
                            "modalities": {"rna": {"file": "r.csv"}},
                            "screening": screening}, strategies=False)

    with pytest.raises(ValueError, match=r"screening\.method"):
        study({"method": "lasso", "keep": 10})
    with pytest.raises(ValueError, match=r"screening\.keep"):
        study({"keep": 0})
    with pytest.raises(ValueError, match=r"screening\.modalities"):
        study({"keep": 5, "modalities": ["mrna"]})
    assert study({"keep": 5}).screening == ScreeningSpec(method="variance", keep=5)
