"""Shared/specific disentanglement: each modality's latent split into a part aligned across
modalities and a private part (loss term ``disentangle``, strategy ``disentangle``).

Each encoder's latent ``z_m`` (``d`` units) is read as ``[s_m, p_m]``: the first
``k = max(1, round(shared_fraction * d))`` units are the shared part, the rest the private
part. On a mini-batch, with ``c(x)`` the columns of ``x`` centred over the subjects that have
the modality and ``std(x)`` standardised (centred, divided by the column sd + 1e-6):

    alignment_ab  = mean_{i, j} (std(s_a)_ij - std(s_b)_ij)^2   over the subjects with a and b
    orthogonal_m  = || c(s_m)^T c(p_m) ||_F^2 / n_m^2              over the n_m subjects with m
    loss = alignment * mean_{a < b} alignment_ab + orthogonality * mean_m orthogonal_m

The alignment term makes the shared parts of a subject agree across its modalities (on a
standardised scale, so they cannot agree by collapsing to a constant); the orthogonality
term (Bousmalis et al., NeurIPS 2016, "Domain separation networks") keeps what the private
parts hold out of the shared ones. With the ``reconstruction`` term, which decodes each
modality from the whole latent, the private parts keep what only that modality measures.
Pairs or modalities with fewer than 2 subjects in the batch are left out.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from medfuse.fusion.neural.models import IntermediateFusion
from medfuse.fusion.neural.objectives import Batch, LossTerm, register_loss_term

__all__ = ["Disentangle", "DisentangledFusion", "shared_width"]

_EPS = 1e-6


def shared_width(latent_dim: int, shared_fraction: float) -> int:
    """``k``: how many of a latent's ``latent_dim`` units form its shared part."""
    if not 0 < shared_fraction < 1:
        raise ValueError(f"disentangle: shared_fraction must be in (0, 1), got "
                         f"{shared_fraction}.")
    return int(min(latent_dim - 1, max(1, round(shared_fraction * latent_dim))))


def _standardise(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(dim=0, keepdim=True)
    return x / (x.std(dim=0, keepdim=True) + _EPS)


@register_loss_term("disentangle")
class Disentangle(LossTerm):
    """Alignment of the shared parts across modalities and orthogonality of shared and
    private parts (the formula is in :mod:`medfuse.fusion.crossmodal.disentangle`).

    A label-free term: it trains the unsupervised stage on every subject, and the
    orthogonality part also uses subjects with one modality.

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    shared_fraction : float
        Share of each latent's units that form its shared part, in (0, 1).
    alignment, orthogonality : float
        Weights of the two parts.
    """

    supervised: ClassVar[bool] = False

    def __init__(self, weight: float = 1.0, shared_fraction: float = 0.5,
                 alignment: float = 1.0, orthogonality: float = 1.0) -> None:
        self.weight = weight
        self.shared_fraction = shared_fraction
        self.alignment = alignment
        self.orthogonality = orthogonality

    def parts(self, out: dict, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The alignment and orthogonality parts (scalars) of a mini-batch.

        Parameters
        ----------
        out : dict
            The network's outputs (``latents``, shape ``(n, M, d)``).
        batch : Batch
            The mini-batch (its availability mask).

        Returns
        -------
        (Tensor, Tensor)
        """
        z, mask = out["latents"], batch.mask
        k = shared_width(z.shape[2], self.shared_fraction)
        zero = z.sum() * 0.0
        align, n_pairs = zero, 0
        orth, n_mods = zero, 0
        for a in range(z.shape[1]):
            rows = torch.nonzero(mask[:, a], as_tuple=True)[0]
            if len(rows) >= 2:
                shared = z[rows, a, :k] - z[rows, a, :k].mean(dim=0, keepdim=True)
                private = z[rows, a, k:] - z[rows, a, k:].mean(dim=0, keepdim=True)
                orth = orth + (shared.T @ private).pow(2).sum() / len(rows) ** 2
                n_mods += 1
            for b in range(a + 1, z.shape[1]):
                both = torch.nonzero(mask[:, a] & mask[:, b], as_tuple=True)[0]
                if len(both) < 2:
                    continue
                diff = _standardise(z[both, a, :k]) - _standardise(z[both, b, :k])
                align = align + diff.pow(2).mean()
                n_pairs += 1
        return align / max(n_pairs, 1), orth / max(n_mods, 1)

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        align, orth = self.parts(out, batch)
        return self.alignment * align + self.orthogonality * orth


class DisentangledFusion(IntermediateFusion):
    """Intermediate fusion whose latents are split into shared and private parts.

    Stage 1 (``pretrain_epochs``, every training subject, with or without an outcome):
    :class:`Disentangle` and ``reconstruction``. Stage 2: cross-entropy, ``disentangle``
    and ``reconstruction`` on the labelled subjects, with early stopping as in
    :class:`~medfuse.fusion.neural.models.IntermediateFusion`. Predicts from any subset of
    modalities; :meth:`shared_private` gives each subject's parts.

    Parameters
    ----------
    latent_dim, hidden, head_hidden, dropout
        The network's widths and dropout, as in :class:`NeuralFusion`.
    lr, weight_decay, max_epochs, patience, batch_size, modality_dropout, class_weight
        The optimisation, as in :class:`NeuralFusion`.
    validation_fraction, preprocessors, conv_width, series_encoder, encoders
        Early stopping's inner split, the inputs and the encoders, as in
        :class:`NeuralFusion`.
    objectives, pretrain_epochs, pretrain_objectives, device, reconstruction, auxiliary
        The loss terms, the unsupervised stage and the device, as in :class:`NeuralFusion`;
        the defaults here are ``objectives=("cross-entropy", "disentangle",
        "reconstruction")``, ``pretrain_epochs=50`` and ``pretrain_objectives=
        ("disentangle", "reconstruction")``.
    refit, n_ensemble, n_threads, random_state, verbose
        The refit on all training subjects, the seed ensemble, threads, seed and progress
        bar, as in :class:`NeuralFusion`.
    """

    _defaults: ClassVar[dict] = {
        "objectives": ("cross-entropy", "disentangle", "reconstruction"),
        "pretrain_epochs": 50,
        "pretrain_objectives": ("disentangle", "reconstruction")}

    def shared_private(self, data, member: int = 0) -> tuple:
        """Each subject's shared and private parts, from one member of the seed ensemble
        (each member has its own latent space, so they are not averaged).

        Parameters
        ----------
        data : MultiModalData
        member : int
            Which ensemble member.

        Returns
        -------
        (ndarray, ndarray)
            Shared ``(n, M, k)`` and private ``(n, M, d - k)`` parts, NaN where a subject
            lacks the modality; modalities in the order the model was fitted with.
        """
        import numpy as np
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "module_")
        data = self.align(data)
        arrays, mask = self._arrays(data)
        network = (self.module_.members[member] if hasattr(self.module_, "members")
                   else self.module_)
        network.eval()
        with torch.inference_mode():
            inputs, present = self._tensors(arrays, mask, slice(0, len(data)))
            latents = network.encode(inputs, present).cpu().double().numpy()
        term = next((t for t in self._objectives() if isinstance(t, Disentangle)),
                    Disentangle())
        k = shared_width(latents.shape[2], term.shared_fraction)
        latents = np.where(np.asarray(mask, dtype=bool)[:, :, None], latents, np.nan)
        return latents[:, :, :k], latents[:, :, k:]
