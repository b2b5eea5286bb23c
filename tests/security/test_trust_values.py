"""``--trust`` takes classes of plugins and registered extensions only, and the audit checks
the text parameters of allowlisted classes against the values the library itself uses."""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from typer.testing import CliRunner

from medfuse.cli import app
from medfuse.data import MultiModalData
from medfuse.fusion import make
from medfuse.persist import UntrustedModelError, check_trust, load_model, save_model
from medfuse.preprocess import ClinicalEncoder
from tests.security.crafting import (
    attribute,
    code_writing,
    edit_manifest,
    json_value,
    naive_load,
    rewrite_archive,
)

runner = CliRunner()

#: callables the old deny list let through, each able to run code or open files
CODE_RUNNERS = ["cProfile.run", "profile.run", "pdb.run", "timeit.timeit", "pydoc.locate",
                "_pickle.loads", "_io.open", "torch.load", "runpy.run_path",
                "importlib.import_module", "code.interact", "shutil.rmtree"]


@pytest.mark.parametrize("name", CODE_RUNNERS)
def test_trust_refuses_every_function_and_library_name(name):
    with pytest.raises(ValueError, match=re.escape(f"{name!r} cannot be trusted")):
        check_trust([name])


def test_trusting_cprofile_run_no_longer_runs_a_payload(poisoned, cohort, tmp_path):
    """The reported exploit: ``--trust cProfile.run`` accepted, and a model storing it as a
    FunctionTransformer's function ran code at predict time."""
    import cProfile

    sentinel = tmp_path / "ran"
    payload = FunctionTransformer(cProfile.run, kw_args={})
    folder = poisoned(preprocessors_={"rna": make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": code_writing(sentinel),
                                                   "dtype": "U400"}),
        FunctionTransformer(np.ravel), FunctionTransformer(np.take, kw_args={"indices": 0}),
        payload)})
    with contextlib.suppress(Exception):
        naive_load(folder).predict_proba(cohort)
    assert sentinel.exists(), "control: the payload runs when cProfile.run is trusted"
    sentinel.unlink()
    result = runner.invoke(app, ["predict", str(folder), str(folder), "--out",
                                 str(tmp_path / "p.csv"), "--trust", "cProfile.run"])
    assert result.exit_code == 2
    assert "'cProfile.run' cannot be trusted: trust takes only a class" in result.output
    assert not sentinel.exists()


def test_trust_takes_a_plugin_class_by_its_defining_name_only(monkeypatch):
    import tests.reference_strategies as ref

    monkeypatch.setattr(ref, "CentroidAlias", ref.NearestCentroid, raising=False)
    assert check_trust(["tests.reference_strategies.NearestCentroid"])
    with pytest.raises(ValueError, match=re.escape(
            "another name for tests.reference_strategies.NearestCentroid")):
        check_trust(["tests.reference_strategies.CentroidAlias"])
    with pytest.raises(ValueError, match="is a function, not a class"):
        check_trust(["tests.reference_strategies.tiny_cohort"])
    monkeypatch.setenv("MEDFUSE_PLUGINS", "")
    with pytest.raises(ValueError, match="trust takes only a class registered"):
        check_trust(["tests.reference_strategies.NearestCentroid"])


# ---------------------------------------------------------------------- parameter values
@pytest.fixture
def clinical_model(tmp_path):
    """A unimodal model of a clinical table with a free-text column (a TfidfVectorizer)."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(40)]
    y = np.arange(40) % 2
    notes = ["chest pain reported" if v else "routine follow up" for v in y]
    table = pd.DataFrame({"age": rng.normal(60, 5, 40), "note": notes}, index=ids)
    data = MultiModalData({"ehr": table}, obs=pd.DataFrame({"y": y}, index=ids), outcome="y",
                          modalities={"ehr": "clinical"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make("unimodal:ehr", preprocessors={"ehr": ClinicalEncoder(
            scales={"note": "text"})}).fit(data)
    return save_model(model, tmp_path / "model"), data


def _vectorizer_path(schema: dict) -> tuple[str, ...]:
    return ("preprocessors_", "ehr", "vectorizers_", "note")


@pytest.mark.parametrize("key, value", [
    ("input", "filename"),
    ("token_pattern", "(a+)+$"),
    ("analyzer", "char_wb "),
    ("encoding", "utf-7"),
])
def test_a_vectorizer_with_another_text_parameter_is_refused(clinical_model, key, value):
    folder, _ = clinical_model

    def edit(schema: dict) -> None:
        vectorizer = attribute(schema, *_vectorizer_path(schema))
        vectorizer["content"]["content"][key] = json_value(value)

    rewrite_archive(folder, edit)
    with pytest.raises(UntrustedModelError) as err:
        load_model(folder)
    assert (f"sklearn.feature_extraction.text.TfidfVectorizer with {key}={value!r}: a value "
            "the library itself never uses there") in str(err.value)
    assert "at estimator.preprocessors_['ehr'].vectorizers_['note']." + key in str(err.value)


def test_the_genuine_vectorizer_loads(clinical_model):
    folder, data = clinical_model
    np.testing.assert_array_equal(load_model(folder).predict_proba(data),
                                  load_model(folder).predict_proba(data))


def test_a_pipeline_with_a_cache_folder_is_refused(poisoned):
    folder = poisoned(preprocessors_={"rna": Pipeline([("z", StandardScaler())],
                                                      memory="/tmp/medfuse-cache")})
    with pytest.raises(UntrustedModelError, match=re.escape(
            "sklearn.pipeline.Pipeline with memory='/tmp/medfuse-cache'")):
        load_model(folder)


# ---------------------------------------------------------------------- planted bugs
def test_a_pinned_class_name_with_a_suffix_is_refused(saved):
    """Planted bug (a): the audit accepting a pinned class by prefix (the class named in the
    archive itself, not in trust)."""
    rewrite_archive(saved, lambda schema: schema.update(__class__="UnimodalX"))
    with pytest.raises(UntrustedModelError, match=re.escape(
            "the type medfuse.fusion.unimodal.UnimodalX, which is not trusted")):
        load_model(saved)


def test_tampered_weights_are_refused_by_their_digest(neural):
    """Planted bug (b): the SHA-256 check skipped for module.safetensors (the weights are
    changed, the header stays valid, the manifest is not refreshed)."""
    from safetensors.torch import load_file, save_file

    weights = load_file(neural / "module.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, neural / "module.safetensors")
    with pytest.raises(UntrustedModelError, match=re.escape(
            "module.safetensors does not match the SHA-256 recorded in manifest.json")):
        load_model(neural)
    edit_manifest(neural, lambda m: m["files"].pop("module.safetensors"))
    with pytest.raises(UntrustedModelError, match=re.escape(
            "module.safetensors has no SHA-256 in manifest.json")):
        load_model(neural)
