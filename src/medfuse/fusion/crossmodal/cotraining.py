"""Co-training of two views on unlabelled subjects (Blum and Mitchell, COLT 1998).

The modalities are split into two views. Each view has its own classifier (L2 logistic
regression on its concatenated, preprocessed blocks; a block a subject lacks within a view
is filled with the training mean, 0 after the z-score). Starting from the labelled
subjects, every round:

1. each view's classifier is fitted on its labelled set: the subjects with an outcome plus
   those the *other* view has pseudo-labelled so far;
2. each view labels, among the unlabelled subjects that have that view and are still
   unlabelled for the other view, the ``per_round`` it is most confident about for each
   class (highest probability of the class, at least ``min_confidence``); they join the
   other view's labelled set with that class.

After ``rounds`` rounds (or when nothing is left to label) both classifiers are refitted
and a subject's probabilities are the mean over the views it has (one view alone serves a
subject without the other). Subjects without an outcome are never scored: in a benchmark
they only ever sit in training folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.blocks import BlockFusion
from medfuse.fusion.classifiers import predict_full
from medfuse.fusion.registry import register


@register("co-training", family="crossmodal", interpretable=False,
          description="Co-training: one classifier per view (first modality / the rest), "
                      "each pseudo-labelling its most confident unlabelled subjects for the "
                      "other; probabilities averaged over the views a subject has")
class CoTraining(BlockFusion):
    """Two-view co-training (see the module docstring).

    Parameters
    ----------
    views : pair of lists of modality names, optional
        The two views; default: the first modality against all the others.
    rounds : int
        Rounds of pseudo-labelling.
    per_round : int
        Subjects each view pseudo-labels per class and round.
    min_confidence : float
        Lowest class probability at which a view pseudo-labels a subject.
    C : float
        Inverse L2 strength of the views' logistic regressions.
    preprocessors : None, transformer or dict modality -> transformer
        Per-modality preprocessing (default: each kind's).
    class_weight : "balanced" (default), None or dict
        Class weights of the logistic regressions (computed on the labelled subjects).
    random_state : int, optional
        Unused by the solver; kept so the benchmark's seed reaches the strategy.

    Attributes
    ----------
    views_ : list of two lists of str
    estimators_ : list of two fitted LogisticRegression
    pseudo_labelled_ : list of two int
        Subjects pseudo-labelled by each view (for the other).
    """

    def __init__(self, views: Sequence[Sequence[str]] | None = None, rounds: int = 10,
                 per_round: int = 5, min_confidence: float = 0.6, C: float = 0.1,
                 preprocessors=None, class_weight="balanced", random_state=None) -> None:
        self.views = views
        self.rounds = rounds
        self.per_round = per_round
        self.min_confidence = min_confidence
        self.C = C
        self.preprocessors = preprocessors
        self.class_weight = class_weight
        self.random_state = random_state

    def _uses_unlabelled(self) -> bool:
        return True

    def _check_views(self, names: list[str]) -> list[list[str]]:
        if len(names) < 2:
            raise ValueError("co-training needs at least two modalities, one per view.")
        views = [list(v) for v in self.views] if self.views is not None else [
            names[:1], names[1:]]
        if len(views) != 2 or not all(views):
            raise ValueError(f"views must be two non-empty lists of modalities, got {views}.")
        unknown = sorted(set(views[0] + views[1]) - set(names))
        if unknown:
            raise ValueError(f"views name modalities that the data do not have: {unknown} "
                             f"(modalities: {names}).")
        if set(views[0]) & set(views[1]):
            raise ValueError(f"views share modalities {sorted(set(views[0]) & set(views[1]))}"
                             "; co-training needs two disjoint views.")
        return views

    def _view_matrix(self, blocks: dict[str, np.ndarray], view: list[str]
                     ) -> tuple[np.ndarray, np.ndarray]:
        parts = [blocks[m] for m in view]
        has = np.column_stack([~np.isnan(p).any(axis=1) for p in parts]).any(axis=1)
        return np.nan_to_num(np.hstack(parts)), has

    def _model(self, y: np.ndarray) -> LogisticRegression:
        weights = self._class_weights(y)
        return LogisticRegression(C=self.C, max_iter=2000,
                                  class_weight=dict(enumerate(weights)))

    def _fit(self, data: MultiModalData, y: np.ndarray) -> None:
        self.views_ = self._check_views(data.modality_names)
        blocks = self._fit_blocks(data)
        matrices = [self._view_matrix(blocks, v) for v in self.views_]
        n_classes = len(self.classes_)
        labels = [np.where(has, y, -1) for _, has in matrices]   # per view, -1 = none
        unlabelled = y < 0
        self.pseudo_labelled_ = [0, 0]
        for _ in range(int(self.rounds)):
            models = [self._fit_view(x, lab, n_classes) for (x, _), lab in
                      zip(matrices, labels, strict=True)]
            added = 0
            for v, (x, has) in enumerate(matrices):
                other = 1 - v
                pool = np.flatnonzero(unlabelled & has & (labels[other] < 0)
                                      & matrices[other][1])
                if models[v] is None or not len(pool):
                    continue
                proba = predict_full(models[v], x[pool], n_classes)
                for k in range(n_classes):
                    order = np.argsort(-proba[:, k])
                    take = [i for i in order[:int(self.per_round)]
                            if proba[i, k] >= self.min_confidence
                            and proba[i].argmax() == k and labels[other][pool[i]] < 0]
                    labels[other][pool[take]] = k
                    self.pseudo_labelled_[v] += len(take)
                    added += len(take)
            if added == 0:
                break
        self.estimators_ = [self._fit_view(x, lab, n_classes) for (x, _), lab in
                            zip(matrices, labels, strict=True)]
        if all(e is None for e in self.estimators_):
            raise ValueError("co-training: neither view has labelled subjects of two "
                             "classes.")

    def _fit_view(self, x: np.ndarray, labels: np.ndarray, n_classes: int):
        rows = labels >= 0
        if len(np.unique(labels[rows])) < 2:
            return None
        return self._model(labels[rows]).fit(x[rows], labels[rows])

    def _predict_proba(self, data: MultiModalData) -> np.ndarray:
        blocks = self._transform_blocks(data)
        n_classes = len(self.classes_)
        total = np.zeros((len(data), n_classes))
        count = np.zeros(len(data))
        for view, model in zip(self.views_, self.estimators_, strict=True):
            x, has = self._view_matrix(blocks, view)
            if model is None or not has.any():
                continue
            total[has] += predict_full(model, x[has], n_classes)
            count[has] += 1
        none = count == 0
        total[none] = self.class_prior_
        count[none] = 1
        return total / count[:, None]
