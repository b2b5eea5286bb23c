"""Shared/specific disentanglement: the loss term against its formula, and shared parts
that agree across modalities on a cohort whose modalities share a latent factor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.fusion.crossmodal.disentangle import Disentangle, shared_width
from medfuse.fusion.neural.objectives import Batch, make_loss_term


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _by_hand(z: np.ndarray, mask: np.ndarray, k: int) -> tuple[float, float]:
    """Alignment and orthogonality parts in numpy (module docstring's formula)."""

    def standardise(x):
        x = x - x.mean(axis=0)
        return x / (x.std(axis=0, ddof=1) + 1e-6)

    aligns, orths = [], []
    m = z.shape[1]
    for a in range(m):
        rows = mask[:, a]
        if rows.sum() >= 2:
            s = z[rows, a, :k] - z[rows, a, :k].mean(axis=0)
            p = z[rows, a, k:] - z[rows, a, k:].mean(axis=0)
            orths.append(((s.T @ p) ** 2).sum() / rows.sum() ** 2)
        for b in range(a + 1, m):
            both = mask[:, a] & mask[:, b]
            if both.sum() >= 2:
                aligns.append(((standardise(z[both, a, :k])
                                - standardise(z[both, b, :k])) ** 2).mean())
    return float(np.mean(aligns)), float(np.mean(orths))


def test_the_term_equals_its_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12, 3, 8))
    mask = rng.random((12, 3)) > 0.3
    mask[:, 2] = False
    mask[0, 2] = True                       # modality 2: one subject, left out everywhere
    term = make_loss_term({"name": "disentangle",
                           "params": {"shared_fraction": 0.25, "alignment": 2.0,
                                      "orthogonality": 0.5}})
    batch = Batch([], torch.as_tensor(mask), torch.zeros(12, dtype=torch.long), None)
    out = {"latents": torch.as_tensor(z)}
    align, orth = term.parts(out, batch)
    want_align, want_orth = _by_hand(z, mask, shared_width(8, 0.25))
    assert float(align) == pytest.approx(want_align, abs=1e-6)
    assert float(orth) == pytest.approx(want_orth, abs=1e-6)
    assert float(term(out, batch)) == pytest.approx(2.0 * want_align + 0.5 * want_orth,
                                                    abs=1e-6)
    with pytest.raises(ValueError, match="shared_fraction must be in"):
        Disentangle(shared_fraction=1.0).parts(out, batch)


def test_shared_parts_agree_across_modalities_and_private_parts_do_not():
    cohort = make_cohort(400, n_genes=60, latent_correlation=0.6,
                         random_state=0).select(["rna", "imaging"])
    model = make("disentangle", n_ensemble=1, n_threads=1, random_state=0).fit(cohort)
    shared, private = model.shared_private(cohort)

    def mean_abs_corr(x, y):
        return np.mean([abs(np.corrcoef(x[:, j], y[:, j])[0, 1]) for j in range(x.shape[1])])

    assert mean_abs_corr(shared[:, 0], shared[:, 1]) > 0.8
    assert mean_abs_corr(private[:, 0], private[:, 1]) < 0.4
    within = np.corrcoef(shared[:, 0].T, private[:, 0].T)[:shared.shape[2], shared.shape[2]:]
    assert np.abs(within).mean() < 0.15
    # a subject without imaging has NaN parts for it, and still gets a prediction
    only_rna = cohort.hide("imaging", cohort.subjects[:5])
    shared, _ = model.shared_private(only_rna)
    assert np.isnan(shared[:5, 1]).all() and not np.isnan(shared[:5, 0]).any()
    assert np.isfinite(model.predict_proba(only_rna[:5])).all()
