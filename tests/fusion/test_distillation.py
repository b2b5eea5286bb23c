"""Teacher-student distillation (``distillation``): the loss, which model serves each subject,
subjects without an outcome, and the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medfuse.data.simulate import make_cohort
from medfuse.fusion import make
from medfuse.fusion.crossmodal.distillation import DistillationFusion
from medfuse.fusion.crossmodal.distillation_student import (
    distillation_loss,
    distillation_terms,
)
from medfuse.testing import check_strategy

FAST = {"max_epochs": 8, "n_ensemble": 1, "n_threads": 1, "cv": 2, "random_state": 0}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort():
    """Clinical always present, rna and imaging missing: training never has rna+imaging
    without clinical."""
    data = make_cohort(120, n_genes=20, n_imaging=10, missing={"rna": 0.3, "imaging": 0.3},
                       random_state=3)
    return data.select(["rna", "imaging", "clinical"])


@pytest.fixture(scope="module")
def fitted(cohort):
    return make("distillation", **FAST).fit(cohort)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("weighted", [False, True])
def test_loss_is_the_formula(weighted):
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) * 2
    y = np.array([0, 2, -1, 1, -1])
    w = np.array([1.0, 2.0, 0.5]) if weighted else np.ones(3)
    T, alpha = 3.0, 0.3
    p, q = _softmax(t / T), _softmax(s / T)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    lab = y >= 0
    logq = np.log(_softmax(s[lab]))
    nll = -logq[np.arange(lab.sum()), y[lab]]
    ce = np.sum(w[y[lab]] * nll) / np.sum(w[y[lab]])
    expected = alpha * T**2 * kl + (1 - alpha) * ce
    args = (torch.tensor(s), torch.tensor(t), torch.tensor(y))
    weight = torch.tensor(w) if weighted else None
    got = distillation_loss(*args, temperature=T, alpha=alpha, class_weight=weight)
    assert abs(float(got) - expected) < 1e-6
    kl_t, ce_t = distillation_terms(*args, T, weight)
    assert abs(float(kl_t) - kl) < 1e-6 and abs(float(ce_t) - ce) < 1e-6


def test_loss_without_labels_is_the_soft_term():
    s, t = torch.randn(4, 2), torch.randn(4, 2)
    y = torch.full((4,), -1)
    kl, ce = distillation_terms(s, t, y, 2.0)
    assert float(ce) == 0.0
    assert float(distillation_loss(s, t, y, 2.0, 0.5)) == pytest.approx(0.5 * 4 * float(kl))


def test_students_for_every_seen_subset_and_single_modality(fitted, cohort):
    assert isinstance(fitted, DistillationFusion)
    assert set(fitted.students_) == {"rna", "imaging", "clinical", "rna+clinical",
                                     "imaging+clinical"}
    mask = cohort.available
    for key, modalities in fitted.student_subsets_.items():
        assert fitted.student_counts_[key] == int(mask[modalities].all(axis=1).sum())
        assert fitted.students_[key].modalities_ == modalities
    assert fitted.cv_ == 2


@pytest.mark.parametrize(("hidden", "expected"), [
    ([], "teacher"), (["rna"], "imaging+clinical"), (["rna", "imaging"], "clinical"),
    (["imaging", "clinical"], "rna")])
def test_each_subject_is_served_by_the_student_of_its_modalities(fitted, cohort, hidden,
                                                                expected):
    complete = cohort[cohort.available.all(axis=1).to_numpy()]
    view = complete.hide(hidden) if hidden else complete
    assert set(fitted.served_by(view)) == {expected}
    proba = fitted.predict_proba(view)
    if expected == "teacher":
        own = fitted.teacher_.predict_proba(view)
    else:
        model = fitted.students_[expected]
        own = model.predict_proba(view.select(fitted.student_subsets_[expected]))
    np.testing.assert_array_equal(proba, own)


def test_an_unseen_subset_falls_back_to_the_largest_student_within_it(fitted, cohort):
    complete = cohort[cohort.available.all(axis=1).to_numpy()]
    view = complete.hide("clinical")  # rna+imaging: never seen in training
    assert "rna+imaging" not in fitted.students_
    counts = fitted.student_counts_
    expected = "rna" if counts["rna"] >= counts["imaging"] else "imaging"
    assert set(fitted.served_by(view)) == {expected}
    np.testing.assert_array_equal(
        fitted.predict_proba(view),
        fitted.students_[expected].predict_proba(view.select([expected])))


def test_mixed_subjects_are_routed_one_by_one(fitted, cohort):
    served = fitted.served_by(cohort)
    patterns = cohort.available.apply(
        lambda r: "+".join(m for m in r.index if r[m]), axis=1)
    full = patterns == "rna+imaging+clinical"
    assert (served[full] == "teacher").all()
    assert (served[~full] == patterns[~full]).all()


def test_subjects_without_an_outcome_train_the_students(cohort):
    y = cohort.y.to_numpy().astype(float)
    unlabelled = np.zeros(len(y), dtype=bool)
    unlabelled[::3] = True
    y_missing = np.where(unlabelled, np.nan, y)
    with_all = make("distillation", **FAST).fit(cohort, y_missing)
    labelled_only = make("distillation", **FAST).fit(cohort[~unlabelled],
                                                     y[~unlabelled])
    has_rna = cohort.available["rna"].to_numpy()
    assert with_all.student_counts_["rna"] == int(has_rna.sum())
    assert labelled_only.student_counts_["rna"] == int((has_rna & ~unlabelled).sum())
    # same teacher (fitted on the labelled subjects only, same seed), different students
    view = cohort[~unlabelled]
    np.testing.assert_allclose(with_all.teacher_.predict_proba(view),
                               labelled_only.teacher_.predict_proba(view), atol=1e-6)
    only_rna = view[view.available["rna"].to_numpy()].select(["rna"])
    assert not np.allclose(with_all.predict_proba(only_rna),
                           labelled_only.predict_proba(only_rna))
    kl = with_all.students_["rna"].history_[0]["term_loss"]["distillation-kl"]
    assert len(kl) > 0 and np.isfinite(kl).all()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="temperature"):
        make("distillation", temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        make("distillation", alpha=1.5)
    with pytest.raises(ValueError, match="teacher"):
        make("distillation", teacher="distillation")


def test_passes_check_strategy():
    passed = check_strategy("distillation", {"max_epochs": 3, "n_ensemble": 1,
                                             "n_threads": 1, "cv": 2})
    assert passed[-2:] == ["saved and loaded under the allowlist", "benchmark with 2 workers"]


def test_a_configured_teacher_with_in_sample_targets(cohort):
    model = make("distillation", **{**FAST, "teacher": "late-mean", "cv": 0}).fit(cohort)
    assert type(model.teacher_).__name__ == "LateFusion" and model.cv_ == 0
    complete = cohort[cohort.available.all(axis=1).to_numpy()]
    np.testing.assert_array_equal(model.predict_proba(complete),
                                  model.teacher_.predict_proba(complete))
