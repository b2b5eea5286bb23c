"""The ``contrastive`` loss term against its formula, contrastive pre-training aligning the
modalities, and the ``contrastive`` strategy learning from subjects without an outcome."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion import make
from medfuse.fusion.crossmodal.contrastive import Contrastive
from medfuse.fusion.neural import base
from medfuse.fusion.neural.layers import FusionNetwork
from medfuse.fusion.neural.objectives import Batch, make_loss_term

FAST = {"n_ensemble": 1, "n_threads": 1, "random_state": 0}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _network(n_modalities: int, latent_dim: int) -> FusionNetwork:
    return FusionNetwork([nn.Identity() for _ in range(n_modalities)], latent_dim, 2)


def _by_hand(z: np.ndarray, mask: np.ndarray, scale: float, heads=None) -> float:
    """Symmetric InfoNCE averaged over the modality pairs with 2+ shared subjects (numpy)."""

    def ce(logits: np.ndarray) -> float:
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(np.diag(log_p)))

    losses = []
    for a in range(z.shape[1]):
        for b in range(a + 1, z.shape[1]):
            rows = np.flatnonzero(mask[:, a] & mask[:, b])
            if len(rows) < 2:
                continue
            u, v = z[rows, a], z[rows, b]
            if heads is not None:
                u, v = u @ heads[a][0].T + heads[a][1], v @ heads[b][0].T + heads[b][1]
            u = u / np.linalg.norm(u, axis=1, keepdims=True)
            v = v / np.linalg.norm(v, axis=1, keepdims=True)
            logits = scale * u @ v.T
            losses.append((ce(logits) + ce(logits.T)) / 2)
    return float(np.mean(losses))


@pytest.mark.parametrize("temperature, projection_dim", [(0.07, None), (0.3, 4),
                                                         (0.004, None)])
def test_the_loss_is_symmetric_infonce_over_the_pairs(temperature, projection_dim):
    rng = np.random.default_rng(0)
    n, m, d = 9, 3, 5
    z = rng.normal(size=(n, m, d))
    mask = np.ones((n, m), dtype=bool)
    mask[[0, 3], 1] = False          # pair (0, 1): the 5 subjects 1, 2, 6, 7, 8
    mask[[4, 5], 0] = False
    mask[:, 2] = False
    mask[[1, 4], 2] = True           # pair (1, 2): subjects 1 and 4; pair (0, 2): 1 only
    term = make_loss_term({"name": "contrastive",
                           "params": {"temperature": temperature,
                                      "projection_dim": projection_dim}})
    torch.manual_seed(0)
    extra = term.init(_network(m, d), 2).double()
    batch = Batch([], torch.as_tensor(mask), torch.full((n,), -1), None)
    value = term({"latents": torch.as_tensor(z)}, batch, extra)

    scale = min(1 / temperature, 100.0)   # 1/0.004 = 250 is clamped to CLIP's 100
    heads = (None if projection_dim is None else
             [(h.weight.detach().numpy(), h.bias.detach().numpy()) for h in extra.projections])
    assert float(value.detach()) == pytest.approx(_by_hand(z, mask, scale, heads), abs=1e-6)
    assert float(extra.log_inverse_temperature.detach()) == pytest.approx(math.log(scale), abs=1e-6)
    value.backward()
    assert extra.log_inverse_temperature.grad is not None


def test_no_pair_gives_zero_attached_to_the_graph():
    term = Contrastive()
    z = torch.randn(4, 2, 3, requires_grad=True)
    mask = torch.tensor([[True, False], [True, False], [False, True], [True, True]])
    value = term({"latents": z}, Batch([], mask, torch.zeros(4, dtype=torch.long), None),
                 term.init(_network(2, 3), 2))
    assert float(value.detach()) == 0.0
    value.backward()
    assert z.grad is not None


def _shared_cohort(n: int, seed: int, unlabelled: float = 0.0) -> MultiModalData:
    """Two continuous modalities that are noisy linear views of a shared 4-d latent, the
    outcome a function of that latent; 15 % of subjects lack each modality."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"s{i:03d}" for i in range(n)], name="subject")
    shared = rng.normal(size=(n, 4))
    blocks = {}
    for name, width in (("a", 20), ("b", 12)):
        x = shared @ rng.normal(size=(4, width)) + 0.5 * rng.normal(size=(n, width))
        blocks[name] = pd.DataFrame(x, index=ids, columns=[f"{name}{j}" for j in range(width)])
    have = rng.random((n, 2)) >= 0.15
    have[~have.any(axis=1), 0] = True
    blocks = {m: b.loc[have[:, j]] for j, (m, b) in enumerate(blocks.items())}
    label = pd.Series((shared[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(float), index=ids)
    if unlabelled:
        label = label.mask(rng.random(n) < unlabelled)
    return MultiModalData(blocks, obs=pd.DataFrame({"label": label}),
                          modalities={"a": "continuous", "b": "continuous"}, outcome="label")


def _retrieval(model, data: MultiModalData, size: int = 32) -> float:
    """Top-1 accuracy of finding a subject's modality-b latent from its modality-a latent
    among ``size`` subjects (cosine similarity), over the subjects with both."""
    inputs, mask = model._torch_inputs(data)
    with torch.no_grad():
        z = model.module_.encode(inputs, mask)
    both = torch.nonzero(mask.all(dim=1), as_tuple=True)[0]
    hits, total = 0, 0
    for start in range(0, len(both) - size + 1, size):
        rows = both[start:start + size]
        u = nn.functional.normalize(z[rows, 0], dim=1)
        v = nn.functional.normalize(z[rows, 1], dim=1)
        hits += int((torch.argmax(u @ v.T, dim=1) == torch.arange(size)).sum())
        total += size
    return hits / total


def test_pretraining_lowers_the_loss_and_aligns_the_modalities():
    data = _shared_cohort(440, seed=1)
    train, test = data.loc(data.subjects[:240]), data.loc(data.subjects[240:])
    settings = {**FAST, "max_epochs": 1, "validation_fraction": 0.0, "refit": False,
                "dropout": 0.1}
    aligned = make("contrastive", pretrain_epochs=30, **settings).fit(train)
    untrained = make("contrastive", pretrain_epochs=0, **settings).fit(train)

    losses = aligned.pretrain_loss_[0]
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.7 * losses[0]
    chance = 1 / 32
    before, after = _retrieval(untrained, test), _retrieval(aligned, test)
    assert after > 5 * chance and after > before + 0.1, (before, after)


def test_the_strategy_pretrains_on_unlabelled_subjects(monkeypatch):
    data = _shared_cohort(150, seed=3, unlabelled=0.8)
    labelled = int(data.obs["label"].notna().sum())
    assert labelled < 0.3 * len(data)
    seen = []
    original = base.pretrain_module

    def recording(module, inputs, mask, **kwargs):
        seen.append((len(mask), [type(t).__name__ for t in kwargs["terms"]]))
        return original(module, inputs, mask, **kwargs)

    monkeypatch.setattr(base, "pretrain_module", recording)
    model = make("contrastive", pretrain_epochs=5, max_epochs=5, **FAST).fit(data)

    assert seen and all(n == len(data) for n, _ in seen)   # every subject, labelled or not
    assert seen[0][1] == ["Contrastive"]
    assert len(model.pretrain_loss_[0]) == 5 and np.isfinite(model.pretrain_loss_[0]).all()
    proba = model.predict_proba(data)
    assert proba.shape == (len(data), 2) and np.allclose(proba.sum(axis=1), 1)
    with pytest.raises(ValueError):    # without pre-training an outcome may not be missing
        make("contrastive", pretrain_epochs=0, max_epochs=2, **FAST).fit(data)
