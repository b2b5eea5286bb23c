"""Loss terms by name: the registry, validation before any fit, per-term losses, and models
whose training-only terms are not needed to load them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion.neural.objectives import (
    CrossEntropy,
    LossTerm,
    Reconstruction,
    loss_term_names,
    make_loss_term,
    make_objectives,
    register_loss_term,
)
from medfuse.persist import load_model, save_model

FAST = {"n_ensemble": 1, "max_epochs": 3, "n_threads": 1, "random_state": 0}


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(60, n_genes=20, n_imaging=10, random_state=0)


def test_the_built_in_terms_are_registered_by_name():
    assert loss_term_names()[:3] == ["cross-entropy", "reconstruction", "auxiliary-heads"]
    assert isinstance(make_loss_term("cross-entropy"), CrossEntropy)
    term = make_loss_term({"name": "reconstruction", "params": {"weight": 0.25}})
    assert isinstance(term, Reconstruction) and term.weight == 0.25
    assert [type(t) for t in make_objectives(["cross-entropy", Reconstruction(2.0)])] == [
        CrossEntropy, Reconstruction]


@pytest.mark.parametrize("objectives, message", [
    (["cross-entrpy"], "objectives\\[0\\]: Unknown loss term 'cross-entrpy'; registered: "
                       "cross-entropy"),
    (["cross-entropy", {"name": "reconstruction", "params": {"wieght": 1}}],
     "objectives\\[1\\]: Loss term 'reconstruction' has no parameter\\(s\\) wieght"),
    ([3.5], "objectives\\[0\\]: A loss term is a registered name"),
    ([], "give at least one loss term"),
])
def test_a_term_that_cannot_be_made_is_refused_by_make(objectives, message):
    """Bug 3: make() accepted objectives=["cross-entropy"] and fit died with AttributeError
    ('str' object has no attribute 'network_parts')."""
    with pytest.raises(ValueError, match=message):
        make("intermediate", objectives=objectives)


def test_supervised_terms_are_refused_in_the_unsupervised_stage():
    with pytest.raises(ValueError, match="pretrain_objectives: the unsupervised stage uses "
                                         "no labels; cross-entropy need"):
        make("intermediate", pretrain_epochs=2, pretrain_objectives=["cross-entropy"])


def test_terms_given_by_name_train_and_report_their_own_losses(cohort):
    model = make("intermediate", objectives=[
        "cross-entropy", {"name": "reconstruction", "params": {"weight": 0.5}},
        "auxiliary-heads"], **FAST).fit(cohort)
    terms = model.history_[0]["term_loss"]
    assert list(terms) == ["cross-entropy", "reconstruction", "auxiliary-heads"]
    assert all(len(v) == len(model.history_[0]["train_loss"]) for v in terms.values())
    # the total is the weighted sum of the per-term means (epoch by epoch)
    total = (np.array(terms["cross-entropy"]) + 0.5 * np.array(terms["reconstruction"])
             + np.array(terms["auxiliary-heads"]))
    np.testing.assert_allclose(model.history_[0]["train_loss"], total, rtol=1e-5)
    assert model.network_parts_ == ["aux_heads", "decoders"]


def test_names_and_objects_train_the_same_network(cohort):
    by_name = make("intermediate", objectives=["cross-entropy", "reconstruction"], **FAST)
    by_object = make("intermediate", objectives=[CrossEntropy(), Reconstruction()], **FAST)
    np.testing.assert_array_equal(by_name.fit(cohort).predict_proba(cohort),
                                  by_object.fit(cohort).predict_proba(cohort))


@register_loss_term("test-latent-norm")
class LatentNorm(LossTerm):
    """A label-free term of a plugin: the mean squared latent norm."""

    supervised = False

    def __call__(self, out, batch, extra=None):
        return out["latents"].pow(2).mean()


def test_a_plugin_term_is_not_needed_to_load_the_model(cohort, tmp_path):
    model = make("intermediate", objectives=["cross-entropy", LatentNorm(0.1)],
                 pretrain_epochs=1, pretrain_objectives=[LatentNorm()], **FAST).fit(cohort)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")  # no trust for the plugin's class
    assert loaded.objectives == ["cross-entropy", {"name": "test-latent-norm",
                                                   "params": {"weight": 0.1}}]
    np.testing.assert_array_equal(loaded.predict_proba(cohort), model.predict_proba(cohort))
    assert isinstance(model.objectives[1], LatentNorm)  # the fitted model is unchanged
    assert torch.is_tensor(next(iter(loaded.module_.state_dict().values())))


def test_a_study_file_names_terms_and_a_misspelt_one_stops_before_any_fit(cohort, tmp_path):
    for m in cohort.modality_names:
        cohort.block(m).to_csv(tmp_path / f"{m}.csv")
    cohort.obs.to_csv(tmp_path / "labels.csv")
    study = {"outcome": {"file": "labels.csv", "column": "label"},
             "modalities": {m: {"file": f"{m}.csv", "kind": str(cohort.kinds[m])}
                            for m in cohort.modality_names},
             "strategies": ["intermediate"], "cv": {"folds": 2, "repeats": 1}, "seeds": 1,
             "params": {"intermediate": {**FAST, "objectives": [
                 "cross-entropy", {"name": "reconstrution", "params": {"weight": 0.5}}]}}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    result = CliRunner().invoke(app, ["benchmark", str(tmp_path / "study.yaml"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "params.intermediate" in result.output
    assert "Unknown loss term 'reconstrution'" in result.output
    assert not (tmp_path / "out" / "cache").exists()
