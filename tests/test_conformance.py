"""Every built-in extension passes the public conformance checks of :mod:`medfuse.testing`,
parametrised over the registries so that a new built-in is checked as soon as it is
registered."""

from __future__ import annotations

import re

import pytest

from medfuse.data.kinds import all_kinds
from medfuse.fusion import make
from medfuse.fusion.conformal import ConformalClassifier
from medfuse.fusion.imputed import with_imputation
from medfuse.fusion.neural.objectives import _TERMS, loss_term_names
from medfuse.fusion.registry import _REGISTRY
from medfuse.represent.registry import _REPRESENTATIONS
from medfuse.testing import (
    ConformanceError,
    check_kind,
    check_loss_term,
    check_representation,
    check_strategy,
    example_ids,
    example_outcome,
)
from medfuse.testing.common import Report

#: few epochs and one network: the checks are about the contract, not the fit
NEURAL = {"max_epochs": 3, "n_ensemble": 1, "n_threads": 1}


def _built_in(entries, target=lambda e: e) -> list[str]:
    def module(entry) -> str:
        obj = target(entry)
        if isinstance(obj, str):
            return obj.partition(":")[0]
        return getattr(obj if callable(obj) else type(obj), "__module__", "")

    return [name for name, entry in entries.items() if module(entry).startswith("medfuse.")]


STRATEGIES = _built_in(_REGISTRY, lambda info: info.target)
KINDS = _built_in({k.name: k for k in all_kinds()})
REPRESENTATIONS = _built_in(_REPRESENTATIONS, lambda info: info.target)
loss_term_names()  # imports the built-in terms defined outside objectives
TERMS = _built_in(_TERMS)
EVERY_CHECK = ["parameters and clone", "refuses to predict before fit",
               "fit returns the fitted estimator", "predicts from every subset of modalities",
               "learns the known answer", "wrappers forward the seed",
               "deterministic under a seed", "saved and loaded under the allowlist",
               "benchmark with 2 workers"]


def test_the_registries_hold_the_built_ins():
    assert len(STRATEGIES) >= 16 and {"late-mean", "cross-attention", "cox-late"} <= set(
        STRATEGIES)
    assert set(KINDS) >= {"continuous", "counts", "clinical", "sequence", "image",
                          "timeseries"}
    assert {"series-summary", "image-statistics", "kmer", "flatten", "series-values",
            "image-values", "radiomics"} <= set(REPRESENTATIONS)
    assert set(TERMS) >= {"cross-entropy", "reconstruction", "auxiliary-heads"}


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_built_in_strategy_passes_check_strategy(name):
    params = NEURAL if _REGISTRY[name].family == "neural" else None
    if name == "ensemble":   # a small library (its default, every classical strategy, is
        params = {"members": ["late-mean", "early-gb"]}   # saved and loaded in test_allowlist)
    assert check_strategy(name, params) == EVERY_CHECK


@pytest.mark.parametrize("wrapper", ["representations", "conformal", "both"])
def test_the_wrappers_pass_check_strategy(wrapper):
    kinds = {"a": "timeseries", "b": "clinical"}
    inner = (make("late-mean", representations={"a": "series-summary"})
             if wrapper != "conformal" else make("late-mean"))
    if wrapper == "conformal":
        kinds = None
    estimator = inner if wrapper == "representations" else ConformalClassifier(
        inner, calibration_fraction=0.3)
    assert check_strategy(estimator, kinds=kinds) == EVERY_CHECK


@pytest.mark.parametrize("impute", ["cross-modal", "translator"])
@pytest.mark.parametrize("n_imputations", [1, 3])
def test_the_imputation_wrapper_passes_check_strategy(impute, n_imputations):
    method = {"method": impute, "epochs": 40} if impute == "translator" else impute
    estimator = with_imputation(make("early"), {"a": method}, n_imputations=n_imputations)
    assert check_strategy(estimator) == EVERY_CHECK


@pytest.mark.parametrize("name", KINDS)
def test_every_built_in_kind_passes_check_kind(name):
    passed = check_kind(name)
    assert passed[:3] == ["registered under its name", "declares a valid contract",
                          "example validated and aligned by subject ID"]
    assert ("a bad value is refused naming modality and subject" in passed) == (
        name != "clinical")  # clinical records may hold missing cells
    assert "preprocessing makes features" in passed
    assert any(p.endswith("benchmark with 2 workers") for p in passed)


def _dense_images(n: int = 40):
    """Dense 1 x 8 x 8 images (what ``flatten`` reads) whose centre is brighter for the
    example outcome."""
    import numpy as np

    rng = np.random.default_rng(1)
    values = rng.normal(size=(n, 1, 8, 8))
    values[:, 0, 2:6, 2:6] += 2.0 * example_outcome(n)[:, None, None]
    return list(example_ids(n)), values


@pytest.mark.parametrize("name", REPRESENTATIONS)
def test_every_built_in_representation_passes_check_representation(name):
    dense = {"kind": "image", "block": _dense_images()} if name == "flatten" else {}
    passed = check_representation(name, **dense)
    assert passed[-1] == "late-mean: benchmark with 2 workers"


@pytest.mark.parametrize("name", TERMS)
def test_every_built_in_loss_term_passes_check_loss_term(name):
    passed = check_loss_term(name)
    assert passed[-1] == "benchmark with 2 workers"


def test_a_strategy_that_breaks_the_contract_is_named_with_the_check():
    """A wrapper that does not forward its seed (the bug of the representation wrapper)
    fails the seed check, naming it."""
    from medfuse.fusion.represented import RepresentedClassifier

    class Forgetful(RepresentedClassifier):
        def _inner_seed(self):
            return None

        def _clone_inner(self):
            from sklearn.base import clone

            return clone(self.estimator)

    estimator = Forgetful(make("late-mean"), {"a": "series-summary"})
    expected = re.escape("check_strategy('Forgetful'): wrappers forward the seed: ") + \
        ".*" + re.escape("Forgetful at the model has random_state 0 but fitted LateFusion "
                         "without one")
    with pytest.raises(ConformanceError, match=expected):
        check_strategy(estimator, kinds={"a": "timeseries", "b": "continuous"})


def test_report_is_a_list():
    assert Report(["a"]) == ["a"]
