"""The pinned allowlist covers every model medfuse saves, and nothing else is needed.

Every registered strategy (classification and survival) and the built-in preprocessors are
fitted on small simulated cohorts, saved with ``save_model`` and loaded back with no
``trust=``. When a class moves module or a strategy is added, the load fails with an
``UntrustedModelError`` whose message names the type to add to ``medfuse.persist.trusted``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier

from medfuse.data import MultiModalData, make_cohort
from medfuse.fusion import make, strategy_names
from medfuse.fusion.base import model_outputs
from medfuse.fusion.neural.encoders import EncoderSpec
from medfuse.fusion.neural.objectives import default_objectives
from medfuse.fusion.registry import info
from medfuse.persist import UntrustedModelError, audit_skops_file, load_model, save_model
from medfuse.persist import trusted as pinned
from medfuse.preprocess import (
    TPM,
    VST,
    ClinicalEncoder,
    ComBat,
    ComBatSeq,
    MedianOfRatios,
    ZScore,
    default_preprocessor,
)
from medfuse.preprocess.chain import ObsChain
from medfuse.preprocess.screening import FeatureScreen

MODALITIES = ["rna", "imaging", "clinical", "image", "timeseries"]
NEURAL = {"max_epochs": 2, "n_ensemble": 1}


def _cohort(task: str) -> MultiModalData:
    return make_cohort(36, task=task, n_genes=10, n_imaging=6, image_shape=(6, 6),
                       series_shape=(4, 5), random_state=0)


@pytest.fixture(scope="module")
def cohorts():
    return {"classification": _cohort("binary"), "survival": _cohort("survival")}


def _fast_params(name: str) -> dict:
    params = dict(NEURAL) if info(name).family == "neural" else {}
    cls_params = inspect.signature(info(name).cls.__init__).parameters
    if "cv" in cls_params and info(name).family not in ("neural", "survival"):
        params["cv"] = 2
    return params


def _usable(data: MultiModalData, name: str) -> MultiModalData:
    kinds = info(name).kinds
    return data.select([m for m in data.modality_names if data.modalities[m].kind in kinds])


def _round_trip(model, data, tmp_path, strategy: str):
    """Save, check the audit approves only pinned names, load without trust, compare."""
    folder = save_model(model, tmp_path / "model", strategy=strategy)
    approved = set(audit_skops_file(folder / "estimator.skops"))
    pinned_names = (pinned.ESTIMATOR_TYPES | pinned.FUNCTIONS | pinned.TYPE_VALUES
                    | pinned.RANDOM_GENERATORS | {"numpy.ndarray"})
    assert approved <= pinned_names
    loaded = load_model(folder)  # raises UntrustedModelError naming any missing type
    np.testing.assert_allclose(model_outputs(loaded, data), model_outputs(model, data),
                               rtol=0, atol=1e-7)
    return approved


STRATEGIES = [("classification", n) for n in strategy_names(MODALITIES)] + [
    ("survival", n) for n in strategy_names(MODALITIES, task="survival")]


@pytest.mark.parametrize(("task", "name"), STRATEGIES, ids=[n for _, n in STRATEGIES])
def test_every_registered_strategy_loads_with_the_pinned_list(cohorts, tmp_path, task, name):
    data = _usable(cohorts[task], name)
    if name.partition(":")[2] and name.partition(":")[2] not in data.modality_names:
        pytest.skip(f"{name} does not take this kind of modality")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make(name, **_fast_params(name)).fit(data)
    approved = _round_trip(model, data, tmp_path, name)
    assert f"{type(model).__module__}.{type(model).__qualname__}" in approved


def _text_cohort(data: MultiModalData) -> MultiModalData:
    """The tabular modalities with a free-text note added to the clinical block."""
    rng = np.random.default_rng(0)
    clinical = data.block("clinical", available_only=False).copy()
    clinical["note"] = [" ".join(rng.choice(["pain", "fever", "cough", "rash"], 3))
                        for _ in range(len(clinical))]
    blocks = {m: data.block(m, available_only=False) for m in ("rna", "imaging")}
    blocks["clinical"] = clinical
    specs = {m: data.modalities[m] for m in ("rna", "imaging")}
    return MultiModalData(blocks, obs=data.obs, outcome=data.outcome,
                          modalities={**specs, "clinical": "clinical"})


PREPROCESSORS = {
    "vst+combat": lambda d: {"rna": VST(fit_type="mean"), "imaging": ComBat()},
    "combatseq+combat-covariates": lambda d: {
        "rna": ComBatSeq(covariate_cols=["age"]),
        "imaging": ComBat(parametric=False, covariate_cols=["age"])},
    "median-of-ratios": lambda d: {"rna": MedianOfRatios()},
    "tpm": lambda d: {"rna": TPM(gene_lengths=np.linspace(500, 3000, d.n_features("rna")))},
    "clinical-text": lambda d: {"clinical": ClinicalEncoder({"note": "text"})},
    "screening": lambda d: {
        "rna": ObsChain([FeatureScreen("univariate", keep=4, outcome=d.outcome,
                                       scale="log-cpm"),
                         default_preprocessor(d.modalities["rna"])]),
        "imaging": ObsChain([FeatureScreen("variance", keep=3), ZScore()])},
}


@pytest.mark.parametrize("label", list(PREPROCESSORS))
@pytest.mark.parametrize("strategy", ["additive", "intermediate"])
def test_builtin_preprocessors_load_with_the_pinned_list(cohorts, tmp_path, label, strategy):
    data = cohorts["classification"].select(["rna", "imaging", "clinical"])
    if label == "clinical-text":
        data = _text_cohort(data)
    params = {"preprocessors": PREPROCESSORS[label](data), **_fast_params(strategy)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make(strategy, **params).fit(data)
    approved = _round_trip(model, data, tmp_path, strategy)
    used = {type(s).__name__ for t in params["preprocessors"].values()
            for s in (t.steps if isinstance(t, ObsChain) else [t])}
    assert used <= {n.rsplit(".", 1)[1] for n in approved}


def test_every_pinned_name_exists():
    """A name left behind after a class moved is reported (remove or rename it)."""
    for name in sorted(pinned.ESTIMATOR_TYPES | pinned.FUNCTIONS):
        module, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attr, None)
        assert obj is not None, f"{name} in medfuse.persist.trusted no longer exists"
        assert isinstance(obj, type) == (name in pinned.ESTIMATOR_TYPES), name
    for name in sorted(pinned.NUMPY_SCALAR_TYPES):
        assert issubclass(getattr(np, name.split(".", 1)[1]), np.generic), name


def test_a_custom_estimator_needs_its_exact_names(cohorts, tmp_path):
    """A base estimator of a plugin package is refused by name, and loads once exactly that
    name is trusted."""
    from tests.reference_strategies import NearestCentroid

    data = cohorts["classification"].select(["imaging"])
    model = make("unimodal:imaging", base_estimator=NearestCentroid()).fit(data)
    folder = save_model(model, tmp_path / "custom")
    name = "tests.reference_strategies.NearestCentroid"
    with pytest.raises(UntrustedModelError, match=re.escape(name)):
        load_model(folder)
    loaded = load_model(folder, trust=[name])
    np.testing.assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))


def test_trust_takes_no_library_class(cohorts, tmp_path):
    """A scikit-learn model outside the list (extremely randomised trees: the random forest
    and gradient boosting that medfuse's tree learners build are pinned, this is not) is
    refused by name, and trust cannot add a library's classes: only classes of plugin
    packages or registered extensions."""
    data = cohorts["classification"].select(["imaging"])
    model = make("unimodal:imaging", base_estimator=ExtraTreesClassifier(
        n_estimators=3, max_depth=2, random_state=0)).fit(data)
    folder = save_model(model, tmp_path / "trees")
    with pytest.raises(UntrustedModelError) as refused:
        load_model(folder)
    for name in ("sklearn.ensemble._forest.ExtraTreesClassifier",
                 "sklearn.tree._classes.ExtraTreeClassifier"):
        assert name in str(refused.value)
    with pytest.raises(ValueError, match="trust takes only a class registered as a medfuse "
                                         "extension"):
        load_model(folder, trust=["sklearn.ensemble._forest.ExtraTreesClassifier"])


def _ragged_cohort(data: MultiModalData) -> MultiModalData:
    """The image and series modalities as ragged blocks of per-subject arrays."""
    from medfuse.data import RaggedBlock

    blocks = {m: data.block(m, available_only=False) for m in ("rna", "clinical")}
    for m in ("image", "timeseries"):
        arr = data.block(m)
        blocks[m] = RaggedBlock(data.block_subjects(m), list(arr))
    return MultiModalData(blocks, obs=data.obs, outcome=data.outcome,
                          modalities={"rna": "counts", "clinical": "clinical",
                                      "image": "image", "timeseries": "timeseries"})


CONFIGURED = {
    "representations": lambda d: ("late-mean", {"representations": {
        "image": "image-statistics", "timeseries": {"name": "series-summary"}}}),
    "harmonize-chain": lambda d: ("late-mean", {"preprocessors": {"rna": ObsChain(
        [ComBatSeq(), default_preprocessor(d.modalities["rna"])])
    }}),
    "objectives-and-encoders": lambda d: ("attention", {
        **NEURAL, "objectives": default_objectives(1.0, 0.5),
        "encoders": {"rna": EncoderSpec("mlp")}}),
}


@pytest.mark.parametrize("label", list(CONFIGURED))
def test_configured_strategies_load_with_the_pinned_list(cohorts, tmp_path, label):
    """Represented raw modalities and neural loss terms / encoder specs are saved as
    medfuse classes that load without trust."""
    data = _ragged_cohort(cohorts["classification"])
    if label == "harmonize-chain":
        data = cohorts["classification"].select(["rna", "clinical"])
    elif label != "representations":
        data = data.select(["rna", "clinical"])
    name, params = CONFIGURED[label](data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make(name, **params).fit(data)
    _round_trip(model, data, tmp_path, name)


CONFORMAL = {
    "late-mean+venn-abers+augment": ("late-mean", {"calibration": "venn-abers",
                                                   "pattern_augment": True}),
    "unimodal+platt+class": ("unimodal:imaging", {"calibration": "platt",
                                                  "mondrian": "class"}),
    "early+isotonic": ("early", {"calibration": "isotonic", "mondrian": None}),
    "intermediate+cross+temperature": ("intermediate", {"method": "cross", "n_folds": 2,
                                                        "calibration": "temperature"}),
}


@pytest.mark.parametrize("label", list(CONFORMAL))
def test_a_conformal_model_loads_with_the_pinned_list(cohorts, tmp_path, label):
    """The wrapper, its recalibration maps and its calibration scores load with no trust;
    a neural strategy's fold networks travel in module.safetensors. The loaded model gives
    the same probabilities and the same prediction sets."""
    from medfuse.fusion.conformal import ConformalClassifier

    name, params = CONFORMAL[label]
    data = _usable(cohorts["classification"], name).hide(["imaging"], subjects=["S0001",
                                                                                "S0002"])
    model = ConformalClassifier(make(name, **_fast_params(name)), random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data)
        approved = _round_trip(model, data, tmp_path, label)
        loaded = load_model(tmp_path / "model")
        np.testing.assert_array_equal(loaded.predict_set(data, alpha=0.3),
                                      model.predict_set(data, alpha=0.3))
    assert "medfuse.fusion.conformal.ConformalClassifier" in approved
    if params.get("calibration"):
        assert any(n.startswith("medfuse.fusion.calibration.") for n in approved)
    assert (tmp_path / "model" / "module.safetensors").exists() == (name == "intermediate")
