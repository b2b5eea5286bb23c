"""The training loop shared by the neural strategies.

Mini-batch AdamW with weight decay, class-weighted cross-entropy, modality dropout and early
stopping on an inner, stratified, seeded validation split of the training subjects (the best
epoch's weights are restored).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from medfuse.fusion._class_weight import class_weights


@dataclass
class TrainHistory:
    """Per-epoch losses and the epoch whose weights were kept (0-based)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1


def inner_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (train, validation) of a stratified split; stratification is dropped when a
    class has fewer than 2 subjects, and no validation set is made for tiny ``n`` or
    ``fraction`` 0 (then early stopping is off)."""
    idx = np.arange(len(y))
    n_val = round(fraction * len(y))
    n_classes = len(np.unique(y))
    if fraction <= 0 or n_val < max(2, n_classes) or len(y) - n_val < max(2, n_classes):
        return idx, idx[:0]
    stratify = y if np.bincount(y).min() >= 2 else None
    tr, va = train_test_split(idx, test_size=n_val, stratify=stratify, random_state=seed)
    return np.sort(tr), np.sort(va)


def drop_modalities(mask: torch.Tensor, rate: float, generator: torch.Generator
                    ) -> torch.Tensor:
    """Hide each available modality with probability ``rate``; a subject left with none gets
    one of its own modalities back at random (so no subject is ever fully hidden)."""
    if rate <= 0 or mask.shape[1] < 2:
        return mask
    keep = mask & (torch.rand(mask.shape, generator=generator) >= rate).to(mask.device)
    empty = ~keep.any(dim=1)
    if empty.any():
        scores = torch.rand(mask.shape, generator=generator).to(mask.device)
        scores = scores.masked_fill(~mask, -1.0)
        pick = scores.argmax(dim=1)
        rows = torch.nonzero(empty, as_tuple=True)[0]
        keep = keep.clone()
        keep[rows, pick[rows]] = True
    return keep


def _subset(inputs: Sequence[torch.Tensor], rows: torch.Tensor) -> list[torch.Tensor]:
    return [x.index_select(0, rows) for x in inputs]


def _auxiliary_loss(aux: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                    weight: torch.Tensor | None) -> torch.Tensor:
    """Mean (class-weighted) cross-entropy of per-modality logits ``aux (n, M, K)`` over the
    present (subject, modality) pairs of ``mask (n, M)``."""
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return F.cross_entropy(aux[rows, cols], y.index_select(0, rows), weight=weight)


def train_module(module: nn.Module, inputs: Sequence[torch.Tensor], mask: torch.Tensor,
                 y: np.ndarray, *, lr: float, weight_decay: float, max_epochs: int,
                 patience: int, batch_size: int, modality_dropout: float, class_weight,
                 validation_fraction: float, seed: int, reconstruction: float = 0.0,
                 auxiliary: float = 0.0, verbose: bool = False,
                 description: str = "training") -> TrainHistory:
    """Train ``module(inputs, mask) -> logits`` in place and restore its best weights.

    Parameters
    ----------
    module : the network, already on the device of ``inputs``.
    inputs : one float tensor per modality, all subjects first (``n x ...``).
    mask : bool tensor (n, M), True where a subject has the modality.
    y : int array (n,) of class indices.
    lr, weight_decay : AdamW settings.
    max_epochs, patience : stop after ``patience`` epochs without a lower validation loss.
    batch_size : mini-batch size (the last, smaller batch is kept).
    modality_dropout : probability of hiding each available modality of a subject in a
        training batch (see :func:`drop_modalities`).
    class_weight : None, "balanced" or a sequence of K weights in class-index order (see
        :func:`medfuse.fusion._class_weight.class_weights`; "balanced" is computed on the
        inner training part).
    validation_fraction : share of subjects held out for early stopping (stratified).
    seed : seeds the split, the batch order and modality dropout.
    reconstruction : weight of the module's auxiliary reconstruction loss (needs
        ``module.logits_and_reconstruction``); early stopping watches the classification
        loss only.
    auxiliary : weight of the per-modality auxiliary classification loss (needs
        ``module.training_outputs`` and auxiliary heads): the class-weighted cross-entropy of
        each modality's own head, averaged over the (subject, modality) pairs present in the
        batch.
    verbose : show a progress bar (rich) with the losses.

    Returns
    -------
    TrainHistory
    """
    device = mask.device
    n_classes = int(module.head[-1].out_features)
    tr, va = inner_split(y, validation_fraction, seed)
    weight = (None if class_weight is None else torch.as_tensor(
        class_weights(class_weight, np.arange(n_classes), y[tr]), dtype=torch.float32,
        device=device))
    y_t = torch.as_tensor(y, dtype=torch.long, device=device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    tr_t = torch.as_tensor(tr, device=device)
    va_t = torch.as_tensor(va, device=device)
    history = TrainHistory()
    best, best_state, waited = np.inf, None, 0

    progress = None
    if verbose:
        from rich.progress import Progress

        progress = Progress(transient=False)
        task = progress.add_task(description, total=max_epochs)
        progress.start()
    try:
        for epoch in range(max_epochs):
            module.train()
            order = tr_t[torch.randperm(len(tr), generator=gen).to(device)]
            total = 0.0
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                mb = drop_modalities(mask.index_select(0, rows), modality_dropout, gen)
                yb = y_t.index_select(0, rows)
                if reconstruction > 0 or auxiliary > 0:
                    logits, rec, aux = module.training_outputs(_subset(inputs, rows), mb)
                else:
                    logits, rec, aux = module(_subset(inputs, rows), mb), 0.0, None
                loss = F.cross_entropy(logits, yb, weight=weight)
                loss = loss + reconstruction * rec
                if auxiliary > 0 and aux is not None:
                    loss = loss + auxiliary * _auxiliary_loss(aux, yb, mb, weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
            history.train_loss.append(total / len(order))
            if len(va):
                module.eval()
                with torch.no_grad():
                    logits = module(_subset(inputs, va_t), mask.index_select(0, va_t))
                    val = float(F.cross_entropy(logits, y_t.index_select(0, va_t),
                                                weight=weight))
                history.val_loss.append(val)
                if val < best - 1e-6:
                    best, waited, history.best_epoch = val, 0, epoch
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    waited += 1
            else:
                history.best_epoch = epoch
            if progress is not None:
                shown = f"{description} loss {history.train_loss[-1]:.3f}"
                if history.val_loss:
                    shown += f" val {history.val_loss[-1]:.3f}"
                progress.update(task, advance=1, description=shown)
            if len(va) and waited >= patience:
                break
    finally:
        if progress is not None:
            progress.stop()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history
