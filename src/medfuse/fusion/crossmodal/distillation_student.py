"""The student of distillation (:mod:`medfuse.fusion.crossmodal.distillation`): its loss,
``alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE``, and the neural
network that trains on it."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion._class_weight import class_weights
from medfuse.fusion.base import check_data, record_layout
from medfuse.fusion.neural.models import IntermediateFusion
from medfuse.fusion.neural.train import TrainHistory, inner_split

_TINY = 1e-12


# ---------------------------------------------------------------------- the loss
def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       y: torch.Tensor, temperature: float,
                       class_weight: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the distillation loss, unweighted.

    Parameters
    ----------
    student_logits, teacher_logits : Tensor (n, K)
    y : Tensor of int (n,)
        Class indices, -1 for subjects without an outcome.
    temperature : float
        ``T``.
    class_weight : Tensor (K,) or None
        Cross-entropy class weights.

    Returns
    -------
    kl : Tensor ()
        Mean over the ``n`` subjects of ``KL(softmax(t / T) || softmax(s / T))``.
    ce : Tensor ()
        Cross-entropy of the student over the labelled subjects (0 when there are none).
    """
    t = float(temperature)
    kl = F.kl_div(F.log_softmax(student_logits / t, dim=1),
                  F.log_softmax(teacher_logits / t, dim=1),
                  reduction="batchmean", log_target=True)
    rows = torch.nonzero(y >= 0, as_tuple=True)[0]
    if len(rows) == 0:
        return kl, student_logits.new_zeros(())
    ce = F.cross_entropy(student_logits.index_select(0, rows), y.index_select(0, rows),
                         weight=class_weight)
    return kl, ce


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      y: torch.Tensor, temperature: float = 2.0, alpha: float = 0.5,
                      class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha * T^2 * KL + (1 - alpha) * CE`` (see the module docstring and
    :func:`distillation_terms` for the arguments); a scalar tensor."""
    kl, ce = distillation_terms(student_logits, teacher_logits, y, temperature, class_weight)
    return alpha * float(temperature) ** 2 * kl + (1.0 - alpha) * ce


# ---------------------------------------------------------------------- training
def distill_module(module: nn.Module, inputs: Sequence[torch.Tensor], mask: torch.Tensor,
                   y: np.ndarray, teacher_logits: torch.Tensor, *, temperature: float,
                   alpha: float, lr: float, weight_decay: float, max_epochs: int,
                   patience: int, batch_size: int, class_weight, classes: np.ndarray,
                   validation_fraction: float, seed: int) -> TrainHistory:
    """Train ``module`` in place on :func:`distillation_loss` and restore its best weights.

    Parameters
    ----------
    module : FusionNetwork
        ``module(inputs, mask)`` gives logits (n, K).
    inputs : list of Tensor
        One tensor per modality, all ``n`` subjects first.
    mask : Tensor of bool (n, M)
    y : ndarray of int (n,)
        Class indices; -1 marks subjects without an outcome, which train the KL term only.
    teacher_logits : Tensor (n, K)
    temperature, alpha : float
        The loss's ``T`` and ``alpha``.
    lr, weight_decay, max_epochs, patience, batch_size : AdamW and early stopping, as in
        :func:`~medfuse.fusion.neural.train.train_module`.
    class_weight : the ``class_weight`` parameter, read on the inner training part.
    classes : ndarray (K,)
    validation_fraction : float
        Share of the labelled subjects held out (stratified) for early stopping on the same
        loss; subjects without an outcome always train.
    seed : int
        Seeds the split and the batch order.

    Returns
    -------
    TrainHistory
        With per-term losses ``distillation-kl`` and ``cross-entropy``.
    """
    device = mask.device
    labelled, unlabelled = np.flatnonzero(y >= 0), np.flatnonzero(y < 0)
    tr_l, va_l = inner_split(y[labelled], validation_fraction, seed)
    tr = np.sort(np.concatenate([labelled[tr_l], unlabelled]))
    va = labelled[va_l]
    weight = (None if class_weight is None else torch.as_tensor(
        class_weights(class_weight, classes, y[labelled[tr_l]]), dtype=torch.float32,
        device=device))
    y_t = torch.as_tensor(y, dtype=torch.long, device=device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr,
                            weight_decay=weight_decay)
    tr_t, va_t = torch.as_tensor(tr, device=device), torch.as_tensor(va, device=device)
    history = TrainHistory()
    best, best_state, waited = np.inf, None, 0

    def loss_of(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = module([x.index_select(0, rows) for x in inputs], mask.index_select(0, rows))
        kl, ce = distillation_terms(logits, teacher_logits.index_select(0, rows),
                                    y_t.index_select(0, rows), temperature, weight)
        return alpha * float(temperature) ** 2 * kl + (1.0 - alpha) * ce, kl, ce

    for epoch in range(max_epochs):
        module.train()
        order = tr_t[torch.randperm(len(tr), generator=gen).to(device)]
        sums = np.zeros(3)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            loss, kl, ce = loss_of(rows)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sums += np.array([float(v.detach()) for v in (loss, kl, ce)]) * len(rows)
        sums /= max(len(order), 1)
        history.train_loss.append(float(sums[0]))
        history.term_loss.setdefault("distillation-kl", []).append(float(sums[1]))
        history.term_loss.setdefault("cross-entropy", []).append(float(sums[2]))
        if len(va):
            module.eval()
            with torch.no_grad():
                val = float(loss_of(va_t)[0])
            history.val_loss.append(val)
            if val < best - 1e-6:
                best, waited, history.best_epoch = val, 0, epoch
                best_state = copy.deepcopy(module.state_dict())
            else:
                waited += 1
            if waited >= patience:
                break
        else:
            history.best_epoch = epoch
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


# ---------------------------------------------------------------------- the student
def _check_loss_settings(temperature, alpha) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) \
            or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")


class DistilledStudent(IntermediateFusion):
    """An ``intermediate`` network trained on :func:`distillation_loss` against given teacher
    logits (one student of :class:`DistillationFusion`).

    Parameters
    ----------
    temperature, alpha : float
        The loss's ``T`` and ``alpha``.
    **settings
        The network and optimisation settings of :class:`NeuralFusion`; the loss replaces
        ``objectives``, ``reconstruction``, ``auxiliary`` and the unsupervised stage, which
        are not used, and ``modality_dropout`` defaults to 0 (a student sees all of its
        modalities).
    """

    _defaults: ClassVar[dict] = {"reconstruction": 0.0, "modality_dropout": 0.0}
    _extra: ClassVar[dict] = {"temperature": 2.0, "alpha": 0.5}

    def fit(self, data: MultiModalData, y, *, teacher_logits, classes=None):
        """Fit on ``data`` (the student's modalities) against the teacher.

        Parameters
        ----------
        data : MultiModalData
        y : array of int (n_subjects,)
            Class indices into ``classes``; -1 for subjects without an outcome.
        teacher_logits : array (n_subjects, n_classes)
            The teacher's logits (or log-probabilities) for the same subjects.
        classes : array (n_classes,), optional
            Class labels (default ``0 .. n_classes - 1``); ``classes_`` is set to them even
            when a class has no labelled subject here.

        Returns
        -------
        self
        """
        data = check_data(data)
        soft = np.asarray(teacher_logits, dtype=np.float32)
        y = np.asarray(y, dtype=int)
        if soft.ndim != 2 or len(soft) != len(data) or y.shape != (len(data),):
            raise ValueError(f"teacher_logits must be (n_subjects, n_classes) and y "
                             f"(n_subjects,) for {len(data)} subjects; got {soft.shape} and "
                             f"{y.shape}")
        n_classes = soft.shape[1]
        self.classes_ = np.arange(n_classes) if classes is None else np.asarray(classes)
        if len(self.classes_) != n_classes or y.max(initial=-1) >= n_classes:
            raise ValueError("classes, y and teacher_logits disagree on the classes")
        labelled = y >= 0
        self.class_prior_ = (np.bincount(y[labelled], minlength=n_classes)
                             / max(int(labelled.sum()), 1))
        record_layout(self, data)
        self._teacher_logits = torch.as_tensor(soft, device=self.device)
        try:
            self._fit(data, y)
        finally:
            del self._teacher_logits
        return self

    def _uses_unlabelled(self) -> bool:
        return True

    def _objectives(self) -> list:
        return []

    def _pretrain_objectives(self) -> list:
        return []

    def _check_settings(self) -> None:
        super()._check_settings()
        _check_loss_settings(self.temperature, self.alpha)

    def _train(self, inputs, mask, y, max_epochs: int, validation_fraction: float, seed: int):
        with self._torch_state(seed):
            net = self._build_member()
            hist = distill_module(
                net, inputs, mask, y, self._teacher_logits, temperature=self.temperature,
                alpha=self.alpha, lr=self.lr, weight_decay=self.weight_decay,
                max_epochs=max_epochs, patience=self.patience, batch_size=self.batch_size,
                class_weight=self.class_weight, classes=np.asarray(self.classes_),
                validation_fraction=validation_fraction, seed=seed)
        return net, hist, []


# ---------------------------------------------------------------------- the strategy
