"""A small fitted classical and neural strategy that the crafted folders start from."""

from __future__ import annotations

import copy
import shutil
import warnings
from pathlib import Path

import pytest

from medfuse.data import make_cohort
from medfuse.fusion import make
from medfuse.persist import save_model


@pytest.fixture(scope="session")
def cohort():
    return make_cohort(30, n_genes=8, n_imaging=5, random_state=0)


@pytest.fixture(scope="session")
def unimodal(cohort):
    """``unimodal:rna`` fitted with its defaults (a Pipeline of LogCPM and ZScore,
    then an inner-CV logistic regression)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make("unimodal:rna").fit(cohort)


@pytest.fixture
def poisoned(unimodal, tmp_path):
    """``poisoned(**attributes)``: a copy of the fitted model with attributes replaced,
    saved with ``save_model`` (as an attacker with medfuse installed would)."""

    def build(**attributes) -> Path:
        evil = copy.deepcopy(unimodal)
        for name, value in attributes.items():
            setattr(evil, name, value)
        return save_model(evil, tmp_path / "evil")

    return build


@pytest.fixture
def saved(unimodal, tmp_path) -> Path:
    """A genuine saved folder of the unimodal model, to tamper with."""
    return save_model(unimodal, tmp_path / "model")


@pytest.fixture(scope="session")
def neural_folder(cohort, tmp_path_factory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make("intermediate", max_epochs=2, n_ensemble=1, random_state=0).fit(
            cohort.select(["rna", "imaging"]))
    return save_model(model, tmp_path_factory.mktemp("neural") / "model")


@pytest.fixture
def neural(neural_folder, tmp_path) -> Path:
    """A fresh copy of the saved neural model folder, to tamper with."""
    return Path(shutil.copytree(neural_folder, tmp_path / "neural"))
