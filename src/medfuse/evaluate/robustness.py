"""Missing-modality robustness: fold models scored with only some modalities available."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from medfuse.data.multimodal import DataValidationError, MultiModalData
from medfuse.fusion.base import model_outputs

#: Up to this many modalities every non-empty subset is scored; above, each single drop.
MAX_ALL_SUBSETS = 5


def subset_key(names: Sequence[str]) -> str:
    """``"mrna+mirna"``: the name of an availability subset (in modality order)."""
    return "+".join(names)


def modality_subsets(names: Sequence[str], max_all: int = MAX_ALL_SUBSETS) -> list[tuple[str, ...]]:
    """The availability subsets to score, the full set first.

    All ``2^M - 1`` non-empty subsets when ``M <= max_all``; otherwise the full set and the
    ``M`` subsets that drop one modality.

    Parameters
    ----------
    names : sequence of str
        The modalities, in order.
    max_all : int
        Up to this many modalities every subset is scored.

    Returns
    -------
    list of tuple of str
        Largest subsets first, each in modality order.
    """
    names = list(names)
    m = len(names)
    if m <= max_all:
        subsets = [c for k in range(m, 0, -1) for c in combinations(names, k)]
    else:
        subsets = [tuple(names)] + [tuple(n for n in names if n != d) for d in names]
    return subsets


def predict_subsets(model, data: MultiModalData, subsets: Sequence[tuple[str, ...]],
                    n_classes: int, class_index: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted probabilities with each subset of modalities available.

    Parameters
    ----------
    model : a fitted FusionClassifier, or a fitted FusionSurvival (its risk is then the
        one "class" column; ``n_classes = 1``).
    data : held-out subjects (with all their measured modalities).
    subsets : availability subsets (see :func:`modality_subsets`).
    n_classes : number of classes of the whole study.
    class_index : int array mapping the model's ``classes_`` to study class indices.

    Returns
    -------
    dict subset key -> array (n_subjects, n_classes); rows of subjects that have none of the
    subset's modalities, or that the model cannot score from them, are NaN.
    """
    out = {}
    names = data.modality_names
    for subset in subsets:
        hidden = [n for n in names if n not in subset]
        view = data.hide(hidden) if hidden else data
        rows = view.available.to_numpy().any(axis=1)
        proba = np.full((len(data), n_classes), np.nan)
        if rows.any():
            try:
                p = model_outputs(model, view[np.flatnonzero(rows)])
            except DataValidationError:
                p = None
            if p is not None:
                full = np.zeros((int(rows.sum()), n_classes))
                full[:, class_index] = p
                proba[rows] = full
        out[subset_key(subset)] = proba
    return out


