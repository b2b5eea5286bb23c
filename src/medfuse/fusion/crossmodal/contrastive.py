"""The ``contrastive`` loss term: CLIP-style symmetric InfoNCE between modalities.

Registered as a built-in term (``medfuse.fusion.neural.objectives`` imports this module when
the name is first used), so any neural strategy may name it in ``objectives`` or
``pretrain_objectives``; the
``contrastive`` strategy (:mod:`~medfuse.fusion.crossmodal.contrastive_fusion`) pre-trains
its encoders with it.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from medfuse.fusion.neural.objectives import Batch, LossTerm, register_loss_term

__all__ = ["Contrastive", "ContrastiveParts"]


class ContrastiveParts(nn.Module):
    """The trainable parts of :class:`Contrastive`: the log inverse temperature and the
    optional per-modality linear projection heads.

    Parameters
    ----------
    n_modalities : int
        ``M``.
    latent_dim : int
        ``d``, the size of each modality's latent.
    temperature : float
        Initial ``tau`` (the parameter holds ``log(1 / tau)``).
    projection_dim : int or None
        ``p``: a linear map ``d -> p`` per modality; None uses the latents directly.
    """

    def __init__(self, n_modalities: int, latent_dim: int, temperature: float,
                 projection_dim: int | None) -> None:
        super().__init__()
        self.log_inverse_temperature = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.projections = (None if projection_dim is None else nn.ModuleList(
            [nn.Linear(latent_dim, int(projection_dim)) for _ in range(n_modalities)]))

    def project(self, z: torch.Tensor, j: int) -> torch.Tensor:
        """Modality ``j``'s latents ``(n, d)`` -> projections ``(n, p)`` (``d`` without
        heads)."""
        return z if self.projections is None else self.projections[j](z)


@register_loss_term("contrastive")
class Contrastive(LossTerm):
    """Symmetric InfoNCE (CLIP) between the latents of every pair of modalities.

    For a pair of modalities ``(a, b)`` and the ``n`` subjects of the mini-batch that have
    both (after modality dropout; with or without an outcome), with ``u_i`` and ``v_i`` the
    L2-normalised projections of subject ``i``'s latents of ``a`` and ``b``
    (``out["latents"][i, a]``, shape ``(d,)``, through the optional linear head)::

        s         = min(exp(t), max_inverse_temperature)       # t = log(1 / tau), learned
        L_ij      = s * u_i . v_j                             # logits, shape (n, n)
        loss_ab   = (CE(L, I) + CE(L^T, I)) / 2

    where ``CE(L, I) = -1/n sum_i log softmax(L_i)_i`` (each subject's own other modality is
    the positive, the other subjects of the batch the negatives). The term is the mean of
    ``loss_ab`` over the pairs ``a < b`` with at least 2 such subjects (0, still attached to
    the graph, when there are none). ``t`` starts at ``log(1 / temperature)`` and is clamped
    in place to ``log(max_inverse_temperature)`` before each use, as CLIP does.

    A label-free term: it trains the unsupervised stage on every subject with two or more
    modalities.

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    temperature : float
        Initial temperature ``tau`` (CLIP: 0.07).
    max_inverse_temperature : float
        Upper bound of ``1 / tau`` (CLIP: 100).
    projection_dim : int or None
        Width of a linear projection head per modality (trained with the term, used in
        training only); None contrasts the latents themselves.
    """

    supervised: ClassVar[bool] = False

    def __init__(self, weight: float = 1.0, temperature: float = 0.07,
                 max_inverse_temperature: float = 100.0,
                 projection_dim: int | None = None) -> None:
        self.weight = weight
        self.temperature = temperature
        self.max_inverse_temperature = max_inverse_temperature
        self.projection_dim = projection_dim

    def init(self, network: nn.Module, n_classes: int) -> ContrastiveParts:
        """The learnable temperature and projection heads, on the network's device.

        Parameters
        ----------
        network : FusionNetwork
            The network whose latents are contrasted (``M`` and ``d`` are read from its
            missing-modality embeddings).
        n_classes : int
            Unused.

        Returns
        -------
        ContrastiveParts
        """
        if not self.temperature > 0 or not self.max_inverse_temperature > 0:
            raise ValueError(f"contrastive: temperature ({self.temperature}) and "
                             f"max_inverse_temperature ({self.max_inverse_temperature}) "
                             "must be positive.")
        missing = network.encode.missing
        n_modalities, latent_dim = missing.shape
        return ContrastiveParts(n_modalities, latent_dim, self.temperature,
                                self.projection_dim).to(missing.device)

    def inverse_temperature(self, extra: ContrastiveParts) -> torch.Tensor:
        """``s = min(exp(t), max_inverse_temperature)``, clamping ``t`` in place first.

        Parameters
        ----------
        extra : ContrastiveParts
            The term's trainable parts.

        Returns
        -------
        Tensor
            A scalar.
        """
        t = extra.log_inverse_temperature
        bound = math.log(self.max_inverse_temperature)
        with torch.no_grad():
            t.clamp_(max=bound)
        return t.clamp(max=bound).exp()

    def __call__(self, out: dict, batch: Batch, extra: ContrastiveParts | None
                 ) -> torch.Tensor:
        if extra is None:
            raise ValueError("contrastive: call init(network, n_classes) for the term's "
                             "trainable parts first.")
        z, mask = out["latents"], batch.mask
        scale = self.inverse_temperature(extra)
        total, pairs = (z.sum() + extra.log_inverse_temperature) * 0.0, 0
        for a in range(z.shape[1]):
            for b in range(a + 1, z.shape[1]):
                rows = torch.nonzero(mask[:, a] & mask[:, b], as_tuple=True)[0]
                if len(rows) < 2:
                    continue
                u = F.normalize(extra.project(z[rows, a], a), dim=-1)
                v = F.normalize(extra.project(z[rows, b], b), dim=-1)
                logits = scale * (u @ v.T)
                target = torch.arange(len(rows), device=z.device)
                total = total + (F.cross_entropy(logits, target)
                                 + F.cross_entropy(logits.T, target)) / 2
                pairs += 1
        return total / max(pairs, 1)
