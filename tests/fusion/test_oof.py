"""Out-of-fold probabilities (late-weighted, stacking) refit the preprocessing inside every
inner fold: a preprocessor fitted once on all training subjects before the inner folds would
leak the held-out subjects' values into the probabilities the weights are learned from."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression

from medfuse.fusion import make
from tests import reference_strategies as ref

#: (modality label, subject IDs) of every fit of a RecordingStandardizer, in this process
FITS: list[tuple[str, frozenset]] = []


class RecordingStandardizer(TransformerMixin, BaseEstimator):
    """z-scores a table block and records the subjects it was fitted on (in :data:`FITS`,
    since the strategies clone it)."""

    def __init__(self, label: str = ""):
        self.label = label

    def fit(self, X, y=None):
        FITS.append((self.label, frozenset(map(str, X.index))))
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0, ddof=0).replace(0, 1.0)
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_


@pytest.fixture(scope="module")
def cohort():
    # imaging is missing for about a quarter of the subjects: its inner folds split only the
    # subjects that have it
    return ref.tiny_cohort(60, seed=11, missing=0.25).select(["rna", "imaging"])


@pytest.mark.parametrize("name", ["late-weighted", "stacking"])
def test_inner_folds_refit_preprocessing_on_their_own_training_subjects(cohort, name):
    cv = 3
    model = make(name, cv=cv, random_state=0,
                 base_estimator=LogisticRegression(C=1.0, max_iter=1000),
                 preprocessors={m: RecordingStandardizer(m) for m in cohort.modality_names})
    FITS.clear()
    model.fit(cohort)
    avail = cohort.available
    for m in cohort.modality_names:
        have = frozenset(cohort.subjects[avail[m].to_numpy()])
        fits = [ids for label, ids in FITS if label == m]
        # one fit per inner fold plus the final fit on every subject that has the modality
        assert len(fits) == cv + 1, f"{m}: {len(fits)} preprocessing fits"
        assert fits.count(have) == 1, f"{m}: the final fit is not on all its subjects"
        inner = [ids for ids in fits if ids != have]
        assert len(inner) == cv
        held = [have - ids for ids in inner]
        # each inner fold trains on subjects with the modality only, and the held-out parts
        # partition them: every subject is held out by exactly one inner fold
        assert all(ids <= have for ids in inner)
        assert all(h for h in held)
        assert sum(len(h) for h in held) == len(have)
        assert frozenset().union(*held) == have
        sizes = [len(h) for h in held]
        assert max(sizes) - min(sizes) <= 2  # about len(have) / cv each (stratified)
    assert np.isfinite(model.predict_proba(cohort)).all()
