"""Out-of-fold probabilities of one model per modality (what late-weighted and stacking
learn their combination from)."""

from __future__ import annotations

import numpy as np

from medfuse.data.multimodal import MultiModalData
from medfuse.fusion.blocks import block_preprocessor
from medfuse.fusion.classifiers import class_prior, predict_full, resolve_estimator
from medfuse.fusion.inner_cv import inner_folds
from medfuse.fusion.learners import default_is_tree
from medfuse.preprocess.blocks import as_matrix, fit_transform_block, transform_block


def oof_probabilities(data: MultiModalData, y: np.ndarray, n_classes: int, preprocessors,
                      estimator, cv: int, random_state,
                      weights: np.ndarray | None = None,
                      learner="logistic") -> dict[str, np.ndarray]:
    """Out-of-fold class probabilities of one model per modality.

    For each modality, the subjects that have it are split into ``cv`` stratified folds
    (fewer when a class is rarer); the preprocessing and the model of each fold are fitted
    on the other folds only, so no prediction is in-sample.

    Parameters
    ----------
    data : MultiModalData
        The training subjects.
    y : ndarray (n,)
        Class indices.
    n_classes : int
    preprocessors, estimator : the strategy's parameters of the same names.
    cv : int
        Folds.
    random_state : int, optional
    weights : ndarray (K,), optional
        Per-class weights of the default classifier.
    learner : str or dict modality -> str
        The default classifier's learner (tree learners see unscaled blocks).

    Returns
    -------
    dict modality -> (n_subjects, n_classes) array; NaN rows for subjects without it.
    """
    out = {}
    avail = data.available
    for j, m in enumerate(data.modality_names):
        idx = np.flatnonzero(avail[m].to_numpy())
        ym = y[idx]
        proba = np.full((len(y), n_classes), np.nan)
        seed = None if random_state is None else int(random_state) + j
        folds = (inner_folds(ym, cv, seed, fixed=f"the class prior of {m!r} out of fold")
                 if len(ym) else None)
        if folds is None:
            proba[idx] = class_prior(ym, n_classes) if len(ym) else np.nan
            out[m] = proba
            continue
        for tr, te in folds.split(idx, ym):
            train, test = data[idx[tr]], data[idx[te]]
            t = block_preprocessor(preprocessors, m, data.modalities[m],
                                   scaled=not default_is_tree(estimator, learner, m))
            z = as_matrix(fit_transform_block(t, train.block(m), obs=train.obs))
            model = resolve_estimator(estimator, m, random_state, weights, ym[tr],
                                      learner).fit(z, ym[tr])
            zt = as_matrix(transform_block(t, test.block(m), obs=test.obs))
            proba[idx[te]] = predict_full(model, zt, n_classes)
        out[m] = proba
    return out
