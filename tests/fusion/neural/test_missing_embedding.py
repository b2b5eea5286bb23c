"""The learned "missing" embedding of the neural strategies: what may and may not depend on it.

``MaskedModalityEncoder`` puts ``module_.encode.missing[j]`` in place of modality ``j``'s
latent for subjects without it. In ``cross-attention`` that token is masked twice: as a key
(``key_padding_mask``) no present modality attends to it, and as a query its output is left
out of the pooled vector (the mean over the subject's present modalities). So the
prediction of every subject, with or without missing modalities, must not depend on it.

In ``intermediate`` (concat) the head sees ``[z_1, ..., z_M, mask]`` with the missing
embedding in the slot of a missing modality, so it is a learned input for subjects that lack
a modality (and unused for complete subjects): perturbing it must change their predictions.
That contrast shows the perturbation below reaches the network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make

FAST = {"max_epochs": 5, "random_state": 0, "n_ensemble": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(90, n_genes=20, n_imaging=10, missing={"rna": 0.3, "imaging": 0.3},
                       random_state=2)


def _perturbed(model, data, scale: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions before and after adding noise to the missing embedding (restored)."""
    before = model.predict_proba(data)
    missing = model.module_.encode.missing
    saved = missing.detach().clone()
    try:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            missing.add_(scale * torch.randn(missing.shape, generator=gen))
        after = model.predict_proba(data)
    finally:
        with torch.no_grad():
            missing.copy_(saved)
    return before, after


def test_cross_attention_ignores_the_missing_embedding_for_every_subject(cohort):
    model = make("cross-attention", n_heads=2, **FAST).fit(cohort)
    incomplete = ~cohort.available[model.modalities_].to_numpy().all(axis=1)
    assert 10 < incomplete.sum() < len(cohort)  # subjects with and without missing ones
    before, after = _perturbed(model, cohort)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)


def test_intermediate_uses_the_missing_embedding_for_incomplete_subjects(cohort):
    model = make("intermediate", **FAST).fit(cohort)
    incomplete = ~cohort.available[model.modalities_].to_numpy().all(axis=1)
    before, after = _perturbed(model, cohort)
    np.testing.assert_allclose(after[~incomplete], before[~incomplete], rtol=0, atol=1e-6)
    changed = np.abs(after - before).max(axis=1) > 1e-4
    assert changed[incomplete].all()
