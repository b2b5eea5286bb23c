"""Training objectives of the neural strategies: a list of loss terms.

A term maps the network's outputs for one mini-batch (:meth:`FusionNetwork.outputs`:
``logits``, ``latents``, ``fused``, ``reconstruction``, ``aux_logits``) and the batch (inputs,
availability mask, labels) to a scalar loss; the training loop adds ``weight * term`` over the
terms. Supervised terms see only the labelled subjects of a batch; unsupervised terms also
train on subjects without an outcome (the optional pre-training stage). A term that needs
parts of the network (decoders, auxiliary heads) says so in ``network_parts``; a term with
trainable parts of its own (e.g. a projection head) creates them in :meth:`LossTerm.init`.

Built-in terms: :class:`CrossEntropy`, :class:`Reconstruction`, :class:`AuxiliaryHeads`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator
from torch import nn
from torch.nn import functional as F


@dataclass
class Batch:
    """One mini-batch, as the loss terms see it.

    Parameters
    ----------
    inputs : list of Tensor
        One tensor per modality, subjects first.
    mask : Tensor of bool, shape (n, M)
        Availability after modality dropout.
    y : Tensor of int, shape (n,)
        Class indices, -1 for subjects without an outcome.
    class_weight : Tensor of shape (K,) or None
        Per-class weights of the supervised terms.
    """

    inputs: list[torch.Tensor]
    mask: torch.Tensor
    y: torch.Tensor
    class_weight: torch.Tensor | None

    @property
    def labelled(self) -> torch.Tensor:
        """Positions of the subjects with an outcome."""
        return torch.nonzero(self.y >= 0, as_tuple=True)[0]


class LossTerm(BaseEstimator):
    """Base of a loss term (see the module docstring).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    supervised: ClassVar[bool] = True
    network_parts: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def init(self, network: nn.Module, n_classes: int) -> nn.Module | None:
        """Trainable parts of the term itself (trained with the network, not saved)."""
        return None

    def __call__(self, out: dict, batch: Batch, extra: nn.Module | None) -> torch.Tensor:
        raise NotImplementedError


class CrossEntropy(LossTerm):
    """Class-weighted cross-entropy of the fused prediction (the main supervised term).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        rows = batch.labelled
        if len(rows) == len(batch.y):
            return F.cross_entropy(out["logits"], batch.y, weight=batch.class_weight)
        return F.cross_entropy(out["logits"].index_select(0, rows), batch.y.index_select(0, rows),
                               weight=batch.class_weight)


class Reconstruction(LossTerm):
    """Mean squared error of a linear decoder that reconstructs each tabular modality from
    its latent (a supervised autoencoder when combined with :class:`CrossEntropy`; usable
    without labels, e.g. in pre-training).

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    supervised: ClassVar[bool] = False
    network_parts: ClassVar[frozenset[str]] = frozenset({"decoders"})

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        return out["reconstruction"]


class AuxiliaryHeads(LossTerm):
    """Deep supervision: a linear classifier on each modality's latent predicts the outcome
    from that modality alone; class-weighted cross-entropy averaged over the (subject,
    modality) pairs present in the batch.

    Parameters
    ----------
    weight : float
        Multiplier of the term in the total loss.
    """

    network_parts: ClassVar[frozenset[str]] = frozenset({"aux_heads"})

    def __call__(self, out: dict, batch: Batch, extra=None) -> torch.Tensor:
        aux, mask, y = out["aux_logits"], batch.mask, batch.y
        present = mask & (y >= 0)[:, None]
        rows, cols = torch.nonzero(present, as_tuple=True)
        return F.cross_entropy(aux[rows, cols], y.index_select(0, rows),
                               weight=batch.class_weight)


def default_objectives(reconstruction: float, auxiliary: float) -> list[LossTerm]:
    """Cross-entropy, plus reconstruction and auxiliary heads with the given weights (left
    out at 0)."""
    terms: list[LossTerm] = [CrossEntropy(1.0)]
    if reconstruction > 0:
        terms.append(Reconstruction(reconstruction))
    if auxiliary > 0:
        terms.append(AuxiliaryHeads(auxiliary))
    return terms


def network_parts(terms) -> set[str]:
    """The network parts the terms need."""
    return set().union(*(t.network_parts for t in terms)) if terms else set()
