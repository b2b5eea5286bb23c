"""Teacher-student distillation to the modalities a subject has (strategy ``distillation``).

A teacher fusion model is fitted on all modalities. For every modality subset ``S`` that
occurs among the training subjects (and every single modality), a student network sees the
modalities of ``S`` only and is trained, on every training subject that has them (labelled
or not), to match the teacher's softened predictions, which used everything the subject had.
At prediction time a subject is served by the student of exactly its modalities (the teacher
when it has all of them); a subset no student was trained on falls back to the student of the
largest trained subset it contains.

The student loss on a mini-batch of ``n`` subjects, ``L`` of them labelled, is

    loss = alpha * T^2 * (1/n) sum_i KL(softmax(t_i / T) || softmax(s_i / T))
           + (1 - alpha) * CE_w(s, y) over the L labelled subjects,

with teacher logits ``t_i``, student logits ``s_i``, temperature ``T`` and class-weighted
cross-entropy ``CE_w`` (a weighted mean, as :func:`torch.nn.functional.cross_entropy`; 0 in
a batch without labels). The ``T^2`` factor keeps the soft term's gradients on the scale of
the hard term's as ``T`` changes (Hinton, Vinyals and Dean 2015, "Distilling the knowledge in
a neural network", who use ``T`` between 1 and 20). The defaults ``T = 2`` (the low end of
that range) and ``alpha = 0.5`` (both terms weighed equally) were not tuned here.

A student cannot know more about the outcome than its modalities carry: it can approach the
best prediction from them, not the teacher's from all of them. ``benchmarks/distillation.py``
measures how much of the gap it closes (little over unimodal baselines, on ROSMAP and the
simulator; the numbers are in ``benchmarks/results``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.base import FusionClassifier, model_outputs
from medfuse.fusion.crossmodal.distillation_student import (
    _TINY,
    DistilledStudent,
    _check_loss_settings,
)
from medfuse.fusion.neural.base import NeuralFusion
from medfuse.fusion.neural.models import IntermediateFusion
from medfuse.fusion.neural.settings import NeuralSettings, settings_init

#: how a student's key joins its modalities (``students_["rna+methylation"]``)
SEPARATOR = "+"
#: what :meth:`DistillationFusion.served_by` names the teacher
TEACHER = "teacher"


def subset_key(modalities: Sequence[str]) -> str:
    """The key of a student in ``students_``: its modalities joined by ``+``."""
    return SEPARATOR.join(modalities)


class DistillationFusion(FusionClassifier):
    """Teacher-student distillation to the modalities a subject has (see the module
    docstring for the loss).

    Teacher soft targets are cross-fitted: with ``cv`` folds of the labelled training
    subjects, each subject's targets come from a teacher fitted without it, and those of
    subjects without an outcome from the final teacher (which never saw their label).
    A teacher's outputs on its own training subjects are over-confident, more so the more
    it overfits, so in-sample targets would teach the students to copy the training labels
    at full confidence rather than what the teacher knows about unseen subjects; the cost is
    ``cv`` extra teacher fits. ``cv=0`` uses the final teacher's in-sample outputs.

    Parameters
    ----------
    temperature : float
        ``T`` of the softened distributions (default 2).
    alpha : float in [0, 1]
        Weight of the soft (KL) term; ``1 - alpha`` weighs the cross-entropy (default 0.5).
    teacher : None, str or estimator
        The teacher: None for ``intermediate`` with this strategy's network settings, a
        registered strategy name, or an unfitted strategy (cloned; seeded when it takes a
        ``random_state``). It must predict from any subset of modalities.
    cv : int
        Folds of the cross-fitted soft targets (reduced to the smallest class count; 0 or 1:
        in-sample targets).
    latent_dim, hidden, head_hidden, dropout, lr, weight_decay, max_epochs, patience,
    batch_size, class_weight, validation_fraction, preprocessors, conv_width, series_encoder,
    encoders, refit, n_ensemble, device, n_threads, verbose
        The network and optimisation settings of the default teacher and of every student,
        as in :class:`~medfuse.fusion.neural.base.NeuralFusion`.
    modality_dropout, objectives, pretrain_epochs, pretrain_objectives, reconstruction,
    auxiliary
        Used by the default teacher only (a student trains on the distillation loss with all
        of its modalities).
    random_state : int, RandomState or None
        Seeds the teacher, the folds and the students.

    Attributes
    ----------
    teacher_ : fitted strategy on all modalities (serves subjects that have them all).
    students_ : dict str -> DistilledStudent
        Subset key (modalities joined by ``+``, in ``modalities_`` order) -> student.
    student_subsets_ : dict str -> list of str, each student's modalities.
    student_counts_ : dict str -> int, training subjects of each student (with or without
        an outcome).
    cv_ : int, the folds used for the soft targets (0: in-sample).
    seed_ : int, the seed actually used.
    """

    __init__ = settings_init({}, {"temperature": 2.0, "alpha": 0.5, "teacher": None,
                                  "cv": 5})

    # ------------------------------------------------------------------ settings
    def _uses_unlabelled(self) -> bool:
        return True

    def _check_settings(self) -> None:
        """Refuse settings that cannot train (a ValueError naming the parameter)."""
        _check_loss_settings(self.temperature, self.alpha)
        if isinstance(self.cv, bool) or not isinstance(self.cv, int | np.integer) \
                or self.cv < 0:
            raise ValueError(f"cv must be a non-negative whole number, got {self.cv!r}")
        if isinstance(self.teacher, str):
            from medfuse.fusion.registry import check_name

            if self.teacher == "distillation":
                raise ValueError("teacher: a distillation teacher cannot itself distil")
            check_name(self.teacher)
        elif self.teacher is not None and not hasattr(self.teacher, "predict_proba"):
            raise ValueError(f"teacher must be None, a strategy name or a strategy, got "
                             f"{type(self.teacher).__name__}")
        self._network(IntermediateFusion)._check_settings()

    def _persisted_params(self) -> dict:
        return NeuralFusion._persisted_params(self)

    def _network(self, cls: type[NeuralFusion], **overrides) -> NeuralFusion:
        params = {name: getattr(self, name) for name in NeuralSettings.defaults()}
        return cls(**{**params, **overrides})

    def _make_teacher(self, seed: int):
        if self.teacher is None:
            return self._network(IntermediateFusion, random_state=seed)
        if isinstance(self.teacher, str):
            from medfuse.fusion.factory import make

            est = make(self.teacher)
        else:
            est = clone(self.teacher)
        if "random_state" in est.get_params(deep=False):
            est.set_params(random_state=seed)
        return est

    # ------------------------------------------------------------------ fit
    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self._check_settings()
        self.seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        logits = self._fit_teacher(data, y)
        mask = data.available[self.modalities_].to_numpy()
        self.students_, self.student_subsets_, self.student_counts_ = {}, {}, {}
        for j, subset in enumerate(_student_subsets(mask, self.modalities_)):
            rows = data.available[subset].to_numpy().all(axis=1)
            student = self._network(DistilledStudent, temperature=self.temperature,
                                    alpha=self.alpha, modality_dropout=0.0,
                                    reconstruction=0.0, auxiliary=0.0, objectives=None,
                                    pretrain_epochs=0, pretrain_objectives=None,
                                    random_state=self.seed_ + 1000 * (j + 1))
            student.fit(data[rows].select(subset), y[rows], teacher_logits=logits[rows],
                        classes=self.classes_)
            key = subset_key(subset)
            self.students_[key] = student
            self.student_subsets_[key] = list(subset)
            self.student_counts_[key] = int(rows.sum())

    def _fit_teacher(self, data: MultiModalData, y: np.ndarray) -> np.ndarray:
        """Fit ``teacher_``; the soft targets' logits (n_subjects, n_classes), cross-fitted
        for labelled subjects (see the class docstring)."""
        n_classes = len(self.classes_)
        labelled = np.flatnonzero(y >= 0)
        unlabelled = np.flatnonzero(y < 0)
        self.teacher_ = self._fit_one_teacher(data, y, labelled, unlabelled, self.seed_)
        counts = np.bincount(y[labelled], minlength=n_classes)
        self.cv_ = int(min(self.cv, counts.min())) if self.cv >= 2 else 0
        if self.cv_ < 2:
            self.cv_ = 0
            proba = model_outputs(self.teacher_, data)
        else:
            proba = np.empty((len(data), n_classes))
            folds = StratifiedKFold(self.cv_, shuffle=True, random_state=self.seed_)
            for f, (tr, te) in enumerate(folds.split(labelled, y[labelled])):
                fold = self._fit_one_teacher(data, y, labelled[tr], unlabelled,
                                             self.seed_ + 1 + f)
                proba[labelled[te]] = self._teacher_proba(fold, data[labelled[te]])
            if len(unlabelled):
                proba[unlabelled] = self._teacher_proba(self.teacher_, data[unlabelled])
        return np.log(np.clip(proba, _TINY, 1.0))

    def _fit_one_teacher(self, data: MultiModalData, y: np.ndarray, labelled: np.ndarray,
                         unlabelled: np.ndarray, seed: int):
        teacher = self._make_teacher(seed)
        uses = getattr(teacher, "_uses_unlabelled", lambda: False)()
        rows = np.sort(np.concatenate([labelled, unlabelled])) if uses else labelled
        labels = self.classes_[np.maximum(y[rows], 0)]
        if uses and (y[rows] < 0).any():  # missing outcomes as NaN (numbers) or None
            numeric = np.issubdtype(labels.dtype, np.number)
            labels = labels.astype(float if numeric else object)
            labels[y[rows] < 0] = np.nan if numeric else None
        teacher.fit(data[rows], labels)
        if len(teacher.classes_) != len(self.classes_):
            raise ValueError("the teacher's training subjects lack a class")
        return teacher

    def _teacher_proba(self, teacher, data: MultiModalData) -> np.ndarray:
        return np.asarray(model_outputs(teacher, data), dtype=float)

    # ------------------------------------------------------------------ predict
    def served_by(self, data: MultiModalData) -> pd.Series:
        """Which model predicts each subject: ``"teacher"`` or a student's key.

        Parameters
        ----------
        data : MultiModalData

        Returns
        -------
        Series of str (n_subjects,), indexed by subject ID.
        """
        check_is_fitted(self, "students_")
        data = self.align(data)
        routes = self._routes(data)
        out = np.empty(len(data), dtype=object)
        for key, rows in routes.items():
            out[rows] = TEACHER if key is None else key
        return pd.Series(out, index=data.subjects, name="served_by")

    def _routes(self, data: MultiModalData) -> dict[str | None, np.ndarray]:
        """Student key (None: the teacher) -> rows of the aligned ``data`` it serves."""
        mask = data.available[self.modalities_].to_numpy()
        patterns, inverse = np.unique(mask, axis=0, return_inverse=True)
        routes: dict[str | None, list[np.ndarray]] = {}
        for k, pattern in enumerate(patterns):
            key = self._student_for([m for m, p in zip(self.modalities_, pattern,
                                                       strict=True) if p])
            routes.setdefault(key, []).append(np.flatnonzero(inverse.ravel() == k))
        return {key: np.sort(np.concatenate(parts)) for key, parts in routes.items()}

    def _student_for(self, present: list[str]) -> str | None:
        """The student of exactly ``present`` (None, the teacher, for all modalities), else
        that of the largest trained subset within it (ties: more training subjects)."""
        if len(present) == len(self.modalities_):
            return None
        if subset_key(present) in self.students_:
            return subset_key(present)
        have = set(present)
        fits = [k for k, s in self.student_subsets_.items() if set(s) <= have]
        if not fits:  # never reached: every single modality has a student
            return None
        return max(fits, key=lambda k: (len(self.student_subsets_[k]),
                                        self.student_counts_[k]))

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        out = np.empty((len(data), len(self.classes_)))
        for key, rows in self._routes(data).items():
            if key is None:
                out[rows] = self._teacher_proba(self.teacher_, data[rows])
            else:
                part = data[rows].select(self.student_subsets_[key])
                out[rows] = self.students_[key].predict_proba(part)
        return out


def _student_subsets(mask: np.ndarray, modalities: Sequence[str]) -> list[list[str]]:
    """The proper subsets that get a student: every availability pattern of the training
    subjects that is not all modalities, and every single modality; smallest first."""
    n = len(modalities)
    if n < 2:
        return []
    patterns = {tuple(bool(v) for v in row) for row in np.unique(mask, axis=0)}
    patterns |= {tuple(i == j for i in range(n)) for j in range(n)}
    chosen = [p for p in patterns if 0 < sum(p) < n]
    chosen.sort(key=lambda p: (sum(p), [not v for v in p]))
    return [[m for m, v in zip(modalities, p, strict=True) if v] for p in chosen]
