"""The training loop shared by the neural strategies.

Mini-batch AdamW with weight decay, a list of loss terms (:mod:`objectives`; by default
class-weighted cross-entropy plus reconstruction), modality dropout and early stopping on an
inner, stratified, seeded validation split of the labelled training subjects (the best
epoch's weights are restored). An optional unsupervised stage first trains the network on
every subject, those without an outcome included, with label-free terms.
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
from medfuse.fusion.neural.objectives import Batch, LossTerm, term_labels


@dataclass
class TrainHistory:
    """Per-epoch losses and the epoch whose weights were kept (0-based)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    term_loss: dict[str, list[float]] = field(default_factory=dict)
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


def _epoch(module: nn.Module, terms: Sequence[LossTerm], extras: list, opt, inputs, mask,
           y_t: torch.Tensor, order: torch.Tensor, batch_size: int, modality_dropout: float,
           weight: torch.Tensor | None, gen: torch.Generator
           ) -> tuple[float, list[float]]:
    """One pass over ``order`` in mini-batches; returns the mean total loss per subject and
    each term's mean (unweighted) loss per subject."""
    module.train()
    total = 0.0
    per_term = np.zeros(len(terms))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        mb = drop_modalities(mask.index_select(0, rows), modality_dropout, gen)
        batch = Batch(_subset(inputs, rows), mb, y_t.index_select(0, rows), weight)
        out = module.outputs(batch.inputs, mb)
        loss = None
        for k, (term, extra) in enumerate(zip(terms, extras, strict=True)):
            raw = term(out, batch, extra)
            per_term[k] += float(raw.detach()) * len(rows)
            value = term.weight * raw
            loss = value if loss is None else loss + value
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(rows)
    n = max(len(order), 1)
    return total / n, (per_term / n).tolist()


def _record_terms(history: dict[str, list[float]], labels: Sequence[str],
                  values: Sequence[float]) -> None:
    for label, value in zip(labels, values, strict=True):
        history.setdefault(label, []).append(float(value))


def _optimizer(module: nn.Module, extras: list, lr: float, weight_decay: float):
    params = [p for p in module.parameters() if p.requires_grad]
    params += [p for e in extras if e is not None for p in e.parameters()]
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def pretrain_module(module: nn.Module, inputs: Sequence[torch.Tensor], mask: torch.Tensor, *,
                    terms: Sequence[LossTerm], epochs: int, lr: float, weight_decay: float,
                    batch_size: int, modality_dropout: float, seed: int) -> list[float]:
    """The unsupervised stage: ``epochs`` passes over every subject (with or without an
    outcome) minimising label-free ``terms``. Returns the loss per epoch."""
    supervised = [type(t).__name__ for t in terms if t.supervised]
    if supervised:
        raise ValueError(f"Pre-training uses no labels; {', '.join(supervised)} need them. "
                         "Use label-free terms such as Reconstruction.")
    device = mask.device
    n_classes = int(module.head[-1].out_features)
    extras = [t.init(module, n_classes) for t in terms]
    opt = _optimizer(module, extras, lr, weight_decay)
    gen = torch.Generator().manual_seed(seed)
    y_t = torch.full((len(mask),), -1, dtype=torch.long, device=device)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(mask), generator=gen).to(device)
        losses.append(_epoch(module, terms, extras, opt, inputs, mask, y_t, order, batch_size,
                             modality_dropout, None, gen)[0])
    module.eval()
    return losses


def train_module(module: nn.Module, inputs: Sequence[torch.Tensor], mask: torch.Tensor,
                 y: np.ndarray, *, terms: Sequence[LossTerm], lr: float, weight_decay: float,
                 max_epochs: int, patience: int, batch_size: int, modality_dropout: float,
                 class_weight, classes: np.ndarray, validation_fraction: float, seed: int,
                 verbose: bool = False, description: str = "training") -> TrainHistory:
    """Train ``module`` in place on the labelled subjects and restore its best weights.

    Parameters
    ----------
    module : the network (``outputs(inputs, mask)`` and ``forward``), on the device of
        ``inputs``.
    inputs : one float tensor per modality, all subjects first (``n x ...``).
    mask : bool tensor (n, M), True where a subject has the modality.
    y : int array (n,) of class indices; -1 marks subjects without an outcome (not used
        here; see :func:`pretrain_module`).
    terms : the loss terms (the total is the sum of ``weight * term``).
    lr, weight_decay : AdamW settings.
    max_epochs, patience : stop after ``patience`` epochs without a lower validation loss.
    batch_size : mini-batch size (the last, smaller batch is kept).
    modality_dropout : probability of hiding each available modality of a subject in a
        training batch (see :func:`drop_modalities`).
    class_weight : the strategy's ``class_weight`` parameter, read by
        :func:`~medfuse.fusion._class_weight.class_weights` on the inner training part.
    classes : (K,) class labels (``y`` indexes them).
    validation_fraction : share of labelled subjects held out for early stopping
        (stratified); the validation loss is the class-weighted cross-entropy.
    seed : seeds the split, the batch order and modality dropout.
    verbose : show a progress bar (rich) with the losses.

    Returns
    -------
    TrainHistory
    """
    device = mask.device
    n_classes = len(classes)
    labelled = np.flatnonzero(y >= 0)
    tr, va = inner_split(y[labelled], validation_fraction, seed)
    tr, va = labelled[tr], labelled[va]
    weight = (None if class_weight is None else torch.as_tensor(
        class_weights(class_weight, classes, y[tr]), dtype=torch.float32, device=device))
    y_t = torch.as_tensor(y, dtype=torch.long, device=device)
    gen = torch.Generator().manual_seed(seed)
    extras = [t.init(module, n_classes) for t in terms]
    opt = _optimizer(module, extras, lr, weight_decay)
    tr_t = torch.as_tensor(tr, device=device)
    va_t = torch.as_tensor(va, device=device)
    history = TrainHistory()
    labels = term_labels(terms)
    best, best_state, waited = np.inf, None, 0

    progress = None
    if verbose:
        from rich.progress import Progress

        progress = Progress(transient=False)
        task = progress.add_task(description, total=max_epochs)
        progress.start()
    try:
        for epoch in range(max_epochs):
            order = tr_t[torch.randperm(len(tr), generator=gen).to(device)]
            total, per_term = _epoch(module, terms, extras, opt, inputs, mask, y_t, order,
                                     batch_size, modality_dropout, weight, gen)
            history.train_loss.append(total)
            _record_terms(history.term_loss, labels, per_term)
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
