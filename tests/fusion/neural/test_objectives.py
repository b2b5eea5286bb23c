"""Pluggable training: one settings object, loss terms, an unsupervised stage that uses
subjects without an outcome, and pre-built or pretrained encoders."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from torch import nn

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion.neural.encoders import EncoderSpec, export_encoder
from medfuse.fusion.neural.models import AttentionFusion, NeuralFusion
from medfuse.fusion.neural.objectives import (
    AuxiliaryHeads,
    CrossEntropy,
    LossTerm,
    Reconstruction,
)
from medfuse.fusion.neural.settings import NeuralSettings

FAST = {"max_epochs": 8, "n_ensemble": 1, "refit": False, "random_state": 0}


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(120, n_genes=30, n_imaging=12, random_state=3)


def test_one_settings_object_gives_every_class_its_signature():
    shared = set(NeuralSettings.defaults())
    for cls, extra in ((AttentionFusion, {"attn_dim"}), (NeuralFusion, set())):
        params = inspect.signature(cls.__init__).parameters
        assert set(params) - {"self"} == shared | extra
        assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert AttentionFusion().latent_dim == 16 and make("cross-attention").lr == 3e-4
    est = make("attention", latent_dim=8, attn_dim=4)
    assert est.get_params()["attn_dim"] == 4 and clone(est).latent_dim == 8
    assert est.settings.latent_dim == 8
    with pytest.raises(TypeError, match="unexpected parameter"):
        AttentionFusion(latent=3)


def test_default_objectives_are_the_explicit_terms(cohort):
    default = make("intermediate", auxiliary=0.5, **FAST).fit(cohort)
    explicit = make("intermediate", objectives=[CrossEntropy(1.0), Reconstruction(1.0),
                                                AuxiliaryHeads(0.5)], **FAST).fit(cohort)
    np.testing.assert_array_equal(default.predict_proba(cohort), explicit.predict_proba(cohort))


class LatentNorm(LossTerm):
    """A custom term on the latents: their mean squared norm."""

    supervised = False

    def __call__(self, out, batch, extra=None):
        z = out["latents"]
        return (z ** 2).mean()


def test_a_custom_term_shapes_training(cohort):
    plain = make("intermediate", objectives=[CrossEntropy()], lr=1e-2, **FAST).fit(cohort)
    shrunk = make("intermediate", objectives=[CrossEntropy(), LatentNorm(50.0)], lr=1e-2,
                  **FAST).fit(cohort)

    def latent_norm(est):
        inputs, mask = est._torch_inputs(cohort)
        with torch.no_grad():
            return float((est.module_.outputs(inputs, mask)["latents"] ** 2).mean())

    assert latent_norm(shrunk) < 0.5 * latent_norm(plain)


def test_unsupervised_stage_uses_subjects_without_an_outcome(cohort):
    obs = cohort.obs.copy()
    obs.loc[obs.index[:80], "label"] = np.nan  # two thirds unlabelled
    partial = cohort.__class__._from_aligned(cohort.subjects, cohort._blocks,
                                             cohort._available, cohort._specs, obs,
                                             cohort.outcome, cohort.uns)
    with pytest.raises(ValueError, match="missing for 80 subject"):
        make("intermediate", **FAST).fit(partial)
    est = make("intermediate", pretrain_epochs=5, **FAST).fit(partial)
    loss = est.pretrain_loss_[0]
    assert len(loss) == 5 and loss[-1] < loss[0]
    assert list(est.classes_) == [0, 1]
    # the unlabelled subjects changed the network: fitting on the labelled ones alone differs
    alone = make("intermediate", pretrain_epochs=5, **FAST).fit(partial[80:])
    assert not np.allclose(est.predict_proba(cohort), alone.predict_proba(cohort))
    with pytest.raises(ValueError, match="no labels"):
        make("intermediate", pretrain_epochs=2, pretrain_objectives=[CrossEntropy()],
             **FAST).fit(partial)


def test_pretrained_frozen_encoder_keeps_its_weights(cohort, tmp_path):
    first = make("intermediate", **FAST).fit(cohort)
    path = export_encoder(first, "rna", tmp_path / "rna.safetensors")
    second = make("intermediate", encoders={"rna": EncoderSpec("mlp", weights=str(path),
                                                              freeze=True)},
                  **{**FAST, "random_state": 7}).fit(cohort)
    a = first.module_.encode.encoders[first.modalities_.index("rna")].state_dict()
    b = second.module_.encode.encoders[second.modalities_.index("rna")].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    unfrozen = make("intermediate", encoders={"rna": EncoderSpec("mlp", weights=str(path))},
                    **{**FAST, "random_state": 7}).fit(cohort)
    c = unfrozen.module_.encode.encoders[0].state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(ValueError, match="do not fit"):
        make("intermediate", encoders={"imaging": EncoderSpec("mlp", weights=str(path))},
             **FAST).fit(cohort)


def test_a_pre_built_module_and_a_wrong_one(cohort):
    width = cohort.n_features("imaging")
    module = nn.Sequential(nn.Linear(width, 16), nn.Tanh(), nn.Linear(16, 32))
    est = make("intermediate", encoders={"imaging": module}, **FAST).fit(cohort)
    enc = est.module_.encode.encoders[est.modalities_.index("imaging")]
    assert isinstance(enc, nn.Sequential) and enc is not module
    assert est.predict_proba(cohort).shape == (120, 2)
    wrong = nn.Linear(width, 5)
    with pytest.raises(ValueError, match=r"not \(32,\)"):
        make("intermediate", encoders={"imaging": wrong}, **FAST).fit(cohort)
    with pytest.raises(ValueError, match="Unknown encoder 'nope'"):
        make("intermediate", encoders={"imaging": "nope"}, **FAST).fit(cohort)


def test_predictions_from_many_threads_equal_serial_ones(cohort):
    from concurrent.futures import ThreadPoolExecutor

    est = make("cross-attention", **FAST).fit(cohort)
    parts = [cohort[np.arange(i, 120, 7)] for i in range(7)]
    serial = [est.predict_proba(p) for p in parts]
    threads = torch.get_num_threads()
    with ThreadPoolExecutor(7) as pool:
        parallel = list(pool.map(est.predict_proba, parts * 3))
    for i, p in enumerate(parallel):
        np.testing.assert_allclose(p, serial[i % 7], rtol=1e-6, atol=1e-7)
    assert torch.get_num_threads() == threads
    assert isinstance(pd.DataFrame(parallel[0]), pd.DataFrame)
